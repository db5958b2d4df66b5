package capture

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/smtpscope/smtpscope/collector/internal/atomicfile"
)

// maxNameTries bounds the suffixes tried for one uid (see writeSession).
const maxNameTries = 1000

// SyncMode says how WriteDir makes a session file durable before its
// .ready marker appears. In every mode a .ready marker is created only
// after its session file is complete under its final name.
type SyncMode int

const (
	// SyncBatch (the default) writes session files without fsync and
	// syncs the output's file system once per batch (syncfs: one journal
	// commit for many files), then creates the .ready markers of that
	// batch. A batch is synced batchDelay after the previous sync began
	// (after the writer's start, for the first), or at once when it
	// reaches batchFiles files or batchBytes bytes; syncing runs beside
	// the writing, so the sync that ends a run holds only the files of its
	// last moments (and the first sync writes out, beside the run, what
	// other programs left dirty). For captures that are kept: after a
	// crash the capture is read again.
	SyncBatch SyncMode = iota
	// SyncEach fsyncs every session file before its .ready marker is
	// created: for sources that are not kept (a ring of capture files
	// deleted once read).
	SyncEach
	// SyncNone never syncs (output on tmpfs, tests, benchmarks): the
	// .ready markers still follow complete files, but a crash of the
	// machine may lose files whose marker exists.
	SyncNone
)

// ParseSyncMode maps "batch", "each" and "none" to a SyncMode.
func ParseSyncMode(s string) (SyncMode, error) {
	switch s {
	case "", "batch":
		return SyncBatch, nil
	case "each":
		return SyncEach, nil
	case "none":
		return SyncNone, nil
	}
	return 0, fmt.Errorf("capture: unknown sync mode %q (batch, each or none)", s)
}

func (m SyncMode) String() string {
	switch m {
	case SyncBatch:
		return "batch"
	case SyncEach:
		return "each"
	case SyncNone:
		return "none"
	}
	return "SyncMode(" + strconv.Itoa(int(m)) + ")"
}

// Bounds of a SyncBatch batch: the files written but not yet synced (so
// without .ready) are at most about twice these while a sync runs. Syncs
// begin at most every batchDelay: often enough that little is left to
// sync when the run ends (a sync of 500 ms of writing at the end of a
// pcap run was most of its wall time on disk), seldom enough that each
// journal commit carries many files.
const (
	batchFiles = 1024
	batchBytes = 64 << 20
	batchDelay = 50 * time.Millisecond
)

// syncHooks are the system calls of the session writer, replaced by tests
// to check their order.
type syncHooks struct {
	syncFS   func(dir *os.File, batch []string) error       // SyncBatch: the batch's files (names in dir)
	syncFile func(fd int, tmp string) error                 // SyncEach: one file (tmp: its path)
	ready    func(dir string, dirfd int, name string) error // create the .ready marker name
	named    bool                                           // temporary files by name even where O_TMPFILE works
	batch    struct {                                       // SyncBatch bounds (0: the constants)
		files int
		bytes int64
		delay time.Duration
	}
}

func (h *syncHooks) defaults() {
	if h.syncFS == nil {
		h.syncFS = syncFS
	}
	if h.syncFile == nil {
		h.syncFile = func(fd int, _ string) error { return unix.Fsync(fd) }
	}
	if h.batch.files <= 0 {
		h.batch.files = batchFiles
	}
	if h.batch.bytes <= 0 {
		h.batch.bytes = batchBytes
	}
	if h.batch.delay <= 0 {
		h.batch.delay = batchDelay
	}
}

// dirWriter writes session files into one directory and creates their
// .ready markers once the mode says the files are durable.
type dirWriter struct {
	dir   string
	d     *os.File // the directory (syncfs, final fsync)
	fd    int      // its descriptor, for the *at system calls
	anon  bool     // temporary files are unnamed (O_TMPFILE)
	mode  SyncMode
	hooks syncHooks
	b     *batcher // SyncBatch
	mk    markers  // the .ready markers' inode (anon)
}

// markers makes the .ready markers of a dirWriter as hard links of one
// empty unnamed file (O_TMPFILE) instead of a new inode each: a marker is
// then one directory entry, made with one linkat, where mknod allocated
// an inode while holding the directory's lock, so that the markers were
// made one at a time (on ext4 with many inodes deleted lately, an inode
// costs tens to hundreds of microseconds: mknod was 40 % of a run's CPU).
// Markers are empty and only their names count (the collector removes
// them when it has stored their file); a new file is started every
// markerLinks links or markerAge, so a marker's mtime is at most that
// much older than the marker.
type markers struct {
	mu    sync.Mutex
	fd    int // the empty file, -1 if none yet
	links int // links made to it
	born  time.Time
}

