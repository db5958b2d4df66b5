package collector

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/smtpscope/smtpscope/core"
	bolt "go.etcd.io/bbolt"
)

// Data dir layout. Every path in the queue database is relative to the
// data dir.
const (
	DBFile        = "queue.db"    // bbolt: queue, submission states, metadata
	SessionsDir   = "sessions"    // sessions/YYYY/MM/DD/<key>: session files as claimed
	EmailsDir     = "emails"      // emails/YYYY/MM/DD/<id>.eml: exact message bytes
	ResultsDir    = "results"     // results/YYYY/MM/DD/<id>.json: the core.Email record
	ArchiveDir    = "archive"     // archive/<c1>/<c2>/<c3>/<c4>/<c5>/<sha1>: attachments (stoQ filedir)
	ReviewDir     = "review"      // review/<name> + <name>.error: unparsable session files
	RequestsDir   = "requests"    // requests/*.json: resubmissions queued while a collector runs
	StatusFile    = "status.json" // snapshot a running collector writes for `smtpscope status`
	errorSuffix   = ".error"
	requestSuffix = ".json"
)

// ErrNotFound is returned for unknown email ids, sessions or files.
var ErrNotFound = errors.New("not found")

// StoreOptions configure OpenStore.
type StoreOptions struct {
	// ReadOnly opens the queue database with a shared lock; it fails with
	// ErrLocked while a collector holds the data dir.
	ReadOnly bool
	// Timeout bounds the wait for the database lock (default 1s).
	Timeout time.Duration
	// NoFsync skips fsync (tests only).
	NoFsync bool
	// FsyncFiles makes a group's files durable by an fdatasync of each
	// file and directory instead of one syncfs (Config.FsyncMode "files").
	FsyncFiles bool
}

// Store is a data dir: files on disk plus the queue database. Its read
// methods are safe for concurrent use.
type Store struct {
	dir      string
	db       *db
	fw       *fileWriter
	readOnly bool
}

// OpenStore opens (creating if needed, unless read-only) the data dir.
func OpenStore(dir string, o StoreOptions) (*Store, error) {
	if o.Timeout <= 0 {
		o.Timeout = time.Second
	}
	if !o.ReadOnly {
		for _, d := range []string{SessionsDir, EmailsDir, ResultsDir, ArchiveDir, ReviewDir, RequestsDir} {
			if err := os.MkdirAll(filepath.Join(dir, d), 0o750); err != nil {
				return nil, fmt.Errorf("data dir: %w", err)
			}
		}
	}
	if err := checkDBPresent(dir, o.ReadOnly); err != nil {
		return nil, err
	}
	d, err := openDB(filepath.Join(dir, DBFile), o.ReadOnly, o.Timeout)
	if err != nil {
		return nil, err
	}
	d.b.NoSync = o.NoFsync
	d.b.MaxBatchDelay = time.Millisecond
	if !o.ReadOnly {
		for _, sub := range []string{SessionsDir, EmailsDir, ResultsDir, ArchiveDir, ReviewDir} {
			removeTemps(filepath.Join(dir, sub))
		}
	}
	return &Store{dir: dir, db: d, fw: newFileWriterMode(o.syncMode()), readOnly: o.ReadOnly}, nil
}

func (o StoreOptions) syncMode() syncMode {
	switch {
	case o.NoFsync:
		return syncNone
	case o.FsyncFiles:
		return syncPerFile
	}
	return syncPerFS
}

// checkDBPresent refuses a data dir whose queue database is missing or
// empty (0 bytes) while it holds stored emails: starting afresh would drop
// their queue entries. A read-only open also needs the database.
func checkDBPresent(dir string, readOnly bool) error {
	path := filepath.Join(dir, DBFile)
	if st, err := os.Stat(path); err == nil && st.Size() > 0 {
		return nil
	}
	if eml := storedEmail(dir); eml != "" {
		return &DamageError{Path: path, What: "missing or empty (0 bytes) while the store holds emails (" + eml + ")"}
	}
	if readOnly {
		return fmt.Errorf("data dir %s: no %s (not a smtpscope data dir, or nothing collected yet)", dir, DBFile)
	}
	return nil
}

