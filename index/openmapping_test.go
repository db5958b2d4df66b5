package index

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/mapping"
	"github.com/blevesearch/bleve/v2/util"
)

// TestSharedMappingIsWhatBleveDecodes: the JSON bleve stores for this
// version's mapping decodes (the way bleve did before the shortcut) to a
// mapping that marshals to the same bytes and validates, so handing over
// the shared mapping for those bytes changes nothing but the cost.
func TestSharedMappingIsWhatBleveDecodes(t *testing.T) {
	im, known := sharedMapping()
	if known == nil {
		t.Fatal("the shared mapping does not marshal")
	}
	var decoded *mapping.IndexMappingImpl
	if err := json.Unmarshal(known, &decoded); err != nil {
		t.Fatal(err)
	}
	if err := decoded.Validate(); err != nil {
		t.Fatal(err)
	}
	again, err := json.Marshal(decoded)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again, known) {
		t.Errorf("the decoded mapping marshals to other bytes:\n%s\nwant\n%s", again, known)
	}
	if fresh, _ := json.Marshal(newMapping()); !bytes.Equal(fresh, known) {
		t.Error("newMapping() marshals to other bytes each time (map order?)")
	}
	var got *mapping.IndexMappingImpl
	if err := util.UnmarshalJSON(known, &got); err != nil || got != im {
		t.Errorf("bleve's decoder on the known bytes: %p, %v; want the shared mapping %p", got, err, im)
	}
	var other *mapping.IndexMappingImpl
	changed := bytes.Replace(known, []byte(`"default_analyzer":"standard"`), []byte(`"default_analyzer":"keyword"`), 1)
	if bytes.Equal(changed, known) {
		t.Fatal("the mapping's JSON has no default_analyzer to change")
	}
	if err := util.UnmarshalJSON(changed, &other); err != nil || other == im || other.DefaultAnalyzer != "keyword" {
		t.Errorf("other bytes: %v, shared %v, default analyzer %q; want them decoded", err, other == im, other.DefaultAnalyzer)
	}
	var m map[string]any
	if err := util.UnmarshalJSON([]byte(`{"a":1}`), &m); err != nil || m["a"] != float64(1) {
		t.Errorf("other values: %v %v", m, err)
	}
	if err := util.UnmarshalJSON([]byte(`{`), &other); err == nil {
		t.Error("malformed JSON decoded without an error")
	}
}

// TestOpenUsesSharedMapping: a month this version wrote opens with the
// shared mapping (nothing decoded) and answers; a month whose stored
// mapping differs is decoded, opens stale, and answers with its own.
func TestOpenUsesSharedMapping(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "index")
	ix := openLoaded(t, dir, newFixture())
	want := ids(t, ix, "invoice")
	if len(want) == 0 {
		t.Fatal("the fixture has no invoice")
	}
	if err := ix.Close(); err != nil {
		t.Fatal(err)
	}

	ro, err := OpenReadOnly(dir)
	if err != nil {
		t.Fatal(err)
	}
	shared, _ := sharedMapping()
	months := ro.set.all()
	if len(months) == 0 {
		t.Fatal("no month")
	}
	for _, idx := range months {
		if m, ok := idx.Mapping().(*mapping.IndexMappingImpl); !ok || m != shared {
			t.Errorf("month %s: opened with a decoded mapping, not the shared one", idx.Name())
		}
	}
	if got := ids(t, ro, "invoice"); !slices.Equal(got, want) {
		t.Errorf("read-only: %q, want %q", got, want)
	}
	if ro.Stale() {
		t.Error("this version's index opens stale")
	}
	if err := ro.Close(); err != nil {
		t.Fatal(err)
	}

	// A month written with another mapping (a different default
	// analyzer) and no version: decoded, stale.
	other := newMapping()
	other.DefaultAnalyzer = "keyword"
	odd := filepath.Join(dir, monthsDir, "1999-01")
	idx, err := bleve.NewUsing(odd, other, "scorch", "scorch", runtimeConfig())
	if err != nil {
		t.Fatal(err)
	}
	// Batches are unsafe (runtimeConfig): the mapping bleve stored must
	// reach the disk before Close, as createBleve makes sure of.
	if err := flush(idx); err != nil {
		t.Fatal(err)
	}
	if err := idx.Close(); err != nil {
		t.Fatal(err)
	}
	ro, err = OpenReadOnly(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if ro.Damaged() != nil || ro.set.get("1999-01") == nil {
		t.Fatalf("the month of another mapping did not open: damaged %v", ro.Damaged())
	}
	m, ok := ro.set.get("1999-01").Mapping().(*mapping.IndexMappingImpl)
	if !ok || m == shared || m.DefaultAnalyzer != "keyword" {
		t.Errorf("a month of another mapping: shared %v, default analyzer %q", m == shared, m.DefaultAnalyzer)
	}
	if !ro.Stale() {
		t.Error("a month of another mapping does not open stale")
	}
	if got := ids(t, ro, "invoice"); !slices.Equal(got, want) {
		t.Errorf("with the other month: %q, want %q", got, want)
	}
	if _, err := ro.Search(context.Background(), "invoice", SearchOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(odd, "index_meta.json")); errors.Is(err, os.ErrNotExist) {
		t.Fatal("the other month is gone")
	}
}

// BenchmarkOpenReadOnly: opening an index of one month read-only (what
// `smtpscope search` does first), with the time bounds.
func BenchmarkOpenReadOnly(b *testing.B) {
	dir := filepath.Join(b.TempDir(), "index")
	ix, err := Open(dir)
	if err != nil {
		b.Fatal(err)
	}
	newFixture().load(b, ix)
	if err := ix.Close(); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		ro, err := OpenReadOnly(dir)
		if err != nil {
			b.Fatal(err)
		}
		if err := ro.Close(); err != nil {
			b.Fatal(err)
		}
	}
}
