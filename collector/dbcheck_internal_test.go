package collector

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// TestInconsistentDBReadOnly: a queue database whose meta page and size
// are right but one of whose pages is overwritten (what only bbolt's full
// check finds) is refused by a read-write open (the collector, submit:
// nothing is written into it); a read-only open (status, search, index)
// skips that check, and a read that reaches the page returns ErrDamaged
// instead of crashing. The file is never changed.
func TestInconsistentDBReadOnly(t *testing.T) {
	dir := t.TempDir()
	fillStore(t, dir, 400)
	path := filepath.Join(dir, DBFile)

	// The root page of the emails bucket.
	b, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	var root uint64
	_ = b.View(func(tx *bolt.Tx) error {
		root = uint64(tx.Bucket(bEmails).Root())
		return nil
	})
	ps := b.Info().PageSize
	b.Close()
	if root == 0 {
		t.Fatal("the emails bucket is inline: the test needs a page of its own")
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	off := int(root) * ps
	for i := off + 8; i < off+ps; i++ { // keep the page id, overwrite the rest
		data[i] = 0xA5
	}
	if err := os.WriteFile(path, data, 0o640); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatal(err)
	}
	if err := checkDBFile(path, int64(len(data))); err != nil {
		t.Fatalf("the cheap check should pass (only the full check sees this damage): %v", err)
	}

	st, err := OpenStore(dir, StoreOptions{NoFsync: true})
	if err == nil {
		st.Close()
		t.Fatal("read-write open of an inconsistent database succeeded")
	}
	if !errors.Is(err, ErrDamaged) || !strings.Contains(err.Error(), "inconsistent") {
		t.Fatalf("read-write open: %v; want ErrDamaged (inconsistent)", err)
	}

	st, err = OpenStore(dir, StoreOptions{ReadOnly: true})
	if err != nil {
		t.Fatalf("read-only open: %v; want success (no full check)", err)
	}
	defer st.Close()
	err = st.ListEmails(func(*EmailMeta) bool { return true })
	if !errors.Is(err, ErrDamaged) {
		t.Errorf("ListEmails: %v; want ErrDamaged", err)
	}
	if _, err := st.Email("C00000000000000.0"); !errors.Is(err, ErrDamaged) {
		t.Errorf("Email: %v; want ErrDamaged", err)
	}
	if _, err := st.Counts(); err != nil { // another bucket: still readable
		t.Errorf("Counts: %v", err)
	}
	if got, _ := os.ReadFile(path); !bytes.Equal(got, data) {
		t.Error("the damaged file was changed")
	}
}
