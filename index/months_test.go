package index

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
	"time"
)

// spreadEmails is n generated emails spread evenly from 2026-01-03 over
// days days (several months), with some statuses set.
func spreadEmails(n, days int) []EmailDoc {
	gen := newCorpusGen(11)
	start := time.Date(2026, 1, 3, 0, 0, 0, 0, time.UTC)
	step := time.Duration(days) * 24 * time.Hour / time.Duration(n)
	out := make([]EmailDoc, n)
	for i := range out {
		d := gen.email(i)
		d.Email.Session.Time = start.Add(time.Duration(i)*step + time.Duration(i%7)*time.Second)
		if i%5 == 0 {
			d.Status = map[string]string{"ace": "sent"}
		}
		out[i] = d
	}
	return out
}

// openSingle opens, in dir, an index of the layout before months (one
// bleve index holding every document): the reference the months must
// answer like.
func openSingle(t *testing.T, dir string) *Index {
	t.Helper()
	proto := &Index{im: newMapping()}
	idx, err := proto.createBleve(filepath.Join(dir, bleveDir))
	if err != nil {
		t.Fatal(err)
	}
	if err := idx.Close(); err != nil {
		t.Fatal(err)
	}
	ix, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if ix.set.legacy == nil || !ix.Stale() {
		t.Fatalf("an index of the old layout opens as legacy %v, stale %v", ix.set.legacy != nil, ix.Stale())
	}
	return ix
}

// everyPage pages through q under one sort order with a small page and
// returns every hit's id and sort value, and the total of the first page.
func everyPage(t *testing.T, ix *Index, q, order string, asYouType bool) (hits []string, total uint64) {
	t.Helper()
	var after []string
	for page := 0; ; page++ {
		res, err := ix.Search(context.Background(), q, SearchOptions{Limit: 37, Sort: order, After: after, AsYouType: asYouType})
		if err != nil {
			t.Fatalf("%q sort %q: %v", q, order, err)
		}
		if page == 0 {
			total = res.Total
		}
		for _, h := range res.Hits {
			hits = append(hits, h.ID+" "+h.Sort[0])
		}
		if len(res.Hits) < 37 {
			return hits, total
		}
		after = res.Hits[len(res.Hits)-1].Sort
		if page > 1000 {
			t.Fatalf("%q: paging does not end", q)
		}
	}
}

var monthQueries = []string{
	"", "invoice", "has:attachment", "-status:sent", "status:sent", "invoice OR payment",
	"after:2026-02-01 before:2026-03-15", "urgent after:2026-03-01", "before:2026-01-20", "after:2027-01-01",
}

// TestMonthsAnswerLikeOneIndex: emails spread over four months, indexed
// in month indexes behind an alias, give for every query, sort order and
// page the same ids, order, totals, facets and histogram as the same
// emails in one index.
func TestMonthsAnswerLikeOneIndex(t *testing.T) {
	docs := spreadEmails(900, 100)
	one := openSingle(t, filepath.Join(t.TempDir(), "one"))
	defer one.Close()
	months, err := Open(filepath.Join(t.TempDir(), "months"))
	if err != nil {
		t.Fatal(err)
	}
	defer months.Close()
	for _, ix := range []*Index{one, months} {
		// In three writes, the last re-indexing some of the first.
		for _, part := range [][]EmailDoc{docs[:400], docs[400:], docs[100:150]} {
			if err := ix.IndexEmails(part); err != nil {
				t.Fatal(err)
			}
		}
	}
	if got := months.set.keys(); !reflect.DeepEqual(got, []string{"2026-01", "2026-02", "2026-03", "2026-04"}) {
		t.Fatalf("months written: %v", got)
	}
	for _, k := range months.set.keys() {
		if _, err := os.Stat(filepath.Join(months.Dir(), monthsDir, k, "index_meta.json")); err != nil {
			t.Errorf("month %s: %v", k, err)
		}
	}
	compare := func(stage string) {
		t.Helper()
		n1, _ := one.Count()
		n2, _ := months.Count()
		if n1 != n2 || n1 == 0 {
			t.Errorf("%s: count %d in one index, %d in months", stage, n1, n2)
		}
		for _, q := range monthQueries {
			for _, order := range []string{"", SortOldest, "size", "-iocs", "sender", "status"} {
				a, at := everyPage(t, one, q, order, false)
				b, bt := everyPage(t, months, q, order, false)
				if !slices.Equal(a, b) || at != bt {
					t.Errorf("%s: %q sort %q: one index %d hits (total %d), months %d (total %d)", stage, q, order, len(a), at, len(b), bt)
				}
			}
			opts := SearchOptions{Limit: 20, Facets: true, Histogram: true}
			r1, err1 := one.Search(context.Background(), q, opts)
			r2, err2 := months.Search(context.Background(), q, opts)
			if err1 != nil || err2 != nil {
				t.Fatal(err1, err2)
			}
			if !reflect.DeepEqual(r1.Facets, r2.Facets) || !reflect.DeepEqual(r1.Histogram, r2.Histogram) || r1.Total != r2.Total {
				t.Errorf("%s: %q: facets/histogram/total differ:\n%v %v %d\n%v %v %d", stage, q, r1.Facets, r1.Histogram, r1.Total, r2.Facets, r2.Histogram, r2.Total)
			}
		}
		a, _ := everyPage(t, one, "invo", "", true)
		b, _ := everyPage(t, months, "invo", "", true)
		if !slices.Equal(a, b) || len(a) == 0 {
			t.Errorf("%s: as-you-type: %d vs %d hits", stage, len(a), len(b))
		}
		olo, ohi := one.timeRange()
		mlo, mhi := months.timeRange()
		if olo != mlo || ohi != mhi {
			t.Errorf("%s: time bounds %d..%d vs %d..%d", stage, olo, ohi, mlo, mhi)
		}
	}
	compare("indexed")

	// Deleting ids of every month (the caller does not say which month).
	var del []string
	for i := 0; i < len(docs); i += 97 {
		del = append(del, docs[i].Email.ID)
	}
	for _, ix := range []*Index{one, months} {
		if err := ix.Delete(del...); err != nil {
			t.Fatal(err)
		}
	}
	compare("deleted")

	// Compact, then reopen: the months are found again and time bounds
	// come back from the oldest and the newest month.
	if err := months.Compact(context.Background()); err != nil {
		t.Fatal(err)
	}
	lo, hi := months.timeRange()
	dir := months.Dir()
	if err := months.Close(); err != nil {
		t.Fatal(err)
	}
	if months, err = Open(dir); err != nil {
		t.Fatal(err)
	}
	defer months.Close()
	if months.Stale() {
		t.Error("months stale after reopen")
	}
	if glo, ghi := months.timeRange(); glo != lo || ghi != hi {
		t.Errorf("time bounds after reopen %d..%d, want %d..%d", glo, ghi, lo, hi)
	}
	compare("reopened")
}

