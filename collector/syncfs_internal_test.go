package collector

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
	"golang.org/x/sys/unix"
)

// syncLog records, in order, the sync calls of a fileWriter and the
// transactions of the jobs committed after them.
type syncLog struct {
	mu     sync.Mutex
	events []string
	fdDevs []uint64 // the file system of each syncfs's descriptor
}

func (l *syncLog) add(e string) {
	l.mu.Lock()
	l.events = append(l.events, e)
	l.mu.Unlock()
}

// hook makes w record its syncs in l (and still run them).
func (l *syncLog) hook(w *fileWriter) {
	w.syncfs = func(fd int) error {
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			return err
		}
		l.mu.Lock()
		l.fdDevs = append(l.fdDevs, st.Dev)
		l.mu.Unlock()
		l.add("syncfs")
		return syncfsFD(fd)
	}
	w.fdatasync = func(fd int) error {
		l.add("fdatasync")
		return fdatasyncFD(fd)
	}
}

func (l *syncLog) take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.events
	l.events = nil
	return e
}

// fileJob is a claim's worth of work: its files are written by the
// "worker" (the test) before the job is handed over, and its transaction
// is logged.
func fileJob(l *syncLog, key string) *commitJob {
	return &commitJob{size: 1,
		tx: func(tx *bolt.Tx) error {
			l.add("tx " + key)
			return tx.Bucket(bMeta).Put([]byte("test-"+key), []byte("x"))
		},
		done: func(error, *afterGroup) {},
	}
}

// With fsync on (default mode syncfs) a commit group's files are made
// durable by exactly one syncfs of the data dir's file system, no
// fdatasync of any file or directory, and that syncfs comes before the
// transaction referencing the files. A group that wrote no file syncs
// nothing.
func TestSyncfsOncePerGroupBeforeCommit(t *testing.T) {
	c := newFsyncCollector(t)
	if c.store.fw.mode != syncPerFS {
		t.Fatalf("default fsync mode %d, want syncfs", c.store.fw.mode)
	}
	l := &syncLog{}
	l.hook(c.store.fw)
	k := &c.commits
	k.in = make(chan *commitJob, 10)
	k.after = make(chan []*commitJob, 10)
	day := filepath.Join(c.store.dir, EmailsDir, "2026", "12", "07")
	for i := range 3 {
		key := fmt.Sprint("g", i)
		for _, p := range []string{
			filepath.Join(day, key+".eml"),
			filepath.Join(c.store.dir, ResultsDir, "2026", "12", "07", key+".json"),
			filepath.Join(c.store.dir, ArchiveDir, "a", "b", key),
		} {
			if err := c.store.fw.write(p, []byte(key), time.Time{}); err != nil {
				t.Fatal(err)
			}
		}
		k.in <- fileJob(l, key)
	}
	close(k.in)
	k.loop()
	close(k.after)
	for g := range k.after {
		k.finish(g, nil)
	}
	got := strings.Join(l.take(), ", ")
	if want := "syncfs, tx g0, tx g1, tx g2"; got != want {
		t.Fatalf("sync and commit order: %s, want %s", got, want)
	}
	var st unix.Stat_t
	if err := unix.Stat(c.store.dir, &st); err != nil {
		t.Fatal(err)
	}
	if len(l.fdDevs) != 1 || l.fdDevs[0] != st.Dev {
		t.Errorf("syncfs on devices %v, want the data dir's %d", l.fdDevs, st.Dev)
	}

	// a group that wrote nothing: no sync at all
	errs := k.commit([]*commitJob{fileJob(l, "empty")})
	if errs[0] != nil {
		t.Fatal(errs[0])
	}
	if got := strings.Join(l.take(), ", "); got != "tx empty" {
		t.Errorf("a group without files: %s, want only its transaction", got)
	}
	// a touched file (an archive file another claim wrote) counts
	c.store.fw.touch(filepath.Join(day, "g0.eml"))
	if errs := k.commit([]*commitJob{fileJob(l, "touch")}); errs[0] != nil {
		t.Fatal(errs[0])
	}
	if got := strings.Join(l.take(), ", "); got != "syncfs, tx touch" {
		t.Errorf("a group relying on a touched file: %s, want syncfs, tx touch", got)
	}
}

