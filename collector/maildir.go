package collector

// Raw email input: Maildirs and directories of .eml files, besides the
// spool of session files. Every file goes through IngestRaw (analysis,
// store, queue, index, events) with an empty session and its path as the
// record's source.
//
// Maildir (config maildir, flag --maildir): new/ is watched (fsnotify
// plus the periodic rescan, files present at start-up included). Mail
// delivered to new/ is complete (MTAs write to tmp/ and rename). Once
// IngestRaw has committed a file, it moves to cur/ under the Maildir info
// convention: "<unique>:2,<flags>" (existing ":2," flags are kept; a name
// that would replace an existing file in cur/ gets ".<n>" after its unique
// part). The move is a link then an unlink, so no file is ever
// overwritten. Should the move fail, the file stays in new/ and its
// commit is remembered in the queue database: later passes retry only the
// move, never the ingestion. (IngestRaw derives the email id from the
// content, so even a repeated ingestion would give the same id and no new
// queue entry.)
//
// .eml directories (config eml_dir, flag --eml-dir, eml_recursive /
// --recursive for subdirectories): files named *.eml (any case; dot files
// and dot directories skipped; other files are counted, and the count is
// logged as a warning with a few of their names whenever it changes) are
// ingested once they have not changed for
// emlSettle, and left in place. What was ingested is remembered in the
// queue database (path, size, mtime, SHA-256, email id), so a restart does
// not ingest them again; a file whose size or mtime changes is read again
// and ingested again only when its content changed. Entries of files that
// disappeared are forgotten on the next full pass.
//
// Files IngestRaw refuses for good (empty, larger than 512 MiB) and
// entries that are not regular files (symlinks are never followed) are
// reported once and remembered, not retried until they change.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fsnotify/fsnotify"
	bolt "go.etcd.io/bbolt"
)

// emlSettle is how long an .eml file must stay unchanged before it is
// read (writers that do not rename finished files into place).
const emlSettle = time.Second

// Kinds of raw input.
const (
	rawMaildir = "maildir"
	rawEML     = "eml"
)

// rawInput is one watched directory.
type rawInput struct {
	kind      string
	root      string // the Maildir or .eml directory
	dir       string // the directory scanned: root/new, or root
	recursive bool
	scanned   atomic.Bool  // listed at least once
	unsettled atomic.Int64 // .eml files seen changing in the last pass
	skipped   int          // files not named *.eml in the last pass (scan only)
}

// rawFileState is what the queue database remembers of one input file.
type rawFileState struct {
	Size     int64     `json:"size"`
	MTime    int64     `json:"mtime"` // unix nanoseconds
	SHA256   string    `json:"sha256,omitempty"`
	ID       string    `json:"id,omitempty"`       // the email it became
	Rejected string    `json:"rejected,omitempty"` // why it is not ingested
	Time     time.Time `json:"time"`
}

// rawRunner feeds raw input files to workers.
type rawRunner struct {
	c        *Collector
	inputs   []*rawInput
	work     chan rawJob
	mu       sync.Mutex
	pending  map[string]bool // paths queued or in processing
	failures map[string]int  // consecutive failures per path
}

type rawJob struct {
	in   *rawInput
	path string
}

// rawInputs builds the inputs of the configuration, checking the
// directories: a Maildir may be given as its root or as its new/ (as
// stoQ's dirmon source_dir); it is created (with new/, cur/ and tmp/)
// when missing. An .eml directory must exist.
func rawInputs(cfg *Config) ([]*rawInput, error) {
	var out []*rawInput
	for _, d := range cfg.Maildir {
		root := filepath.Clean(d)
		if filepath.Base(root) == "new" {
			// DIR/new, as stoQ's dirmon source_dir, unless DIR/new is
			// itself a Maildir
			if st, err := os.Stat(filepath.Join(root, "new")); err != nil || !st.IsDir() {
				root = filepath.Dir(root)
			}
		}
		// created when missing, as the spool
		for _, sub := range []string{"new", "cur", "tmp"} {
			if err := os.MkdirAll(filepath.Join(root, sub), 0o700); err != nil {
				return nil, fmt.Errorf("maildir %s: %w", root, err)
			}
		}
		out = append(out, &rawInput{kind: rawMaildir, root: root, dir: filepath.Join(root, "new")})
	}
	for _, d := range cfg.EMLDir {
		root := filepath.Clean(d)
		st, err := os.Stat(root)
		if err != nil {
			return nil, fmt.Errorf("eml_dir: %w", err)
		}
		if !st.IsDir() {
			return nil, fmt.Errorf("eml_dir %s: not a directory", root)
		}
		out = append(out, &rawInput{kind: rawEML, root: root, dir: root, recursive: cfg.EMLRecursive})
	}
	return out, nil
}

