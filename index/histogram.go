package index

import (
	"slices"
	"time"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/search"
)

// Layouts of the hour and day terms (UTC).
const (
	hourLayout = "2006010215"
	dayLayout  = "20060102"
)

// Histogram bounds: the facets ask for this many hours and days (the
// hour facet is used when the matches span fewer hours).
const (
	histHours = 24 * 10
	histDays  = 366 * 10
)

// Facet names of the histogram (not in Result.Facets).
const (
	facetHour = "_hour"
	facetDay  = "_day"
)

// Histogram units.
const (
	UnitHour = "hour"
	UnitDay  = "day"
)

// Histogram is the number of matches per hour or per day (UTC), from the
// first bucket holding a match to the last, empty buckets included.
type Histogram struct {
	Unit    string
	Buckets []Bucket
	// Missing counts matches left out: without a known time, or beyond
	// the buckets the facets return (spans over histDays days).
	Missing int
}

// Bucket is one hour or day and its count.
type Bucket struct {
	Start time.Time
	Count int
}

func addHistogramFacets(req *bleve.SearchRequest) {
	req.AddFacet(facetHour, bleve.NewFacetRequest(fHour, histHours))
	req.AddFacet(facetDay, bleve.NewFacetRequest(fDay, histDays))
}

// histogram builds the histogram of total matches from the hour and day
// facets: per hour when every dated match falls within histHours hours,
// else per day.
func histogram(fr search.FacetResults, total uint64) *Histogram {
	hours, hn := facetBuckets(fr[facetHour], hourLayout)
	days, dn := facetBuckets(fr[facetDay], dayLayout)
	h := &Histogram{Unit: UnitDay, Buckets: fill(days, 24*time.Hour), Missing: int(total) - dn}
	if len(hours) > 0 && hn == dn && hours[len(hours)-1].Start.Sub(hours[0].Start) < histHours*time.Hour {
		h.Unit, h.Buckets, h.Missing = UnitHour, fill(hours, time.Hour), int(total)-hn
	}
	h.Missing = max(h.Missing, 0)
	return h
}

// facetBuckets reads a facet's terms as buckets sorted by time, and the
// sum of their counts.
func facetBuckets(f *search.FacetResult, layout string) ([]Bucket, int) {
	if f == nil || f.Terms == nil {
		return nil, 0
	}
	var out []Bucket
	n := 0
	for _, t := range f.Terms.Terms() {
		at, err := time.Parse(layout, t.Term)
		if err != nil {
			continue
		}
		out = append(out, Bucket{Start: at, Count: t.Count})
		n += t.Count
	}
	slices.SortFunc(out, func(a, b Bucket) int { return a.Start.Compare(b.Start) })
	return out, n
}

// fill adds the empty buckets between the first and the last.
func fill(bs []Bucket, step time.Duration) []Bucket {
	if len(bs) == 0 {
		return nil
	}
	var out []Bucket
	i := 0
	for at := bs[0].Start; !at.After(bs[len(bs)-1].Start); at = at.Add(step) {
		c := 0
		if i < len(bs) && bs[i].Start.Equal(at) {
			c = bs[i].Count
			i++
		}
		out = append(out, Bucket{Start: at, Count: c})
	}
	return out
}
