package collector

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/smtpscope/smtpscope/core"
	bolt "go.etcd.io/bbolt"
)

const readySuffix = ".ready"

// maxSessionFile bounds what is read of one session file (a larger file
// is moved whole to review/, unread).
const maxSessionFile = 1 << 30

// sessionLimit is the session file size limit (maxSessionFile unless a
// test set a smaller one).
func (c *Collector) sessionLimit() int64 {
	if c.maxSession > 0 {
		return c.maxSession
	}
	return maxSessionFile
}

// covers reports whether a group with this coverage receives the email:
// a deterministic hash of the group name and email id, so the same email
// always gets the same answer.
func covers(group string, coverage int, id string) bool {
	if coverage >= 100 {
		return true
	}
	if coverage <= 0 {
		return false
	}
	h := fnv.New32a()
	h.Write([]byte(group))
	h.Write([]byte{0})
	h.Write([]byte(id))
	return int(h.Sum32()%100) < coverage
}

// ingested is the result of storing one session or raw email.
type ingested struct {
	session   *SessionMeta
	emails    []*EmailMeta
	records   []*core.Email
	queued    map[string][]string // email id -> groups queued to
	known     map[string]bool     // emails that were already stored (no side effects again)
	duplicate bool                // the whole claim was already committed
	review    *ReviewEntry
}

// claim processes one spool entry "<name>" whose "<name>.ready" exists:
// store the session file, parse, store every email, and return the
// commit that records them in the queue (job; its caller sets job.done,
// which releases the spool entry once the commit is durable, and submits
// it to the committer). Every step before the commit is idempotent and
// the commit is one bbolt transaction, so a crash anywhere leaves the
// entry either claimable again or committed (then released on the next
// pass, counted as a duplicate claim). A nil job means the entry is done
// with (a duplicate claim released, an orphan marker) or failed (err).
func (c *Collector) claim(spool, name string) (*ingested, *commitJob, error) {
	if name == "" || name == "." || name == ".." || strings.ContainsRune(name, filepath.Separator) {
		return nil, nil, fmt.Errorf("%q%s in %s: no session file name before the suffix; left in the spool", name, readySuffix, spool)
	}
	path := filepath.Join(spool, name)
	st, err := os.Lstat(path)
	if errors.Is(err, os.ErrNotExist) {
		// A crash between releasing the file and its .ready, a writer
		// that made .ready without a file, or "<name>.ready" is itself a
		// session file (with its own marker).
		return nil, nil, c.removeOrphanMarker(path, name)
	}
	if err != nil {
		return nil, nil, err
	}
	limit := c.sessionLimit()
	if !st.Mode().IsRegular() {
		return c.moveToReview(spool, name, st, fmt.Sprintf("%s: not a regular file (%s)", path, st.Mode().Type()))
	}
	if st.Size() > limit {
		return c.moveToReview(spool, name, st, fmt.Sprintf("%s: %d bytes, larger than the %d byte limit", path, st.Size(), limit))
	}
	f, err := openNoFollow(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	src := &spoolFile{f: f, path: path, limit: limit}
	t0 := time.Now()
	sess, perr, err := src.parse(name, st.ModTime())
	c.metrics.parse.Observe(time.Since(t0).Seconds())
	if err != nil {
		return nil, nil, err
	}
	if src.size > limit {
		return c.moveToReview(spool, name, st, fmt.Sprintf("%s: grew beyond the %d byte limit while read", path, limit))
	}
	if key, ok := c.store.claimed(name, src.sha); ok {
		// Committed before a crash (or the same file delivered twice).
		c.store.addMetaCount("dup_claims", 1)
		c.metrics.duplicates.Inc()
		c.log.Info("session already stored; releasing spool entry", "file", name, "session", key)
		return &ingested{duplicate: true}, nil, c.release(spool, name)
	}
	if perr != nil {
		return c.toReview(spool, name, src, perr.Error())
	}
	if len(sess.Messages) == 0 && len(sess.Events) == 0 {
		return c.toReview(spool, name, src, fmt.Sprintf("%s: no SMTP transcript found (%d bytes)", name, src.size))
	}
	return c.storeSession(name, src, st.ModTime(), sess)
}

// spoolFile is a claimed session file, open. It is read once to be
// parsed and hashed together (parse); it is stored by a hard link to
// that very file (storeAt) or, when it cannot be linked, read again for
// a copy (copyTo) checked against that hash: the session's bytes are
// never held in memory beside its messages, and what is stored is what
// was parsed.
type spoolFile struct {
	f     *os.File
	path  string
	limit int64
	size  int64  // bytes read by parse (limit+1: larger than the limit)
	sha   string // hex sha256 of those bytes
}

// parse parses the file (perr: the parser's verdict) and hashes it;
// err is a failure to read it.
func (sf *spoolFile) parse(name string, mtime time.Time) (sess *core.Session, perr, err error) {
	st, err := sf.f.Stat()
	if err != nil {
		return nil, nil, err
	}
	h := sha256.New()
	r := &countingReader{r: io.TeeReader(io.NewSectionReader(sf.f, 0, sf.limit+1), h)}
	sess, perr = parseSession(r, name, mtime, min(st.Size(), sf.limit))
	if _, err := io.Copy(io.Discard, r); err != nil { // what the parser left
		return nil, nil, err
	}
	if r.err != nil {
		return nil, nil, fmt.Errorf("reading %s: %w", sf.path, r.err)
	}
	sf.size, sf.sha = r.n, hex.EncodeToString(h.Sum(nil))
	return sess, perr, nil
}

// storeAt puts the file at path in the store: a hard link to the file
// parsed when the spool is on the data dir's file system and linking is
// allowed (no copy; the link is checked to be the descriptor parse read,
// of the size it read, unmodified since the claim looked at it: mtime),
// else a copy checked against parse's hash.
func (sf *spoolFile) storeAt(fw *fileWriter, path string, mtime time.Time) error {
	if ok, err := fw.link(sf.f, sf.path, sf.size, mtime, path); ok || err != nil {
		return err
	}
	return fw.writeWith(path, sf.copyTo, mtime)
}

// copyTo writes the file's bytes to w; they must be the bytes parse read.
func (sf *spoolFile) copyTo(w io.Writer) error {
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(w, h), io.NewSectionReader(sf.f, 0, sf.size+1))
	if err != nil {
		return fmt.Errorf("reading %s: %w", sf.path, err)
	}
	if n != sf.size || hex.EncodeToString(h.Sum(nil)) != sf.sha {
		return fmt.Errorf("%s changed while it was claimed (%d bytes, then %d); left in the spool", sf.path, sf.size, n)
	}
	return nil
}