const (
	markerLinks = 1000        // far below every file system's link limit (ext4: 65,000)
	markerAge   = time.Second // the most a marker's mtime precedes its creation
)

func newDirWriter(dir string, mode SyncMode, hooks syncHooks) (*dirWriter, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("capture: %w", err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return nil, fmt.Errorf("capture: %w", err)
	}
	hooks.defaults()
	w := &dirWriter{dir: dir, d: d, fd: int(d.Fd()), mode: mode, hooks: hooks, mk: markers{fd: -1}}
	w.anon = !hooks.named && anonSupported(w.fd)
	if w.hooks.ready == nil {
		w.hooks.ready = func(dir string, dirfd int, name string) error { return w.mark(name) }
	}
	if mode == SyncBatch {
		w.b = newBatcher(w)
	}
	return w, nil
}

// write writes one session file; its .ready marker is created now
// (SyncEach, SyncNone) or once its batch is synced (SyncBatch).
func (w *dirWriter) write(sf *SessionFile) error {
	if err := w.place(sf); err != nil {
		return err
	}
	return w.placed(sf)
}

// place writes the session file sf, and its .ready marker unless it waits
// for a batch sync; the name taken is left in sf.name. It is safe for
// concurrent use (WriteDir calls it from the conversion workers).
func (w *dirWriter) place(sf *SessionFile) error {
	name, err := writeSession(w.fd, w.dir, w.anon, sf, w.mode == SyncEach, w.hooks.syncFile)
	if err != nil {
		return err
	}
	sf.name = name
	if w.b != nil {
		return nil
	}
	return w.hooks.ready(w.dir, w.fd, name+".ready")
}

// placed queues the .ready marker of a session file written by place for
// its batch sync (SyncBatch); one goroutine at a time.
func (w *dirWriter) placed(sf *SessionFile) error {
	if w.b != nil {
		return w.b.add(sf.name, len(sf.Data))
	}
	return nil
}

// close creates the .ready markers still pending (their files are
// complete, whatever ended the run, so an interrupted run keeps them),
// makes the markers durable and closes the directory.
func (w *dirWriter) close() error {
	var err error
	if w.b != nil {
		err = w.b.close()
	}
	if err == nil && w.mode != SyncNone {
		if serr := w.d.Sync(); serr != nil {
			err = fmt.Errorf("capture: fsync %s: %w", w.dir, serr)
		}
	}
	w.mk.mu.Lock()
	if w.mk.fd >= 0 {
		unix.Close(w.mk.fd)
		w.mk.fd = -1
	}
	w.mk.mu.Unlock()
	w.d.Close()
	return err
}

// mark creates the .ready marker name, failing if it exists: a link of
// the markers' empty file where unnamed files work (see markers), else
// a file of its own (createReady). Safe for concurrent use.
func (w *dirWriter) mark(name string) error {
	if !w.anon {
		return createReady(w.fd, w.dir, name)
	}
	m := &w.mk
	m.mu.Lock()
	defer m.mu.Unlock()
	for try := 0; ; try++ {
		if m.fd < 0 || m.links >= markerLinks || time.Since(m.born) >= markerAge {
			if m.fd >= 0 {
				unix.Close(m.fd)
				m.fd = -1
			}
			fd, err := openAnon(w.fd)
			if err != nil {
				return fmt.Errorf("capture: creating %s: %w", filepath.Join(w.dir, name), err)
			}
			m.fd, m.links, m.born = fd, 0, time.Now()
		}
		err := linkAnon(m.fd, w.fd, name)
		if errors.Is(err, unix.EMLINK) && try == 0 {
			m.links = markerLinks // a file system with fewer links per inode: a new file
			continue
		}
		if err != nil {
			return fmt.Errorf("capture: creating %s: %w", filepath.Join(w.dir, name), err)
		}
		m.links++
		return nil
	}
}

// batcher collects the session files written since the last sync; its
// goroutine syncs the file system once per batch and then creates the
// batch's .ready markers, while the next batch is being written.
type batcher struct {
	w       *dirWriter
	mu      sync.Mutex
	room    *sync.Cond // signalled when pending shrinks or err is set
	pending []string   // names of complete, not yet synced files
	bytes   int64
	last    time.Time // when the previous sync began (the writer's start before any)
	closed  bool
	err     error
	kick    chan struct{} // wakes the goroutine (cap 1)
	done    chan struct{}
}

