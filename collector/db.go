package collector

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"
	"unicode/utf8"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

var (
	bEmails       = []byte("emails")        // email id -> EmailMeta
	bSessions     = []byte("sessions")      // session key -> SessionMeta
	bSubs         = []byte("subs")          // email id \0 group -> SubmissionStatus
	bQueue        = []byte("queue")         // group \0 email id -> next attempt (unix nano)
	bArchive      = []byte("archive")       // sha1 -> reference count
	bReview       = []byte("review")        // name -> ReviewEntry
	bEmailOrder   = []byte("email_order")   // time(8) id -> nil (listing, newest last)
	bSessionOrder = []byte("session_order") // stored(8) key -> nil (retention, oldest first)
	bCounts       = []byte("counts")        // group \0 state -> count
	bMeta         = []byte("meta")          // counters and the last errors
	bClaims       = []byte("claims")        // spool name \0 sha256 -> session key
	bRawFiles     = []byte("raw_files")     // kind \0 path -> rawFileState (Maildir/.eml input)
)

var allBuckets = [][]byte{bEmails, bSessions, bSubs, bQueue, bArchive, bReview, bEmailOrder, bSessionOrder, bCounts, bMeta, bClaims, bRawFiles, bUnindexed, bUnlogged}

// EmailMeta is what the queue database knows of one stored email. The full
// record is the JSON file at Record.
type EmailMeta struct {
	ID          string    `json:"id"`
	Session     string    `json:"session,omitempty"` // session key ("" for raw emails)
	Index       int       `json:"index"`
	Time        time.Time `json:"time"`   // session time from the capture
	Stored      time.Time `json:"stored"` // when the collector stored it
	SourceIP    string    `json:"source_ip,omitempty"`
	MailFrom    string    `json:"mail_from"`
	RcptCount   int       `json:"rcpt_count"`
	Subject     string    `json:"subject"`
	Size        int64     `json:"size"`
	SHA256      string    `json:"sha256"`
	Attachments int       `json:"attachments"`
	IOCs        int       `json:"iocs"`
	YARAHits    int       `json:"yara_hits"`
	Rejected    bool      `json:"rejected,omitempty"` // end-of-data answered 5xx
	EML         string    `json:"eml"`                // path relative to the data dir
	Record      string    `json:"record"`             // path relative to the data dir
	Archive     []string  `json:"archive,omitempty"`  // sha1 of archived attachments
	Source      string    `json:"source,omitempty"`
	Bytes       int64     `json:"bytes"` // bytes stored for this email (eml + record)
	// Hunts are the hunts that matched the email, sorted (TagHunts).
	Hunts []string `json:"hunts,omitempty"`
}

// SessionMeta is one stored session file.
type SessionMeta struct {
	Key        string    `json:"key"`  // unique name in the store
	Name       string    `json:"name"` // name in the spool
	UID        string    `json:"uid"`
	Sensor     string    `json:"sensor,omitempty"` // the collector's sensor name when stored
	File       string    `json:"file"`             // path relative to the data dir
	SHA256     string    `json:"sha256"`
	Size       int64     `json:"size"`
	Time       time.Time `json:"time"`
	TimeSource string    `json:"time_source,omitempty"`
	Stored     time.Time `json:"stored"`
	SourceIP   string    `json:"source_ip"`
	SourcePort int       `json:"source_port"`
	DestIP     string    `json:"dest_ip,omitempty"`
	DestPort   int       `json:"dest_port,omitempty"`
	Helo       string    `json:"helo"`
	Emails     []string  `json:"emails"`
	Bytes      int64     `json:"bytes"` // bytes stored for the session and its emails
}

type db struct {
	b *bolt.DB
}

// ErrLocked means another process (a running collector) holds the data
// dir's database.
var ErrLocked = errors.New("the queue database is in use by a running collector")