// A search whose time window misses a month does not read it.
func TestMonthsWithinPrunes(t *testing.T) {
	ix, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer ix.Close()
	if err := ix.IndexEmails(spreadEmails(60, 100)); err != nil {
		t.Fatal(err)
	}
	feb := time.Date(2026, 2, 10, 0, 0, 0, 0, time.UTC).UnixNano()
	mar := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC).UnixNano()
	if got := len(ix.set.within(feb, feb+1)); got != 1 {
		t.Errorf("a window inside February reads %d months", got)
	}
	if got := len(ix.set.within(feb, mar)); got != 2 {
		t.Errorf("February 10 to March 1 reads %d months", got)
	}
	if got := len(ix.set.within(spanLo, spanHi)); got != 4 {
		t.Errorf("no window reads %d months", got)
	}
}

// An index of the layout before months answers (stale) until Rebuild
// moves it into months; the answers stay the same and the old directory
// goes.
func TestOldLayoutMovesToMonths(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "index")
	docs := spreadEmails(300, 80)
	src := &memSource{}
	for i := range docs {
		src.docs = append(src.docs, Doc{Email: &docs[i]})
	}
	ix := openSingle(t, dir)
	if err := ix.IndexEmails(docs); err != nil {
		t.Fatal(err)
	}
	if err := ix.SetStoreID("store-1"); err != nil {
		t.Fatal(err)
	}
	ix.Close()

	ix, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer ix.Close()
	if !ix.Stale() || ix.set.legacy == nil {
		t.Fatalf("old layout reopened: stale %v legacy %v", ix.Stale(), ix.set.legacy != nil)
	}
	var before [][]string
	for _, q := range monthQueries {
		h, _ := everyPage(t, ix, q, "", false)
		before = append(before, h)
	}
	if len(before[0]) != len(docs) {
		t.Fatalf("old layout answers %d of %d", len(before[0]), len(docs))
	}
	if err := ix.Rebuild(src, nil); err != nil {
		t.Fatal(err)
	}
	if ix.Stale() || ix.set.legacy != nil {
		t.Fatalf("after rebuild: stale %v legacy %v", ix.Stale(), ix.set.legacy != nil)
	}
	if _, err := os.Stat(filepath.Join(dir, bleveDir)); !os.IsNotExist(err) {
		t.Errorf("old layout left behind: %v", err)
	}
	if n := len(ix.set.keys()); n < 3 {
		t.Errorf("rebuilt into %d months", n)
	}
	for i, q := range monthQueries {
		if h, _ := everyPage(t, ix, q, "", false); !slices.Equal(h, before[i]) {
			t.Errorf("%q: %d hits before the move, %d after", q, len(before[i]), len(h))
		}
	}
	if got := ix.StoreID(); got != "" {
		t.Errorf("a rebuilt index keeps store id %q (the caller sets it after)", got)
	}
	if err := ix.SetStoreID("store-2"); err != nil {
		t.Fatal(err)
	}
	ix.Close()
	if ix, err = Open(dir); err != nil {
		t.Fatal(err)
	}
	if ix.Stale() || ix.StoreID() != "store-2" {
		t.Errorf("reopened: stale %v store id %q", ix.Stale(), ix.StoreID())
	}
	if err := ix.Close(); err != nil {
		t.Fatal(err)
	}
}