// countingReader counts what r yields and keeps its first error other
// than EOF.
type countingReader struct {
	r   io.Reader
	n   int64
	err error
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	if err != nil && err != io.EOF && c.err == nil {
		c.err = err
	}
	return n, err
}

// openNoFollow opens a regular file without following a symlink (the
// spool is written by another program; a file replaced by a link after
// the Lstat must not make us read elsewhere).
func openNoFollow(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err == nil && !st.Mode().IsRegular() {
		err = fmt.Errorf("%s: not a regular file", path)
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// readNoFollow reads a regular file (openNoFollow) of at most limit
// bytes (limit+1 when it is larger).
func readNoFollow(path string, limit int64) ([]byte, error) {
	f, err := openNoFollow(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	// Read into a buffer of the file's size (plus one byte to see growth):
	// io.ReadAll's doubling would hold up to twice a large session.
	buf := make([]byte, min(st.Size(), limit)+1)
	n, err := io.ReadFull(f, buf)
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return buf[:n], nil // the file is no larger than it was
	}
	if err != nil {
		return nil, err
	}
	// It grew while read: read on up to the limit, as before.
	rest, err := io.ReadAll(io.LimitReader(f, limit+1-int64(n)))
	return append(buf, rest...), err
}

// parseSession runs core's parser on an input of about size bytes,
// turning a panic (a parser bug on hostile input) into an error so the
// file goes to review/.
func parseSession(r io.Reader, name string, mtime time.Time, size int64) (s *core.Session, err error) {
	defer func() {
		if r := recover(); r != nil {
			s, err = nil, fmt.Errorf("%s: parser panic: %v", name, r)
		}
	}()
	return core.ParseSessionSize(r, name, mtime, size)
}

// release removes a committed spool entry: the session file first, then
// its .ready (an orphan .ready is cleaned up on the next pass).
func (c *Collector) release(spool, name string) error {
	path := filepath.Join(spool, name)
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("releasing %s: %w", path, err)
	}
	return removeMarker(path)
}

// removeMarker removes the .ready marker of path, unless it is itself a
// session file with its own marker ("<name>.ready.ready": claimed on its
// own) or holds bytes: markers are empty, and bytes that were not stored
// are never deleted.
func removeMarker(path string) error {
	ready := path + readySuffix
	if _, err := os.Lstat(ready + readySuffix); err == nil {
		return nil
	}
	st, err := os.Lstat(ready)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if st.Mode().IsRegular() && st.Size() > 0 {
		return fmt.Errorf("%s: the marker holds %d bytes (a session file named *%s without its own marker?); not deleted, left in the spool", ready, st.Size(), readySuffix)
	}
	if err := os.Remove(ready); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("releasing %s: %w", ready, err)
	}
	return nil
}

