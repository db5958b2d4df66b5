package index

import (
	"fmt"
	"testing"

	"github.com/blevesearch/bleve/v2/analysis"
	"github.com/blevesearch/bleve/v2/analysis/tokenizer/unicode"
)

// asciiWordTokenizer is asciiWords as a bleve tokenizer (bleve's unicode
// tokenizer for input that is not ASCII), to compare token streams.
type asciiWordTokenizer struct{ unicode *unicode.UnicodeTokenizer }

func (t asciiWordTokenizer) Tokenize(input []byte) analysis.TokenStream {
	if !isASCII(input) {
		return t.unicode.Tokenize(input)
	}
	// About one token per six bytes of text; one allocation for all.
	toks := make([]analysis.Token, 0, len(input)/6+1)
	asciiWords(input, func(start, end int, numeric bool) {
		typ := analysis.AlphaNumeric
		if numeric {
			typ = analysis.Numeric
		}
		toks = append(toks, analysis.Token{Term: input[start:end], Start: start, End: end, Position: len(toks) + 1, Type: typ})
	})
	out := make(analysis.TokenStream, len(toks))
	for k := range toks {
		out[k] = &toks[k]
	}
	return out
}

func tokensString(ts analysis.TokenStream) string {
	s := ""
	for _, t := range ts {
		s += fmt.Sprintf("[%q %d-%d @%d %d]", t.Term, t.Start, t.End, t.Position, t.Type)
	}
	return s
}

// checkSameTokens fails when the fast tokenizer and bleve's unicode
// tokenizer disagree on in.
func checkSameTokens(t *testing.T, in []byte) {
	t.Helper()
	want := tokensString(unicode.NewUnicodeTokenizer().Tokenize(in))
	got := tokensString(asciiWordTokenizer{unicode: unicode.NewUnicodeTokenizer()}.Tokenize(in))
	if got != want {
		t.Fatalf("tokens of %q:\n got  %s\n want %s", in, got, want)
	}
}

var tokenizerSeeds = []string{
	"", "a", "_", "__", "a_", "_a", "_1", "1_", "a_b", "a__b", "3.14", "3,14", "3;14", "3:14", "3'14",
	"e.g.", "e.g", "don't", "don''t", "a:b", "a::b", "a.1", "1.a", "1.", ".1", "a.", "a..b", "1..2",
	"http://evil.example.com/login.php?id=12,345", "user@example.com", "C0ffee_42.exe",
	"Hello, World! It's 10:30 on 2026-01-02; ok.", "x'y'z", "1,2,3", "1.2.3.4", "a.b.c", "_._",
	"tab\tnew\r\nline", "caf\xc3\xa9 au lait", "\x80", "a\x00b", "Übergröße and ascii",
	"__init__", "a_.b", "a._b", "1_.2", "._a", "a'", "'a", "1'", "a:1", "1:a",
}

func TestASCIIWordTokenizer(t *testing.T) {
	for _, s := range tokenizerSeeds {
		checkSameTokens(t, []byte(s))
	}
	// Every pair and triple of interesting characters.
	alphabet := "aZ09_:.',; -\"\n"
	for _, a := range alphabet {
		for _, b := range alphabet {
			for _, c := range alphabet {
				for _, d := range alphabet {
					checkSameTokens(t, []byte(string([]rune{a, b, c, d})))
				}
			}
		}
	}
}

// FuzzASCIIWordTokenizer: the fast path gives exactly bleve's tokens.
func FuzzASCIIWordTokenizer(f *testing.F) {
	for _, s := range tokenizerSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		checkSameTokens(t, in)
	})
}