func newBatcher(w *dirWriter) *batcher {
	b := &batcher{w: w, kick: make(chan struct{}, 1), done: make(chan struct{}), last: time.Now()}
	b.room = sync.NewCond(&b.mu)
	go b.loop()
	return b
}

func (b *batcher) wake() {
	select {
	case b.kick <- struct{}{}:
	default:
	}
}

// add queues a complete session file for the next sync. It waits while
// two batches are pending already (the sync is behind), so that the files
// not yet synced stay bounded.
func (b *batcher) add(name string, n int) error {
	lim := &b.w.hooks.batch
	b.mu.Lock()
	for b.err == nil && (len(b.pending) >= 2*lim.files || b.bytes >= 2*lim.bytes) {
		b.room.Wait()
	}
	if b.err != nil {
		err := b.err
		b.mu.Unlock()
		return err
	}
	b.pending = append(b.pending, name)
	b.bytes += int64(n)
	first := len(b.pending) == 1
	full := len(b.pending) >= lim.files || b.bytes >= lim.bytes
	b.mu.Unlock()
	if first || full {
		b.wake() // the first arms the delay; a full batch goes now
	}
	return nil
}

func (b *batcher) loop() {
	defer close(b.done)
	lim := &b.w.hooks.batch
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		b.mu.Lock()
		n, closed := len(b.pending), b.closed
		due := n > 0 && (closed || n >= lim.files || b.bytes >= lim.bytes || time.Since(b.last) >= lim.delay)
		wait := lim.delay - time.Since(b.last)
		var batch []string
		if due {
			b.last = time.Now()
			batch = b.pending
			b.pending, b.bytes = nil, 0
			b.room.Broadcast()
		}
		b.mu.Unlock()
		if n == 0 && closed {
			return
		}
		if due {
			if err := b.commit(batch); err != nil {
				b.mu.Lock()
				b.err = err
				b.pending = nil
				b.room.Broadcast()
				b.mu.Unlock()
				return
			}
			continue
		}
		if n > 0 {
			timer.Reset(wait)
		}
		select {
		case <-b.kick:
		case <-timer.C:
		}
		timer.Stop()
	}
}

// commit makes a batch durable, then creates its .ready markers.
func (b *batcher) commit(batch []string) error {
	if err := b.w.hooks.syncFS(b.w.d, batch); err != nil {
		return fmt.Errorf("capture: syncing %s: %w (%d session files left without .ready)", b.w.dir, err, len(batch))
	}
	for _, name := range batch {
		if err := b.w.hooks.ready(b.w.dir, b.w.fd, name+".ready"); err != nil {
			return err
		}
	}
	return nil
}

// close commits what is pending and returns the first error.
func (b *batcher) close() error {
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
	b.wake()
	<-b.done
	return b.err
}

// writeSession writes sf into the directory dirfd (named dir in errors)
// as <uid>, never replacing a file: the data goes to a temporary file
// (fsynced with syncFile when sync is set) that is hard-linked to its
// final name, which fails if the name exists. The temporary file is an
// unnamed one (O_TMPFILE) where the file system has them (anon), else a
// .tmp-* name removed once linked. When <uid> or <uid>.ready already
// exists (an earlier run, another capture with the same session, a file
// not yet claimed by the collector), the session is written as <uid>-2,
// <uid>-3, … instead, with its @uid line changed to match. It returns the
// name used; the caller creates the .ready marker. System calls go to the
// directory's descriptor, not through os.File (no path walk, no poller
// registration: a quarter of the writer's time).
func writeSession(dirfd int, dir string, anon bool, sf *SessionFile, sync bool, syncFile func(fd int, tmp string) error) (string, error) {
	t := tempFile{dirfd: dirfd, dir: dir, anon: anon, fd: -1}
	defer t.remove()
	if err := t.write(sf.UID, sf.Data, sf.Start, sync, syncFile); err != nil {
		return "", err
	}
	for n := 1; n <= maxNameTries; n++ {
		name := sf.UID
		if n > 1 {
			name += "-" + strconv.Itoa(n)
			t.remove()
			if err := t.write(sf.UID, renameUID(sf.Data, sf.UID, name), sf.Start, sync, syncFile); err != nil {
				return "", err
			}
		}
		var st unix.Stat_t
		if err := unix.Fstatat(dirfd, name+".ready", &st, unix.AT_SYMLINK_NOFOLLOW); err == nil {
			continue // a .ready whose session file is gone: the name is taken
		}
		err := t.link(name)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return "", fmt.Errorf("capture: writing %s: %w", filepath.Join(dir, name), err)
		}
		return name, nil
	}
	return "", fmt.Errorf("capture: writing %s: %d files with this uid exist already", filepath.Join(dir, sf.UID), maxNameTries)
}