func rawKey(kind, path string) []byte { return []byte(kind + "\x00" + path) }

func (s *Store) rawState(kind, path string) (*rawFileState, bool) {
	var st rawFileState
	var ok bool
	_ = s.db.b.View(func(tx *bolt.Tx) error {
		if b := tx.Bucket(bRawFiles); b != nil {
			ok, _ = getJSON(b, rawKey(kind, path), &st)
		}
		return nil
	})
	return &st, ok
}

func (s *Store) setRawState(kind, path string, st *rawFileState) error {
	return s.db.b.Batch(func(tx *bolt.Tx) error {
		return putJSON(tx.Bucket(bRawFiles), rawKey(kind, path), st)
	})
}

func (s *Store) deleteRawState(kind, path string) error {
	return s.db.b.Batch(func(tx *bolt.Tx) error {
		return tx.Bucket(bRawFiles).Delete(rawKey(kind, path))
	})
}

// forgetRawUnder removes the remembered .eml files under root (directly
// in it unless recursive) that the last full pass did not see (deleted or
// moved away).
func (s *Store) forgetRawUnder(kind, root string, recursive bool, seen map[string]bool) error {
	prefix := rawKey(kind, root+string(filepath.Separator))
	return s.db.b.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bRawFiles)
		var gone [][]byte
		cur := b.Cursor()
		for k, _ := cur.Seek(prefix); k != nil && strings.HasPrefix(string(k), string(prefix)); k, _ = cur.Next() {
			if !recursive && strings.ContainsRune(string(k[len(prefix):]), filepath.Separator) {
				continue // in a subdirectory this pass did not list
			}
			if !seen[string(k[len(kind)+1:])] {
				gone = append(gone, append([]byte(nil), k...))
			}
		}
		for _, k := range gone {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
}

func statMatches(st *rawFileState, fi fs.FileInfo) bool {
	return st.Size == fi.Size() && st.MTime == fi.ModTime().UnixNano()
}

// run watches the inputs and processes their files until ctx ends; it
// returns once the workers have finished the file in hand.
func (r *rawRunner) run(ctx context.Context, workers int) {
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-ctx.Done():
					return
				case j := <-r.work:
					r.c.commits.working(true)
					if !r.process(j) {
						r.unpend(j.path)
					}
					r.c.commits.working(false)
				}
			}
		}()
	}
	r.watch(ctx)
	wg.Wait()
}

// busy reports whether raw input is still being worked on (for RunOnce).
func (r *rawRunner) busy() bool {
	r.mu.Lock()
	n := len(r.pending) + len(r.failures)
	r.mu.Unlock()
	if n > 0 {
		return true
	}
	for _, in := range r.inputs {
		if !in.scanned.Load() || in.unsettled.Load() > 0 {
			return true
		}
	}
	return false
}

