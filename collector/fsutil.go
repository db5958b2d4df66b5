package collector

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/smtpscope/smtpscope/collector/internal/atomicfile"
	"golang.org/x/sys/unix"
)

// fileWriter writes the store's files atomically (an unnamed O_TMPFILE
// file linked under its name once whole, or a temp file in the same
// directory renamed; see writeWith) and makes them durable in groups: a file is not
// synced when written; sync is the durability point of everything
// written (or touched) before it. The group committer (commit.go) calls
// sync once per group, before the bbolt commit that references the
// group's files. Two ways (Config.FsyncMode):
//
//   - syncfs (the default): one syncfs(2) per file system holding a file
//     written since the last sync, on a descriptor of a directory of that
//     file system the writer keeps open. syncfs writes out every dirty
//     file and the file system's metadata (the renames, new directories)
//     and waits for it, so no file or directory is synced on its own; a
//     write-back error since the last syncfs on that file system is its
//     error (Linux 5.8 and later).
//   - files: every such file, then every directory holding one and the
//     parent of each directory made, fdatasynced from syncWorkers
//     goroutines at once (the journal commits once for many of them).
//
// Measured on the project's shared 2-core VM (BenchmarkDurability, 20
// sessions' files per group): an fsync per file before its rename plus
// one per directory ~250 ms a group; the parallel fdatasync 23-38 ms;
// one syncfs(2) 28-53 ms. In the daemon the parallel fdatasync made
// ~4.3 fdatasync calls per email; syncfs makes one call per group (see
// README, "Collector group commit", for the A/B). The cost of syncfs:
// it also writes out whatever other programs left dirty on that file
// system (on a sensor: the capture and the spool writer, which are
// synced soon anyway), so a group's latency is not bounded by its own
// bytes, and its write-back runs partly in kernel threads, outside the
// process's CPU accounting; "files" bounds it by the group's bytes.
//
// A file another claim wrote and this one relies on (a content-addressed
// archive file found present, maybe not durable yet) is touched, so the
// next sync covers it too. A file is added only once renamed into place,
// so a sync never misses one written before the caller's job was handed
// over, and never looks for a temp name.
type fileWriter struct {
	mode   syncMode
	named  bool                // temporary files by name even where unnamed ones work (tests)
	links  atomicfile.FDLinker // names unnamed and claimed files (tests force its /proc way)
	known  sync.Map            // directories known to exist (mkdirs skips them)
	mu     sync.Mutex
	files  []pendingFile   // files mode: written (or relied upon) since the last sync
	open   int             // how many of files hold a descriptor
	dirs   map[string]bool // files mode: their directories
	devs   map[uint64]bool // syncfs mode: the file systems written to since the last sync
	devFD  map[uint64]int  // syncfs mode: a directory descriptor on each file system seen
	devErr error           // syncfs mode: a written file whose file system is unknown; the next sync fails with it
	syncMu sync.Mutex      // held for a whole sync: a caller returns only once everything written before it is durable

	// the system calls, replaced by tests to count and order them
	fdatasync func(fd int) error
	syncfs    func(fd int) error
}

// syncMode is how a fileWriter makes its files durable.
type syncMode int

const (
	syncNone    syncMode = iota // fsync off: nothing synced
	syncPerFS                   // one syncfs per file system per sync
	syncPerFile                 // each file and directory fdatasynced, in parallel
)

// pendingFile is a file the next sync makes durable (files mode). A file
// this writer wrote keeps its descriptor (fd >= 0) until then, so sync
// does not open it again; a touched file, or one written while
// maxOpenPending are open, is synced by its path (fd -1).
type pendingFile struct {
	path string
	fd   int
}

// maxOpenPending bounds the descriptors held between two syncs (a group
// is at most groupMaxJobs claims; most write a few files).
const maxOpenPending = 512

// newFileWriter is a writer that syncs with syncfs (fsync true) or never.
func newFileWriter(fsync bool) *fileWriter {
	if !fsync {
		return newFileWriterMode(syncNone)
	}
	return newFileWriterMode(syncPerFS)
}