// openDB opens the queue database after checking that bbolt can map it
// safely (checkDBFile). A read-write open (the collector, submit, repair's
// new database) then checks its consistency (checkDB: every page, about 3 s
// at 220,000 emails), so that nothing is written into a damaged file; a
// read-only open (status, search, index, reindex) does not, and its reads
// turn a panic of bbolt on a damaged page into a DamageError (Store.view).
// Damage is a *DamageError; the file is never modified then.
func openDB(path string, readOnly bool, timeout time.Duration) (*db, error) {
	if st, err := os.Stat(path); err == nil && st.Size() > 0 {
		if err := checkDBFile(path, st.Size()); err != nil {
			return nil, err
		}
	}
	b, err := boltOpen(path, readOnly, timeout)
	if err != nil {
		return nil, err
	}
	if !readOnly {
		if err := checkDB(path, b); err != nil {
			_ = b.Close()
			return nil, err
		}
		err = b.Update(func(tx *bolt.Tx) error {
			for _, n := range allBuckets {
				if _, err := tx.CreateBucketIfNotExists(n); err != nil {
					return err
				}
			}
			return ensureStoreID(tx)
		})
		if err != nil {
			_ = b.Close()
			return nil, fmt.Errorf("initializing %s: %w", path, err)
		}
	}
	return &db{b: b}, nil
}

