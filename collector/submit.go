package collector

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/smtpscope/smtpscope/collector/ace"
	bolt "go.etcd.io/bbolt"
)

// node is one ACE node of a group with its health.
type node struct {
	url       string
	healthy   atomic.Bool
	mu        sync.Mutex
	lastCheck time.Time
	lastErr   string
}

// NodeStatus is the health of one node.
type NodeStatus struct {
	URL       string    `json:"url"`
	Healthy   bool      `json:"healthy"`
	LastCheck time.Time `json:"last_check,omitzero"`
	LastError string    `json:"last_error,omitempty"`
}

func (n *node) status() NodeStatus {
	n.mu.Lock()
	defer n.mu.Unlock()
	return NodeStatus{URL: n.url, Healthy: n.healthy.Load(), LastCheck: n.lastCheck, LastError: n.lastErr}
}

func (n *node) setHealth(ok bool, err error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.healthy.Store(ok)
	n.lastCheck = time.Now().UTC()
	n.lastErr = ""
	if err != nil {
		n.lastErr = err.Error()
	}
}

// groupRunner delivers one node group's queue.
type groupRunner struct {
	c        *Collector
	cfg      GroupConfig
	sub      SubmissionConfig
	client   *ace.Client
	nodes    []*node
	rr       atomic.Uint64
	wake     chan struct{}
	mu       sync.Mutex
	inflight map[string]bool
	stuck    map[string]bool // entries whose state could not be recorded: never dispatched again by this runner
	wg       sync.WaitGroup
	started  bool          // run was called (guarded by Collector.mu)
	done     chan struct{} // closed when run has returned
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
	r := &groupRunner{c: c, cfg: g, sub: sub, client: cl, wake: make(chan struct{}, 1), inflight: map[string]bool{}, stuck: map[string]bool{}, done: make(chan struct{})}
	for _, u := range g.Nodes {
		n := &node{url: u}
		n.healthy.Store(true) // optimistic until the first check says otherwise
		r.nodes = append(r.nodes, n)
	}
	return r, nil
}

func (r *groupRunner) poke() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// pick chooses a node: round robin over the healthy ones, or over all of
// them when none is known healthy.
func (r *groupRunner) pick() *node {
	var healthy []*node
	for _, n := range r.nodes {
		if n.healthy.Load() {
			healthy = append(healthy, n)
		}
	}
	if len(healthy) == 0 {
		healthy = r.nodes
	}
	if len(healthy) == 0 {
		return nil
	}
	return healthy[int(r.rr.Add(1)%uint64(len(healthy)))]
}

// pinger checks every node's health periodically (unhealthy ones more
// often).
func (r *groupRunner) pinger(ctx context.Context) {
	check := func(all bool) {
		for _, n := range r.nodes {
			if !all && n.healthy.Load() {
				continue
			}
			cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			err := r.client.Ping(cctx, n.url)
			cancel()
			if ctx.Err() != nil {
				return
			}
			was := n.healthy.Load()
			n.setHealth(err == nil, err)
			if was != (err == nil) {
				r.c.log.Info("node health changed", "group", r.cfg.Name, "node", n.url, "healthy", err == nil, "err", errString(err))
				if err == nil {
					r.poke()
				}
			}
		}
	}
	check(true)
	full := time.NewTicker(r.sub.PingInterval.D())
	defer full.Stop()
	quick := time.NewTicker(min(r.sub.PingInterval.D(), 2*time.Second))
	defer quick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-full.C:
			check(true)
		case <-quick.C:
			check(false)
		}
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
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
		if !r.c.Paused() {
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
// outcome.
func (r *groupRunner) attempt(id string) {
	c := r.c
	body, ctype, err := r.build(id)
	var uuid string
	var n *node
	if err == nil {
		n = r.pick()
		if n == nil {
			err = &ace.Error{Message: "group has no nodes"}
		} else {
			// not canceled by shutdown: an in-flight submission finishes
			// (bounded by the client timeout) so its uuid is recorded.
			uuid, err = r.client.SubmitEncoded(context.Background(), n.url, body, ctype)
			var ae *ace.Error
			if errors.As(err, &ae) && ae.Status == 0 {
				n.setHealth(false, err)
			}
		}
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
			nw.Node = n.url
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
			nw.NextAttempt = now.Add(backoff(nw.Attempts, r.sub.BackoffMin.D(), r.sub.BackoffMax.D()))
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
	}
	c.submissionChanged(st)
}

// build makes the multipart body of an email's submission from the store.
func (r *groupRunner) build(id string) ([]byte, string, error) {
	s := r.c.store
	rec, err := s.Record(id)
	if err != nil {
		return nil, "", &ace.Error{Message: "reading record: " + err.Error(), Permanent: errors.Is(err, ErrNotFound)}
	}
	if rec.Session.Time.IsZero() {
		// raw emails (no session): the event time is their arrival
		if m, err := s.Email(id); err == nil {
			rec.Session.Time = m.Time
		}
	}
	raw, err := s.Raw(id)
	if err != nil {
		return nil, "", &ace.Error{Message: "reading email: " + err.Error(), Permanent: errors.Is(err, os.ErrNotExist)}
	}
	sessName := ""
	var files []ace.File
	if sm, data, err := s.SessionFile(id); err == nil {
		sessName = ace.SafeName(sm.Name)
		files = append(files, ace.File{Name: sessName, Data: data})
	} else if !errors.Is(err, ErrNotFound) {
		return nil, "", &ace.Error{Message: "reading session file: " + err.Error()}
	}
	files = append(files, ace.File{Name: ace.EmailFileName(rec), Data: raw})
	tmpl := ace.Template{Tool: r.sub.Tool, ToolInstance: r.sub.ToolInstance, Type: r.sub.Type,
		Description: r.sub.Description, Queue: r.sub.Queue, Instructions: r.sub.Instructions}
	sub := &ace.Submission{Analysis: ace.BuildAnalysis(rec, sessName, r.cfg.CompanyID, tmpl), Files: files}
	body, ctype, err := ace.Encode(sub)
	if err != nil {
		return nil, "", &ace.Error{Message: "encoding: " + err.Error(), Permanent: true}
	}
	return body, ctype, nil
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