func newFileWriterMode(m syncMode) *fileWriter {
	return &fileWriter{mode: m, dirs: map[string]bool{}, devs: map[uint64]bool{}, devFD: map[uint64]int{},
		fdatasync: fdatasyncFD, syncfs: syncfsFD}
}

func tmpSuffix() string { return atomicfile.TempSuffix() }

// write stores data at path atomically; mtime, when not zero, is set on
// the file before it becomes visible.
func (w *fileWriter) write(path string, data []byte, mtime time.Time) error {
	return w.writeWith(path, func(f io.Writer) error {
		_, err := f.Write(data)
		return err
	}, mtime)
}

// writeWith is write for content that fill streams into the file. Where
// the file system has unnamed files (O_TMPFILE) and /proc is mounted, the
// file is made unnamed in its directory, filled, given its mtime on the
// descriptor and linked under its name (writeAnon): a crash before the
// link leaves nothing, and no temporary name is made, renamed or looked
// up again. Elsewhere (or with w.named) a temporary name in the same
// directory (atomicfile's prefix, so a crash's leftovers are found), then
// a rename (writeNamed). Either way the name only ever holds a whole
// file. The file is durable once sync returns (a sync that starts after
// writeWith returned). System calls go straight to the descriptor: a
// regular file needs none of os.File's poller set-up.
func (w *fileWriter) writeWith(path string, fill func(io.Writer) error, mtime time.Time) error {
	if !w.named && anonLinkOK() {
		done, err := w.writeAnon(path, fill, mtime)
		if done || err != nil {
			return err
		}
	}
	return w.writeNamed(path, fill, mtime)
}

// writeAnon writes path through an unnamed file. done false (and no
// error) means the file system refused an unnamed file, before fill ran:
// the caller writes by name instead.
func (w *fileWriter) writeAnon(path string, fill func(io.Writer) error, mtime time.Time) (done bool, err error) {
	dir := filepath.Dir(path)
	fd, err := w.openAnon(dir)
	if err != nil {
		return false, nil
	}
	err = fillFile(fd, fill, mtime)
	if err == nil {
		err = w.linkFD(fd, path)
	}
	if err != nil {
		unix.Close(fd) // never linked: the kernel frees it
		return true, fmt.Errorf("writing %s: %w", path, err)
	}
	w.add(path, fd)
	return true, nil
}

// openAnon opens a new unnamed file in dir (making dir first when
// needed, as create does).
func (w *fileWriter) openAnon(dir string) (int, error) {
	return w.openIn(dir, dir, unix.O_TMPFILE|unix.O_WRONLY|unix.O_CLOEXEC)
}

// linkFD names the open file fd path: a link of the descriptor's inode
// (atomicfile.FDLinker). A name taken already is replaced atomically: the inode is
// linked under a temporary name, renamed over it. A directory removed
// since the file was opened (retention) is made again.
func (w *fileWriter) linkFD(fd int, path string) error {
	err := w.links.Link(fd, unix.AT_FDCWD, path)
	if errors.Is(err, unix.ENOENT) {
		dir := filepath.Dir(path)
		if _, serr := os.Stat(dir); serr != nil {
			w.known.Delete(dir)
			if err := w.mkdirs(dir); err != nil {
				return err
			}
			err = w.links.Link(fd, unix.AT_FDCWD, path)
		}
	}
	if !errors.Is(err, unix.EEXIST) {
		return err
	}
	tmp := tempName(path)
	if err := w.links.Link(fd, unix.AT_FDCWD, tmp); err != nil {
		return err
	}
	if err := unix.Rename(tmp, path); err != nil {
		_ = unix.Unlink(tmp)
		return err
	}
	return nil
}

// anonLinkOK reports whether /proc/self/fd is there to link unnamed
// files (O_TMPFILE) by (looked at once).
var anonLinkOK = sync.OnceValue(func() bool { return unix.Access("/proc/self/fd", unix.F_OK) == nil })

