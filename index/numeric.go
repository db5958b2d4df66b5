package index

import (
	"encoding/binary"

	"github.com/blevesearch/bleve/v2/analysis"
	"github.com/blevesearch/bleve/v2/numeric"
	"github.com/blevesearch/bleve/v2/search/query"
)

// Numbers and times are indexed as bleve's prefix-coded int64 terms, the
// form its numeric range searcher looks for: one term per precision level
// (every 4 bits). Two choices make them cheaper than bleve's own numeric
// and datetime fields, which index a float64's sortable bits at 16 levels
// (plus, for datetimes, the raw value):
//
//   - sizes are indexed as plain integers, so small values share their
//     high-level terms with every other email (fewer distinct terms), and
//     only up to level sizeTop: sizes and query bounds are clamped to
//     [0, maxSize], and for such bounds bleve's range split never asks for
//     a higher level (TestIntRangeExact checks the bounds, the split and
//     the answers);
//   - times skip the levels below timeShift: the finest indexed level is a
//     bucket of 2^timeShift ns (about 4.3 s), and a range's ends inside a
//     bucket are matched exactly on the tsort field instead (timeRange).
//
// Distinct terms are what indexing pays for most (each one is a postings
// list in every segment and every merge); this halves them per email.
const (
	precisionStep = 4         // bleve's numeric range searcher walks levels of 4 bits
	timeShift     = 32        // finest indexed time level: buckets of 2^32 ns
	maxTime       = 1<<62 - 1 // past any representable time (year 2261)
	sizeTop       = 40        // highest indexed size level
	maxSize       = 1<<sizeTop - 1
)

// prefixAnalyzer turns a big-endian int64 (int64Bytes) into its
// prefix-coded terms at the levels from minShift to maxShift (multiples of
// precisionStep; maxShift 0 means all levels).
type prefixAnalyzer struct{ minShift, maxShift uint }

var (
	timeAnalyzer = prefixAnalyzer{minShift: timeShift}
	sizeAnalyzer = prefixAnalyzer{maxShift: sizeTop}
)

func (a prefixAnalyzer) Analyze(input []byte) analysis.TokenStream {
	if len(input) != 8 {
		return nil
	}
	v := int64(binary.BigEndian.Uint64(input))
	top := a.maxShift
	if top == 0 {
		top = 64 - precisionStep
	}
	out := make(analysis.TokenStream, 0, (top-a.minShift)/precisionStep+1)
	toks := make([]analysis.Token, cap(out))
	for shift := a.minShift; shift <= top; shift += precisionStep {
		term := numeric.MustNewPrefixCodedInt64(v, shift)
		t := &toks[len(out)]
		*t = analysis.Token{Term: term, End: len(term), Position: 1, Type: analysis.Numeric}
		out = append(out, t)
	}
	return out
}

func int64Bytes(v int64) []byte {
	return binary.BigEndian.AppendUint64(nil, uint64(v))
}

// intRange matches the integers of field (indexed with prefixAnalyzer at
// every level) in [lo, hi].
func intRange(field string, lo, hi int64) query.Query {
	if lo > hi {
		return query.NewMatchNoneQuery()
	}
	fl, fh := numeric.Int64ToFloat64(lo), numeric.Int64ToFloat64(hi)
	incl := true
	q := query.NewNumericRangeInclusiveQuery(&fl, &fh, &incl, &incl)
	q.SetField(field)
	return q
}

// timeRange matches documents whose time (unix ns) is in [lo, hi]: whole
// 2^timeShift buckets on the time field, the ends that fall inside a bucket
// on tsort (whose terms start with the time as 16 hex digits).
func timeRange(lo, hi int64) query.Query {
	lo, hi = max(lo, 0), min(hi, maxTime)
	if lo > hi {
		return query.NewMatchNoneQuery()
	}
	const bucket = int64(1) << timeShift
	alo := (lo + bucket - 1) &^ (bucket - 1) // first whole bucket's start
	ahi := (hi+1)&^(bucket-1) - 1            // last whole bucket's end
	if hi == maxTime {
		ahi = maxTime
	}
	if alo > ahi { // no whole bucket: all on tsort
		return sortKeyRange(lo, hi)
	}
	qs := []query.Query{intRange(fTime, alo, ahi)}
	if lo < alo {
		qs = append(qs, sortKeyRange(lo, alo-1))
	}
	if hi > ahi {
		qs = append(qs, sortKeyRange(ahi+1, hi))
	}
	if len(qs) == 1 {
		return qs[0]
	}
	return query.NewDisjunctionQuery(qs)
}

// sortKeyRange matches the tsort terms of the times in [lo, hi] (hi at
// most maxTime).
func sortKeyRange(lo, hi int64) query.Query {
	incl, excl := true, false
	q := query.NewTermRangeInclusiveQuery(sortKeyNs(lo), sortKeyNs(hi+1), &incl, &excl)
	q.SetField(fTSort)
	return q
}