// removeOrphanMarker handles a .ready whose session file is missing.
func (c *Collector) removeOrphanMarker(path, name string) error {
	if err := removeMarker(path); err != nil {
		return err
	}
	if _, err := os.Lstat(path + readySuffix + readySuffix); err != nil && !c.store.claimedName(name) {
		c.log.Warn("ready file without session file", "file", path+readySuffix)
	}
	return nil
}

// reviewName chooses the name of a quarantined spool entry in dir:
// fileName's escaping, ".error" kept for the reason files, "+<n>" when
// taken ('+' is escaped in every name).
func reviewName(dir, name string) (string, error) {
	rname := fileName(name)
	if strings.HasSuffix(rname, errorSuffix) {
		rname = strings.TrimSuffix(rname, errorSuffix) + "%2Eerror"
	}
	for n := 0; n < 10000; n++ {
		cand := rname
		if n > 0 {
			cand = fmt.Sprintf("%s+%d", rname, n)
		}
		if _, err := os.Lstat(filepath.Join(dir, cand)); errors.Is(err, os.ErrNotExist) {
			return cand, nil
		}
	}
	return "", fmt.Errorf("no free name in %s for %q", dir, name)
}

// toReview quarantines an unparsable session file: a copy of its bytes in
// DATA/review/<name> and the reason in DATA/review/<name>.error, recorded
// in the database (the job), then releases the spool entry.
func (c *Collector) toReview(spool, name string, src *spoolFile, reason string) (*ingested, *commitJob, error) {
	dir := filepath.Join(c.store.dir, ReviewDir)
	rname, err := reviewName(dir, name)
	if err != nil {
		return nil, nil, err
	}
	if err := c.store.fw.writeWith(filepath.Join(dir, rname), src.copyTo, time.Time{}); err != nil {
		return nil, nil, err
	}
	return c.reviewed(spool, name, rname, src.size, reason)
}

// moveToReview quarantines a spool entry that is not read (too large, or
// not a regular file: a symlink is moved, never followed) by renaming it
// whole into DATA/review/. When it cannot be renamed there (another file
// system) it stays in the spool and the claim fails.
func (c *Collector) moveToReview(spool, name string, st os.FileInfo, reason string) (*ingested, *commitJob, error) {
	dir := filepath.Join(c.store.dir, ReviewDir)
	rname, err := reviewName(dir, name)
	if err != nil {
		return nil, nil, err
	}
	if err := os.Rename(filepath.Join(spool, name), filepath.Join(dir, rname)); err != nil {
		return nil, nil, fmt.Errorf("%s; moving it to %s failed, left in the spool: %w", reason, dir, err)
	}
	if c.cfg().FsyncOn() {
		if err := errors.Join(syncDir(dir), syncDir(spool)); err != nil {
			return nil, nil, err
		}
	}
	return c.reviewed(spool, name, rname, st.Size(), reason)
}

// reviewed writes the reason of a review entry and returns the commit
// that records it (its done releases the spool entry).
func (c *Collector) reviewed(spool, name, rname string, size int64, reason string) (*ingested, *commitJob, error) {
	s := c.store
	dir := filepath.Join(s.dir, ReviewDir)
	if err := s.fw.write(filepath.Join(dir, rname+errorSuffix), []byte(reason+"\n"), time.Time{}); err != nil {
		return nil, nil, err
	}
	e := &ReviewEntry{Name: rname, Reason: reason, Time: time.Now().UTC(), Size: size, Sensor: c.cfg().Sensor}
	job := &commitJob{size: size, tx: func(tx *bolt.Tx) error {
		if err := putJSON(tx.Bucket(bReview), []byte(rname), e); err != nil {
			return err
		}
		if err := markUnindexed(tx, IndexKey{IndexReview, rname}, ""); err != nil {
			return err
		}
		if err := queueToNATS(tx, QueueReviewPrefix+rname, c.cfg().Groups, e.Time); err != nil {
			return err
		}
		if err := addMeta(tx, "reviewed", 1); err != nil {
			return err
		}
		return pushError(tx, ErrorEntry{Time: e.Time, Where: "parse " + name, Msg: reason})
	}}
	return &ingested{review: e}, job, nil
}

