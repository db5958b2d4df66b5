package collector

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
)

// groupRunner delivers one group's queue through its kind's deliverer
// (delivery.go): the dispatch, the per-entry backoff and the states are
// the same for every kind.
type groupRunner struct {
	c         *Collector
	cfg       GroupConfig
	sub       SubmissionConfig
	del       deliverer
	wake      chan struct{} // to run: an endpoint came up, a submission ended
	mu        sync.Mutex
	inflight  map[string]bool
	stuck     map[string]bool // entries whose state could not be recorded: never dispatched again by this runner
	refusal   string          // the last refusal recorded (noteRefusal)
	refusalAt time.Time       // and when
	wg        sync.WaitGroup
	started   bool          // run was called (guarded by Collector.mu)
	done      chan struct{} // closed when run has returned
}

func newGroupRunner(c *Collector, g GroupConfig, sub SubmissionConfig) (*groupRunner, error) {
	r := &groupRunner{c: c, cfg: g, sub: sub, wake: make(chan struct{}, 1), inflight: map[string]bool{}, stuck: map[string]bool{}, done: make(chan struct{})}
	var err error
	r.del, err = newDeliverer(c, g, sub, r.poke)
	if err != nil {
		return nil, err
	}
	return r, nil
}

func (r *groupRunner) poke() { signal(r.wake) }

func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// refusalEvery bounds how often a group records a node's refusal of
// submissions in the error list (`status`' last errors): the first
// refusal, then one per minute while the same error repeats.
const refusalEvery = time.Minute

// noteRefusal records that a node refused a submission that will be
// retried (HTTP 401, say): every email of the group may be failing the
// same way, so it is recorded when the error changes or once per
// refusalEvery, not once per email.
func (r *groupRunner) noteRefusal(id, msg string, now time.Time) {
	r.mu.Lock()
	same := msg == r.refusal && now.Sub(r.refusalAt) < refusalEvery
	if !same {
		r.refusal, r.refusalAt = msg, now
	}
	r.mu.Unlock()
	if !same {
		r.c.fail("submit "+id+" to "+r.cfg.Name+" (retried; the same error is recorded once a minute)", errors.New(msg))
	}
}

// run dispatches due queue entries until ctx is done, then waits for the
// submissions in flight (each bounded by the client timeout).
func (r *groupRunner) run(ctx context.Context) {
	defer close(r.done)
	defer r.del.close()
	defer r.wg.Wait()
	go r.del.monitor(ctx)
	sem := make(chan struct{}, r.cfg.Concurrency)
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		if ctx.Err() != nil {
			return
		}
		// while no endpoint is ready nothing is dispatched: the monitor
		// probes them and pokes when one is back
		if !r.c.Paused() && r.del.ready() && !r.dispatch(ctx, sem) {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-r.wake:
		case <-tick.C:
		}
	}
}

// dispatch starts an attempt for each due entry, at most Concurrency at
// once; false when ctx ended while waiting for a slot.
func (r *groupRunner) dispatch(ctx context.Context, sem chan struct{}) bool {
	due, err := r.due(time.Now(), 4*r.cfg.Concurrency)
	if err != nil {
		r.c.fail("queue "+r.cfg.Name, err)
	}
	for _, id := range due {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			return false
		}
		r.mu.Lock()
		r.inflight[id] = true
		r.mu.Unlock()
		r.wg.Add(1)
		go func(id string) {
			defer func() {
				r.mu.Lock()
				delete(r.inflight, id)
				r.mu.Unlock()
				<-sem
				r.wg.Done()
				r.poke()
			}()
			r.attempt(id)
		}(id)
	}
	return true
}

// due lists queue entries whose next attempt has come, not in flight.
func (r *groupRunner) due(now time.Time, limit int) ([]string, error) {
	var out []string
	r.mu.Lock()
	defer r.mu.Unlock()
	err := r.c.store.db.b.View(func(tx *bolt.Tx) error {
		prefix := []byte(r.cfg.Name + "\x00")
		c := tx.Bucket(bQueue).Cursor()
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			id := string(k[len(prefix):])
			if r.inflight[id] || r.stuck[id] || u64(v) > now.UnixNano() {
				continue
			}
			out = append(out, id)
			if len(out) >= limit {
				break
			}
		}
		return nil
	})
	return out, err
}

// backoff is the delay before attempt n+1: capped exponential with jitter
// (between half and all of the capped value).
func backoff(attempts int, lo, hi time.Duration) time.Duration {
	d := lo
	for i := 1; i < attempts && d < hi; i++ {
		d *= 2
	}
	d = min(d, hi)
	half := d / 2
	if half <= 0 {
		return d
	}
	return half + rand.N(half+1)
}

