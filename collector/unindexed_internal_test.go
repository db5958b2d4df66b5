package collector

import (
	"testing"

	bolt "go.etcd.io/bbolt"
)

// TestUnindexedMarks: a mark renewed after an indexer read it survives
// that indexer's ClearIndexed (the later change is still to be indexed);
// an unchanged one is deleted; a broken entry fails alone.
func TestUnindexedMarks(t *testing.T) {
	s, err := OpenStore(t.TempDir(), StoreOptions{NoFsync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.ID() == "" {
		t.Fatal("a new store has no ID")
	}
	a, b := IndexKey{IndexEmail, "a"}, IndexKey{IndexEmail, "b"}
	mark := func(k IndexKey) {
		t.Helper()
		if err := s.db.b.Update(func(tx *bolt.Tx) error { return markUnindexed(tx, k, "") }); err != nil {
			t.Fatal(err)
		}
	}
	mark(a)
	mark(b)
	items, err := s.IndexItems([]IndexKey{a, b})
	if err != nil || items[0].Seq == 0 || items[1].Seq == 0 || items[0].Email != nil {
		t.Fatalf("items: %+v %v", items, err)
	}
	mark(a) // changed again after the read
	if err := s.ClearIndexed(items); err != nil {
		t.Fatal(err)
	}
	var left []IndexKey
	if err := s.Unindexed(10, func(ks []IndexKey) bool { left = append(left, ks...); return true }); err != nil {
		t.Fatal(err)
	}
	if len(left) != 1 || left[0] != a {
		t.Fatalf("marks left %v, want only %v (renewed after the read)", left, a)
	}
	// a corrupt email entry is that item's error, not the call's
	if err := s.db.b.Update(func(tx *bolt.Tx) error { return tx.Bucket(bEmails).Put([]byte("a"), []byte("{")) }); err != nil {
		t.Fatal(err)
	}
	items, err = s.IndexItems([]IndexKey{a, b})
	if err != nil || items[0].Err == nil || items[1].Err != nil {
		t.Fatalf("corrupt entry: %+v %v", items, err)
	}
}
