package index

import (
	"bytes"
	"reflect"
	"sync"
	"unicode/utf8"
	"unsafe"

	"github.com/blevesearch/bleve/v2/analysis"
	"github.com/blevesearch/bleve/v2/analysis/lang/en"
	"github.com/blevesearch/bleve/v2/analysis/token/lowercase"
	"github.com/blevesearch/bleve/v2/analysis/tokenizer/unicode"
	"github.com/blevesearch/bleve/v2/document"
	"github.com/blevesearch/bleve/v2/size"
	bindex "github.com/blevesearch/bleve_index_api"
	"github.com/blevesearch/segment"
)

// termField is a bleve document field that computes its term frequencies
// itself instead of going through a token stream: bleve's TextField
// allocates a token, a map entry sized for every token, a TokenFreq and a
// string per term, which was a quarter of all bytes allocated by bulk
// indexing. The result is the same as a document.TextField with the
// equivalent analyzer (TestTermFieldSameAsBleve, FuzzTermField):
//
//   - text fields: bleve's standard analyzer (words by UAX #29, lower case,
//     English stop words), computed directly for ASCII stretches
//     (asciiWords), with bleve's word segmentation and lower-casing only
//     for the spans around other bytes (unicodeSpans); invalid UTF-8 goes
//     through the analyzer std;
//   - keyword fields: NUL-separated values, one term each.
//
// Terms are slices of one lower-cased copy of the value, and the map keys
// share its bytes: the copy is never written after Analyze.
type termField struct {
	name     string
	value    []byte
	opts     bindex.FieldIndexingOptions
	keywords bool
	std      analysis.Analyzer // text fields: bleve's standard analyzer
	stop     analysis.TokenMap // text fields: its stop words

	length int
	freqs  bindex.TokenFrequencies
}

var _ document.Field = (*termField)(nil)

var reflectStaticSizeTermField = int(reflect.TypeOf(termField{}).Size())

func (f *termField) Name() string                                      { return f.name }
func (f *termField) ArrayPositions() []uint64                          { return nil }
func (f *termField) Options() bindex.FieldIndexingOptions              { return f.opts }
func (f *termField) Value() []byte                                     { return f.value }
func (f *termField) NumPlainTextBytes() uint64                         { return uint64(len(f.value)) }
func (f *termField) EncodedFieldType() byte                            { return 't' }
func (f *termField) AnalyzedLength() int                               { return f.length }
func (f *termField) AnalyzedTokenFrequencies() bindex.TokenFrequencies { return f.freqs }

func (f *termField) Size() int {
	return reflectStaticSizeTermField + size.SizeOfPtr + len(f.name) + len(f.value)
}

func (f *termField) Analyze() {
	if f.keywords {
		f.analyzeKeywords()
		return
	}
	// Invalid UTF-8 (never given by the builders, validUTF8) ends bleve's
	// word segmentation at the first bad sequence: that is left to bleve.
	if da, ok := f.std.(*analysis.DefaultAnalyzer); !ok || !isUnicodeTokenizer(da.Tokenizer) || !utf8.Valid(f.value) {
		tokens := f.std.Analyze(f.value)
		f.length = len(tokens)
		f.freqs = analysis.TokenFrequency(tokens, nil, f.opts)
		return
	}
	lower := make([]byte, len(f.value))
	for i, c := range f.value {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		lower[i] = c
	}
	est := len(lower)/6 + 1
	t := newFreqs(est, f.opts)
	pos := 0
	word := func(start, end int, _ bool) {
		pos++
		if f.stop[unsafe.String(&lower[start], end-start)] {
			return
		}
		t.add(lower[start:end], start, end, pos)
	}
	// ASCII stretches are scanned by asciiWords; only the stretches
	// around other bytes, cut where a word always ends (see
	// unicodeSpans), go through Unicode word segmentation.
	at := 0
	unicodeSpans(lower, func(lo, hi int) {
		asciiWords(lower[at:lo], func(start, end int, num bool) { word(at+start, at+end, num) })
		at = hi
		var one [1]analysis.Token
		stream := analysis.TokenStream{&one[0]}
		sg := segment.NewWordSegmenterDirect(lower[lo:hi])
		start := lo
		for sg.Segment() {
			b := sg.Bytes()
			end := start + len(b)
			if sg.Type() != segment.None {
				pos++
				term := b
				if !isASCII(b) {
					// bleve's lower-casing of the original bytes, in a
					// copy (it writes in place): its result for a rune
					// that shrinks depends on the bytes after it, so it
					// must see them as written, not already folded.
					one[0] = analysis.Token{Term: bytes.Clone(f.value[start:end])}
					term = lowerCase.Filter(stream)[0].Term
				}
				if len(term) == 0 || !f.stop[unsafe.String(&term[0], len(term))] {
					t.add(term, start, end, pos)
				}
			}
			start = end
		}
	})
	asciiWords(lower[at:], func(start, end int, num bool) { word(at+start, at+end, num) })
	f.length = t.n
	f.freqs = t.m
}

