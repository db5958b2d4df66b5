package collector

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/smtpscope/smtpscope/collector/ace"
	bolt "go.etcd.io/bbolt"
)

// node is one ACE node of a group with its health: up, or down until a
// time (circuit open), after which a ping must succeed before submissions
// resume.
type node struct {
	url       string // as configured, credentials included: for requests only
	name      string // url without credentials: for logs, status, records
	mu        sync.Mutex
	down      bool
	failures  int       // consecutive failures (reset by a success)
	until     time.Time // down: no request (submission or probe) before
	lastCheck time.Time
	lastErr   string
}

func (n *node) status() NodeStatus {
	n.mu.Lock()
	defer n.mu.Unlock()
	st := NodeStatus{URL: n.name, Healthy: !n.down, LastCheck: n.lastCheck, LastError: n.lastErr, Failures: n.failures}
	if n.down {
		st.DownUntil = n.until
	}
	return st
}

// isUp reports whether submissions may go to n.
func (n *node) isUp() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return !n.down
}

// probeDue reports whether n is down and its backoff has passed.
func (n *node) probeDue(now time.Time) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.down && !now.Before(n.until)
}

// succeeded records a request the node answered; it reports whether n
// was down. A probe (ping) resumes n but keeps its failure count, so a
// node that pings but fails submissions backs off further.
func (n *node) succeeded(probe bool) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	was := n.down
	n.down, n.until, n.lastErr, n.lastCheck = false, time.Time{}, "", time.Now().UTC()
	if !probe || !was {
		n.failures = 0
	}
	return was
}