// tempFile is a session file being written before it gets its name: an
// unnamed file (anon: fd open until linked) or a .tmp-* name (closed once
// written).
type tempFile struct {
	dirfd int
	dir   string
	anon  bool
	fd    int    // the unnamed file, -1 if none
	name  string // the temporary name, "" if none
}

// write makes a temporary file holding data, its times set to mtime.
func (t *tempFile) write(uid string, data []byte, mtime time.Time, sync bool, syncFile func(int, string) error) error {
	if !t.anon {
		t.name = atomicfile.TempPrefix + uid + "-" + atomicfile.TempSuffix()
		return writeTemp(t.dirfd, t.dir, t.name, data, mtime, sync, syncFile)
	}
	fd, err := openAnon(t.dirfd)
	if err == nil {
		t.fd = fd
		err = writeAll(fd, data)
	}
	if err == nil && !mtime.IsZero() {
		ts := unix.NsecToTimespec(mtime.UnixNano())
		err = futimens(fd, &[2]unix.Timespec{ts, ts})
	}
	if err == nil && sync {
		err = syncFile(fd, filepath.Join(t.dir, uid)+" (unnamed)")
	}
	if err != nil {
		t.remove()
		return fmt.Errorf("capture: writing %s (unnamed temporary file): %w", filepath.Join(t.dir, uid), err)
	}
	return nil
}

// link gives the temporary file the name name, failing if it exists.
func (t *tempFile) link(name string) error {
	if t.anon {
		return linkAnon(t.fd, t.dirfd, name)
	}
	return unix.Linkat(t.dirfd, t.name, t.dirfd, name, 0)
}

// remove closes the unnamed file (the kernel frees it unless it was
// linked) or removes the temporary name.
func (t *tempFile) remove() {
	if t.fd >= 0 {
		unix.Close(t.fd)
		t.fd = -1
	}
	if t.name != "" {
		unix.Unlinkat(t.dirfd, t.name, 0)
		t.name = ""
	}
}

// writeAll writes data to fd.
func writeAll(fd int, data []byte) error {
	var err error
	for p := data; len(p) > 0 && err == nil; {
		var n int
		n, err = unix.Write(fd, p)
		if err == unix.EINTR {
			err = nil
		}
		p = p[max(n, 0):]
	}
	return err
}

// writeTemp (re)writes the temporary file name of dirfd.
func writeTemp(dirfd int, dir, name string, data []byte, mtime time.Time, sync bool, syncFile func(int, string) error) error {
	err := func() error {
		fd, err := unix.Openat(dirfd, name, unix.O_CREAT|unix.O_TRUNC|unix.O_WRONLY|unix.O_CLOEXEC, 0o640)
		if err != nil {
			return err
		}
		err = writeAll(fd, data)
		if err == nil && sync {
			err = syncFile(fd, filepath.Join(dir, name))
		}
		if cerr := unix.Close(fd); err == nil {
			err = cerr
		}
		if err == nil && !mtime.IsZero() {
			ts := unix.NsecToTimespec(mtime.UnixNano())
			err = unix.UtimesNanoAt(dirfd, name, []unix.Timespec{ts, ts}, unix.AT_SYMLINK_NOFOLLOW)
		}
		return err
	}()
	if err != nil {
		unix.Unlinkat(dirfd, name, 0)
		return fmt.Errorf("capture: writing %s: %w", filepath.Join(dir, name), err)
	}
	return nil
}

// createReady creates the empty .ready marker name in dirfd, failing if
// it exists: mknod makes it in one system call where it can.
func createReady(dirfd int, dir, name string) error {
	err := mknodReady(dirfd, name)
	if err != nil && !errors.Is(err, fs.ErrExist) {
		// A file system without mknod for regular files.
		var fd int
		if fd, err = unix.Openat(dirfd, name, unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY|unix.O_CLOEXEC, 0o640); err == nil {
			err = unix.Close(fd)
		}
	}
	if err != nil {
		return fmt.Errorf("capture: creating %s: %w", filepath.Join(dir, name), err)
	}
	return nil
}

// renameUID returns data with its "@uid old" header line set to name.
func renameUID(data []byte, old, name string) []byte {
	from := []byte("\n@uid " + old + "\n")
	return bytes.Replace(data, from, []byte("\n@uid "+name+"\n"), 1)
}