// watch feeds files to the workers: fsnotify events plus a full pass over
// every input at start-up and every rescan interval.
func (r *rawRunner) watch(ctx context.Context) {
	c := r.c
	w, err := fsnotify.NewWatcher()
	if err != nil {
		c.log.Warn("fsnotify unavailable; relying on rescans", "err", err)
	} else {
		defer w.Close()
		for _, in := range r.inputs {
			if err := w.Add(in.dir); err != nil {
				c.log.Warn("cannot watch directory; relying on rescans", "dir", in.dir, "err", err)
			}
		}
	}
	byDir := map[string]*rawInput{}
	for _, in := range r.inputs {
		byDir[in.dir] = in
		c.log.Info("watching raw email input", "kind", in.kind, "dir", in.dir, "recursive", in.recursive)
	}
	pass := func() {
		for _, in := range r.inputs {
			if ctx.Err() != nil {
				return
			}
			r.scan(ctx, in, w)
		}
	}
	pass()
	tick := time.NewTicker(c.cfg().RescanInterval.D())
	defer tick.Stop()
	// .eml files announce themselves while still being written: a pass
	// over their input runs once they had time to settle
	settle := time.NewTimer(time.Hour)
	settle.Stop()
	var events chan fsnotify.Event
	var errs chan error
	if w != nil {
		events, errs = w.Events, w.Errors
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			pass()
		case <-settle.C:
			pass()
		case ev, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			if ev.Op&(fsnotify.Create|fsnotify.Write|fsnotify.Rename|fsnotify.Chmod) == 0 {
				continue
			}
			if in := byDir[filepath.Dir(ev.Name)]; in != nil && in.kind == rawMaildir {
				if !strings.HasPrefix(filepath.Base(ev.Name), ".") {
					r.check(ctx, in, ev.Name)
				}
				continue
			}
			// an .eml input (or one of its subdirectories)
			settle.Reset(emlSettle + 100*time.Millisecond)
		case err, ok := <-errs:
			if !ok {
				errs = nil
				continue
			}
			c.log.Warn("fsnotify", "err", err)
			pass()
		}
	}
}

// scan lists one input (recursively for eml_recursive) and checks every
// file; w, when not nil, is told about new subdirectories.
func (r *rawRunner) scan(ctx context.Context, in *rawInput, w *fsnotify.Watcher) {
	c := r.c
	seen := map[string]bool{}
	var unsettled int64
	var skipped []string // files not named *.eml
	complete := true
	err := filepath.WalkDir(in.dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == in.dir {
				return err
			}
			complete = false
			return nil
		}
		if ctx.Err() != nil {
			complete = false
			return filepath.SkipAll
		}
		if d.IsDir() {
			if p == in.dir {
				return nil
			}
			if !in.recursive || strings.HasPrefix(d.Name(), ".") {
				return filepath.SkipDir
			}
			if w != nil && in.kind == rawEML {
				_ = w.Add(p) // fsnotify is not recursive; adding twice is harmless
			}
			return nil
		}
		if strings.HasPrefix(d.Name(), ".") {
			return nil
		}
		if in.kind == rawEML && !strings.EqualFold(filepath.Ext(d.Name()), ".eml") {
			skipped = append(skipped, p)
			return nil
		}
		seen[p] = true
		if !r.check(ctx, in, p) {
			unsettled++
		}
		return nil
	})
	in.unsettled.Store(unsettled)
	if err != nil {
		c.fail("listing "+in.dir, err)
		return
	}
	if complete && len(skipped) != in.skipped {
		// Once per change of the count, not once per file or per pass.
		in.skipped = len(skipped)
		if len(skipped) > 0 {
			c.log.Warn(fmt.Sprintf("%d files in the .eml input are not read: only files named *.eml are (rename them to .eml to ingest them)", len(skipped)),
				"dir", in.dir, "examples", skipped[:min(3, len(skipped))])
		}
	}
	if in.kind == rawEML && complete && ctx.Err() == nil {
		if err := c.store.forgetRawUnder(rawEML, in.root, in.recursive, seen); err != nil {
			c.fail("forgetting removed .eml files", err)
		}
	}
	in.scanned.Store(true)
}

