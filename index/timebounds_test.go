package index

import (
	"context"
	"math"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	bindex "github.com/blevesearch/bleve_index_api"
)

// scanTimeBounds is the reference for timeBounds: every term of the sort
// field read in turn (what Open did before it seeked).
func scanTimeBounds(t *testing.T, ix *Index) (lo, hi int64) {
	t.Helper()
	lo, hi = math.MaxInt64, 0
	err := ix.set.readers(ix.set.all(), func(r bindex.IndexReader) (bool, error) {
		d, err := r.FieldDict(fTSort)
		if err != nil {
			return false, err
		}
		defer d.Close()
		for {
			e, err := d.Next()
			if err != nil {
				return false, err
			}
			if e == nil {
				return true, nil
			}
			if v, ok := sortKeyTime(e.Term); ok {
				lo, hi = min(lo, v), max(hi, v)
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	return lo, hi
}

// segments is how many segments the index has now.
func segments(t *testing.T, ix *Index) int {
	t.Helper()
	total := 0
	for _, idx := range ix.set.all() {
		st, ok := idx.StatsMap()["index"].(map[string]interface{})
		if !ok {
			t.Fatalf("no index stats: %v", idx.StatsMap())
		}
		n, ok := st["num_root_filesegments"].(uint64)
		if !ok {
			t.Fatalf("no num_root_filesegments in %v", st)
		}
		total += int(n)
	}
	return total
}

// TestTimeBoundsAfterOpen: the bounds Open finds by seeking are the ones
// a scan of every term finds, on an empty index, over several segments,
// after deleting the oldest and the newest documents, and with the
// extremes a time can take (unknown, before 1970, year 2261).
func TestTimeBoundsAfterOpen(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "index")
	reopen := func(ix *Index) *Index {
		t.Helper()
		if ix != nil {
			if err := ix.Close(); err != nil {
				t.Fatal(err)
			}
		}
		ix, err := Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		return ix
	}
	// check compares the bounds with a scan of the same dictionary. The
	// merger may purge a deleted document's term at any moment after the
	// open, so the scan is read before and after the bounds; when the two
	// scans differ, the dictionary changed in between and the comparison
	// is made again (a purge is never undone, so this ends).
	check := func(ix *Index, what string) {
		t.Helper()
		for try := 0; ; try++ {
			ix.resetTimeBounds()
			lo, hi := scanTimeBounds(t, ix)
			glo, ghi := ix.timeRange()
			if lo2, hi2 := scanTimeBounds(t, ix); (lo2 != lo || hi2 != hi) && try < 20 {
				continue
			}
			if glo != lo || ghi != hi {
				t.Errorf("%s: Open found bounds [%d, %d], a scan of every term [%d, %d]", what, glo, ghi, lo, hi)
			}
			return
		}
	}
	ix := reopen(nil)
	check(ix, "empty index")
	if lo, hi := ix.timeRange(); lo != math.MaxInt64 || hi != 0 {
		t.Errorf("empty index: bounds [%d, %d], want none", lo, hi)
	}

	gen := newCorpusGen(7)
	r := rand.New(rand.NewPCG(7, 7))
	base := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	var all []EmailDoc
	// Six batches, each its own segment, times spread over a year.
	for batch := range 6 {
		var docs []EmailDoc
		for i := range 40 {
			d := gen.email(batch*1000 + i)
			d.Email.Session.Time = base.Add(time.Duration(r.Int64N(int64(365 * 24 * time.Hour))))
			docs = append(docs, d)
		}
		if err := ix.IndexEmails(docs); err != nil {
			t.Fatal(err)
		}
		all = append(all, docs...)
	}
	ix = reopen(ix)
	if n := segments(t, ix); n < 2 {
		t.Errorf("%d segment(s): the test wants several", n)
	}
	check(ix, "six segments")
	lo, hi := scanTimeBounds(t, ix)
	if want := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC).UnixNano(); lo < want || hi > want+int64(365*24*time.Hour) || lo >= hi {
		t.Errorf("bounds [%d, %d] are not within the generated year", lo, hi)
	}

	// Delete the oldest and the newest emails: the scan and the seek
	// agree on what the dictionary still holds.
	oldest, newest := all[0], all[0]
	for _, d := range all {
		if d.Email.Session.Time.Before(oldest.Email.Session.Time) {
			oldest = d
		}
		if d.Email.Session.Time.After(newest.Email.Session.Time) {
			newest = d
		}
	}
	if err := ix.Delete(oldest.Email.ID, newest.Email.ID); err != nil {
		t.Fatal(err)
	}
	ix = reopen(ix)
	check(ix, "after deleting the oldest and newest")

	// Extremes: an unknown time (sorts as 0), a time before 1970 (0 too),
	// and the last year bleve's datetime holds.
	ext := []time.Time{{}, time.Date(1969, 7, 20, 20, 17, 0, 0, time.UTC), time.Date(2261, 12, 31, 23, 59, 59, 0, time.UTC)}
	for i, tm := range ext {
		d := gen.email(9000 + i)
		d.Email.Session.Time = tm
		d.Email.Date = ""
		if err := ix.IndexEmails([]EmailDoc{d}); err != nil {
			t.Fatal(err)
		}
	}
	ix = reopen(ix)
	check(ix, "with the extreme times")
	if lo, hi := ix.timeRange(); lo != 0 || hi != ext[2].UnixNano() {
		t.Errorf("extremes: bounds [%d, %d], want [0, %d]", lo, hi, ext[2].UnixNano())
	}
	if err := ix.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestTimeBoundsFewSeeks: the bounds timeBounds finds are the scan's
// whatever the hint of where the newest is (none, its month's end, one
// too low, one far too high), for sizes around probeTerms; with the
// month's end as the hint, Open seeks a handful of times, not once per
// bit of the time.
func TestTimeBoundsFewSeeks(t *testing.T) {
	gen := newCorpusGen(9)
	r := rand.New(rand.NewPCG(9, 9))
	for _, n := range []int{1, 2, probeTerms - 1, probeTerms, probeTerms + 1, 700} {
		dir := filepath.Join(t.TempDir(), "index")
		ix, err := Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		month := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
		for lo := 0; lo < n; lo += 200 { // several segments
			var docs []EmailDoc
			for i := lo; i < min(n, lo+200); i++ {
				d := gen.email(n*1000 + i)
				d.Email.Session.Time = month.Add(time.Duration(r.Int64N(int64(20 * 24 * time.Hour))))
				docs = append(docs, d)
			}
			if err := ix.IndexEmails(docs); err != nil {
				t.Fatal(err)
			}
		}
		if err := ix.Close(); err != nil {
			t.Fatal(err)
		}
		before := timeProbes.Load()
		if ix, err = Open(dir); err != nil {
			t.Fatal(err)
		}
		if seeks := timeProbes.Load() - before; seeks != 0 {
			t.Errorf("%d emails: Open seeked %d times; the bounds are read when a search needs them", n, seeks)
		}
		before = timeProbes.Load()
		glo, ghi := ix.timeRange()
		seeks := timeProbes.Load() - before
		lo, hi := scanTimeBounds(t, ix)
		if glo != lo || ghi != hi {
			t.Errorf("%d emails: found [%d, %d], the scan [%d, %d]", n, glo, ghi, lo, hi)
		}
		t.Logf("%d emails: %d seeks", n, seeks)
		if seeks > 16 {
			t.Errorf("%d emails in one month: %d seeks for the bounds", n, seeks)
		}
		before = timeProbes.Load()
		if glo, ghi := ix.timeRange(); glo != lo || ghi != hi || timeProbes.Load() != before {
			t.Errorf("%d emails: read again [%d, %d] (%d seeks)", n, glo, ghi, timeProbes.Load()-before)
		}
		_, monthEnd, _ := monthSpan("2026-03")
		for _, below := range []int64{0, monthEnd, hi - 1, lo, math.MaxInt64 - 1, monthEnd * 2} {
			err := ix.set.readers(ix.set.all(), func(r bindex.IndexReader) (bool, error) {
				glo, ghi, ok := timeBounds(r, below)
				if !ok || glo != lo || ghi != hi {
					t.Errorf("%d emails, hint %d: [%d, %d] %v, want [%d, %d]", n, below, glo, ghi, ok, lo, hi)
				}
				return false, nil
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		if err := ix.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestTimeBoundsOnlyWhenNeeded: a page that needs no time window (no
// more than four pages of matches) reads no bounds; the first that does
// reads them once; a write before that widens what is read, and the
// bounds then hold both.
func TestTimeBoundsOnlyWhenNeeded(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "index")
	ix, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	gen := newCorpusGen(5)
	month := time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)
	var docs []EmailDoc
	for i := range 300 {
		d := gen.email(i)
		d.Email.Session.Time = month.Add(time.Duration(i) * time.Hour)
		docs = append(docs, d)
	}
	if err := ix.IndexEmails(docs); err != nil {
		t.Fatal(err)
	}
	if err := ix.Close(); err != nil {
		t.Fatal(err)
	}
	if ix, err = Open(dir); err != nil {
		t.Fatal(err)
	}
	defer ix.Close()
	before := timeProbes.Load()
	res, err := ix.Search(context.Background(), "", SearchOptions{Limit: 100})
	if err != nil || res.Total != 300 {
		t.Fatalf("%v, %v", res, err)
	}
	if n := timeProbes.Load() - before; n != 0 || ix.boundsLoaded.Load() {
		t.Errorf("a page of 100 of 300 matches read the time bounds (%d seeks)", n)
	}
	// A newer email written before any search needs the bounds.
	late := gen.email(999)
	late.Email.Session.Time = month.Add(400 * time.Hour)
	if err := ix.IndexEmails([]EmailDoc{late}); err != nil {
		t.Fatal(err)
	}
	windowed := windowedPages.Load()
	res, err = ix.Search(context.Background(), "", SearchOptions{Limit: 10})
	if err != nil || len(res.Hits) != 10 || res.Hits[0].ID != late.Email.ID {
		t.Fatalf("newest page: %v, %v", res, err)
	}
	if !ix.boundsLoaded.Load() || windowedPages.Load() == windowed {
		t.Errorf("a page of 10 of 301 matches: bounds read %v, windowed %v", ix.boundsLoaded.Load(), windowedPages.Load() != windowed)
	}
	if lo, hi := ix.timeRange(); lo != month.UnixNano() || hi != late.Email.Session.Time.UnixNano() {
		t.Errorf("bounds [%v, %v], want [%v, %v]", time.Unix(0, lo).UTC(), time.Unix(0, hi).UTC(), month, late.Email.Session.Time)
	}
}