// futimens sets the access and modification times of fd to t
// (utimensat(2) with a NULL path: no path walk).
func futimens(fd int, t time.Time) error {
	ts := [2]unix.Timespec{unix.NsecToTimespec(t.UnixNano()), unix.NsecToTimespec(t.UnixNano())}
	for {
		_, _, e := unix.Syscall6(unix.SYS_UTIMENSAT, uintptr(fd), 0, uintptr(unsafe.Pointer(&ts)), 0, 0, 0)
		switch e {
		case 0:
			return nil
		case unix.EINTR:
			continue
		}
		return e
	}
}

// tempName is a temporary name beside path (atomicfile's prefix: a
// crash's leftovers are found and removed).
func tempName(path string) string {
	return filepath.Join(filepath.Dir(path), atomicfile.TempPrefix+filepath.Base(path)+"-"+tmpSuffix())
}

// writeNamed is writeWith through a temporary name and a rename.
// fillFile fills the open file fd and gives it the modification time
// mtime (none when zero).
func fillFile(fd int, fill func(io.Writer) error, mtime time.Time) error {
	err := fill(fdWriter(fd))
	if err == nil && !mtime.IsZero() {
		err = futimens(fd, mtime)
	}
	return err
}

func (w *fileWriter) writeNamed(path string, fill func(io.Writer) error, mtime time.Time) error {
	dir := filepath.Dir(path)
	tmp := tempName(path)
	fd, err := w.create(dir, tmp)
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	err = fillFile(fd, fill, mtime)
	if err == nil {
		err = unix.Rename(tmp, path)
	}
	if err != nil {
		unix.Close(fd)
		_ = unix.Unlink(tmp)
		return fmt.Errorf("writing %s: %w", path, err)
	}
	w.add(path, fd)
	return nil
}

// create makes the new file tmp in dir (making dir first when needed; a
// directory known to exist but removed since, by retention, is made
// again).
func (w *fileWriter) create(dir, tmp string) (int, error) {
	return w.openIn(dir, tmp, unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY|unix.O_CLOEXEC|unix.O_NOFOLLOW)
}

// openIn opens path with flags (mode 0640) once dir exists: made when
// needed, and made again once when it was known but is gone.
func (w *fileWriter) openIn(dir, path string, flags int) (int, error) {
	for try := 0; ; try++ {
		if err := w.mkdirs(dir); err != nil {
			return -1, err
		}
		fd, err := unix.Open(path, flags, 0o640)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if errors.Is(err, unix.ENOENT) && try == 0 {
			w.known.Delete(dir)
			continue
		}
		return fd, err
	}
}

// fdWriter writes to a file descriptor, whole buffers (a short write is
// continued, EINTR retried).
type fdWriter int

func (f fdWriter) Write(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		k, err := unix.Write(int(f), p[n:])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return n, err
		}
		if k == 0 {
			return n, io.ErrShortWrite
		}
		n += k
	}
	return n, nil
}

// link makes path a second name of the open file f (read from src, size
// bytes with modification time mtime when it was parsed): the store holds
// the very inode that was parsed, with no copy of its bytes. Where /proc
// is mounted the descriptor itself is linked (linkFD), so the name can
// only ever be that inode; elsewhere src is linked under a temporary
// name, checked to be f's inode and renamed into place. It reports false,
// having done nothing, when that cannot be done: another file system
// (EXDEV), a link not permitted (the kernel's protected_hardlinks for a
// file of another owner), or src no longer the file f is (removed or
// replaced), or f not of the size and time parsed (changed since); the
// caller then copies, which checks the bytes.
func (w *fileWriter) link(f *os.File, src string, size int64, mtime time.Time, path string) (bool, error) {
	fst, err := f.Stat()
	if err != nil || fst.Size() != size || !fst.ModTime().Equal(mtime) {
		return false, nil
	}
	dir := filepath.Dir(path)
	if err := w.mkdirs(dir); err != nil {
		return false, err
	}
	if !w.named && anonLinkOK() {
		rc, err := f.SyscallConn()
		if err != nil {
			return false, nil
		}
		var lerr error
		if err := rc.Control(func(fd uintptr) {
			_ = unix.Fchmod(int(fd), 0o640) // as a written file; not ours to change: left as it is
			lerr = w.linkFD(int(fd), path)
		}); err != nil || lerr != nil {
			return false, nil
		}
		w.touch(path)
		return true, nil
	}
	tmp := tempName(path)
	if err := os.Link(src, tmp); err != nil {
		return false, nil
	}
	lst, err := os.Lstat(tmp)
	if err != nil || !os.SameFile(fst, lst) || lst.Size() != size {
		_ = os.Remove(tmp)
		return false, nil
	}
	_ = os.Chmod(tmp, 0o640) // as a written file; not ours to change: left as it is
	if err := os.Rename(tmp, path); err != nil {
		_ = os.Remove(tmp)
		return false, fmt.Errorf("writing %s: %w", path, err)
	}
	w.touch(path)
	return true, nil
}

