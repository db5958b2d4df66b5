package index

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"testing"
	"time"
)

// storeFiles lists the files of the bleve store with their size and
// modification time: what a read-only open must leave as it was.
func storeFiles(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	stores, _ := filepath.Glob(filepath.Join(dir, monthsDir, "*", "store"))
	if len(stores) == 0 {
		t.Fatal("no month index written")
	}
	for _, st := range stores {
		ents, err := os.ReadDir(st)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range ents {
			fi, err := e.Info()
			if err != nil {
				t.Fatal(err)
			}
			out[filepath.Join(filepath.Base(filepath.Dir(st)), e.Name())] = fmt.Sprint(fi.ModTime(), fi.Size())
		}
	}
	return out
}

// loadSegments indexes n generated emails in batches of 12, each batch its
// own segment (more than bleve's merger leaves in a tier), and closes the
// index.
func loadSegments(t *testing.T, dir string, n int) {
	t.Helper()
	// No merging while loading (tiers of 1000 segments).
	extraConfig["scorchMergePlanOptions"] = map[string]interface{}{"MaxSegmentsPerTier": 1000, "SegmentsPerMergeTask": 1000}
	defer delete(extraConfig, "scorchMergePlanOptions")
	ix, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	gen := newCorpusGen(5)
	for lo := 0; lo < n; lo += 12 {
		var docs []EmailDoc
		for i := lo; i < min(lo+12, n); i++ {
			docs = append(docs, gen.email(i))
		}
		if err := ix.IndexEmails(docs); err != nil {
			t.Fatal(err)
		}
		if err := ix.set.flushAll(); err != nil { // persisted alone, not merged with the next
			t.Fatal(err)
		}
	}
	if err := ix.Close(); err != nil {
		t.Fatal(err)
	}
}

var readOnlyQueries = []string{"", "invoice", "has:attachment", "-status:sent", "from:" + newCorpusGen(5).domains[3]}

// searchAll returns the ids of the first page of each of readOnlyQueries.
func searchAll(t *testing.T, ix *Index) [][]string {
	t.Helper()
	var out [][]string
	for _, q := range readOnlyQueries {
		res, err := ix.Search(context.Background(), q, SearchOptions{Limit: 30})
		if err != nil {
			t.Fatal(err)
		}
		ids := []string{q}
		for _, h := range res.Hits {
			ids = append(ids, h.ID)
		}
		out = append(out, ids)
	}
	return out
}

// TestOpenReadOnly: a read-only index answers as the writable one does,
// refuses writes with ErrReadOnly, and leaves the files of the index
// untouched (no merge, no persistence) even though it has several
// segments; it takes the lock like Open. Without an index it creates one.
func TestOpenReadOnly(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "index")
	loadSegments(t, dir, 300)

	before := storeFiles(t, dir)
	ro, err := OpenReadOnly(dir)
	if err != nil {
		t.Fatal(err)
	}
	if n := segments(t, ro); n < 2 {
		t.Fatalf("%d segment(s): the test wants several", n)
	}
	got := searchAll(t, ro)
	if _, err := Open(dir); !errors.Is(err, ErrLocked) {
		t.Errorf("Open beside OpenReadOnly: %v, want ErrLocked", err)
	}
	gen := newCorpusGen(6)
	applied := gen.email(2)
	writes := map[string]error{
		"IndexEmails": ro.IndexEmails([]EmailDoc{gen.email(1)}),
		"Delete":      ro.Delete("x"),
		"Rebuild":     ro.Rebuild(&memSource{}, nil),
		"Compact":     ro.Compact(context.Background()),
		"Apply":       ro.Apply([]Doc{{Email: &applied}}, nil, nil),
	}
	_, err = ro.Sync(&memSource{}, nil)
	writes["Sync"] = err
	for name, err := range writes {
		if !errors.Is(err, ErrReadOnly) {
			t.Errorf("%s on a read-only index: %v, want ErrReadOnly", name, err)
		}
	}
	time.Sleep(200 * time.Millisecond) // a merger would have merged by now
	if err := ro.Close(); err != nil {
		t.Fatal(err)
	}
	if after := storeFiles(t, dir); !reflect.DeepEqual(after, before) {
		t.Errorf("a read-only open changed the index files:\nbefore %v\nafter  %v", before, after)
	}
	ix, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if want := searchAll(t, ix); !reflect.DeepEqual(got, want) {
		t.Errorf("read-only search differs from the writable index's:\n got %v\nwant %v", got, want)
	}
	if err := ix.Close(); err != nil {
		t.Fatal(err)
	}

	// No index yet: created, writable.
	fresh, err := OpenReadOnly(filepath.Join(t.TempDir(), "index"))
	if err != nil {
		t.Fatal(err)
	}
	defer fresh.Close()
	if err := fresh.IndexEmails([]EmailDoc{gen.email(2)}); err != nil {
		t.Errorf("OpenReadOnly without an index: write %v, want a new writable index", err)
	}
}

// TestCompact: Compact leaves one segment and the same answers; Rebuild
// leaves a compacted index.
func TestCompact(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "index")
	loadSegments(t, dir, 300)
	ix, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer ix.Close()
	want := searchAll(t, ix)
	if n := segments(t, ix); n < 2 {
		t.Fatalf("%d segment(s) before Compact: the test wants several", n)
	}
	if err := ix.Compact(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := segments(t, ix); n != 1 {
		t.Errorf("%d segments after Compact, want 1", n)
	}
	if got := searchAll(t, ix); !reflect.DeepEqual(got, want) {
		t.Errorf("search after Compact differs:\n got %v\nwant %v", got, want)
	}

	src := &memSource{}
	gen := newCorpusGen(5)
	for i := 0; i < 300; i++ {
		d := gen.email(i)
		src.docs = append(src.docs, Doc{Email: &d})
	}
	if err := ix.Rebuild(src, nil); err != nil {
		t.Fatal(err)
	}
	if n := segments(t, ix); n != 1 {
		t.Errorf("%d segments after Rebuild, want 1", n)
	}
	got := searchAll(t, ix)
	sort.Slice(got, func(i, j int) bool { return got[i][0] < got[j][0] })
	sort.Slice(want, func(i, j int) bool { return want[i][0] < want[j][0] })
	if !reflect.DeepEqual(got, want) {
		t.Errorf("search after Rebuild differs:\n got %v\nwant %v", got, want)
	}
}
