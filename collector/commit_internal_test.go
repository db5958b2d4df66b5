package collector

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/smtpscope/smtpscope/collector/internal/atomicfile"
	bolt "go.etcd.io/bbolt"
)

func newFsyncCollector(t *testing.T) *Collector {
	t.Helper()
	tmp := t.TempDir()
	f := true
	c, err := New(&Config{Spool: filepath.Join(tmp, "spool"), Data: filepath.Join(tmp, "data"), Fsync: &f}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// testJob writes key=val in its transaction and records the
// transaction's id and its outcome.
type testJob struct {
	key  string
	fail bool
	txID int
	err  error
	done bool
}

func (j *testJob) job() *commitJob {
	return &commitJob{size: 1,
		tx: func(tx *bolt.Tx) error {
			if j.fail {
				return errors.New("bad job " + j.key)
			}
			j.txID = tx.ID()
			return tx.Bucket(bMeta).Put([]byte("test-"+j.key), []byte("x"))
		},
		done: func(err error, _ *afterGroup) { j.err, j.done = err, true },
	}
}

// The committer takes every job queued as one group, in one transaction,
// up to groupMaxJobs.
func TestCommitterGroups(t *testing.T) {
	c := newFsyncCollector(t)
	k := &c.commits
	k.in = make(chan *commitJob, groupMaxJobs+10)
	k.after = make(chan []*commitJob, 10)
	var jobs []*testJob
	for i := 0; i < groupMaxJobs+5; i++ {
		j := &testJob{key: fmt.Sprint(i)}
		jobs = append(jobs, j)
		k.in <- j.job()
	}
	close(k.in)
	k.loop()
	close(k.after)
	var sizes []int
	for g := range k.after {
		sizes = append(sizes, len(g))
		k.finish(g, nil)
	}
	if len(sizes) != 2 || sizes[0] != groupMaxJobs || sizes[1] != 5 {
		t.Fatalf("groups of %v, want [%d 5]", sizes, groupMaxJobs)
	}
	for i, j := range jobs {
		want := jobs[0].txID
		if i >= groupMaxJobs {
			want = jobs[groupMaxJobs].txID
		}
		if !j.done || j.err != nil || j.txID != want {
			t.Errorf("job %d: done %v err %v tx %d, want tx %d", i, j.done, j.err, j.txID, want)
		}
	}
	if jobs[0].txID == jobs[groupMaxJobs].txID {
		t.Error("two groups in one transaction")
	}
}

// A failing job fails alone: the others of its group are committed each
// in a transaction of its own.
func TestCommitterFailingJob(t *testing.T) {
	c := newFsyncCollector(t)
	jobs := []*testJob{{key: "a"}, {key: "b", fail: true}, {key: "c"}}
	var group []*commitJob
	for _, j := range jobs {
		group = append(group, j.job())
	}
	errs := c.commits.commit(group)
	c.commits.finish(group, errs)
	if jobs[0].err != nil || jobs[2].err != nil || jobs[1].err == nil {
		t.Fatalf("errors %v %v %v: want only b's", jobs[0].err, jobs[1].err, jobs[2].err)
	}
	_ = c.store.db.b.View(func(tx *bolt.Tx) error {
		for _, k := range []string{"a", "c"} {
			if tx.Bucket(bMeta).Get([]byte("test-"+k)) == nil {
				t.Errorf("job %s not committed", k)
			}
		}
		if tx.Bucket(bMeta).Get([]byte("test-b")) != nil {
			t.Error("the failing job was committed")
		}
		return nil
	})
}

// Outside Run a job is committed and finished before submit returns; a
// running committer finishes everything submitted before stop returns.
func TestCommitterSubmitStop(t *testing.T) {
	c := newFsyncCollector(t)
	j := &testJob{key: "inline"}
	c.commits.submit(j.job())
	if !j.done || j.err != nil {
		t.Fatalf("inline submit: done %v err %v", j.done, j.err)
	}
	c.commits.start()
	var jobs []*testJob
	for i := 0; i < 50; i++ {
		j := &testJob{key: fmt.Sprint("run", i)}
		jobs = append(jobs, j)
		c.commits.submit(j.job())
	}
	c.commits.stop()
	for i, j := range jobs {
		if !j.done || j.err != nil {
			t.Errorf("job %d after stop: done %v err %v", i, j.done, j.err)
		}
	}
}

// The file writer's sync covers every file written before it, and an
// archive file found present (another claim's) is touched, so the next
// sync covers it too.
func TestFileWriterSyncSet(t *testing.T) {
	dir := t.TempDir()
	w := newFileWriterMode(syncPerFile)
	p := filepath.Join(dir, "a", "f")
	if err := w.write(p, []byte("x"), time.Time{}); err != nil {
		t.Fatal(err)
	}
	if len(w.files) != 1 || w.files[0].path != p || w.files[0].fd < 0 || !w.dirs[filepath.Dir(p)] {
		t.Fatalf("after write: files %v dirs %v", w.files, w.dirs)
	}
	// "a" was made by the write: its entry in dir is synced too.
	if !w.dirs[dir] {
		t.Fatalf("after write into a new directory: dirs %v lack its parent %s", w.dirs, dir)
	}
	if err := w.sync(); err != nil {
		t.Fatal(err)
	}
	if len(w.files) != 0 || len(w.dirs) != 0 {
		t.Fatalf("after sync: files %v dirs %v", w.files, w.dirs)
	}
	if err := w.write(filepath.Join(dir, "a", "f2"), []byte("y"), time.Time{}); err != nil {
		t.Fatal(err)
	}
	if w.dirs[dir] {
		t.Errorf("a write into an existing directory syncs its parent: dirs %v", w.dirs)
	}
	if err := w.sync(); err != nil {
		t.Fatal(err)
	}
	nested := filepath.Join(dir, "b", "c", "d", "f")
	if err := w.write(nested, []byte("z"), time.Time{}); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{dir, filepath.Join(dir, "b"), filepath.Join(dir, "b", "c"), filepath.Join(dir, "b", "c", "d")} {
		if !w.dirs[d] {
			t.Errorf("after a write making b/c/d: %s not in the sync set %v", d, w.dirs)
		}
	}
	if err := w.sync(); err != nil {
		t.Fatal(err)
	}
	w.touch(p)
	if len(w.files) != 1 || w.files[0].fd != -1 {
		t.Fatalf("touch did not add the file by its path: %v", w.files)
	}
	if err := w.sync(); err != nil {
		t.Fatal(err)
	}
	off := newFileWriter(false)
	if err := off.write(filepath.Join(dir, "g"), []byte("x"), time.Time{}); err != nil {
		t.Fatal(err)
	}
	if len(off.files) != 0 {
		t.Error("fsync off tracks files")
	}
}

// A directory the writer made and remembers, removed since (retention
// removes empty day directories), is made again by the next write.
func TestFileWriterDirRemoved(t *testing.T) {
	dir := t.TempDir()
	w := newFileWriterMode(syncPerFile)
	day := filepath.Join(dir, "2026", "12", "07")
	if err := w.write(filepath.Join(day, "a"), []byte("x"), time.Time{}); err != nil {
		t.Fatal(err)
	}
	if err := w.sync(); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(dir, "2026")); err != nil {
		t.Fatal(err)
	}
	if err := w.write(filepath.Join(day, "b"), []byte("y"), time.Time{}); err != nil {
		t.Fatalf("write after its directory was removed: %v", err)
	}
	if b, err := os.ReadFile(filepath.Join(day, "b")); err != nil || string(b) != "y" {
		t.Fatalf("read back %q %v", b, err)
	}
	if !w.dirs[dir] {
		t.Errorf("the re-made directories' parent is not synced: %v", w.dirs)
	}
	if err := w.sync(); err != nil {
		t.Fatal(err)
	}
}

// Descriptors held for the next sync are bounded; past the bound files
// are synced by path; a sync closes every descriptor it was given.
func TestFileWriterOpenBound(t *testing.T) {
	dir := t.TempDir()
	before := openFDs(t)
	w := newFileWriterMode(syncPerFile)
	n := maxOpenPending + 10
	for i := range n {
		if err := w.write(filepath.Join(dir, fmt.Sprintf("f%d", i)), []byte("x"), time.Time{}); err != nil {
			t.Fatal(err)
		}
	}
	open := 0
	for _, f := range w.files {
		if f.fd >= 0 {
			open++
		}
	}
	if len(w.files) != n || open != maxOpenPending || w.open != open {
		t.Fatalf("%d files pending, %d open (count %d), want %d and %d", len(w.files), open, w.open, n, maxOpenPending)
	}
	if err := w.sync(); err != nil {
		t.Fatal(err)
	}
	if after := openFDs(t); after > before {
		t.Errorf("%d descriptors open before the writes, %d after the sync", before, after)
	}
}

// openFDs counts the process's open descriptors.
func openFDs(t *testing.T) int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd:", err)
	}
	return len(ents)
}