// Close closes the queue database.
func (s *Store) Close() error {
	if s.fw != nil {
		s.fw.close()
	}
	return s.db.close()
}

// Dir is the data dir.
func (s *Store) Dir() string { return s.dir }

// Path makes a stored relative path absolute.
func (s *Store) Path(rel string) string { return filepath.Join(s.dir, filepath.FromSlash(rel)) }

func dayDir(t time.Time) string { return t.UTC().Format("2006/01/02") }

// ArchiveRel is the stoQ filedir path of an attachment with this sha1.
func ArchiveRel(sha1 string) string {
	return ArchiveDir + "/" + FiledirRel(sha1)
}

// FiledirRel is stoQ's filedir archive layout for a sha1:
// "<c1>/<c2>/<c3>/<c4>/<c5>/<sha1>" (the first five hex characters as
// directories).
func FiledirRel(sha1 string) string {
	if len(sha1) < 5 {
		return sha1
	}
	return fmt.Sprintf("%c/%c/%c/%c/%c/%s", sha1[0], sha1[1], sha1[2], sha1[3], sha1[4], sha1)
}

func validSHA1(s string) bool {
	if len(s) != 40 {
		return false
	}
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// Email returns the metadata of one stored email.
func (s *Store) Email(id string) (*EmailMeta, error) {
	var m EmailMeta
	var ok bool
	err := s.view(func(tx *bolt.Tx) (err error) {
		ok, err = getJSON(bucket(tx, bEmails), []byte(id), &m)
		return err
	})
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("email %q: %w", id, ErrNotFound)
	}
	return &m, nil
}

// RecordJSON returns the stored record (core.Email JSON) of an email.
func (s *Store) RecordJSON(id string) ([]byte, error) {
	m, err := s.Email(id)
	if err != nil {
		return nil, err
	}
	return os.ReadFile(s.Path(m.Record))
}

// Record returns the stored record of an email.
func (s *Store) Record(id string) (*core.Email, error) {
	b, err := s.RecordJSON(id)
	if err != nil {
		return nil, err
	}
	var e core.Email
	if err := json.Unmarshal(b, &e); err != nil {
		return nil, fmt.Errorf("record of %q: %w", id, err)
	}
	return &e, nil
}

// Raw returns the exact message bytes of an email (.eml).
func (s *Store) Raw(id string) ([]byte, error) {
	m, err := s.Email(id)
	if err != nil {
		return nil, err
	}
	return os.ReadFile(s.Path(m.EML))
}

// Session returns the metadata of a stored session by key.
func (s *Store) Session(key string) (*SessionMeta, error) {
	var m SessionMeta
	var ok bool
	err := s.view(func(tx *bolt.Tx) (err error) {
		ok, err = getJSON(bucket(tx, bSessions), []byte(key), &m)
		return err
	})
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("session %q: %w", key, ErrNotFound)
	}
	return &m, nil
}

// SessionFile returns the session file an email came from: its metadata
// and bytes. Emails without a session (raw .eml input) give ErrNotFound.
func (s *Store) SessionFile(emailID string) (*SessionMeta, []byte, error) {
	m, err := s.Email(emailID)
	if err != nil {
		return nil, nil, err
	}
	if m.Session == "" {
		return nil, nil, fmt.Errorf("email %q has no session: %w", emailID, ErrNotFound)
	}
	sm, err := s.Session(m.Session)
	if err != nil {
		return nil, nil, err
	}
	b, err := os.ReadFile(s.Path(sm.File))
	return sm, b, err
}

// ParsedSession parses a stored session again (for transcripts).
func (s *Store) ParsedSession(key string) (*core.Session, error) {
	sm, err := s.Session(key)
	if err != nil {
		return nil, err
	}
	p := s.Path(sm.File)
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, err
	}
	st, err := os.Stat(p)
	if err != nil {
		return nil, err
	}
	ps, err := core.ParseSession(bytes.NewReader(b), sm.Name, st.ModTime())
	if ps != nil {
		ps.Info.File = sm.File
	}
	return ps, err
}

