package index

import (
	"bytes"
	"fmt"
	"net/mail"
	"sort"
	"testing"

	"github.com/blevesearch/bleve/v2/analysis"
	"github.com/blevesearch/bleve/v2/analysis/analyzer/standard"
	"github.com/blevesearch/bleve/v2/document"
	"github.com/blevesearch/bleve/v2/registry"
	bindex "github.com/blevesearch/bleve_index_api"
)

// kwAnalyzer is the reference for keyword termFields: NUL-separated
// values, one token each.
type kwAnalyzer struct{}

func (kwAnalyzer) Analyze(input []byte) analysis.TokenStream {
	n := 1
	for _, c := range input {
		if c == 0 {
			n++
		}
	}
	toks := make([]analysis.Token, n)
	out := make(analysis.TokenStream, 0, n)
	start := 0
	for i := 0; i <= len(input); i++ {
		if i < len(input) && input[i] != 0 {
			continue
		}
		t := &toks[len(out)]
		*t = analysis.Token{Term: input[start:i], Start: start, End: i, Position: len(out) + 1, Type: analysis.AlphaNumeric}
		out = append(out, t)
		start = i + 1
	}
	return out
}

func stdAnalyzer(t testing.TB) analysis.Analyzer {
	a, err := registry.NewCache().AnalyzerNamed(standard.Name)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// freqString renders what the index receives from a field.
func freqString(f document.Field) string {
	f.Analyze()
	tf := f.AnalyzedTokenFrequencies()
	keys := make([]string, 0, len(tf))
	for k := range tf {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	s := fmt.Sprintf("len=%d", f.AnalyzedLength())
	for _, k := range keys {
		v := tf[k]
		s += fmt.Sprintf(" %q:%q/%d", k, v.Term, v.Frequency())
		for _, l := range v.Locations {
			s += fmt.Sprintf("@%d[%d:%d]%q%v", l.Position, l.Start, l.End, l.Field, l.ArrayPositions)
		}
	}
	return s
}

var fieldOptions = []bindex.FieldIndexingOptions{
	bindex.IndexField,
	bindex.IndexField | bindex.IncludeTermVectors,
	bindex.IndexField | bindex.DocValues,
}

// checkTermField fails when a termField gives the index anything else
// than bleve's TextField with the reference analyzer.
func checkTermField(t *testing.T, std analysis.Analyzer, in []byte) {
	t.Helper()
	// Each side gets its own copy: bleve's lower-case filter rewrites
	// invalid UTF-8 in place, in the token bytes that alias the input.
	c := bytes.Clone
	for _, o := range fieldOptions {
		want := freqString(document.NewTextFieldCustom("f", nil, c(in), o, std))
		got := freqString(&termField{name: "f", value: c(in), opts: o, std: std, stop: englishStopWords()})
		if got != want {
			t.Fatalf("text %q, options %v:\n got  %s\n want %s", in, o, got, want)
		}
		want = freqString(document.NewTextFieldCustom("f", nil, c(in), o, kwAnalyzer{}))
		got = freqString(&termField{name: "f", value: c(in), opts: o, keywords: true})
		if got != want {
			t.Fatalf("keywords %q, options %v:\n got  %s\n want %s", in, o, got, want)
		}
	}
}

var termFieldSeeds = []string{
	"", "The Invoice is attached, and THE invoice is due.", "a an the of and",
	"Click HERE: http://Evil.example/Login.php?id=3,141 now!!", "don't DON'T Don't",
	"Übergröße of the café", "one\x00two\x00one\x00Three", "\x00\x00", "x\x00",
	"urgent wire transfer urgent wire transfer", "it's 10:30; 3.14 and 1,000",
	// Mostly ASCII text with other bytes: Unicode spans among ASCII words.
	"The naïve café’s menu: don’t STOP here. Übergröße The end", "日本語のテキスト and English words 日本",
	"a\u0301 b x \u0301y \u0301", "\xe2 abc \xe2\x82 def\xff ghi", "3\u00a04 the 5 ,\u00a06", "foo\u200dbar \u200d baz",
	"👍🏽 ok 👍 the\t👍\n", "Ǆemal İstanbul ΣΑΣ the", "x\r\n\u0300a b", "é", " é ", "a é", "é a", "The\u00a0and the",
}

func TestTermFieldSameAsBleve(t *testing.T) {
	std := stdAnalyzer(t)
	for _, s := range termFieldSeeds {
		checkTermField(t, std, []byte(s))
	}
	// Every stop word, in several cases.
	for w := range englishStopWords() {
		checkTermField(t, std, []byte(w+" X "+w+" "+w))
	}
}

// FuzzTermField: for any input a termField gives the same terms,
// frequencies, length and locations as bleve's TextField.
func FuzzTermField(f *testing.F) {
	for _, s := range termFieldSeeds {
		f.Add([]byte(s))
	}
	std := stdAnalyzer(f)
	f.Fuzz(func(t *testing.T, in []byte) {
		checkTermField(t, std, in)
	})
}

// plainAddr must only accept what mail.ParseAddress returns unchanged.
func FuzzPlainAddr(f *testing.F) {
	for _, s := range []string{"a@b.example", "A.B+c@x-y.example", ".a@b", "a.@b", "a..b@c", "a@", "@b", "a@b@c", "a b@c", "a@b..c", "a@[1.2.3.4]", "a@b."} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !plainAddr(s) {
			return
		}
		a, err := mail.ParseAddress(s)
		if err != nil || a.Address != s || a.Name != "" {
			t.Fatalf("plainAddr(%q) but mail.ParseAddress gives %+v, %v", s, a, err)
		}
	})
}
