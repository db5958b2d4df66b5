package collector

// Group commit: the workers parse, analyse and write a session's (or a
// raw email's) files, then hand its database writes to one committer as
// a commitJob and go on with the next spool entry. The committer takes
// what has queued up as one group (bounded by groupMaxJobs, groupMaxBytes
// and groupMaxWait) and makes it durable in two steps:
//
//  1. one durability point for every file the group's jobs wrote
//     (fileWriter.sync: one syncfs per file system written to, or with
//     fsync_mode "files" an fdatasync per file and directory; see
//     fsutil.go), so every stored file a commit references is durable,
//     with the directory entries naming it, before that commit; a failed
//     sync fails the group's jobs (nothing committed);
//  2. one bbolt transaction holding every job of the group (bbolt fsyncs
//     it), so one fsync of the queue database per group.
//
// Only then are the jobs finished (done, in commit order, on the "after"
// goroutine): a spool entry is released (session file, then .ready), a
// Maildir file moved to cur/, the index and events told. A kill -9
// before the commit leaves every entry of the group claimable again (its
// files are rewritten, idempotently); after it, an unreleased entry is
// found committed and released (a duplicate claim). Should the group's
// transaction fail, each job is retried in a transaction of its own, so
// one bad job fails alone.
//
// With fsync off both steps skip their syncs; the grouping stays.

import (
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Bounds of one commit group: latency (a job waits at most groupMaxWait
// for others to join while workers are still busy, plus the group's
// sync and commit), the size of one transaction, and the bytes one
// durability point flushes.
const (
	groupMaxJobs  = 256
	groupMaxBytes = 64 << 20
	groupMaxWait  = 10 * time.Millisecond
)

// commitJob is the database side of one claim (a stored session, a
// review entry) or raw email: tx writes it (it must be idempotent: it
// runs again alone when its group's transaction fails), done finishes it
// once the commit is durable (err nil) or failed.
type commitJob struct {
	size int64
	tx   func(tx *bolt.Tx) error
	done func(err error, ag *afterGroup)
}

// afterGroup gathers what the jobs of one group leave to do once all are
// finished: directories whose renames (Maildir moves) are synced once.
type afterGroup struct {
	dirs map[string]bool
}

func (ag *afterGroup) syncDir(dir string) { ag.dirs[dir] = true }

// committer runs the group commits of a running collector. Outside Run
// (no committer running) a job is committed alone, by its caller.
type committer struct {
	c       *Collector
	mu      sync.RWMutex // read-held while submitting; write-held to start and stop
	running bool
	in      chan *commitJob
	after   chan []*commitJob
	busy    atomic.Int64 // workers holding a job not yet submitted
	stopped chan struct{}
	groups  atomic.Int64 // groups committed (tests, logs)
	jobs    atomic.Int64 // jobs committed
}

// start runs the committer until stop.
func (k *committer) start() {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.running {
		return
	}
	k.running = true
	k.in = make(chan *commitJob, groupMaxJobs)
	k.after = make(chan []*commitJob, 4)
	k.stopped = make(chan struct{})
	afterDone := make(chan struct{})
	go func() {
		defer close(afterDone)
		for g := range k.after {
			k.finish(g, nil)
		}
	}()
	go func() {
		defer close(k.stopped)
		defer func() { <-afterDone }()
		defer close(k.after)
		k.loop()
	}()
}

// stop commits what was submitted, finishes it and returns.
func (k *committer) stop() {
	k.mu.Lock()
	if !k.running {
		k.mu.Unlock()
		return
	}
	k.running = false
	close(k.in)
	k.mu.Unlock()
	<-k.stopped
}

// submit hands a job to the committer (blocking while it is
// groupMaxJobs behind: the workers' back-pressure); without a running
// committer the job is committed and finished before submit returns.
func (k *committer) submit(j *commitJob) {
	k.mu.RLock()
	if k.running {
		k.in <- j
		k.mu.RUnlock()
		return
	}
	k.mu.RUnlock()
	errs := k.commit([]*commitJob{j})
	k.finish([]*commitJob{j}, errs)
}

// working marks a worker as preparing a job (true) or done with it: the
// committer waits for more jobs only while some worker is working.
func (k *committer) working(on bool) {
	if on {
		k.busy.Add(1)
	} else {
		k.busy.Add(-1)
	}
}

func (k *committer) loop() {
	for first := range k.in {
		group := []*commitJob{first}
		size := first.size
		deadline := time.Now().Add(groupMaxWait)
		var timer *time.Timer
	gather:
		for len(group) < groupMaxJobs && size < groupMaxBytes {
			select {
			case j, ok := <-k.in:
				if !ok {
					break gather
				}
				group, size = append(group, j), size+j.size
				continue
			default:
			}
			// nothing queued: wait for the workers still busy, up to
			// the deadline
			wait := time.Until(deadline)
			if k.busy.Load() == 0 || wait <= 0 {
				break
			}
			if timer == nil {
				timer = time.NewTimer(wait)
			} else {
				timer.Reset(wait)
			}
			select {
			case j, ok := <-k.in:
				if !ok {
					break gather
				}
				group, size = append(group, j), size+j.size
			case <-timer.C:
				break gather
			}
		}
		if timer != nil {
			timer.Stop()
		}
		errs := k.commit(group)
		for i, j := range group {
			if errs[i] != nil {
				// finished with its error on the after goroutine
				e := errs[i]
				done := j.done
				j.done = func(_ error, ag *afterGroup) { done(e, ag) }
			}
		}
		k.after <- group
	}
}

// commit makes a group durable: the durability point of its files, then
// one transaction. It returns each job's error.
func (k *committer) commit(group []*commitJob) []error {
	c := k.c
	errs := make([]error, len(group))
	t0 := time.Now()
	if err := c.store.fw.sync(); err != nil {
		for i := range errs {
			errs[i] = err
		}
		return errs
	}
	t1 := time.Now()
	defer func() {
		c.log.Debug("commit group", "jobs", len(group), "sync", t1.Sub(t0), "commit", time.Since(t1))
	}()
	err := c.store.db.b.Update(func(tx *bolt.Tx) error {
		for _, j := range group {
			if err := j.tx(tx); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil && len(group) > 1 {
		// one failing job must not fail the others
		for i, j := range group {
			errs[i] = c.store.db.b.Update(j.tx)
		}
	} else {
		for i := range errs {
			errs[i] = err
		}
	}
	k.groups.Add(1)
	k.jobs.Add(int64(len(group)))
	return errs
}

// finish runs the jobs' done in order (errs nil: their commit
// succeeded, or done carries its error), then what the group left to do.
func (k *committer) finish(group []*commitJob, errs []error) {
	c := k.c
	ag := &afterGroup{dirs: map[string]bool{}}
	for i, j := range group {
		var err error
		if errs != nil {
			err = errs[i]
		}
		j.done(err, ag)
	}
	if c.cfg().FsyncOn() {
		for d := range ag.dirs {
			if err := syncDir(d); err != nil {
				c.fail("maildir", err)
			}
		}
	}
	c.afterGroupCommitted()
}