// check decides what to do with one file and hands it to the workers when
// there is work. It reports false for an .eml file that is still
// changing (it is looked at again later).
func (r *rawRunner) check(ctx context.Context, in *rawInput, path string) bool {
	c := r.c
	if c.Paused() {
		return true
	}
	fi, err := os.Lstat(path)
	if err != nil {
		r.done(path) // gone (moved by us or someone else)
		return true
	}
	if in.kind == rawEML && time.Since(fi.ModTime()) < emlSettle && fi.Mode().IsRegular() {
		return false
	}
	if st, ok := c.store.rawState(in.kind, path); ok && statMatches(st, fi) {
		if st.Rejected != "" || in.kind == rawEML {
			return true // refused before, or ingested: nothing to do
		}
		// a Maildir file committed whose move failed: retry the move only
	}
	r.mu.Lock()
	if r.pending[path] {
		r.mu.Unlock()
		return true
	}
	r.pending[path] = true
	r.mu.Unlock()
	select {
	case r.work <- rawJob{in: in, path: path}:
	case <-ctx.Done():
		r.mu.Lock()
		delete(r.pending, path)
		r.mu.Unlock()
	}
	return true
}

// unpend ends the processing of path (it may be queued again).
func (r *rawRunner) unpend(path string) {
	r.mu.Lock()
	delete(r.pending, path)
	r.mu.Unlock()
}

// process ingests one file (unless already committed) and, for a
// Maildir, moves it to cur/. It reports true when the file was handed
// to the committer: the job's done then finishes it (remembered .eml
// state in the same transaction, the Maildir move after the commit) and
// ends its pending state.
func (r *rawRunner) process(j rawJob) bool {
	c := r.c
	fi, err := os.Lstat(j.path)
	if err != nil {
		r.done(j.path)
		return false
	}
	reject := func(reason string) {
		r.done(j.path)
		c.fail("raw input "+j.path+" (not ingested; retried when it changes)", errors.New(reason))
		st := &rawFileState{Size: fi.Size(), MTime: fi.ModTime().UnixNano(), Rejected: reason, Time: time.Now().UTC()}
		if err := c.store.setRawState(j.in.kind, j.path, st); err != nil {
			c.fail("recording "+j.path, err)
		}
	}
	if !fi.Mode().IsRegular() {
		reject(fmt.Sprintf("not a regular file (%s)", fi.Mode().Type()))
		return false
	}
	if fi.Size() > maxRawEmail {
		reject(fmt.Sprintf("%d bytes, larger than the %d byte limit", fi.Size(), maxRawEmail))
		return false
	}
	old, known := c.store.rawState(j.in.kind, j.path)
	var raw []byte
	var sha string
	if !known || old.Rejected != "" || !statMatches(old, fi) {
		raw, err = readNoFollow(j.path, maxRawEmail)
		if err != nil {
			r.failed(j.path, err)
			return false
		}
		if len(raw) == 0 {
			reject("empty file")
			return false
		}
		sum := sha256.Sum256(raw)
		sha = hex.EncodeToString(sum[:])
	}
	if known && old.Rejected == "" && (raw == nil || old.SHA256 == sha) {
		// committed before (only touched since, or the move failed)
		r.committed(j, fi, sha, old, known, old.ID, nil)
		return false
	}
	state := func(id string) *rawFileState {
		st := &rawFileState{Size: fi.Size(), MTime: fi.ModTime().UnixNano(), SHA256: sha, ID: id, Time: time.Now().UTC()}
		if sha == "" {
			st.SHA256 = old.SHA256
		}
		return st
	}
	var id string
	var extra func(*bolt.Tx) error
	if j.in.kind == rawEML {
		// the file is remembered in the transaction that commits its email
		extra = func(tx *bolt.Tx) error {
			return putJSON(tx.Bucket(bRawFiles), rawKey(rawEML, j.path), state(id))
		}
	}
	ing, job, err := c.storeRaw(raw, j.path, extra)
	if err != nil {
		r.failed(j.path, err)
		return false
	}
	id = ing.emails[0].ID
	job.done = func(err error, ag *afterGroup) {
		defer r.unpend(j.path)
		if err != nil {
			r.failed(j.path, err)
			return
		}
		c.afterCommit(ing)
		r.committed(j, fi, sha, old, known, id, ag)
	}
	c.commits.submit(job)
	return true
}

