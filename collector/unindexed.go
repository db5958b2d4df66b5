package collector

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// The search index is derived from the store and written after the
// commit (in batches, by collector/service). So that a crash, or a run
// without an index, never leaves it silently behind, every transaction
// that changes what the index shows also marks the changed document in
// the "unindexed" bucket; the indexer deletes a mark once the index holds
// that change on disk (ClearIndexed), and a start-up reads just this
// bucket to catch up (Unindexed), instead of comparing the whole store
// with the whole index.

var bUnindexed = []byte("unindexed") // kind \0 name -> sequence(8) [+ session uid]

// Kinds of IndexKey.
const (
	IndexEmail   = 'e' // Name: email id
	IndexSession = 's' // Name: session key (a session that carried no email)
	IndexReview  = 'r' // Name: review entry name
)

// IndexKey names one document of the index by what the store calls it.
type IndexKey struct {
	Kind byte
	Name string
}

func (k IndexKey) bytes() []byte { return append([]byte{k.Kind, 0}, k.Name...) }

func parseIndexKey(b []byte) (IndexKey, bool) {
	if len(b) < 2 || b[1] != 0 {
		return IndexKey{}, false
	}
	return IndexKey{Kind: b[0], Name: string(b[2:])}, true
}

// markUnindexed records, inside the transaction that makes the change,
// that the index may not show k as the store now has it. Each mark gets a
// new sequence number, so an indexer that read an older one does not
// delete it (ClearIndexed). uid is a session's uid (its index document
// is named after it, and must be found after the session is gone).
func markUnindexed(tx *bolt.Tx, k IndexKey, uid string) error {
	b := tx.Bucket(bUnindexed)
	if b == nil {
		return nil // a read-only view of an old database cannot be written anyway
	}
	seq, err := b.NextSequence()
	if err != nil {
		return err
	}
	return b.Put(k.bytes(), append(putU64(int64(seq)), uid...))
}

func markEmail(tx *bolt.Tx, id string) error {
	return markUnindexed(tx, IndexKey{IndexEmail, id}, "")
}

// IndexItem is the store's current state of one index document, read in
// one transaction with its mark.
type IndexItem struct {
	Key IndexKey
	Seq uint64 // sequence of its mark when read (0: not marked)
	UID string // a session's uid (from the mark or the session)
	// At most one is set: the document as stored now. None: it is gone
	// from the store (delete it from the index).
	Email   *EmailMeta
	Subs    []SubmissionStatus
	Session *SessionMeta
	Review  *ReviewEntry
	// Err: its entry could not be read (the others of the call still are).
	Err error
}

// IndexItems reads, in one transaction, the mark and the current state of
// each key. An indexer that indexes this state and then deletes the
// marks read here (ClearIndexed) cannot lose a later change: that change
// has a newer mark.
func (s *Store) IndexItems(keys []IndexKey) ([]IndexItem, error) {
	out := make([]IndexItem, len(keys))
	err := s.db.b.View(func(tx *bolt.Tx) error {
		mb := bucket(tx, bUnindexed)
		for i, k := range keys {
			it := IndexItem{Key: k}
			if mb != nil {
				if v := mb.Get(k.bytes()); len(v) >= 8 {
					it.Seq, it.UID = uint64(u64(v[:8])), string(v[8:])
				}
			}
			it.Err = readIndexItem(tx, &it)
			out[i] = it
		}
		return nil
	})
	return out, err
}

// readIndexItem fills it with the stored state of its key.
func readIndexItem(tx *bolt.Tx, it *IndexItem) error {
	k := it.Key
	switch k.Kind {
	case IndexEmail:
		var m EmailMeta
		ok, err := getJSON(bucket(tx, bEmails), []byte(k.Name), &m)
		if err != nil || !ok {
			return err
		}
		it.Email = &m
		it.Subs, err = subsOf(tx, k.Name)
		return err
	case IndexSession:
		var m SessionMeta
		ok, err := getJSON(bucket(tx, bSessions), []byte(k.Name), &m)
		if ok && err == nil {
			it.Session, it.UID = &m, m.UID
		}
		return err
	case IndexReview:
		var r ReviewEntry
		ok, err := getJSON(bucket(tx, bReview), []byte(k.Name), &r)
		if ok && err == nil {
			it.Review = &r
		}
		return err
	}
	return fmt.Errorf("index key %q: unknown kind %q", k.Name, k.Kind)
}

// ClearIndexed deletes the marks of items whose sequence did not change
// since IndexItems read them: the index holds (on disk) what they marked.
// A read-only store keeps its marks (the next collector clears them).
func (s *Store) ClearIndexed(items []IndexItem) error {
	if s.readOnly {
		return nil
	}
	any := false
	for _, it := range items {
		any = any || it.Seq != 0
	}
	if !any {
		return nil
	}
	return s.db.b.Batch(func(tx *bolt.Tx) error {
		b := tx.Bucket(bUnindexed)
		for _, it := range items {
			if it.Seq == 0 {
				continue
			}
			k := it.Key.bytes()
			if v := b.Get(k); len(v) >= 8 && uint64(u64(v[:8])) == it.Seq {
				if err := b.Delete(k); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// Unindexed calls fn with the keys of every marked document (changes the
// index may not hold yet), at most batch at a time, until fn returns
// false. The listing is one read of the bucket, in key order.
func (s *Store) Unindexed(batch int, fn func([]IndexKey) bool) error {
	var keys []IndexKey
	err := s.db.b.View(func(tx *bolt.Tx) error {
		b := bucket(tx, bUnindexed)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, _ []byte) error {
			if ik, ok := parseIndexKey(k); ok {
				keys = append(keys, ik)
			}
			return nil
		})
	})
	if err != nil {
		return err
	}
	for len(keys) > 0 {
		n := min(batch, len(keys))
		if !fn(keys[:n]) {
			return nil
		}
		keys = keys[n:]
	}
	return nil
}

// UnindexedCount is how many documents are marked.
func (s *Store) UnindexedCount() (int, error) { return s.keyCount(bUnindexed) }

// ID is the identity of this store's queue database: random, made when
// the database is created (Repair makes a new one). The index records the
// ID of the store it was built from, so that an index not built from this
// store is never trusted to be current with it. "" for a read-only open of
// a database made before IDs existed.
func (s *Store) ID() string {
	var id string
	_ = s.db.b.View(func(tx *bolt.Tx) error {
		if b := bucket(tx, bMeta); b != nil {
			id = string(b.Get(metaStoreID))
		}
		return nil
	})
	return id
}

var metaStoreID = []byte("store_id")

// ensureStoreID gives a writable database its identity.
func ensureStoreID(tx *bolt.Tx) error {
	b := tx.Bucket(bMeta)
	if b.Get(metaStoreID) != nil {
		return nil
	}
	var r [16]byte
	if _, err := rand.Read(r[:]); err != nil {
		return err
	}
	return b.Put(metaStoreID, []byte(hex.EncodeToString(r[:])))
}