// A failing syncfs fails the group's jobs (nothing committed, so their
// spool entries stay claimable) and the file system stays pending: the
// next sync tries it again.
func TestSyncfsFailureFailsGroup(t *testing.T) {
	c := newFsyncCollector(t)
	l := &syncLog{}
	l.hook(c.store.fw)
	fail := errors.New("EIO from the test")
	c.store.fw.syncfs = func(int) error { l.add("syncfs"); return fail }
	p := filepath.Join(c.store.dir, EmailsDir, "x.eml")
	if err := c.store.fw.write(p, []byte("x"), time.Time{}); err != nil {
		t.Fatal(err)
	}
	errs := c.commits.commit([]*commitJob{fileJob(l, "a")})
	if !errors.Is(errs[0], fail) || !strings.Contains(errs[0].Error(), "syncfs") {
		t.Fatalf("job error %v, want the syncfs failure", errs[0])
	}
	if got := strings.Join(l.take(), ", "); got != "syncfs" {
		t.Fatalf("%s: want one syncfs and no transaction", got)
	}
	_ = c.store.db.b.View(func(tx *bolt.Tx) error {
		if tx.Bucket(bMeta).Get([]byte("test-a")) != nil {
			t.Error("committed after a failed sync")
		}
		return nil
	})
	l.hook(c.store.fw)
	if errs := c.commits.commit([]*commitJob{fileJob(l, "b")}); errs[0] != nil {
		t.Fatal(errs[0])
	}
	if got := strings.Join(l.take(), ", "); got != "syncfs, tx b" {
		t.Errorf("after the failure: %s, want the file system synced again first", got)
	}
}

// fsync_mode = "files" keeps the per-file way: each file, then each
// directory holding one, fdatasynced; no syncfs.
func TestFsyncModeFilesSyncsEachFile(t *testing.T) {
	tmp := t.TempDir()
	f := true
	c, err := New(&Config{Spool: filepath.Join(tmp, "spool"), Data: filepath.Join(tmp, "data"), Fsync: &f, FsyncMode: FsyncModeFiles}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	l := &syncLog{}
	l.hook(c.store.fw)
	dir := filepath.Join(c.store.dir, EmailsDir) // exists: no new directory entries
	for i := range 3 {
		if err := c.store.fw.write(filepath.Join(dir, fmt.Sprint(i)), []byte("x"), time.Time{}); err != nil {
			t.Fatal(err)
		}
	}
	if errs := c.commits.commit([]*commitJob{fileJob(l, "a")}); errs[0] != nil {
		t.Fatal(errs[0])
	}
	got := strings.Join(l.take(), ", ")
	if want := "fdatasync, fdatasync, fdatasync, fdatasync, tx a"; got != want {
		t.Errorf("files mode: %s, want %s (3 files, 1 directory)", got, want)
	}
}

// fsync_mode takes syncfs or files only.
func TestFsyncModeValidate(t *testing.T) {
	for mode, ok := range map[string]bool{"": true, "syncfs": true, "files": true, "fsync": false, "SYNCFS": false} {
		c := &Config{Spool: "/s", Data: "/d", FsyncMode: mode}
		err := c.Validate()
		if (err == nil) != ok {
			t.Errorf("fsync_mode %q: error %v, want ok %v", mode, err, ok)
		}
		if err != nil && !strings.Contains(err.Error(), "fsync_mode") {
			t.Errorf("fsync_mode %q: error %v does not name the key", mode, err)
		}
	}
}

// In syncfs mode a written file's descriptor is closed at once; the
// writer keeps one directory descriptor per file system, closed by close.
func TestSyncfsWriterDescriptors(t *testing.T) {
	dir := t.TempDir()
	before := openFDs(t)
	w := newFileWriterMode(syncPerFS)
	for i := range 100 {
		if err := w.write(filepath.Join(dir, fmt.Sprint(i%7), fmt.Sprint(i)), []byte("x"), time.Time{}); err != nil {
			t.Fatal(err)
		}
	}
	if n := openFDs(t); n != before+1 {
		t.Errorf("%d descriptors open before the writes, %d after: want one more (the file system's)", before, n)
	}
	if err := w.sync(); err != nil {
		t.Fatal(err)
	}
	if len(w.devs) != 0 {
		t.Errorf("file systems still pending after a sync: %v", w.devs)
	}
	w.close()
	if n := openFDs(t); n != before {
		t.Errorf("%d descriptors open before, %d after close", before, n)
	}
}