// storeSession writes the session file, every email and its attachments,
// and returns the commit that records everything in the queue in one
// transaction. The session's names stay reserved (inflight) until the
// job's done releases them.
func (c *Collector) storeSession(name string, src *spoolFile, mtime time.Time, sess *core.Session) (_ *ingested, _ *commitJob, err error) {
	s := c.store
	sha := src.sha
	now := time.Now().UTC()
	defer func() {
		if err != nil {
			c.inflight.release(sha)
		}
	}()
	key := fileName(name)
	if other, ok := s.sessionSHA(key); (ok && other != sha) || !c.inflight.take("session\x00"+key, sha) {
		key = key + "+" + sha[:12]
		c.inflight.take("session\x00"+key, sha)
	}
	sessRel := SessionsDir + "/" + dayDir(now) + "/" + key
	if err := src.storeAt(s.fw, s.Path(sessRel), mtime); err != nil {
		return nil, nil, err
	}
	size := src.size
	sess.Info.File = sessRel

	t0 := time.Now()
	emails := c.analyze(sess)
	c.metrics.analyse.Observe(time.Since(t0).Seconds())
	ing := &ingested{queued: map[string][]string{}}
	sm := &SessionMeta{
		Key: key, Name: name, UID: sess.Info.UID, Sensor: c.cfg().Sensor, File: sessRel, SHA256: sha, Size: size,
		Time: sess.Info.Time, TimeSource: sess.Info.TimeSource, Stored: now,
		SourceIP: sess.Info.SourceIP, SourcePort: sess.Info.SourcePort,
		DestIP: sess.Info.DestIP, DestPort: sess.Info.DestPort, Helo: sess.Info.Helo,
		Emails: []string{}, Bytes: size,
	}
	msgs := map[int]*core.Message{}
	for _, m := range sess.Messages {
		msgs[m.Index] = m
	}
	for _, rec := range emails {
		m := msgs[rec.Index]
		var raw []byte
		if m != nil {
			raw = m.Data
		}
		if rec.ID == "" {
			rec.ID = fmt.Sprintf("%s.%d", sess.Info.UID, rec.Index)
		}
		if s.emailConflict(rec.ID, key) || !c.inflight.take("email\x00"+rec.ID, sha) {
			rec.ID = rec.ID + "-" + sha[:12]
			c.inflight.take("email\x00"+rec.ID, sha)
		}
		em, err := c.storeEmail(rec, raw, key, now)
		if err != nil {
			return nil, nil, err
		}
		sm.Emails = append(sm.Emails, em.ID)
		sm.Bytes += em.Bytes
		ing.emails = append(ing.emails, em)
		ing.records = append(ing.records, rec)
	}
	ing.session = sm
	claim := claimKey(name, sha)
	groups := c.groupConfigs()
	job := &commitJob{size: sm.Bytes, tx: func(tx *bolt.Tx) error {
		return c.commitTx(tx, ing, claim, groups, now)
	}}
	return ing, job, nil
}

// inflight reserves the session keys and email ids of sessions being
// stored and not yet committed: two workers storing sessions with the
// same uid (a hostile or buggy writer, two spools) must not both take the
// same names, since the later would overwrite the earlier's files. A name
// is held by the sha256 of its session file until that session's commit.
type inflight struct {
	mu    sync.Mutex
	owner map[string]string // name -> session sha256
}

// take reserves name for owner; false when another owner holds it.
func (f *inflight) take(name, owner string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if o, ok := f.owner[name]; ok {
		return o == owner
	}
	if f.owner == nil {
		f.owner = map[string]string{}
	}
	f.owner[name] = owner
	return true
}

// release drops every name owner holds.
func (f *inflight) release(owner string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for n, o := range f.owner {
		if o == owner {
			delete(f.owner, n)
		}
	}
}

// maxFileName bounds the names fileName makes (file systems allow 255
// bytes; suffixes such as ".json" and "+<n>" are added).
const maxFileName = 200

