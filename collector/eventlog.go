package collector

import (
	"bufio"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/smtpscope/smtpscope/core"
	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// The event log for SIEM shippers ([output] events): one NDJSON line per
// stored email, in ECS or Zeek's smtp.log/files.log shape (core.ECS,
// core.Zeek), appended after the commit like the index. So that a crash
// never loses a committed email's event, the commit transaction that
// stores a new email also marks it in the "unlogged" bucket (while an
// event log is configured); the log writer deletes a mark only after the
// line is written and the file fsynced, and a start writes every email
// still marked. A crash between the fsync and the deletion of the marks
// writes those events again at the next start: duplicates are possible,
// losses are not (with fsync on).

var bUnlogged = []byte("unlogged") // email id -> sequence(8)

// Event log formats.
const (
	EventsECS  = "ecs"
	EventsZeek = "zeek"
)

const (
	eventsWindow   = 250 * time.Millisecond // a committed email's line waits at most this long
	eventsBatch    = 1000                   // lines of one write + fsync
	eventsMaxHints = 4 * eventsBatch        // records held for queued lines (else read back)
)

// EventFilesPath is the files.log companion of a Zeek-format event log:
// ".files" inserted before the extension ("smtp.log" -> "smtp.files.log",
// "email.ndjson" -> "email.files.ndjson", "smtp" -> "smtp.files").
func EventFilesPath(p string) string {
	ext := filepath.Ext(p)
	return strings.TrimSuffix(p, ext) + ".files" + ext
}

// EncodeEvent writes the email in format (ecs, zeek or record) to the
// writers: one JSON line each, through core's one JSON writer (a record
// through core.WriteEmailJSON, the same bytes). For zeek
// the smtp.log line goes to w, the files.log lines to files (nil: w).
// internal are the organisation's domains ([output] internal_domains):
// with them an ECS event has email.direction (core.ECSEvent.SetDirection).
func EncodeEvent(w, files *bufio.Writer, format string, e *core.Email, created time.Time, internal []string) error {
	switch format {
	case EventsECS:
		ev := core.ECS(e, created)
		ev.SetDirection(e, internal)
		return core.NewJSONEncoder(w).Encode(ev)
	case EventsZeek:
		s, fl := core.Zeek(e)
		if err := core.NewJSONEncoder(w).Encode(s); err != nil {
			return err
		}
		if files == nil {
			files = w
		}
		enc := core.NewJSONEncoder(files)
		for i := range fl {
			if err := enc.Encode(&fl[i]); err != nil {
				return err
			}
		}
		return nil
	case "record":
		return core.WriteEmailJSON(w, e)
	}
	return fmt.Errorf("unknown event format %q (want ecs, zeek or record)", format)
}

// markUnlogged records, in the commit's transaction, that the email's
// event is not in the event log yet.
func markUnlogged(tx *bolt.Tx, id string) error {
	b := tx.Bucket(bUnlogged)
	if b == nil {
		return nil
	}
	seq, err := b.NextSequence()
	if err != nil {
		return err
	}
	return b.Put([]byte(id), putU64(int64(seq)))
}

// UnloggedCount is how many emails wait for their event-log line.
func (s *Store) UnloggedCount() (int, error) { return s.keyCount(bUnlogged) }

// unlogged lists the marked email ids.
func (s *Store) unlogged() ([]string, error) {
	var ids []string
	err := s.db.b.View(func(tx *bolt.Tx) error {
		b := bucket(tx, bUnlogged)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, _ []byte) error { ids = append(ids, string(k)); return nil })
	})
	return ids, err
}

// unloggedSeqs reads the marks of ids (0: not marked).
func (s *Store) unloggedSeqs(ids []string) (map[string]int64, error) {
	out := make(map[string]int64, len(ids))
	err := s.db.b.View(func(tx *bolt.Tx) error {
		b := bucket(tx, bUnlogged)
		if b == nil {
			return nil
		}
		for _, id := range ids {
			if v := b.Get([]byte(id)); len(v) >= 8 {
				out[id] = u64(v[:8])
			}
		}
		return nil
	})
	return out, err
}