// Attachment returns an archived attachment's bytes by sha1.
func (s *Store) Attachment(sha1 string) ([]byte, error) {
	sha1 = strings.ToLower(sha1)
	if !validSHA1(sha1) {
		return nil, fmt.Errorf("attachment %q: not a sha1: %w", sha1, ErrNotFound)
	}
	b, err := os.ReadFile(s.Path(ArchiveRel(sha1)))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("attachment %s: %w", sha1, ErrNotFound)
	}
	return b, err
}

// Submissions returns the submission state of an email for every group
// it was queued to.
func (s *Store) Submissions(id string) ([]SubmissionStatus, error) {
	var out []SubmissionStatus
	err := s.view(func(tx *bolt.Tx) (err error) {
		out, err = subsOf(tx, id)
		return err
	})
	return out, err
}

// ListEmails calls fn for every stored email, newest (session time) first,
// until fn returns false.
func (s *Store) ListEmails(fn func(*EmailMeta) bool) error {
	return s.view(func(tx *bolt.Tx) error {
		ob, eb := bucket(tx, bEmailOrder), bucket(tx, bEmails)
		if ob == nil || eb == nil {
			return nil
		}
		c := ob.Cursor()
		for k, _ := c.Last(); k != nil; k, _ = c.Prev() {
			if len(k) < 8 {
				continue
			}
			var m EmailMeta
			ok, err := getJSON(eb, k[8:], &m)
			if err != nil {
				return err
			}
			if ok && !fn(&m) {
				return nil
			}
		}
		return nil
	})
}

// ListSessions calls fn for every stored session, newest stored first,
// until fn returns false. Sessions without emails are listed too.
func (s *Store) ListSessions(fn func(*SessionMeta) bool) error {
	return s.view(func(tx *bolt.Tx) error {
		ob, sb := bucket(tx, bSessionOrder), bucket(tx, bSessions)
		if ob == nil || sb == nil {
			return nil
		}
		c := ob.Cursor()
		for k, _ := c.Last(); k != nil; k, _ = c.Prev() {
			if len(k) < 8 {
				continue
			}
			var m SessionMeta
			ok, err := getJSON(sb, k[8:], &m)
			if err != nil {
				return err
			}
			if ok && !fn(&m) {
				return nil
			}
		}
		return nil
	})
}

// Review lists the review/ quarantine entries, newest first.
func (s *Store) Review() ([]ReviewEntry, error) {
	var out []ReviewEntry
	err := s.view(func(tx *bolt.Tx) error {
		b := bucket(tx, bReview)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			var r ReviewEntry
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("corrupt review entry %q: %w", k, err)
			}
			out = append(out, r)
			return nil
		})
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Time.After(out[j].Time) })
	return out, err
}

// ReviewFile returns a quarantined file's bytes and the reason it is there.
func (s *Store) ReviewFile(name string) ([]byte, string, error) {
	if name != filepath.Base(name) || name == "." || name == ".." || strings.HasSuffix(name, errorSuffix) {
		return nil, "", fmt.Errorf("review entry %q: %w", name, ErrNotFound)
	}
	// a moved entry may be a symlink or huge: never followed, bounded
	b, err := readNoFollow(filepath.Join(s.dir, ReviewDir, name), maxSessionFile)
	if errors.Is(err, os.ErrNotExist) {
		return nil, "", fmt.Errorf("review entry %q: %w", name, ErrNotFound)
	}
	if err != nil {
		return nil, "", err
	}
	reason, _ := os.ReadFile(filepath.Join(s.dir, ReviewDir, name+errorSuffix))
	return b, strings.TrimSpace(string(reason)), nil
}