// A session file is linked into the store, not copied, when it can be;
// when the spool name no longer names the file parsed, the replacement is
// never linked: the descriptor's own inode is (still named elsewhere, so
// it can be), or, by name, nothing.
func TestFileWriterLink(t *testing.T) {
	for _, way := range writeWays {
		t.Run(way, func(t *testing.T) { testFileWriterLink(t, way) })
	}
}

func testFileWriterLink(t *testing.T, way string) {
	named := way == "named"
	dir := t.TempDir()
	w := newFileWriterMode(syncPerFile)
	setWay(w, way)
	src := filepath.Join(dir, "spool-f")
	if err := os.WriteFile(src, []byte("session bytes"), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st0, _ := f.Stat()
	mt := st0.ModTime()
	dst := filepath.Join(dir, "store", "s")
	if ok, err := w.link(f, src, 13, mt.Add(time.Second), dst); ok || err != nil {
		t.Fatalf("linked a file modified since it was parsed: %v %v", ok, err)
	}
	ok, err := w.link(f, src, 13, mt, dst)
	if err != nil || !ok {
		t.Fatalf("link: %v %v", ok, err)
	}
	a, _ := os.Stat(src)
	b, _ := os.Stat(dst)
	if !os.SameFile(a, b) || b.Mode().Perm() != 0o640 {
		t.Fatalf("stored file is not the spool file's inode with mode 0640: %v %v", a, b)
	}
	if w.files[len(w.files)-1].path != dst {
		t.Errorf("linked file not in the sync set: %v", w.files)
	}
	// the parsed size no longer matches: not linked
	if ok, err := w.link(f, src, 12, mt, filepath.Join(dir, "store", "t")); ok || err != nil {
		t.Errorf("linked a file of another size: %v %v", ok, err)
	}
	// the spool name now names another file: not linked
	if err := os.Rename(src, src+".old"); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(src, []byte("other bytes!!"), 0o644); err != nil {
		t.Fatal(err)
	}
	u := filepath.Join(dir, "store", "u")
	ok, err = w.link(f, src, 13, mt, u)
	if !named && anonLinkOK() {
		old, _ := os.Stat(src + ".old")
		got, _ := os.Stat(u)
		if b, _ := os.ReadFile(u); !ok || err != nil || !os.SameFile(old, got) || string(b) != "session bytes" {
			t.Errorf("descriptor link after the spool name was replaced: %v %v, stored %q", ok, err, b)
		}
	} else {
		if ok || err != nil {
			t.Errorf("linked a replaced file: %v %v", ok, err)
		}
		if _, err := os.Lstat(u); !os.IsNotExist(err) {
			t.Errorf("a refused link left a file: %v", err)
		}
	}
	ents, _ := os.ReadDir(filepath.Join(dir, "store"))
	for _, e := range ents {
		if atomicfile.IsTemp(e.Name()) {
			t.Errorf("temporary link left: %s", e.Name())
		}
	}
	if err := w.sync(); err != nil {
		t.Fatal(err)
	}
}

// The default worker count follows the processors Go may use, at least 2.
func TestDefaultWorkers(t *testing.T) {
	var cfg Config
	cfg.ApplyDefaults()
	if want := max(2, runtime.GOMAXPROCS(0)); cfg.Workers != want {
		t.Errorf("default workers %d, want %d", cfg.Workers, want)
	}
	cfg = Config{Workers: 3}
	cfg.ApplyDefaults()
	if cfg.Workers != 3 {
		t.Errorf("workers = 3 became %d", cfg.Workers)
	}
}