func boltOpen(path string, readOnly bool, timeout time.Duration) (b *bolt.DB, err error) {
	defer func() {
		if r := recover(); r != nil {
			b, err = nil, &DamageError{Path: path, What: fmt.Sprintf("opening it failed: %v", r)}
		}
	}()
	b, err = bolt.Open(path, 0o640, &bolt.Options{Timeout: timeout, ReadOnly: readOnly, FreelistType: bolt.FreelistMapType})
	switch {
	case errors.Is(err, bolterrors.ErrTimeout):
		return nil, fmt.Errorf("%s: %w", path, ErrLocked)
	case errors.Is(err, bolterrors.ErrInvalid), errors.Is(err, bolterrors.ErrChecksum), errors.Is(err, bolterrors.ErrVersionMismatch):
		return nil, &DamageError{Path: path, What: err.Error()}
	case err != nil:
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	return b, nil
}

func (d *db) close() error { return d.b.Close() }

// view runs a read transaction of the store. A read-only store skipped
// bbolt's consistency check at open (openDB), so there a panic while
// reading (bbolt asserts on a damaged page) is returned as a DamageError.
func (s *Store) view(fn func(tx *bolt.Tx) error) (err error) {
	if !s.readOnly {
		return s.db.b.View(fn)
	}
	defer func() {
		if r := recover(); r != nil {
			err = &DamageError{Path: s.db.b.Path(), What: fmt.Sprintf("reading it failed: %v", r)}
		}
	}()
	return s.db.b.View(fn)
}

func subKey(id, group string) []byte   { return []byte(id + "\x00" + group) }
func queueKey(group, id string) []byte { return []byte(group + "\x00" + id) }
func countKey(group, state string) []byte {
	return []byte(group + "\x00" + state)
}

func timeKey(t time.Time, s string) []byte {
	k := make([]byte, 8, 8+len(s))
	binary.BigEndian.PutUint64(k, uint64(t.UnixNano()))
	return append(k, s...)
}

func u64(b []byte) int64 {
	if len(b) != 8 {
		return 0
	}
	return int64(binary.BigEndian.Uint64(b))
}

func putU64(v int64) []byte {
	b := make([]byte, 8)
	binary.BigEndian.PutUint64(b, uint64(v))
	return b
}

func bucket(tx *bolt.Tx, name []byte) *bolt.Bucket {
	b := tx.Bucket(name)
	if b == nil {
		// read-only open of a database created by an older version
		return nil
	}
	return b
}

func getJSON(b *bolt.Bucket, key []byte, v any) (bool, error) {
	if b == nil {
		return false, nil
	}
	raw := b.Get(key)
	if raw == nil {
		return false, nil
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return true, fmt.Errorf("corrupt entry %q in %s: %w", key, "queue database", err)
	}
	return true, nil
}

func putJSON(b *bolt.Bucket, key []byte, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return b.Put(key, raw)
}

func addCount(tx *bolt.Tx, key []byte, delta int64) error {
	b := tx.Bucket(bCounts)
	v := u64(b.Get(key)) + delta
	if v < 0 {
		v = 0
	}
	return b.Put(key, putU64(v))
}

func addMeta(tx *bolt.Tx, name string, delta int64) error {
	b := tx.Bucket(bMeta)
	return b.Put([]byte(name), putU64(u64(b.Get([]byte(name)))+delta))
}

// setSub stores st, keeping the per-state counters and the queue in step.
// The keys are built from the ids in st, which must survive the JSON round
// trip of the stored state unchanged (valid UTF-8, no NUL): else the next
// update would miss the real entry.
func setSub(tx *bolt.Tx, old *SubmissionStatus, st *SubmissionStatus) error {
	for _, s := range []string{st.EmailID, st.Group} {
		if !utf8.ValidString(s) || strings.ContainsRune(s, 0) || s == "" {
			return fmt.Errorf("submission key %q: not valid UTF-8 (or empty, or with NUL): cannot be queued", s)
		}
	}
	if old != nil && (old.EmailID != st.EmailID || old.Group != st.Group) {
		return fmt.Errorf("submission of %q to %q would replace the one of %q to %q", st.EmailID, st.Group, old.EmailID, old.Group)
	}
	if old != nil {
		if err := addCount(tx, countKey(old.Group, old.State), -1); err != nil {
			return err
		}
	}
	if err := addCount(tx, countKey(st.Group, st.State), 1); err != nil {
		return err
	}
	if err := putJSON(tx.Bucket(bSubs), subKey(st.EmailID, st.Group), st); err != nil {
		return err
	}
	if err := markEmail(tx, st.EmailID); err != nil { // the index shows the states
		return err
	}
	q := tx.Bucket(bQueue)
	if st.State == StateQueued || st.State == StateRetrying {
		return q.Put(queueKey(st.Group, st.EmailID), putU64(st.NextAttempt.UnixNano()))
	}
	return q.Delete(queueKey(st.Group, st.EmailID))
}

// staleQueueEntry reports a queue entry of group for id whose submission
// state is missing or settled: the state cannot be kept in step with it.
func staleQueueEntry(tx *bolt.Tx, group, id string) error {
	if tx.Bucket(bQueue).Get(queueKey(group, id)) == nil {
		return nil
	}
	return fmt.Errorf("queue entry of %q for %q has no queued submission state", id, group)
}

func getSub(tx *bolt.Tx, id, group string) (*SubmissionStatus, error) {
	var st SubmissionStatus
	ok, err := getJSON(bucket(tx, bSubs), subKey(id, group), &st)
	if !ok || err != nil {
		return nil, err
	}
	return &st, nil
}

// subsOf lists every submission status of an email.
func subsOf(tx *bolt.Tx, id string) ([]SubmissionStatus, error) {
	b := bucket(tx, bSubs)
	if b == nil {
		return nil, nil
	}
	var out []SubmissionStatus
	prefix := []byte(id + "\x00")
	c := b.Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		var st SubmissionStatus
		if err := json.Unmarshal(v, &st); err != nil {
			return nil, fmt.Errorf("corrupt submission entry %q: %w", k, err)
		}
		out = append(out, st)
	}
	return out, nil
}

const maxErrors = 50

func pushError(tx *bolt.Tx, e ErrorEntry) error {
	b := tx.Bucket(bMeta)
	var list []ErrorEntry
	if raw := b.Get([]byte("errors")); raw != nil {
		_ = json.Unmarshal(raw, &list)
	}
	list = append(list, e)
	if len(list) > maxErrors {
		list = list[len(list)-maxErrors:]
	}
	return putJSON(b, []byte("errors"), list)
}

func lastErrors(tx *bolt.Tx) []ErrorEntry {
	b := bucket(tx, bMeta)
	if b == nil {
		return nil
	}
	var list []ErrorEntry
	if raw := b.Get([]byte("errors")); raw != nil {
		_ = json.Unmarshal(raw, &list)
	}
	return list
}

func metaCount(tx *bolt.Tx, name string) int64 {
	b := bucket(tx, bMeta)
	if b == nil {
		return 0
	}
	return u64(b.Get([]byte(name)))
}
