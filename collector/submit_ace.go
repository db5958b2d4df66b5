package collector

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/smtpscope/smtpscope/collector/ace"
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

// aceDelivery delivers a node group's emails to ACE nodes over ACE's
// HTTP API: round robin over the nodes that are up, a circuit breaker
// per node (down for its backoff or Retry-After, then probed with a ping).
type aceDelivery struct {
	c      *Collector
	cfg    GroupConfig
	sub    SubmissionConfig
	client *ace.Client
	nodes  []*node
	rr     atomic.Uint64
	probe  chan struct{} // to pinger: a node went down
	wake   func()        // the runner's: a node came up
}

func newACEDelivery(c *Collector, g GroupConfig, sub SubmissionConfig, wake func()) (*aceDelivery, error) {
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
	a := &aceDelivery{c: c, cfg: g, sub: sub, client: cl, probe: make(chan struct{}, 1), wake: wake}
	for _, u := range g.Nodes {
		// up (optimistic) until the first check says otherwise
		a.nodes = append(a.nodes, &node{url: u, name: ace.RedactURL(u)})
	}
	return a, nil
}

// pick chooses a node round robin over the up ones; nil when all are
// down (then no submission is made).
func (a *aceDelivery) pick() *node {
	var up []*node
	for _, n := range a.nodes {
		if n.isUp() {
			up = append(up, n)
		}
	}
	if len(up) == 0 {
		return nil
	}
	return up[int(a.rr.Add(1)%uint64(len(up)))]
}

// nodeFailed marks n down after a failed request.
func (a *aceDelivery) nodeFailed(n *node, err error) {
	if n.failed(err, a.sub) {
		st := n.status()
		a.c.fail(fmt.Sprintf("node %s of group %s down until %s after %d failures", n.name, a.cfg.Name,
			st.DownUntil.Format(time.RFC3339), st.Failures), errors.New(st.LastError))
	}
	signal(a.probe)
}

// nodeAnswered records a request n answered; a node coming back wakes
// the dispatcher.
func (a *aceDelivery) nodeAnswered(n *node, probe bool) {
	if n.succeeded(probe) {
		a.c.log.Info("node up", "group", a.cfg.Name, "node", n.name)
		a.wake()
	}
}

// ping checks one node and records the outcome.
func (a *aceDelivery) ping(ctx context.Context, n *node, probe bool) {
	cctx, cancel := context.WithTimeout(ctx, min(a.sub.Timeout.D(), 10*time.Second))
	err := a.client.Ping(cctx, n.url)
	cancel()
	switch {
	case ctx.Err() != nil:
	case err != nil:
		a.nodeFailed(n, err)
	default:
		a.nodeAnswered(n, probe)
	}
}

// monitor checks the up nodes every ping_interval and probes each down
// node once its backoff has passed (the only requests a down node gets).
func (a *aceDelivery) monitor(ctx context.Context) {
	nextFull := time.Now()
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		now := time.Now()
		full := !now.Before(nextFull)
		if full {
			nextFull = now.Add(a.sub.PingInterval.D())
		}
		for _, n := range a.nodes {
			if due := n.probeDue(now); due || (full && n.isUp()) {
				a.ping(ctx, n, due)
			}
		}
		t.Reset(max(time.Until(a.nextCheck(nextFull)), time.Millisecond))
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-a.probe:
		}
	}
}

// nextCheck is when the pinger has work next: the full check at
// nextFull or a down node's probe.
func (a *aceDelivery) nextCheck(nextFull time.Time) time.Time {
	next := nextFull
	for _, n := range a.nodes {
		n.mu.Lock()
		if n.down && n.until.Before(next) {
			next = n.until
		}
		n.mu.Unlock()
	}
	return next
}

func (a *aceDelivery) ready() bool {
	return slices.ContainsFunc(a.nodes, (*node).isUp)
}

// deliver submits an email to one up node.
func (a *aceDelivery) deliver(id string) (delivery, error) {
	n := a.pick()
	if n == nil {
		return delivery{skipped: true}, nil
	}
	body, err := a.build(id)
	if err != nil {
		return delivery{}, err // the node was not asked
	}
	// not canceled by shutdown: an in-flight submission finishes
	// (bounded by the client timeout) so its uuid is recorded.
	uuid, err := a.client.SubmitEncoded(context.Background(), n.url, body)
	if ace.NodeFailure(err) {
		a.nodeFailed(n, err)
	} else {
		a.nodeAnswered(n, false)
	}
	return delivery{receipt: uuid, endpoint: n.name}, err
}

func (a *aceDelivery) permanent(err error) bool           { return ace.IsPermanent(err) }
func (a *aceDelivery) retryAfter(err error) time.Duration { return ace.RetryAfter(err) }

// refused: a node answered but refused (a node down is recorded by
// nodeFailed).
func (a *aceDelivery) refused(err error) bool { return !ace.NodeFailure(err) }

func (a *aceDelivery) close() {}

func (a *aceDelivery) status() []NodeStatus {
	out := make([]NodeStatus, 0, len(a.nodes))
	for _, n := range a.nodes {
		out = append(out, n.status())
	}
	return out
}

// build encodes an email's submission from the store: the record is
// read, the session file and the email are streamed from their files
// when the body is sent (never held in memory).
func (a *aceDelivery) build(id string) (*ace.Body, error) {
	s := a.c.store
	rec, m, err := s.deliverable(id)
	if err != nil {
		return nil, err
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
	tmpl := ace.Template{Tool: a.sub.Tool, ToolInstance: a.sub.ToolInstance, Type: a.sub.Type,
		Description: a.sub.Description, Queue: a.sub.Queue, Instructions: a.sub.Instructions}
	sub := &ace.Submission{Analysis: ace.BuildAnalysis(rec, sessName, a.cfg.CompanyID, tmpl), Files: files}
	body, err := ace.Encode(sub)
	if err != nil {
		// a stored file that is gone will not come back
		return nil, &ace.Error{Message: "encoding: " + err.Error(), Permanent: errors.Is(err, os.ErrNotExist)}
	}
	return body, nil
}