// fileName maps a name from the wire (an email id, a spool file name) to
// a file name in the data dir: every byte other than an ASCII letter,
// digit, '_', '-' or a '.' not in first place becomes %XX, so two names
// never share a file and the name is never "." or "..". A result longer
// than maxFileName is cut and ends in '+' and 32 hex digits of the
// name's SHA-256 (fileName escapes '+' everywhere else).
func fileName(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || (c == '.' && i > 0) {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	out := b.String()
	if out == "" {
		return "%"
	}
	if len(out) > maxFileName {
		sum := sha256.Sum256([]byte(s))
		out = out[:maxFileName-33] + "+" + hex.EncodeToString(sum[:16])
	}
	return out
}

func claimKey(name, sha string) []byte { return []byte(name + "\x00" + sha) }

// storeEmail writes one email's bytes, attachments and record.
func (c *Collector) storeEmail(rec *core.Email, raw []byte, sessionKey string, now time.Time) (*EmailMeta, error) {
	s := c.store
	rec.Sensor = c.cfg().Sensor
	safe := fileName(rec.ID)
	day := dayDir(now)
	emlRel := EmailsDir + "/" + day + "/" + safe + ".eml"
	resRel := ResultsDir + "/" + day + "/" + safe + ".json"
	if err := s.fw.write(s.Path(emlRel), raw, time.Time{}); err != nil {
		return nil, err
	}
	var archived []string
	if c.cfg().ArchiveOn() {
		archived = c.archived(rec)
	}
	var js byteCounter
	if err := s.fw.writeWith(s.Path(resRel), recordWriter(rec, &js), time.Time{}); err != nil {
		return nil, err
	}
	if err := c.writeOutputs(rec, raw, now); err != nil {
		return nil, err
	}
	em := emailMeta(rec, sessionKey, emlRel, resRel, now)
	em.Size, em.Archive, em.Bytes = int64(len(raw)), archived, int64(len(raw))+int64(js)
	return em, nil
}

// emailMeta is what the queue database keeps of a record stored at
// emlRel and resRel (Size, Archive and Bytes are the caller's).
func emailMeta(rec *core.Email, sessionKey, emlRel, resRel string, now time.Time) *EmailMeta {
	yara := len(rec.YARA)
	for _, a := range rec.Attachments {
		yara += len(a.YARA)
	}
	t := rec.Session.Time
	if t.IsZero() {
		t = now // raw emails have no session: list them by arrival
	}
	return &EmailMeta{
		ID: rec.ID, Session: sessionKey, Index: rec.Index, Time: t, Stored: now,
		SourceIP: rec.Session.SourceIP, MailFrom: rec.Envelope.MailFrom, RcptCount: len(rec.Envelope.RcptTo),
		Subject: rec.Subject, SHA256: rec.SHA256,
		Attachments: len(rec.Attachments), IOCs: len(rec.IOCs), YARAHits: yara,
		Rejected: rec.ServerReply != nil && rec.ServerReply.Code >= 500 && rec.ServerReply.Code <= 599,
		EML:      emlRel, Record: resRel, Source: rec.Source,
	}
}

// recordWriter writes rec as one line of terminal-safe compact JSON
// (core.WriteEmailJSON: NewJSONEncoder's bytes), adding the bytes
// written to n.
func recordWriter(rec *core.Email, n *byteCounter) func(io.Writer) error {
	return func(w io.Writer) error {
		if err := core.WriteEmailJSON(io.MultiWriter(w, n), rec); err != nil {
			return fmt.Errorf("encoding record %s: %w", rec.ID, err)
		}
		return nil
	}
}

// byteCounter counts the bytes written to it.
type byteCounter int64

func (c *byteCounter) Write(p []byte) (int, error) {
	*c += byteCounter(len(p))
	return len(p), nil
}

// commitTx records a stored session and its emails in tx: metadata,
// listing order, archive references, and one queue entry per email per
// enabled group that covers it. Emails already present (same id and
// content) are not queued again. It is idempotent (the committer runs it
// again alone when its group's transaction fails); now is the queue time.
func (c *Collector) commitTx(tx *bolt.Tx, ing *ingested, claim []byte, groups []GroupConfig, now time.Time) error {
	ing.queued = map[string][]string{}
	ing.known = map[string]bool{}
	eb, sb := tx.Bucket(bEmails), tx.Bucket(bSessions)
	var newBytes int64
	if sm := ing.session; sm != nil {
		if sb.Get([]byte(sm.Key)) == nil {
			if err := addMeta(tx, "sessions", 1); err != nil {
				return err
			}
			if err := tx.Bucket(bSessionOrder).Put(timeKey(sm.Stored, sm.Key), nil); err != nil {
				return err
			}
			newBytes += sm.Size
		}
		if err := putJSON(sb, []byte(sm.Key), sm); err != nil {
			return err
		}
		if len(sm.Emails) == 0 {
			if err := markUnindexed(tx, IndexKey{IndexSession, sm.Key}, sm.UID); err != nil {
				return err
			}
			if err := queueToNATS(tx, QueueSessionPrefix+sm.Key, groups, now); err != nil {
				return err
			}
		}
	}
	for _, em := range ing.emails {
		var old EmailMeta
		exists, _ := getJSON(eb, []byte(em.ID), &old)
		if exists && old.SHA256 == em.SHA256 {
			if err := addMeta(tx, "dup_emails", 1); err != nil {
				return err
			}
			em.Stored = old.Stored
			ing.known[em.ID] = true
			continue
		}
		if err := putJSON(eb, []byte(em.ID), em); err != nil {
			return err
		}
		if err := markEmail(tx, em.ID); err != nil {
			return err
		}
		if c.events != nil {
			if err := markUnlogged(tx, em.ID); err != nil {
				return err
			}
		}
		if exists {
			continue
		}
		newBytes += em.Bytes
		if err := addMeta(tx, "emails", 1); err != nil {
			return err
		}
		if err := tx.Bucket(bEmailOrder).Put(timeKey(em.Time, em.ID), nil); err != nil {
			return err
		}
		for _, sha1 := range em.Archive {
			ab := tx.Bucket(bArchive)
			n := u64(ab.Get([]byte(sha1)))
			if n == 0 {
				if fi, err := os.Stat(c.store.Path(ArchiveRel(sha1))); err == nil {
					newBytes += fi.Size()
				}
			}
			if err := ab.Put([]byte(sha1), putU64(n+1)); err != nil {
				return err
			}
		}
		for _, g := range groups {
			if !g.IsEnabled() || g.HuntsOnly || !covers(g.Name, g.Coverage, em.ID) {
				continue
			}
			if old, _ := getSub(tx, em.ID, g.Name); old != nil {
				continue
			}
			st := &SubmissionStatus{EmailID: em.ID, Group: g.Name, State: StateQueued, Queued: now, Updated: now, NextAttempt: now}
			if err := setSub(tx, nil, st); err != nil {
				return err
			}
			ing.queued[em.ID] = append(ing.queued[em.ID], g.Name)
		}
	}
	if err := addMeta(tx, "bytes", newBytes); err != nil {
		return err
	}
	if claim != nil && ing.session != nil {
		return tx.Bucket(bClaims).Put(claim, []byte(ing.session.Key))
	}
	return nil
}

// claimed reports whether a spool file with this name and content was
// committed already.
func (s *Store) claimed(name, sha string) (string, bool) {
	var key string
	_ = s.db.b.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bClaims).Get(claimKey(name, sha)); v != nil {
			key = string(v)
		}
		return nil
	})
	return key, key != ""
}