var lowerCase = lowercase.NewLowerCaseFilter()

// isUnicodeTokenizer reports whether tk is bleve's unicode tokenizer (the
// standard analyzer's), which Analyze reproduces.
func isUnicodeTokenizer(tk analysis.Tokenizer) bool {
	_, ok := tk.(*unicode.UnicodeTokenizer)
	return ok
}

// unicodeSpans calls fn, in order, with the spans [lo, hi) of text that
// hold its bytes >= 0x80, each widened to the nearest points where Unicode
// word segmentation always breaks and no rule looks across: just after an
// ASCII space, tab, CR or LF followed by an ASCII byte (or at either end
// of text). A space is never part of a word, never joins its neighbours
// (it is not a letter, digit, mid-word or extending character), and an
// ASCII byte after it cannot extend it (WB4): so the words of text are
// the words of the ASCII stretches between the spans (asciiWords) and of
// the spans, segmented alone.
func unicodeSpans(text []byte, fn func(lo, hi int)) {
	cut := func(p int) bool { // a break point between text[p-1] and text[p]
		if p <= 0 || p >= len(text) {
			return true
		}
		switch text[p-1] {
		case ' ', '\t', '\r', '\n':
			return text[p] < 0x80
		}
		return false
	}
	from := 0
	for from < len(text) {
		j := from
		for j < len(text) && text[j] < 0x80 {
			j++
		}
		if j == len(text) {
			return
		}
		lo := j
		for lo > from && !cut(lo) {
			lo--
		}
		hi := j + 1
		for !cut(hi) {
			hi++
		}
		fn(lo, hi)
		from = hi
	}
}

func (f *termField) analyzeKeywords() {
	v := f.value
	t := newFreqs(4, f.opts)
	start, pos := 0, 0
	for i := 0; i <= len(v); i++ {
		if i < len(v) && v[i] != 0 {
			continue
		}
		pos++
		t.add(v[start:i], start, i, pos)
		start = i + 1
	}
	f.length = t.n
	f.freqs = t.m
}

// freqs builds term frequencies with few allocations: TokenFreqs and
// locations come from slabs, keys share the terms' bytes.
type freqs struct {
	m    bindex.TokenFrequencies
	tfs  []bindex.TokenFreq
	locs []bindex.TokenLocation
	tv   bool
	norm bool
	n    int // tokens added
}

func newFreqs(est int, opts bindex.FieldIndexingOptions) *freqs {
	return &freqs{
		m:    make(bindex.TokenFrequencies, est),
		tfs:  make([]bindex.TokenFreq, 0, est),
		tv:   opts.IncludeTermVectors(),
		norm: !opts.SkipFreqNorm(),
	}
}

func (t *freqs) add(term []byte, start, end, pos int) {
	t.n++
	var key string
	if len(term) > 0 {
		key = unsafe.String(&term[0], len(term))
	}
	tf, ok := t.m[key]
	if !ok {
		if len(t.tfs) == cap(t.tfs) { // a new slab: earlier pointers stay valid
			t.tfs = make([]bindex.TokenFreq, 0, 2*cap(t.tfs))
		}
		t.tfs = append(t.tfs, bindex.TokenFreq{Term: term})
		tf = &t.tfs[len(t.tfs)-1]
		t.m[key] = tf
	}
	if t.tv {
		if len(t.locs) == cap(t.locs) {
			t.locs = make([]bindex.TokenLocation, 0, max(16, 2*cap(t.locs)))
		}
		t.locs = append(t.locs, bindex.TokenLocation{Start: start, End: end, Position: pos})
		tf.Locations = append(tf.Locations, &t.locs[len(t.locs)-1])
	}
	if t.norm {
		tf.SetFrequency(tf.Frequency() + 1)
	}
}

// englishStopWords is the word list of bleve's stop_en filter (the
// standard analyzer's), loaded the way its constructor does.
var englishStopWords = sync.OnceValue(func() analysis.TokenMap {
	tm := analysis.NewTokenMap()
	_ = tm.LoadBytes(en.EnglishStopWords) // a constant list: cannot fail
	return tm
})