// attempt makes one delivery of an email to this group and records the
// outcome. With no endpoint ready it does nothing: the entry is not
// charged an attempt and waits for one to come back.
func (r *groupRunner) attempt(id string) {
	t0 := time.Now()
	d, err := r.del.deliver(id)
	if d.skipped {
		return
	}
	r.c.metrics.submit.WithLabelValues(r.cfg.Name, groupKind(r.cfg)).Observe(time.Since(t0).Seconds())
	now := time.Now().UTC()
	st, txErr := r.record(id, d, err, now)
	if txErr != nil {
		// retrying would submit again and again: the entry stays queued
		// (counted as undelivered) but is not dispatched again
		r.mu.Lock()
		r.stuck[id] = true
		r.mu.Unlock()
		r.c.fail("recording submission of "+id+" to "+r.cfg.Name+" (not retried until restart)", txErr)
		return
	}
	if st != nil {
		r.report(id, st, d, err, now)
	}
}

// record commits the outcome of an attempt; st is nil when the entry was
// removed or settled meanwhile.
func (r *groupRunner) record(id string, d delivery, err error, now time.Time) (st *SubmissionStatus, txErr error) {
	txErr = r.c.store.db.b.Batch(func(tx *bolt.Tx) error {
		st = nil
		old, gerr := getSub(tx, id, r.cfg.Name)
		if gerr != nil {
			return gerr
		}
		if old == nil || (old.State != StateQueued && old.State != StateRetrying) {
			return staleQueueEntry(tx, r.cfg.Name, id) // removed or already settled meanwhile
		}
		nw := r.next(*old, d, err, now)
		if err := setSub(tx, old, &nw); err != nil {
			return err
		}
		if nw.State == StateFailed {
			if err := pushError(tx, ErrorEntry{Time: now, Where: "submit " + id + " to " + r.cfg.Name, Msg: nw.LastError}); err != nil {
				return err
			}
		}
		st = &nw
		return nil
	})
	return st, txErr
}

// next is the state after an attempt with outcome d, err.
func (r *groupRunner) next(nw SubmissionStatus, d delivery, err error, now time.Time) SubmissionStatus {
	nw.Attempts++
	nw.Updated = now
	if d.endpoint != "" {
		nw.Node = d.endpoint
	}
	switch {
	case err == nil:
		nw.State, nw.UUID, nw.LastError, nw.Sent, nw.NextAttempt = StateSent, d.receipt, "", now, time.Time{}
	case r.del.permanent(err):
		nw.State, nw.LastError, nw.NextAttempt = StateFailed, err.Error(), time.Time{}
	case !r.cfg.FullDelivery && nw.Attempts >= r.sub.MaxAttempts:
		nw.State, nw.LastError, nw.NextAttempt = StateFailed, fmt.Sprintf("gave up after %d attempts: %v", nw.Attempts, err), time.Time{}
	default:
		nw.State, nw.LastError = StateRetrying, err.Error()
		wait := backoff(nw.Attempts, r.sub.BackoffMin.D(), r.sub.BackoffMax.D())
		nw.NextAttempt = now.Add(max(wait, min(r.del.retryAfter(err), r.sub.RetryAfterMax.D())))
	}
	return nw
}

// report counts, logs and publishes a recorded outcome.
func (r *groupRunner) report(id string, st *SubmissionStatus, d delivery, err error, now time.Time) {
	c := r.c
	switch st.State {
	case StateSent:
		c.stats.sent.Add(1)
		c.metrics.submissions.WithLabelValues(r.cfg.Name, "sent").Inc()
		c.log.Info("submitted", "email", id, "group", r.cfg.Name, "node", st.Node, "uuid", st.UUID, "attempts", st.Attempts)
	case StateFailed:
		c.stats.failed.Add(1)
		c.metrics.submissions.WithLabelValues(r.cfg.Name, "failed").Inc()
		c.log.Error("submission failed", "email", id, "group", r.cfg.Name, "attempts", st.Attempts, "err", st.LastError)
	default:
		c.metrics.submissions.WithLabelValues(r.cfg.Name, "retry").Inc()
		c.log.Warn("submission will be retried", "email", id, "group", r.cfg.Name, "attempts", st.Attempts,
			"next", st.NextAttempt.Format(time.RFC3339), "err", st.LastError)
		if d.endpoint != "" && r.del.refused(err) {
			r.noteRefusal(id, st.LastError, now)
		}
	}
	c.submissionChanged(st)
}

func (r *groupRunner) stuckCount() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return int64(len(r.stuck))
}

func (r *groupRunner) nodeStatus() []NodeStatus { return r.del.status() }

// newDeliverer makes the deliverer of a group's kind.
func newDeliverer(c *Collector, g GroupConfig, sub SubmissionConfig, wake func()) (deliverer, error) {
	switch g.Kind {
	case KindNATS:
		return newNATSDelivery(c, g, sub, wake)
	case KindTheHive:
		return newTheHiveDelivery(c, g, sub, wake)
	case KindWebhook:
		return newWebhookDelivery(c, g, sub, wake)
	}
	return newACEDelivery(c, g, sub, wake)
}