// Counts returns, per group, the number of emails in each state.
func (s *Store) Counts() (map[string]map[string]int64, error) {
	out := map[string]map[string]int64{}
	err := s.view(func(tx *bolt.Tx) error {
		b := bucket(tx, bCounts)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			g, st, ok := strings.Cut(string(k), "\x00")
			if !ok {
				return nil
			}
			if out[g] == nil {
				out[g] = map[string]int64{}
			}
			out[g][st] = u64(v)
			return nil
		})
	})
	return out, err
}

// Stats returns the store's totals.
func (s *Store) Stats() (StoreStats, error) {
	var st StoreStats
	err := s.view(func(tx *bolt.Tx) error {
		st.Sessions = metaCount(tx, "sessions")
		st.Emails = metaCount(tx, "emails")
		st.Bytes = metaCount(tx, "bytes")
		st.Reviewed = metaCount(tx, "reviewed")
		st.DuplicateClaims = metaCount(tx, "dup_claims")
		st.DuplicateEmails = metaCount(tx, "dup_emails")
		st.Removed = metaCount(tx, "removed")
		return nil
	})
	return st, err
}

// LastErrors returns the most recent errors (oldest first).
func (s *Store) LastErrors() ([]ErrorEntry, error) {
	var out []ErrorEntry
	err := s.view(func(tx *bolt.Tx) error {
		out = lastErrors(tx)
		return nil
	})
	return out, err
}

// recordError keeps err among the last errors.
func (s *Store) recordError(where string, err error) {
	if s.readOnly || err == nil {
		return
	}
	_ = s.db.b.Update(func(tx *bolt.Tx) error {
		return pushError(tx, ErrorEntry{Time: time.Now().UTC(), Where: where, Msg: err.Error()})
	})
}

// Pending lists the emails still waiting for delivery to group (queued or
// retrying), up to limit (0: all).
func (s *Store) Pending(group string, limit int) ([]string, error) {
	var out []string
	err := s.view(func(tx *bolt.Tx) error {
		b := bucket(tx, bQueue)
		if b == nil {
			return nil
		}
		prefix := []byte(group + "\x00")
		c := b.Cursor()
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			out = append(out, string(k[len(prefix):]))
			if limit > 0 && len(out) >= limit {
				break
			}
		}
		return nil
	})
	return out, err
}

// queuedIn counts the queue entries of group (queued or retrying): the
// entries the runners deliver, whatever the per-state counters say.
func (s *Store) queuedIn(group string) (int64, error) {
	var n int64
	err := s.view(func(tx *bolt.Tx) error {
		prefix := []byte(group + "\x00")
		c := tx.Bucket(bQueue).Cursor()
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			n++
		}
		return nil
	})
	return n, err
}

// OldestQueued returns, per group with undelivered (queued or retrying)
// emails, when the oldest of them was queued. It reads every queue
// entry's state: meant for a metrics scrape, not a hot path.
func (s *Store) OldestQueued() (map[string]time.Time, error) {
	out := map[string]time.Time{}
	err := s.view(func(tx *bolt.Tx) error {
		b := bucket(tx, bQueue)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, _ []byte) error {
			group, id, ok := strings.Cut(string(k), "\x00")
			if !ok {
				return nil
			}
			st, err := getSub(tx, id, group)
			if err != nil || st == nil || st.Queued.IsZero() {
				return nil // a damaged entry: repair's business
			}
			if t, seen := out[group]; !seen || st.Queued.Before(t) {
				out[group] = st.Queued
			}
			return nil
		})
	})
	return out, err
}

// QueueDepth is the number of undelivered (queued or retrying) entries,
// all groups together.
func (s *Store) QueueDepth() (int, error) { return s.keyCount(bQueue) }

// keyCount is how many keys the bucket holds (0 when it does not exist).
func (s *Store) keyCount(name []byte) (int, error) {
	n := 0
	err := s.view(func(tx *bolt.Tx) error {
		if b := bucket(tx, name); b != nil {
			n = b.Stats().KeyN
		}
		return nil
	})
	return n, err
}