// failed marks n down for its backoff, or for the Retry-After it asked
// for when longer; it reports whether n was up. Failures of requests
// already in flight when n went down do not count again.
func (n *node) failed(err error, sub SubmissionConfig) bool {
	now := time.Now()
	n.mu.Lock()
	defer n.mu.Unlock()
	was := !n.down
	if was || !now.Before(n.until) {
		n.failures++
	}
	wait := backoff(n.failures, sub.NodeBackoffMin.D(), sub.NodeBackoffMax.D())
	wait = max(wait, min(ace.RetryAfter(err), sub.RetryAfterMax.D()))
	n.down, n.until = true, later(n.until, now.Add(wait))
	n.lastErr, n.lastCheck = err.Error(), now.UTC()
	return was
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// groupRunner delivers one node group's queue.
type groupRunner struct {
	c         *Collector
	cfg       GroupConfig
	sub       SubmissionConfig
	client    *ace.Client
	nodes     []*node
	rr        atomic.Uint64
	wake      chan struct{} // to run: a node came up, a submission ended
	probe     chan struct{} // to pinger: a node went down
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
	keyFile := sub.APIKeyFile
	if g.APIKeyFile != "" {
		keyFile = g.APIKeyFile
	}
	key, err := readSecret(keyFile)
	if err != nil {
		return nil, fmt.Errorf("group %q: %w", g.Name, err)
	}
	ca := sub.CAFile
	if g.CAFile != "" {
		ca = g.CAFile
	}
	cl, err := ace.NewClient(ace.ClientOptions{APIKey: key, APIKeyHeader: sub.APIKeyHeader, CAFile: ca,
		Insecure: sub.InsecureSkipVerify, Timeout: sub.Timeout.D()})
	if err != nil {
		return nil, fmt.Errorf("group %q: %w", g.Name, err)
	}
	r := &groupRunner{c: c, cfg: g, sub: sub, client: cl, wake: make(chan struct{}, 1), probe: make(chan struct{}, 1), inflight: map[string]bool{}, stuck: map[string]bool{}, done: make(chan struct{})}
	for _, u := range g.Nodes {
		// up (optimistic) until the first check says otherwise
		r.nodes = append(r.nodes, &node{url: u, name: ace.RedactURL(u)})
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

// pick chooses a node round robin over the up ones; nil when all are
// down (then no submission is made).
func (r *groupRunner) pick() *node {
	var up []*node
	for _, n := range r.nodes {
		if n.isUp() {
			up = append(up, n)
		}
	}
	if len(up) == 0 {
		return nil
	}
	return up[int(r.rr.Add(1)%uint64(len(up)))]
}

// nodeFailed marks n down after a failed request.
func (r *groupRunner) nodeFailed(n *node, err error) {
	if n.failed(err, r.sub) {
		st := n.status()
		r.c.fail(fmt.Sprintf("node %s of group %s down until %s after %d failures", n.name, r.cfg.Name,
			st.DownUntil.Format(time.RFC3339), st.Failures), errors.New(st.LastError))
	}
	signal(r.probe)
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

// nodeAnswered records a request n answered; a node coming back wakes
// the dispatcher.
func (r *groupRunner) nodeAnswered(n *node, probe bool) {
	if n.succeeded(probe) {
		r.c.log.Info("node up", "group", r.cfg.Name, "node", n.name)
		r.poke()
	}
}

// ping checks one node and records the outcome.
func (r *groupRunner) ping(ctx context.Context, n *node, probe bool) {
	cctx, cancel := context.WithTimeout(ctx, min(r.sub.Timeout.D(), 10*time.Second))
	err := r.client.Ping(cctx, n.url)
	cancel()
	switch {
	case ctx.Err() != nil:
	case err != nil:
		r.nodeFailed(n, err)
	default:
		r.nodeAnswered(n, probe)
	}
}

// pinger checks the up nodes every ping_interval and probes each down
// node once its backoff has passed (the only requests a down node gets).
func (r *groupRunner) pinger(ctx context.Context) {
	nextFull := time.Now()
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		now := time.Now()
		full := !now.Before(nextFull)
		if full {
			nextFull = now.Add(r.sub.PingInterval.D())
		}
		for _, n := range r.nodes {
			if due := n.probeDue(now); due || (full && n.isUp()) {
				r.ping(ctx, n, due)
			}
		}
		t.Reset(max(time.Until(r.nextCheck(nextFull)), time.Millisecond))
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-r.probe:
		}
	}
}

// nextCheck is when the pinger has work next: the full check at
// nextFull or a down node's probe.
func (r *groupRunner) nextCheck(nextFull time.Time) time.Time {
	next := nextFull
	for _, n := range r.nodes {
		n.mu.Lock()
		if n.down && n.until.Before(next) {
			next = n.until
		}
		n.mu.Unlock()
	}
	return next
}

// run dispatches due queue entries until ctx is done, then waits for the
// submissions in flight (each bounded by the client timeout).
func (r *groupRunner) run(ctx context.Context) {
	defer close(r.done)
	defer r.wg.Wait()
	go r.pinger(ctx)
	sem := make(chan struct{}, r.cfg.Concurrency)
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		if ctx.Err() != nil {
			return
		}
		// while every node is down nothing is dispatched: the pinger
		// probes them and pokes when one is back
		if !r.c.Paused() && r.anyUp() {
			due, err := r.due(time.Now(), 4*r.cfg.Concurrency)
			if err != nil {
				r.c.fail("queue "+r.cfg.Name, err)
			}
			for _, id := range due {
				select {
				case sem <- struct{}{}:
				case <-ctx.Done():
					return
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
		}
		select {
		case <-ctx.Done():
			return
		case <-r.wake:
		case <-tick.C:
		}
	}
}

func (r *groupRunner) anyUp() bool {
	return slices.ContainsFunc(r.nodes, (*node).isUp)
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

// attempt makes one submission of an email to this group and records the
// outcome. With every node down it does nothing: the entry is not
// charged an attempt and waits for a node to come back.
func (r *groupRunner) attempt(id string) {
	c := r.c
	n := r.pick()
	if n == nil {
		return
	}
	body, err := r.build(id)
	var uuid string
	if err == nil {
		// not canceled by shutdown: an in-flight submission finishes
		// (bounded by the client timeout) so its uuid is recorded.
		uuid, err = r.client.SubmitEncoded(context.Background(), n.url, body)
		if ace.NodeFailure(err) {
			r.nodeFailed(n, err)
		} else {
			r.nodeAnswered(n, false)
		}
	} else {
		n = nil // the node was not asked
	}
	now := time.Now().UTC()
	var st *SubmissionStatus
	txErr := c.store.db.b.Batch(func(tx *bolt.Tx) error {
		st = nil
		old, gerr := getSub(tx, id, r.cfg.Name)
		if gerr != nil {
			return gerr
		}
		if old == nil || (old.State != StateQueued && old.State != StateRetrying) {
			return staleQueueEntry(tx, r.cfg.Name, id) // removed or already settled meanwhile
		}
		nw := *old
		nw.Attempts++
		nw.Updated = now
		if n != nil {
			nw.Node = n.name
		}
		switch {
		case err == nil:
			nw.State, nw.UUID, nw.LastError, nw.Sent, nw.NextAttempt = StateSent, uuid, "", now, time.Time{}
		case ace.IsPermanent(err):
			nw.State, nw.LastError, nw.NextAttempt = StateFailed, err.Error(), time.Time{}
		case !r.cfg.FullDelivery && nw.Attempts >= r.sub.MaxAttempts:
			nw.State, nw.LastError, nw.NextAttempt = StateFailed, fmt.Sprintf("gave up after %d attempts: %v", nw.Attempts, err), time.Time{}
		default:
			nw.State, nw.LastError = StateRetrying, err.Error()
			wait := backoff(nw.Attempts, r.sub.BackoffMin.D(), r.sub.BackoffMax.D())
			nw.NextAttempt = now.Add(max(wait, min(ace.RetryAfter(err), r.sub.RetryAfterMax.D())))
		}
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
	if txErr != nil {
		// retrying would submit again and again: the entry stays queued
		// (counted as undelivered) but is not dispatched again
		r.mu.Lock()
		r.stuck[id] = true
		r.mu.Unlock()
		c.fail("recording submission of "+id+" to "+r.cfg.Name+" (not retried until restart)", txErr)
		return
	}
	if st == nil {
		return
	}
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
		if n != nil && !ace.NodeFailure(err) {
			r.noteRefusal(id, st.LastError, now) // a node down is recorded by nodeFailed
		}
	}
	c.submissionChanged(st)
}

// build encodes an email's submission from the store: the record is
// read, the session file and the email are streamed from their files
// when the body is sent (never held in memory).
func (r *groupRunner) build(id string) (*ace.Body, error) {
	s := r.c.store
	rec, err := s.Record(id)
	if err != nil {
		return nil, &ace.Error{Message: "reading record: " + err.Error(), Permanent: errors.Is(err, ErrNotFound)}
	}
	m, err := s.Email(id)
	if err != nil {
		return nil, &ace.Error{Message: "reading email: " + err.Error(), Permanent: errors.Is(err, ErrNotFound)}
	}
	if rec.Session.Time.IsZero() {
		rec.Session.Time = m.Time // raw emails (no session): the event time is their arrival
	}
	sessName := ""
	var files []ace.File
	if m.Session != "" {
		sm, err := s.Session(m.Session)
		if err != nil {
			return nil, &ace.Error{Message: "reading session: " + err.Error()}
		}
		sessName = ace.SafeName(sm.Name)
		files = append(files, ace.File{Name: sessName, Path: s.Path(sm.File)})
	}
	files = append(files, ace.File{Name: ace.EmailFileName(rec), Path: s.Path(m.EML)})
	tmpl := ace.Template{Tool: r.sub.Tool, ToolInstance: r.sub.ToolInstance, Type: r.sub.Type,
		Description: r.sub.Description, Queue: r.sub.Queue, Instructions: r.sub.Instructions}
	sub := &ace.Submission{Analysis: ace.BuildAnalysis(rec, sessName, r.cfg.CompanyID, tmpl), Files: files}
	body, err := ace.Encode(sub)
	if err != nil {
		// a stored file that is gone will not come back
		return nil, &ace.Error{Message: "encoding: " + err.Error(), Permanent: errors.Is(err, os.ErrNotExist)}
	}
	return body, nil
}

func (r *groupRunner) stuckCount() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return int64(len(r.stuck))
}

func (r *groupRunner) nodeStatus() []NodeStatus {
	out := make([]NodeStatus, 0, len(r.nodes))
	for _, n := range r.nodes {
		out = append(out, n.status())
	}
	return out
}
