package index

import (
	"reflect"
	"sync"
	"unsafe"

	"github.com/blevesearch/bleve/v2/analysis"
	"github.com/blevesearch/bleve/v2/analysis/lang/en"
	"github.com/blevesearch/bleve/v2/document"
	"github.com/blevesearch/bleve/v2/size"
	bindex "github.com/blevesearch/bleve_index_api"
)

// termField is a bleve document field that computes its term frequencies
// itself instead of going through a token stream: bleve's TextField
// allocates a token, a map entry sized for every token, a TokenFreq and a
// string per term, which was a quarter of all bytes allocated by bulk
// indexing. The result is the same as a document.TextField with the
// equivalent analyzer (TestTermFieldSameAsBleve, FuzzTermField):
//
//   - text fields: bleve's standard analyzer (words by UAX #29, lower case,
//     English stop words), computed directly for ASCII text (asciiWords);
//     text with other bytes goes through the analyzer std;
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
	if !isASCII(f.value) {
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
	asciiWords(lower, func(start, end int, _ bool) {
		pos++
		if f.stop[unsafe.String(&lower[start], end-start)] {
			return
		}
		t.add(lower[start:end], start, end, pos)
	})
	f.length = t.n
	f.freqs = t.m
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
