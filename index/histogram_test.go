package index

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/smtpscope/smtpscope/core"
)

func histIndex(t *testing.T, times ...time.Time) *Index {
	t.Helper()
	ix := openTest(t)
	var docs []EmailDoc
	for i, at := range times {
		subj := "even"
		if i%2 == 1 {
			subj = "odd"
		}
		docs = append(docs, EmailDoc{Email: &core.Email{ID: fmt.Sprintf("h%d.0", i), Subject: subj, Session: core.SessionInfo{UID: fmt.Sprint("h", i), Time: at}}})
	}
	if err := ix.IndexEmails(docs); err != nil {
		t.Fatal(err)
	}
	return ix
}

func counts(h *Histogram) []int {
	var out []int
	for _, b := range h.Buckets {
		out = append(out, b.Count)
	}
	return out
}

// Matches within a few days: one bucket per hour from the first match's
// hour to the last's, the empty hours too; a query narrows it.
func TestHistogramHours(t *testing.T) {
	at := func(h, m int) time.Time { return time.Date(2026, 3, 1, h, m, 0, 0, time.UTC) }
	ix := histIndex(t, at(9, 5), at(9, 50), at(10, 0), at(12, 30), at(12, 31), at(12, 59), time.Time{})
	res, err := ix.Search(context.Background(), "", SearchOptions{Limit: 1, Histogram: true})
	if err != nil {
		t.Fatal(err)
	}
	h := res.Histogram
	if h == nil || h.Unit != UnitHour || fmt.Sprint(counts(h)) != "[2 1 0 3]" || h.Missing != 1 {
		t.Fatalf("histogram %+v", h)
	}
	if !h.Buckets[0].Start.Equal(at(9, 0)) || !h.Buckets[3].Start.Equal(at(12, 0)) {
		t.Fatalf("buckets start %v … %v", h.Buckets[0].Start, h.Buckets[3].Start)
	}
	res, err = ix.Search(context.Background(), "subject:odd", SearchOptions{Limit: 1, Histogram: true, Sort: "size"})
	if err != nil {
		t.Fatal(err)
	}
	// odd: 9:50, 12:30, 12:59
	if h := res.Histogram; fmt.Sprint(counts(h)) != "[1 0 0 2]" || h.Missing != 0 {
		t.Fatalf("narrowed histogram %+v", h)
	}
	res, err = ix.Search(context.Background(), "", SearchOptions{Limit: 1})
	if err != nil || res.Histogram != nil {
		t.Fatalf("histogram not asked for: %+v, %v", res.Histogram, err)
	}
}

// Matches over weeks: one bucket per day.
func TestHistogramDays(t *testing.T) {
	d := func(day, h int) time.Time { return time.Date(2026, 1, day, h, 0, 0, 0, time.UTC) }
	ix := histIndex(t, d(1, 1), d(1, 23), d(3, 5), d(20, 12))
	res, err := ix.Search(context.Background(), "", SearchOptions{Limit: 1, Histogram: true, Facets: true})
	if err != nil {
		t.Fatal(err)
	}
	h := res.Histogram
	if h.Unit != UnitDay || len(h.Buckets) != 20 || h.Buckets[0].Count != 2 || h.Buckets[2].Count != 1 || h.Buckets[19].Count != 1 || h.Missing != 0 {
		t.Fatalf("histogram %s %v missing %d", h.Unit, counts(h), h.Missing)
	}
	for name := range res.Facets {
		if name == facetHour || name == facetDay {
			t.Fatalf("histogram facet %s among the panel's facets", name)
		}
	}
	// More hours with a match than the hour facet returns: per day.
	var many []time.Time
	for i := range histHours + 5 {
		many = append(many, time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(i)*time.Hour))
	}
	res, err = histIndex(t, many...).Search(context.Background(), "", SearchOptions{Limit: 1, Histogram: true})
	if err != nil {
		t.Fatal(err)
	}
	if h := res.Histogram; h.Unit != UnitDay || len(h.Buckets) != 11 || h.Buckets[0].Count != 24 || h.Missing != 0 {
		t.Fatalf("%d hours: %s %v", len(many), h.Unit, counts(h))
	}
}

func TestHistogramEmpty(t *testing.T) {
	ix := openTest(t)
	res, err := ix.Search(context.Background(), "", SearchOptions{Histogram: true})
	if err != nil || res.Histogram == nil || len(res.Histogram.Buckets) != 0 {
		t.Fatalf("empty index: %+v, %v", res.Histogram, err)
	}
}