// committed finishes a file whose email is committed as id: an .eml file
// is remembered (unless ag is not nil: its commit did it), a Maildir file
// moved to cur/ (its directories synced by ag, once per commit group,
// when ag is not nil).
func (r *rawRunner) committed(j rawJob, fi fs.FileInfo, sha string, old *rawFileState, known bool, id string, ag *afterGroup) {
	c := r.c
	if j.in.kind == rawEML {
		if ag == nil {
			st := &rawFileState{Size: fi.Size(), MTime: fi.ModTime().UnixNano(), SHA256: sha, ID: id, Time: time.Now().UTC()}
			if sha == "" {
				st.SHA256 = old.SHA256
			}
			if err := c.store.setRawState(rawEML, j.path, st); err != nil {
				r.failed(j.path, fmt.Errorf("recording the ingested file: %w", err))
				return
			}
		}
		r.done(j.path)
		return
	}
	cur := filepath.Join(j.in.root, "cur")
	dst, err := maildirDeliver(j.path, cur, c.cfg().FsyncOn() && ag == nil)
	if err == nil && ag != nil {
		ag.syncDir(cur)
		ag.syncDir(filepath.Dir(j.path))
	}
	if err != nil && dst != "" {
		// moved; only the directory fsync failed
		c.fail("maildir "+j.in.root, err)
		err = nil
	}
	if err != nil {
		// committed but not moved: remember it, so that later passes
		// retry the move only
		st := &rawFileState{Size: fi.Size(), MTime: fi.ModTime().UnixNano(), SHA256: sha, ID: id, Time: time.Now().UTC()}
		if sha == "" {
			st.SHA256 = old.SHA256
		}
		if serr := c.store.setRawState(rawMaildir, j.path, st); serr != nil {
			err = errors.Join(err, serr)
		}
		r.failed(j.path, fmt.Errorf("ingested as %s, moving to cur/: %w", id, err))
		return
	}
	if known {
		if err := c.store.deleteRawState(rawMaildir, j.path); err != nil {
			c.fail("forgetting "+j.path, err)
		}
	}
	r.done(j.path)
	c.log.Debug("maildir message processed", "file", j.path, "cur", dst, "email", id)
}

func (r *rawRunner) done(path string) {
	r.mu.Lock()
	delete(r.failures, path)
	r.mu.Unlock()
}

// failed counts a transient failure; the file is retried on the next pass
// and the 1st, 10th, 100th... failure is reported.
func (r *rawRunner) failed(path string, err error) {
	r.mu.Lock()
	n := r.failures[path]
	r.failures[path] = n + 1
	r.mu.Unlock()
	if n == 0 || isPow10(n+1) {
		r.c.fail(fmt.Sprintf("raw input %s (attempt %d; retried)", path, n+1), err)
	}
}

// maildirCurName is the name a message file takes in cur/: its unique
// part and the ":2," info, keeping flags already there.
func maildirCurName(name string) string {
	if i := strings.IndexByte(name, ':'); i >= 0 {
		if strings.HasPrefix(name[i:], ":2,") {
			return name
		}
		return name[:i] + ":2,"
	}
	return name + ":2,"
}

// maildirDeliver moves src (in new/) into cur without ever replacing a
// file there: link, then unlink. It returns the new path.
func maildirDeliver(src, cur string, fsync bool) (string, error) {
	name := maildirCurName(filepath.Base(src))
	unique, info, _ := strings.Cut(name, ":")
	for n := 0; n < 1000; n++ {
		cand := name
		if n > 0 {
			cand = fmt.Sprintf("%s.%d:%s", unique, n, info)
		}
		dst := filepath.Join(cur, cand)
		err := os.Link(src, dst)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			// e.g. a file system without hard links: rename, having
			// checked that nothing is in the way
			if _, serr := os.Lstat(dst); serr == nil {
				continue
			}
			if rerr := os.Rename(src, dst); rerr != nil {
				return "", rerr
			}
		} else if err := os.Remove(src); err != nil {
			_ = os.Remove(dst)
			return "", err
		}
		if fsync {
			if err := syncDir(cur); err != nil {
				return dst, err
			}
			if err := syncDir(filepath.Dir(src)); err != nil {
				return dst, err
			}
		}
		return dst, nil
	}
	return "", fmt.Errorf("no free name in %s for %s", cur, name)
}