// claimedName reports whether any spool file of this name was committed.
func (s *Store) claimedName(name string) bool {
	found := false
	_ = s.db.b.View(func(tx *bolt.Tx) error {
		prefix := []byte(name + "\x00")
		k, _ := tx.Bucket(bClaims).Cursor().Seek(prefix)
		found = k != nil && bytes.HasPrefix(k, prefix)
		return nil
	})
	return found
}

func (s *Store) sessionSHA(key string) (string, bool) {
	var m SessionMeta
	var ok bool
	_ = s.db.b.View(func(tx *bolt.Tx) error {
		ok, _ = getJSON(tx.Bucket(bSessions), []byte(key), &m)
		return nil
	})
	return m.SHA256, ok
}

// emailConflict reports whether id is taken by an email of another session.
func (s *Store) emailConflict(id, sessionKey string) bool {
	var m EmailMeta
	var ok bool
	_ = s.db.b.View(func(tx *bolt.Tx) error {
		ok, _ = getJSON(tx.Bucket(bEmails), []byte(id), &m)
		return nil
	})
	return ok && m.Session != sessionKey
}

func (s *Store) addMetaCount(name string, delta int64) {
	_ = s.db.b.Update(func(tx *bolt.Tx) error { return addMeta(tx, name, delta) })
}