// mkdirs makes dir and any missing parent, like os.MkdirAll, and adds the
// parent of each directory it made to what the next sync makes durable: a
// new day directory (or archive fan-out directory) is an entry in its
// parent, which fdatasync of the files inside it does not cover. A
// directory seen once is remembered (create forgets it when it is gone).
func (w *fileWriter) mkdirs(dir string) error {
	if _, ok := w.known.Load(dir); ok {
		return nil
	}
	if st, err := os.Stat(dir); err == nil && st.IsDir() {
		w.known.Store(dir, true)
		return nil
	}
	var made []string
	for d := dir; d != filepath.Dir(d); d = filepath.Dir(d) {
		if _, err := os.Stat(d); err == nil {
			break
		}
		made = append(made, d)
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return err
	}
	w.known.Store(dir, true)
	if w.mode != syncPerFile {
		return nil // syncfs writes out the new entries with the rest
	}
	w.mu.Lock()
	for _, d := range made {
		w.dirs[filepath.Dir(d)] = true
	}
	w.mu.Unlock()
	return nil
}

// touch adds a file (written, or found present and relied upon) to what
// the next sync makes durable.
func (w *fileWriter) touch(path string) { w.add(path, -1) }

// add adds path to what the next sync makes durable, with its open
// descriptor fd (or -1), which the writer then owns: in files mode kept
// for the sync while fewer than maxOpenPending are, closed otherwise; in
// syncfs mode only its file system is noted.
func (w *fileWriter) add(path string, fd int) {
	switch w.mode {
	case syncNone:
		if fd >= 0 {
			unix.Close(fd)
		}
	case syncPerFS:
		w.addDev(path, fd)
	case syncPerFile:
		w.mu.Lock()
		if fd >= 0 && w.open >= maxOpenPending {
			unix.Close(fd)
			fd = -1
		}
		if fd >= 0 {
			w.open++
		}
		w.files = append(w.files, pendingFile{path, fd})
		w.dirs[filepath.Dir(path)] = true
		w.mu.Unlock()
	}
}