// clearLogged deletes the marks whose sequence did not change since
// unloggedSeqs read them (a later store of the same id keeps its mark).
func (s *Store) clearLogged(seqs map[string]int64) error {
	if s.readOnly || len(seqs) == 0 {
		return nil
	}
	return s.db.b.Batch(func(tx *bolt.Tx) error {
		b := tx.Bucket(bUnlogged)
		if b == nil {
			return nil
		}
		for id, seq := range seqs {
			if v := b.Get([]byte(id)); len(v) >= 8 && u64(v[:8]) == seq {
				if err := b.Delete([]byte(id)); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// eventNow is the event log's clock (a test sets it before New).
var eventNow = time.Now

// eventLog appends the events of committed emails in batches.
type eventLog struct {
	st       *Store
	log      *slog.Logger
	path     string
	files    string // zeek: the files.log companion
	format   string
	internal []string // [output] internal_domains: ECS email.direction
	maxSize  int64
	maxAge   time.Duration
	keep     int
	fsync    bool
	now      func() time.Time

	mu      sync.Mutex
	queue   []string
	hints   map[string]*core.Email
	queued  map[string]bool
	first   time.Time
	closed  bool
	retryAt time.Time // after a failed write: not before (unless flushed)
	fails   int       // failed writes in a row
	flushes []chan error
	wake    chan struct{}
	done    chan struct{}

	f, ff  *os.File // current files (nil until the first write)
	size   int64
	opened time.Time
}

func newEventLog(st *Store, cfg *Config, log *slog.Logger) *eventLog {
	o := cfg.Output
	l := &eventLog{st: st, log: log, path: o.Events, format: o.EventsFormat, internal: o.InternalDomains, maxSize: int64(o.EventsMaxSize),
		maxAge: time.Duration(o.EventsMaxAge), keep: o.EventsKeep, fsync: cfg.FsyncOn(), now: eventNow,
		hints: map[string]*core.Email{}, queued: map[string]bool{}, wake: make(chan struct{}, 1), done: make(chan struct{})}
	if l.format == EventsZeek {
		l.files = EventFilesPath(l.path)
	}
	ids, err := st.unlogged()
	if err != nil {
		log.Error("event log: reading the emails still to log", "err", err)
	}
	for _, id := range ids {
		l.add(id, nil)
	}
	if len(ids) > 0 {
		log.Info("event log: catching up", "emails", len(ids), "path", l.path)
	}
	go l.loop()
	return l
}

// add queues an email's event; it never waits for the file.
func (l *eventLog) add(id string, rec *core.Email) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return // the mark stays: the next start writes it
	}
	if !l.queued[id] {
		l.queued[id] = true
		l.queue = append(l.queue, id)
		if len(l.queue) == 1 {
			l.first = l.now()
		}
	}
	if rec != nil && len(l.hints) < eventsMaxHints {
		l.hints[id] = rec
	}
	if len(l.queue) == 1 || len(l.queue) >= eventsBatch {
		l.poke()
	}
}

func (l *eventLog) poke() {
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// flush writes everything queued and returns once it is on disk.
func (l *eventLog) flush() error {
	ch := make(chan error, 1)
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.flushes = append(l.flushes, ch)
	l.mu.Unlock()
	l.poke()
	return <-ch
}

// close flushes and stops the writer.
func (l *eventLog) close() error {
	err := l.flush()
	l.mu.Lock()
	l.closed = true
	l.mu.Unlock()
	l.poke()
	<-l.done
	return err
}

func (l *eventLog) loop() {
	defer close(l.done)
	defer l.closeFiles()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		l.mu.Lock()
		closed := l.closed
		flushes := l.flushes
		var wait time.Duration
		switch {
		case len(flushes) > 0 || len(l.queue) == 0:
		case l.retryAt.After(l.now()):
			wait = l.retryAt.Sub(l.now())
		case len(l.queue) < eventsBatch:
			wait = eventsWindow - l.now().Sub(l.first)
		}
		l.mu.Unlock()
		if closed {
			return
		}
		if len(flushes) > 0 || wait < 0 || (wait == 0 && l.pending() > 0) {
			var err error
			for l.pending() > 0 && err == nil {
				err = l.writeBatch()
			}
			l.mu.Lock()
			n := len(flushes)
			rest := l.flushes[n:]
			l.flushes = rest
			l.mu.Unlock()
			for _, ch := range flushes {
				ch <- err
			}
			continue
		}
		if wait > 0 {
			timer.Reset(wait)
		}
		select {
		case <-l.wake:
		case <-timer.C:
		}
	}
}

func (l *eventLog) pending() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.queue)
}

// writeBatch writes up to eventsBatch queued events, fsyncs, then deletes
// their marks. On a failure the events keep their marks and go back to
// the head of the queue, retried after a pause that doubles up to a
// minute (a full or broken disk does not spin); a close leaves them to
// the next start.
func (l *eventLog) writeBatch() error {
	l.mu.Lock()
	n := min(len(l.queue), eventsBatch)
	ids := slices.Clone(l.queue[:n])
	l.queue = l.queue[n:]
	recs := make([]*core.Email, n)
	for i, id := range ids {
		recs[i] = l.hints[id]
		delete(l.hints, id)
		delete(l.queued, id)
	}
	if len(l.queue) > 0 {
		l.first = l.now()
	}
	l.mu.Unlock()
	err := l.write(ids, recs)
	l.mu.Lock()
	defer l.mu.Unlock()
	if err == nil {
		l.fails, l.retryAt = 0, time.Time{}
		return nil
	}
	l.fails++
	pause := min(time.Second<<min(l.fails-1, 6), time.Minute)
	l.retryAt = l.now().Add(pause)
	var back []string
	for i, id := range ids {
		if l.queued[id] {
			continue // queued again meanwhile
		}
		l.queued[id] = true
		back = append(back, id)
		if recs[i] != nil && l.hints[id] == nil && len(l.hints) < eventsMaxHints {
			l.hints[id] = recs[i]
		}
	}
	l.queue = append(back, l.queue...)
	l.first = l.now()
	l.log.Error("event log: writing events (kept to retry; their marks stay for the next start)", "path", l.path, "events", len(ids), "retry_in", pause, "err", err)
	return err
}

func (l *eventLog) write(ids []string, recs []*core.Email) error {
	seqs, err := l.st.unloggedSeqs(ids)
	if err != nil {
		return err
	}
	if err := l.rotateIfDue(); err != nil {
		return err
	}
	if err := l.open(); err != nil {
		return err
	}
	bw := bufio.NewWriterSize(l.f, 256<<10)
	var fw *bufio.Writer
	if l.ff != nil {
		fw = bufio.NewWriterSize(l.ff, 64<<10)
	}
	written := map[string]int64{}
	var errs []error
	for i, id := range ids {
		seq, ok := seqs[id]
		if !ok {
			continue // logged already, or removed
		}
		m, err := l.st.Email(id)
		if errors.Is(err, ErrNotFound) {
			written[id] = seq // removed (retention) before it was logged: nothing to log
			continue
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		rec := recs[i]
		if rec == nil || rec.ID != id || rec.SHA256 != m.SHA256 {
			if rec, err = l.st.Record(id); err != nil {
				errs = append(errs, fmt.Errorf("email %s: %w", id, err))
				continue
			}
		}
		created := m.Stored
		if created.IsZero() {
			created = l.now()
		}
		if err := EncodeEvent(bw, fw, l.format, rec, created, l.internal); err != nil {
			return err
		}
		written[id] = seq
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	if fw != nil {
		if err := fw.Flush(); err != nil {
			return err
		}
	}
	if fi, err := l.f.Stat(); err == nil {
		l.size = fi.Size()
	}
	if l.fsync {
		if err := l.f.Sync(); err != nil {
			return err
		}
		if l.ff != nil {
			if err := l.ff.Sync(); err != nil {
				return err
			}
		}
	}
	if err := l.st.clearLogged(written); err != nil && !errors.Is(err, berrors.ErrDatabaseNotOpen) {
		errs = append(errs, fmt.Errorf("clearing the marks of logged emails (they are logged again at the next start): %w", err))
	}
	return errors.Join(errs...)
}

func (l *eventLog) open() error {
	if l.f != nil {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(l.path), 0o750); err != nil {
		return fmt.Errorf("event log %s: %w", l.path, err)
	}
	f, err := os.OpenFile(l.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return fmt.Errorf("event log: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("event log: %w", err)
	}
	if l.files != "" {
		ff, err := os.OpenFile(l.files, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
		if err != nil {
			f.Close()
			return fmt.Errorf("event log: %w", err)
		}
		l.ff = ff
	}
	l.f, l.size, l.opened = f, fi.Size(), l.now()
	return nil
}

func (l *eventLog) closeFiles() {
	for _, f := range []*os.File{l.f, l.ff} {
		if f != nil {
			if err := f.Close(); err != nil {
				l.log.Warn("event log: closing", "file", f.Name(), "err", err)
			}
		}
	}
	l.f, l.ff = nil, nil
}

// rotateIfDue rotates the log (and its files.log) when it reached
// events_max_size or has been written to for events_max_age: the file
// is renamed to "<path>.<UTC time, 20060102T150405Z>" (".1", ".2"...
// appended on a clash), a new one is started, and only the newest
// events_keep rotated files are kept.
func (l *eventLog) rotateIfDue() error {
	if l.f == nil {
		if fi, err := os.Stat(l.path); err != nil || fi.Size() == 0 || (l.maxSize <= 0 || fi.Size() < l.maxSize) {
			return nil
		}
	} else {
		bySize := l.maxSize > 0 && l.size >= l.maxSize
		byAge := l.maxAge > 0 && l.size > 0 && l.now().Sub(l.opened) >= l.maxAge
		if !bySize && !byAge {
			return nil
		}
	}
	l.closeFiles()
	stamp := l.now().UTC().Format("20060102T150405Z")
	for _, p := range []string{l.path, l.files} {
		if p == "" {
			continue
		}
		dst := p + "." + stamp
		for i := 1; ; i++ {
			if _, err := os.Lstat(dst); errors.Is(err, os.ErrNotExist) {
				break
			}
			dst = fmt.Sprintf("%s.%s.%d", p, stamp, i)
		}
		if err := os.Rename(p, dst); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("event log: rotating: %w", err)
		}
		l.prune(p)
	}
	if l.fsync {
		if err := syncDir(filepath.Dir(l.path)); err != nil {
			l.log.Warn("event log: syncing its directory after rotation", "err", err)
		}
	}
	return nil
}

// RotatedEventLogs lists the rotated files of an event log, oldest first.
func RotatedEventLogs(p string) []string {
	m, _ := filepath.Glob(globEscape(p) + ".2[0-9][0-9][0-9][0-1][0-9][0-3][0-9]T[0-9][0-9][0-9][0-9][0-9][0-9]Z*")
	slices.SortFunc(m, func(a, b string) int { return strings.Compare(rotKey(a), rotKey(b)) })
	return m
}

// rotKey sorts "x.<stamp>.10" after "x.<stamp>.9".
func rotKey(p string) string {
	i := strings.LastIndexByte(p, 'Z')
	n := p[i+1:]
	return p[:i+1] + fmt.Sprintf("%08s", strings.TrimPrefix(n, "."))
}

func (l *eventLog) prune(p string) {
	if l.keep <= 0 {
		return
	}
	old := RotatedEventLogs(p)
	for len(old) > l.keep {
		if err := os.Remove(old[0]); err != nil {
			l.log.Warn("event log: removing an old rotated file", "file", old[0], "err", err)
		}
		old = old[1:]
	}
}

func globEscape(p string) string {
	r := strings.NewReplacer(`\`, `\\`, `*`, `\*`, `?`, `\?`, `[`, `\[`)
	return r.Replace(p)
}