// DropMonth removes one month whole; the others answer as before and
// the time bounds shrink to what is left. A deletion is written only to
// the month holding its document, and a write then a deletion of the
// same id in one Apply leaves it deleted (and the other way round).
func TestDropMonth(t *testing.T) {
	dir := t.TempDir()
	ix, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer ix.Close()
	docs := spreadEmails(90, 100) // 2026-01-03 .. 2026-04-13
	if err := ix.IndexEmails(docs); err != nil {
		t.Fatal(err)
	}
	ms, err := ix.Months()
	if err != nil || len(ms) != 4 || ms[0].Key != "2026-01" || !ms[0].End.Equal(time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("months %+v %v", ms, err)
	}
	jan, err := ix.MonthIDs("2026-01")
	if err != nil || uint64(len(jan)) != ms[0].Docs || len(jan) == 0 {
		t.Fatalf("January ids %d (docs %d) %v", len(jan), ms[0].Docs, err)
	}
	// a deletion of a February email writes to February only
	feb, _ := ix.MonthIDs("2026-02")
	if err := ix.Delete(feb[0]); err != nil {
		t.Fatal(err)
	}
	after, _ := ix.Months()
	for i, m := range after {
		if wrote := m.Batches - ms[i].Batches; (m.Key == "2026-02") != (wrote == 1) || wrote > 1 {
			t.Errorf("deleting a February email wrote %d batches to %s", wrote, m.Key)
		}
	}
	// same id written then deleted in one Apply, and deleted then written
	d0, d1 := docs[len(docs)-1], docs[len(docs)-2]
	if err := ix.Apply([]Doc{{Email: &d0}}, []string{d0.Email.ID}, nil); err != nil {
		t.Fatal(err)
	}
	if err := ix.Delete(d1.Email.ID); err != nil {
		t.Fatal(err)
	}
	if err := ix.IndexEmails([]EmailDoc{d1}); err != nil {
		t.Fatal(err)
	}
	got := ids(t, ix, "")
	if slices.Contains(got, d0.Email.ID) || !slices.Contains(got, d1.Email.ID) {
		t.Errorf("written-then-deleted present %v, deleted-then-written present %v",
			slices.Contains(got, d0.Email.ID), slices.Contains(got, d1.Email.ID))
	}

	before, _ := ix.Count()
	if err := ix.DropMonth("2026-01"); err != nil {
		t.Fatal(err)
	}
	if n, _ := ix.Count(); n != before-uint64(len(jan)) {
		t.Errorf("count %d after dropping %d of %d", n, len(jan), before)
	}
	if _, err := os.Stat(filepath.Join(dir, monthsDir, "2026-01")); !os.IsNotExist(err) {
		t.Errorf("January's directory: %v", err)
	}
	for _, id := range ids(t, ix, "") {
		if slices.Contains(jan, id) {
			t.Errorf("%s of January still found", id)
		}
	}
	if lo, _ := ix.timeRange(); lo < time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC).UnixNano() {
		t.Errorf("oldest time %v after dropping January", time.Unix(0, lo).UTC())
	}
	if err := ix.DropMonth("../x"); err == nil {
		t.Error("dropping a month that is not a month key works")
	}
	ix.Close()
	if ix, err = Open(dir); err != nil {
		t.Fatal(err)
	}
	defer ix.Close()
	if got := ix.set.keys(); !slices.Equal(got, []string{"2026-02", "2026-03", "2026-04"}) {
		t.Errorf("after reopening: months %v", got)
	}
}

// TestIsMonthKey: the month directories Open reads and DropMonth takes
// are YYYY-MM in digits, nothing else.
func TestIsMonthKey(t *testing.T) {
	for name, want := range map[string]bool{
		"2026-01": true, "1970-01": true, "9999-99": true,
		"2026-1": false, "2026_01": false, "2026-01x": false, "x026-01": false,
		"2026-0a": false, "": false, "store_id": false, "2026-01/": false, "２０２６-01": false,
	} {
		if got := isMonthKey(name); got != want {
			t.Errorf("isMonthKey(%q) = %v, want %v", name, got, want)
		}
	}
}
