package collector

import (
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"testing"
	"time"

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
	w := newFileWriter(true)
	p := filepath.Join(dir, "a", "f")
	if err := w.write(p, []byte("x"), time.Time{}); err != nil {
		t.Fatal(err)
	}
	if len(w.files) != 1 || w.files[0] != p || !w.dirs[filepath.Dir(p)] {
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
	if len(w.files) != 1 {
		t.Fatal("touch did not add the file")
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