// addDev notes the file system of path (through fd when >= 0, then
// closed) for the next syncfs, and keeps a descriptor of path's directory
// the first time that file system is seen. A touched path gone since
// (removed) is skipped, as files mode skips it.
func (w *fileWriter) addDev(path string, fd int) {
	var st unix.Stat_t
	var err error
	if fd >= 0 {
		err = unix.Fstat(fd, &st)
		unix.Close(fd)
	} else {
		err = unix.Stat(path, &st)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if err != nil {
		if fd >= 0 { // a file just written: the next sync cannot cover it unseen
			w.devErr = errors.Join(w.devErr, fmt.Errorf("syncfs: the file system of %s: %w", path, err))
		}
		return
	}
	w.devs[st.Dev] = true
	if _, ok := w.devFD[st.Dev]; ok {
		return
	}
	dfd, err := unix.Open(filepath.Dir(path), unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err == nil {
		w.devFD[st.Dev] = dfd
	}
	// else: the next sync fails (errNoDirFD) unless a later write on that
	// file system opens one; the failed group's claims are written again
}

// sync makes every file written (or touched) before it durable, with the
// directory entries naming them.
func (w *fileWriter) sync() error {
	if w.mode == syncNone {
		return nil
	}
	w.syncMu.Lock()
	defer w.syncMu.Unlock()
	if w.mode == syncPerFS {
		return w.syncDevs()
	}
	w.mu.Lock()
	files, dirs := w.files, w.dirs
	w.files, w.dirs, w.open = nil, map[string]bool{}, 0
	w.mu.Unlock()
	if err := syncFiles(files, syncWorkers, w.fdatasync); err != nil {
		return err
	}
	dl := make([]pendingFile, 0, len(dirs))
	for d := range dirs {
		dl = append(dl, pendingFile{d, -1})
	}
	return syncFiles(dl, syncWorkers, w.fdatasync)
}

// syncDevs runs one syncfs on each file system written to since the last
// sync. A failed one is noted again, so the next sync retries it.
func (w *fileWriter) syncDevs() error {
	w.mu.Lock()
	devs := w.devs
	w.devs = map[uint64]bool{}
	errs := []error{w.devErr}
	w.devErr = nil
	fds := make(map[uint64]int, len(devs))
	for d := range devs {
		if fd, ok := w.devFD[d]; ok {
			fds[d] = fd
		}
	}
	w.mu.Unlock()
	for d := range devs {
		fd, ok := fds[d]
		err := errNoDirFD
		if ok {
			err = w.syncfs(fd)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("syncfs of the store's file system (device %d:%d): %w", unix.Major(d), unix.Minor(d), err))
			w.mu.Lock()
			w.devs[d] = true
			w.mu.Unlock()
		}
	}
	return errors.Join(errs...)
}

var errNoDirFD = errors.New("no directory of it could be opened")

// close closes the descriptors still held (no sync).
func (w *fileWriter) close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, f := range w.files {
		if f.fd >= 0 {
			unix.Close(f.fd)
		}
	}
	w.files, w.open = nil, 0
	for d, fd := range w.devFD {
		unix.Close(fd)
		delete(w.devFD, d)
	}
}

// syncWorkers is how many fdatasyncs a sync runs at once.
const syncWorkers = 8

// syncFiles fdatasyncs (with fdatasync, on a descriptor) every file (by
// its descriptor, then closed, or by its path: a file or a directory)
// from up to n goroutines; a path gone since (removed) is skipped.
func syncFiles(paths []pendingFile, n int, fdatasync func(fd int) error) error {
	if len(paths) == 0 {
		return nil
	}
	n = min(n, len(paths))
	var next atomic.Int64
	errs := make([]error, n)
	var wg sync.WaitGroup
	for g := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= len(paths) {
					return
				}
				if err := paths[i].sync(fdatasync); err != nil && errs[g] == nil {
					errs[g] = err
				}
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// sync fdatasyncs the file and closes its descriptor when it has one.
func (p pendingFile) sync(fdatasync func(fd int) error) error {
	if p.fd < 0 {
		return syncPathWith(p.path, true, fdatasync)
	}
	defer unix.Close(p.fd)
	if err := fdatasync(p.fd); err != nil {
		return fmt.Errorf("fdatasync %s: %w", p.path, err)
	}
	return nil
}

// syncDir makes a directory's entries durable (its renames, links and
// removals); the directory must exist.
func syncDir(dir string) error { return syncPath(dir, false) }

func syncPath(path string, goneOK bool) error { return syncPathWith(path, goneOK, fdatasyncFD) }

func syncPathWith(path string, goneOK bool, fdatasync func(fd int) error) error {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0)
	if goneOK && errors.Is(err, unix.ENOENT) {
		return nil
	}
	if err == nil {
		defer unix.Close(fd)
		err = fdatasync(fd)
	}
	if err != nil {
		return fmt.Errorf("fdatasync %s: %w", path, err)
	}
	return nil
}

func fdatasyncFD(fd int) error {
	for {
		err := unix.Fdatasync(fd)
		if err != unix.EINTR {
			return err
		}
	}
}

// syncfsFD writes out the file system holding fd and waits for it.
func syncfsFD(fd int) error {
	for {
		err := unix.Syncfs(fd)
		if err != unix.EINTR {
			return err
		}
	}
}

// removeTemps deletes temp files a crash left behind under root.
func removeTemps(root string) {
	_ = filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if !d.IsDir() && atomicfile.IsTemp(d.Name()) {
			_ = os.Remove(p)
		}
		return nil
	})
}
