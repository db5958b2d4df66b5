package index

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/blevesearch/bleve/v2/search/query"

	"github.com/smtpscope/smtpscope/core"
)

// rangeIndex indexes one email per value of at (its time in unix ns) and
// size, and returns a function giving the IDs a query matches.
func rangeIndex(t *testing.T, times, sizes []int64) func(query.Query) []string {
	t.Helper()
	ix, err := Open(filepath.Join(t.TempDir(), "index"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ix.Close() })
	var docs []EmailDoc
	for i := range times {
		e := &core.Email{ID: fmt.Sprintf("e%04d", i), Size: sizes[i]}
		e.Session.UID = e.ID
		if times[i] > 0 {
			e.Session.Time = time.Unix(0, times[i]).UTC()
		}
		docs = append(docs, EmailDoc{Email: e})
	}
	if err := ix.IndexEmails(docs); err != nil {
		t.Fatal(err)
	}
	return func(q query.Query) []string { return rawIDs(t, ix, q) }
}

func idsWhere(n int, keep func(i int) bool) []string {
	var ids []string
	for i := 0; i < n; i++ {
		if keep(i) {
			ids = append(ids, fmt.Sprintf("e%04d", i))
		}
	}
	return ids
}

// Times are indexed only down to buckets of 2^timeShift ns; timeRange
// matches the ends of a range inside a bucket on tsort. Every answer must
// equal a brute-force filter, for ranges whose ends fall on, next to and
// inside bucket boundaries.
func TestTimeRangeExact(t *testing.T) {
	const bucket = int64(1) << timeShift
	base := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC).UnixNano() &^ (bucket - 1)
	r := rand.New(rand.NewPCG(1, 2))
	var times []int64
	for i := 0; i < 300; i++ {
		var v int64
		switch i % 4 {
		case 0: // anywhere in a few minutes
			v = base + r.Int64N(60*bucket)
		case 1: // on a boundary
			v = base + int64(r.IntN(60))*bucket
		case 2: // just before a boundary
			v = base + int64(1+r.IntN(60))*bucket - 1
		default: // several in one bucket
			v = base + 7*bucket + r.Int64N(bucket)
		}
		times = append(times, v)
	}
	times = append(times, 0) // unknown time
	sizes := make([]int64, len(times))
	search := rangeIndex(t, times, sizes)
	points := []int64{0, 1, base - 1, base, base + 1, base + 7*bucket, base + 8*bucket - 1, maxTime}
	for _, v := range times[:40] {
		points = append(points, v-1, v, v+1)
	}
	for i := 0; i < 400; i++ {
		lo := points[r.IntN(len(points))]
		hi := points[r.IntN(len(points))]
		if r.IntN(4) == 0 {
			lo = base + r.Int64N(62*bucket)
		}
		want := idsWhere(len(times), func(i int) bool { return times[i] >= lo && times[i] <= hi })
		got := search(timeRange(lo, hi))
		if !slices.Equal(got, want) {
			t.Fatalf("timeRange(%d, %d): %d hits, want %d\n got  %v\n want %v", lo, hi, len(got), len(want), got, want)
		}
	}
}

// Sizes are indexed only up to level sizeTop; answers for bounds in
// [0, maxSize] must equal a brute-force filter, sizes above maxSize count
// as maxSize.
func TestIntRangeExact(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	sizes := []int64{0, 1, 15, 16, 17, 1 << 20, 1<<20 - 1, 1<<20 + 1, 2 << 20, maxSize - 1, maxSize, maxSize + 1, 1 << 50}
	for i := 0; i < 200; i++ {
		switch i % 3 {
		case 0:
			sizes = append(sizes, r.Int64N(4096))
		case 1:
			sizes = append(sizes, r.Int64N(64<<20))
		default:
			sizes = append(sizes, r.Int64N(maxSize+1))
		}
	}
	clamped := func(i int) int64 { return min(sizes[i], maxSize) }
	times := make([]int64, len(sizes))
	search := rangeIndex(t, times, sizes)
	for i := 0; i < 400; i++ {
		lo := sizes[r.IntN(len(sizes))] + r.Int64N(3) - 1
		hi := sizes[r.IntN(len(sizes))] + r.Int64N(3) - 1
		switch r.IntN(6) {
		case 0:
			lo = 0
		case 1:
			hi = maxSize
		case 2: // everything: the split's highest level
			lo, hi = 0, maxSize
		}
		lo, hi = max(lo, 0), min(hi, maxSize)
		want := idsWhere(len(sizes), func(i int) bool { return clamped(i) >= lo && clamped(i) <= hi })
		if got := search(intRange(fSize, lo, hi)); !slices.Equal(got, want) {
			t.Fatalf("intRange(%d, %d): %d hits, want %d", lo, hi, len(got), len(want))
		}
	}
}
