package collector

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/smtpscope/smtpscope/core"
	bolt "go.etcd.io/bbolt"
)

// Indexer is the one path from the store to the search index (the
// collector does not import package index; collector/service implements
// it). Every commit reaches it: a new email, a session that carried no
// email, a review/ entry, a submission state change, a removal. Its
// methods are called after the change is committed to the store and must
// not wait for the index (collector/service queues the change and indexes
// it in a batch); an error is logged and recorded, never fatal. The same
// transactions mark the changed documents in the store (unindexed.go), so
// what a crash or an index-less run left out is found at the next start.
// If the Indexer has a Flush() error method, the collector calls it after
// its last commit and before it closes the store (Run, RunOnce, Close):
// RunOnce returns with every commit indexed.
type Indexer interface {
	// IndexEmail adds or replaces one email.
	IndexEmail(rec *core.Email, meta *EmailMeta, subs []SubmissionStatus) error
	// IndexSession adds a stored session that carried no email.
	IndexSession(s *SessionMeta) error
	// IndexReview adds a review/ entry.
	IndexReview(r *ReviewEntry) error
	// UpdateSubmissions records new submission states of an email.
	UpdateSubmissions(id string, subs []SubmissionStatus) error
	// DeleteEmail removes an email retention removed from the store.
	DeleteEmail(id string) error
	// DeleteSession removes a session without email retention removed.
	DeleteSession(s *SessionMeta) error
}

// indexFlusher is an Indexer that indexes after a delay.
type indexFlusher interface{ Flush() error }

// Options are the Go-side settings of a Collector.
type Options struct {
	Logger  *slog.Logger // default: discard
	Indexer Indexer      // optional
	// NoSpool disables spool watching (e.g. a UI process that only
	// serves the store and delivers the queue).
	NoSpool bool
}

// Collector watches a spool, stores sessions and emails, queues them per
// node group and submits them to ACE.
type Collector struct {
	cfgp      atomic.Pointer[Config]
	anp       atomic.Pointer[analysis]
	yara      yaraSet    // YARA rules, reloadable (analysis.yara_rules)
	raw       *rawRunner // Maildir and .eml input (nil when none)
	store     *Store
	log       *slog.Logger
	indexer   Indexer
	events    *eventLog // nil without [output] events
	opts      Options
	metrics   *metrics
	hub       hub
	paused    atomic.Bool
	scanned   atomic.Bool // the spool was listed at least once
	watching  atomic.Bool // the spool watcher runs (/readyz)
	started   time.Time
	mu        sync.Mutex // guards groups and the run state
	groups    map[string]*groupRunner
	cancels   map[string]context.CancelFunc
	runCtx    context.Context
	work      chan string
	pending   map[string]bool // spool names queued for or in processing
	failures  map[string]int  // consecutive claim failures per spool name (guarded by pendMu)
	pendMu    sync.Mutex
	workerWG  sync.WaitGroup
	closeOnce sync.Once
	stats     runStats
	inflight  inflight  // names of sessions being stored (ingest.go)
	commits   committer // group commit of the workers' jobs (commit.go)
	// maxSession, when set, replaces the session file size limit (tests)
	maxSession int64
	// capture is the live capture's last counters (SetCapture).
	capture atomic.Pointer[CaptureStatus]
}

// SetCapture records the counters of the live capture the collector's
// process runs (collect --interface): shown by Status and served as
// metrics (smtpscope_capture_kernel_packets, smtpscope_capture_loss).
func (c *Collector) SetCapture(cs CaptureStatus) {
	c.capture.Store(&cs)
	for _, i := range cs.Interfaces {
		c.metrics.captureKernel.WithLabelValues(i.Name, "received").Set(float64(i.Packets))
		c.metrics.captureKernel.WithLabelValues(i.Name, "dropped").Set(float64(i.Drops))
	}
	for kind, v := range map[string]int64{
		"gap_bytes": cs.GapBytes, "half_open_evicted": cs.HalfOpenEvicted, "flows_evicted": cs.FlowsEvicted,
		"flow_bytes_cuts": cs.FlowBytesCuts, "total_bytes_cuts": cs.TotalBytesCuts, "fragments_discarded": cs.FragDiscarded,
		"sessions": int64(cs.Sessions), "merge_forced": int64(cs.MergeForced), "merge_late": int64(cs.MergeLate),
	} {
		c.metrics.captureLoss.WithLabelValues(kind).Set(float64(v))
	}
}

type runStats struct {
	sessions atomic.Int64
	emails   atomic.Int64
	reviewed atomic.Int64
	sent     atomic.Int64 // submissions accepted since start
	failed   atomic.Int64 // submissions that failed permanently since start
}

// RunSummary counts what this collector did since it was made: sessions
// and new emails stored, spool entries moved to review/, submissions
// sent and failed for good.
type RunSummary struct {
	Sessions, Emails, Reviewed, Sent, Failed int64
}

// Summary returns what the collector did so far.
func (c *Collector) Summary() RunSummary {
	return RunSummary{
		Sessions: c.stats.sessions.Load(), Emails: c.stats.emails.Load(), Reviewed: c.stats.reviewed.Load(),
		Sent: c.stats.sent.Load(), Failed: c.stats.failed.Load(),
	}
}

// New opens the data dir and prepares a collector; Run starts it.
func New(cfg *Config, o Options) (*Collector, error) {
	cfg.ApplyDefaults()
	if o.NoSpool && cfg.Spool == "" {
		cfg.Spool = "-"
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if !o.NoSpool && cfg.Spool != "" {
		if err := os.MkdirAll(cfg.Spool, 0o750); err != nil {
			return nil, fmt.Errorf("spool: %w", err)
		}
	}
	var inputs []*rawInput
	if !o.NoSpool {
		var err error
		if inputs, err = rawInputs(cfg); err != nil {
			return nil, err
		}
	}
	st, err := OpenStore(cfg.Data, StoreOptions{NoFsync: !cfg.FsyncOn(), FsyncFiles: cfg.FsyncMode == FsyncModeFiles})
	if err != nil {
		return nil, err
	}
	c := &Collector{store: st, log: o.Logger, indexer: o.Indexer, opts: o, metrics: newMetrics(),
		groups: map[string]*groupRunner{}, cancels: map[string]context.CancelFunc{},
		pending: map[string]bool{}, failures: map[string]int{}, work: make(chan string, 1024)}
	c.commits.c = c
	c.cfgp.Store(cfg)
	c.metrics.reg.MustRegister(newOpsCollector(c))
	if len(inputs) > 0 {
		c.raw = &rawRunner{c: c, inputs: inputs, work: make(chan rawJob, 1024), pending: map[string]bool{}, failures: map[string]int{}}
	}
	if err := c.yara.load(cfg.Analysis.YaraRules); err != nil {
		_ = st.Close()
		return nil, err
	}
	if r := c.yara.rules(); r != nil {
		c.log.Info("yara rules compiled", "rules", r.Count(), "files", len(r.Files()))
		for _, w := range r.Warnings() {
			c.log.Warn("yara rule warning", "warning", w)
		}
	}
	c.anp.Store(newAnalysis(cfg.Analysis, &c.yara, c.archiveAttachment))
	for _, g := range cfg.Groups {
		if !g.IsEnabled() {
			continue
		}
		r, err := newGroupRunner(c, g, cfg.Submission)
		if err != nil {
			c.yara.close()
			_ = st.Close()
			return nil, err
		}
		c.groups[g.Name] = r
	}
	if cfg.Output.Events != "" && !st.readOnly {
		c.events = newEventLog(st, cfg, c.log)
	}
	return c, nil
}

func (c *Collector) cfg() *Config                { return c.cfgp.Load() }
func (c *Collector) analysis() *analysis         { return c.anp.Load() }
func (c *Collector) groupConfigs() []GroupConfig { return c.cfg().Groups }

// spoolOn reports whether a spool of session files is watched.
func (c *Collector) spoolOn() bool {
	sp := c.cfg().Spool
	return !c.opts.NoSpool && sp != "" && sp != "-"
}

// Store gives read access to the data dir (records, raw emails, session
// files, attachments, submission states, review entries).
func (c *Collector) Store() *Store { return c.store }

// Config returns the configuration in use.
func (c *Collector) Config() Config { return *c.cfg() }

// Subscribe returns a channel of events and a function to stop receiving
// them. Slow subscribers lose events rather than block the collector.
func (c *Collector) Subscribe(buf int) (<-chan Event, func()) { return c.hub.subscribe(buf) }

// SetPaused pauses or resumes spool processing and submission.
func (c *Collector) SetPaused(p bool) { c.paused.Store(p) }

// Paused reports whether the collector is paused.
func (c *Collector) Paused() bool { return c.paused.Load() }

// MetricsHandler serves the Prometheus metrics.
func (c *Collector) MetricsHandler() http.Handler {
	return promhttp.HandlerFor(c.metrics.reg, promhttp.HandlerOpts{})
}

// fail logs and records an error.
func (c *Collector) fail(where string, err error) {
	if err == nil {
		return
	}
	c.log.Error(where, "err", err)
	c.metrics.errors.WithLabelValues(strings.Fields(where + " x")[0]).Inc()
	c.store.recordError(where, err)
	c.hub.publish(Event{Type: EventError, Err: where + ": " + err.Error()})
}

// Run watches the spool and delivers the queue until ctx is canceled; it
// then finishes the sessions and submissions in flight and closes the
// store. SIGHUP handling belongs to the caller (call Reload).
func (c *Collector) Run(ctx context.Context) error {
	defer c.close()
	return c.run(ctx)
}

// RunOnce processes what is in the spool now, then delivers until every
// submission is sent or failed, or timeout passes. It returns an error
// naming what is left: input not processed when timeout passed, or
// submissions still queued or failed permanently during this run.
func (c *Collector) RunOnce(ctx context.Context, timeout time.Duration) error {
	defer c.close()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- c.run(ctx)
	}()
	for {
		select {
		case runErr := <-done:
			if runErr != nil {
				return runErr
			}
			if ctx.Err() == context.DeadlineExceeded && (c.spoolHasReady() || (c.raw != nil && c.raw.busy())) {
				return fmt.Errorf("input left after %s: the spool entries (or raw files) not processed yet stay for the next run (raise --once-timeout)", timeout)
			}
			n, err := c.undelivered()
			if err != nil {
				return err
			}
			if left := c.claimFailures(); left > 0 {
				return fmt.Errorf("%d spool entries could not be claimed and are left in the spool (see `smtpscope status`); %d submissions undelivered", left, n)
			}
			failed := c.stats.failed.Load()
			switch {
			case n > 0 && failed > 0:
				return fmt.Errorf("%d submissions still undelivered after %s and %d failed permanently (see `smtpscope status`)", n, timeout, failed)
			case n > 0:
				return fmt.Errorf("%d submissions still undelivered after %s (see `smtpscope status`)", n, timeout)
			case failed > 0:
				return fmt.Errorf("%d submissions failed permanently (see `smtpscope status`)", failed)
			}
			return nil
		case <-time.After(100 * time.Millisecond):
		}
		if c.idle() {
			cancel()
		}
	}
}

// idle reports whether the spool is drained and nothing is queued.
func (c *Collector) idle() bool {
	c.pendMu.Lock()
	busy := len(c.pending) > 0
	c.pendMu.Unlock()
	if busy || c.spoolHasReady() || (c.raw != nil && c.raw.busy()) {
		return false
	}
	n, err := c.undelivered()
	return err == nil && n == c.stuck() && (!c.spoolOn() || c.scanned.Load())
}

// undelivered counts the queue entries of the enabled groups (entries of
// groups no longer configured are left alone).
func (c *Collector) undelivered() (int64, error) {
	var n int64
	c.mu.Lock()
	defer c.mu.Unlock()
	for name := range c.groups {
		q, err := c.store.queuedIn(name)
		if err != nil {
			return 0, err
		}
		n += q
	}
	return n, nil
}

// stuck counts the queue entries the runners gave up dispatching.
func (c *Collector) stuck() int64 {
	var n int64
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, r := range c.groups {
		n += r.stuckCount()
	}
	return n
}

func (c *Collector) spoolHasReady() bool {
	if !c.spoolOn() {
		return false
	}
	ents, err := os.ReadDir(c.cfg().Spool)
	if err != nil {
		return false
	}
	c.pendMu.Lock()
	defer c.pendMu.Unlock()
	for _, e := range ents {
		// entries whose claim failed stay in the spool, reported
		if n, ok := strings.CutSuffix(e.Name(), readySuffix); ok && c.failures[n] == 0 {
			return true
		}
	}
	return false
}

// Busy reports whether work is on its way to a commit: spool entries or
// raw files queued or being stored, or hub messages being stored. An
// index hook may hold its batch open while the collector is busy, so that
// a backlog is indexed in large batches (collector/service).
func (c *Collector) Busy() bool {
	if c.commits.busy.Load() > 0 {
		return true
	}
	c.pendMu.Lock()
	n := len(c.pending)
	c.pendMu.Unlock()
	if n > 0 {
		return true
	}
	if c.raw == nil {
		return false
	}
	c.raw.mu.Lock()
	defer c.raw.mu.Unlock()
	return len(c.raw.pending) > 0
}

// claimFailures counts the spool entries whose last claim failed.
func (c *Collector) claimFailures() int {
	c.pendMu.Lock()
	defer c.pendMu.Unlock()
	return len(c.failures)
}

// Close releases a collector that was never run (Run and RunOnce close
// it when they return). It is safe to call more than once.
func (c *Collector) Close() error {
	var err error
	c.closeOnce.Do(func() {
		if f, ok := c.indexer.(indexFlusher); ok {
			if ferr := f.Flush(); ferr != nil {
				c.log.Error("indexing the last commits", "err", ferr)
			}
		}
		if c.events != nil {
			if ferr := c.events.close(); ferr != nil {
				c.log.Error("event log: writing the last events", "err", ferr)
			}
		}
		c.writeStatusSnapshot(false)
		c.hub.closeAll()
		c.yara.close()
		err = c.store.Close()
	})
	return err
}

func (c *Collector) close() {
	if err := c.Close(); err != nil {
		c.log.Error("closing store", "err", err)
	}
}

func (c *Collector) run(ctx context.Context) error {
	c.started = time.Now()
	c.refreshGauges()
	var wg sync.WaitGroup

	// metrics endpoint
	if addr := c.cfg().MetricsListen; addr != "" {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return fmt.Errorf("metrics listen %s: %w", addr, err)
		}
		mux := http.NewServeMux()
		mux.Handle("/metrics", c.MetricsHandler())
		mux.HandleFunc("/healthz", healthHandler)
		mux.HandleFunc("/readyz", c.readyHandler)
		srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		go func() { _ = srv.Serve(ln) }()
		defer srv.Close()
		c.log.Info("metrics listening", "addr", ln.Addr().String())
	}

	// submission: one runner per enabled group, with its own context so a
	// reload can stop and replace it
	subCtx, subCancel := context.WithCancel(context.Background())
	c.mu.Lock()
	c.runCtx = subCtx
	for name, r := range c.groups {
		c.startGroup(subCtx, name, r)
	}
	c.mu.Unlock()

	// spool workers, and the committer their commits go to
	c.commits.start()
	procCtx, procCancel := context.WithCancel(context.Background())
	for i := 0; i < c.cfg().Workers; i++ {
		c.workerWG.Add(1)
		go c.worker(procCtx)
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		c.housekeeping(ctx)
	}()
	rawDone := make(chan struct{})
	if c.raw != nil {
		go func() {
			defer close(rawDone)
			c.raw.run(procCtx, c.cfg().Workers)
		}()
	} else {
		close(rawDone)
	}
	var werr error
	if c.spoolOn() {
		werr = c.watch(ctx)
	} else {
		<-ctx.Done()
	}
	// drain: finish claimed sessions and raw files, then in-flight submissions
	c.log.Info("stopping: finishing work in flight")
	procCancel()
	c.workerWG.Wait()
	<-rawDone
	c.commits.stop() // commits and finishes what the workers handed over
	subCancel()
	c.mu.Lock()
	runners := make([]*groupRunner, 0, len(c.groups))
	for _, r := range c.groups {
		if r.started {
			runners = append(runners, r)
		}
	}
	c.mu.Unlock()
	for _, r := range runners {
		<-r.done
	}
	wg.Wait()
	c.log.Info("stopped")
	return werr
}

// startGroup runs r under ctx; c.mu is held.
func (c *Collector) startGroup(ctx context.Context, name string, r *groupRunner) {
	r.started = true
	gctx, cancel := context.WithCancel(ctx)
	c.cancels[name] = cancel
	go r.run(gctx)
}

// watch feeds spool names to the workers: fsnotify events plus a full
// listing every rescan interval (and at start-up).
func (c *Collector) watch(ctx context.Context) error {
	spool := c.cfg().Spool
	w, err := fsnotify.NewWatcher()
	if err != nil {
		c.log.Warn("fsnotify unavailable; relying on rescans", "err", err)
	} else {
		defer w.Close()
		if err := w.Add(spool); err != nil {
			c.log.Warn("cannot watch spool; relying on rescans", "spool", spool, "err", err)
		}
		if err := w.Add(filepath.Join(c.store.dir, RequestsDir)); err != nil {
			c.log.Warn("cannot watch requests dir", "err", err)
		}
	}
	c.log.Info("watching spool", "spool", spool, "data", c.store.dir)
	c.watching.Store(true)
	defer c.watching.Store(false)
	c.rescan(ctx)
	tick := time.NewTicker(c.cfg().RescanInterval.D())
	defer tick.Stop()
	var events chan fsnotify.Event
	var errs chan error
	if w != nil {
		events, errs = w.Events, w.Errors
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			c.rescan(ctx)
			c.processRequests()
		case ev, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			if filepath.Dir(ev.Name) == filepath.Join(c.store.dir, RequestsDir) {
				c.processRequests()
				continue
			}
			if ev.Op&(fsnotify.Create|fsnotify.Write|fsnotify.Rename|fsnotify.Chmod) != 0 && strings.HasSuffix(ev.Name, readySuffix) {
				c.enqueue(ctx, strings.TrimSuffix(filepath.Base(ev.Name), readySuffix))
			}
		case err, ok := <-errs:
			if !ok {
				errs = nil
				continue
			}
			// e.g. queue overflow: a rescan finds what was missed
			c.log.Warn("fsnotify", "err", err)
			c.rescan(ctx)
		}
	}
}

// rescan lists the spool for .ready files.
func (c *Collector) rescan(ctx context.Context) {
	ents, err := os.ReadDir(c.cfg().Spool)
	if err != nil {
		c.fail("listing spool", err)
		return
	}
	for _, e := range ents {
		n := e.Name()
		if strings.HasSuffix(n, readySuffix) && len(n) > len(readySuffix) {
			if !c.enqueue(ctx, strings.TrimSuffix(n, readySuffix)) {
				return
			}
		}
	}
	c.scanned.Store(true)
}

// enqueue hands a spool name to the workers unless it is already pending.
// It reports false when ctx ended.
func (c *Collector) enqueue(ctx context.Context, name string) bool {
	if c.Paused() {
		return true
	}
	c.pendMu.Lock()
	if c.pending[name] {
		c.pendMu.Unlock()
		return true
	}
	c.pending[name] = true
	c.pendMu.Unlock()
	select {
	case c.work <- name:
		return true
	case <-ctx.Done():
		c.pendMu.Lock()
		delete(c.pending, name)
		c.pendMu.Unlock()
		return false
	}
}

func (c *Collector) worker(ctx context.Context) {
	defer c.workerWG.Done()
	for {
		select {
		case <-ctx.Done():
			return
		case name := <-c.work:
			c.processOne(name)
		}
	}
}

// processOne claims one spool entry. A claim that stored something is
// handed to the committer; the entry stays pending (not claimed again)
// until its commit is finished.
func (c *Collector) processOne(name string) {
	c.commits.working(true)
	defer c.commits.working(false)
	spool := c.cfg().Spool
	ing, job, err := c.claim(spool, name)
	if job == nil {
		c.claimDone(name, ing, err == nil, err)
		return
	}
	job.done = func(err error, _ *afterGroup) {
		if ing.session != nil {
			c.inflight.release(ing.session.SHA256)
		}
		committed := err == nil
		if committed {
			// released only once the commit holding its emails is durable
			err = c.release(spool, name)
		}
		c.claimDone(name, ing, committed, err)
	}
	c.commits.submit(job)
}

// claimDone ends the claim of a spool entry: failure accounting, the side
// effects of what it committed, and the entry is no longer pending.
func (c *Collector) claimDone(name string, ing *ingested, committed bool, err error) {
	defer func() {
		c.pendMu.Lock()
		delete(c.pending, name)
		c.pendMu.Unlock()
	}()
	c.pendMu.Lock()
	n := c.failures[name]
	if err != nil {
		c.failures[name] = n + 1
	} else {
		delete(c.failures, name)
	}
	c.pendMu.Unlock()
	if err != nil {
		// the entry stays in the spool and is retried on every rescan;
		// report the 1st, 10th, 100th... failure, not every pass
		if n == 0 || isPow10(n+1) {
			c.fail(fmt.Sprintf("claiming %s (attempt %d; kept in the spool, retried)", name, n+1), err)
		}
	}
	if !committed || ing == nil || ing.duplicate {
		return
	}
	if ing.review != nil {
		c.stats.reviewed.Add(1)
		c.metrics.reviewed.Inc()
		if c.indexer != nil {
			if err := c.indexer.IndexReview(ing.review); err != nil {
				c.fail("indexing review entry "+ing.review.Name, err)
			}
		}
		c.hub.publish(Event{Type: EventReview, Review: ing.review})
		return
	}
	c.afterCommit(ing)
}

func isPow10(n int) bool {
	for n >= 10 && n%10 == 0 {
		n /= 10
	}
	return n == 1
}

// afterCommit runs the side effects of a commit: metrics, index, events
// (afterGroupCommitted then wakes the group runners).
func (c *Collector) afterCommit(ing *ingested) {
	if ing.session != nil {
		c.stats.sessions.Add(1)
		c.metrics.sessions.Inc()
		c.log.Info("session stored", "session", ing.session.Key, "emails", len(ing.emails), "source", ing.session.SourceIP)
	}
	for i, em := range ing.emails {
		if ing.known[em.ID] {
			continue
		}
		c.stats.emails.Add(1)
		c.metrics.emails.Inc()
		rec := ing.records[i]
		if c.indexer != nil {
			subs, _ := c.store.Submissions(em.ID)
			t0 := time.Now()
			if err := c.indexer.IndexEmail(rec, em, subs); err != nil {
				c.fail("indexing "+em.ID, err)
			}
			c.metrics.index.Observe(time.Since(t0).Seconds())
		}
		if c.events != nil {
			c.events.add(em.ID, rec)
		}
		c.hub.publish(Event{Type: EventEmail, EmailID: em.ID, Email: em, Record: rec})
	}
	if ing.session != nil {
		if c.indexer != nil && len(ing.session.Emails) == 0 {
			if err := c.indexer.IndexSession(ing.session); err != nil {
				c.fail("indexing session "+ing.session.Key, err)
			}
		}
		c.hub.publish(Event{Type: EventSession, Session: ing.session})
	}
}

// afterGroupCommitted runs once per commit group, after its jobs' side
// effects: the group runners are woken and the gauges refreshed.
func (c *Collector) afterGroupCommitted() {
	c.mu.Lock()
	for _, r := range c.groups {
		r.poke()
	}
	c.mu.Unlock()
	c.refreshGauges()
}

func (c *Collector) submissionChanged(st *SubmissionStatus) {
	if IsQueuedRecord(st.EmailID) {
		return // a session or review entry published to NATS: no email document, no email event
	}
	if c.indexer != nil {
		subs, err := c.store.Submissions(st.EmailID)
		if err == nil {
			err = c.indexer.UpdateSubmissions(st.EmailID, subs)
		}
		if err != nil {
			c.fail("indexing submission state of "+st.EmailID, err)
		}
	}
	c.hub.publish(Event{Type: EventSubmission, EmailID: st.EmailID, Submission: st})
}

// refreshGauges sets the per-group state gauges from the database.
func (c *Collector) refreshGauges() {
	counts, err := c.store.Counts()
	if err != nil {
		return
	}
	for g, m := range counts {
		for _, s := range States {
			c.metrics.queue.WithLabelValues(g, s).Set(float64(m[s]))
		}
	}
	if st, err := c.store.Stats(); err == nil {
		c.metrics.storeBytes.Set(float64(st.Bytes))
	}
	if n, err := c.store.QueueDepth(); err == nil {
		c.metrics.queueDepth.Set(float64(n))
	}
}

// housekeeping: status snapshots, gauges, retention.
func (c *Collector) housekeeping(ctx context.Context) {
	snap := time.NewTicker(2 * time.Second)
	defer snap.Stop()
	ret := time.NewTimer(10 * time.Second)
	defer ret.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-snap.C:
			c.refreshGauges()
			c.writeStatusSnapshot(true)
			if !c.spoolOn() {
				c.processRequests() // the spool watcher does it otherwise
			}
		case <-ret.C:
			if _, err := c.ApplyRetention(time.Now()); err != nil {
				c.fail("retention", err)
			}
			ret.Reset(c.cfg().Retention.Interval.D())
		}
	}
}

// StoreStatus builds a Status from a store alone (no running collector).
func StoreStatus(s *Store, cfg *Config) (*Status, error) {
	st := &Status{Time: time.Now().UTC(), Data: s.dir}
	var err error
	if st.Stats, err = s.Stats(); err != nil {
		return nil, err
	}
	if st.QueueDepth, err = s.QueueDepth(); err != nil {
		return nil, err
	}
	if st.EventsUnlogged, err = s.UnloggedCount(); err != nil {
		return nil, err
	}
	counts, err := s.Counts()
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	if cfg != nil {
		st.Spool = cfg.Spool
		st.Maildirs, st.EMLDirs = cfg.Maildir, cfg.EMLDir
		st.EventLog = cfg.Output.Events
		for _, h := range cfg.Hunts {
			st.Hunts = append(st.Hunts, HuntStatus{Name: h.Name, Query: h.Query, DeliverTo: h.DeliverTo})
		}
		for _, g := range cfg.Groups {
			seen[g.Name] = true
			gs := GroupStatus{Name: g.Name, Configured: true, Enabled: g.IsEnabled(), Coverage: g.Coverage,
				FullDelivery: g.FullDelivery, Counts: fillStates(counts[g.Name])}
			st.Groups = append(st.Groups, gs)
		}
	}
	var extra []string
	for g := range counts {
		if !seen[g] {
			extra = append(extra, g)
		}
	}
	sort.Strings(extra)
	for _, g := range extra {
		st.Groups = append(st.Groups, GroupStatus{Name: g, Counts: fillStates(counts[g])})
	}
	if st.Review, err = s.Review(); err != nil {
		return nil, err
	}
	if st.LastErrors, err = s.LastErrors(); err != nil {
		return nil, err
	}
	return st, nil
}

func fillStates(m map[string]int64) map[string]int64 {
	out := map[string]int64{}
	for _, s := range States {
		out[s] = m[s]
	}
	return out
}

// Status returns the live status, with node health.
func (c *Collector) Status() (*Status, error) {
	st, err := StoreStatus(c.store, c.cfg())
	if err != nil {
		return nil, err
	}
	st.Running, st.PID, st.Paused, st.Started = true, os.Getpid(), c.Paused(), c.started
	st.RunSessions, st.RunEmails = c.stats.sessions.Load(), c.stats.emails.Load()
	if cs := c.capture.Load(); cs != nil {
		cp := *cs
		st.Capture = &cp
	}
	c.mu.Lock()
	for i := range st.Groups {
		if r := c.groups[st.Groups[i].Name]; r != nil {
			st.Groups[i].Nodes = r.nodeStatus()
			if d, ok := r.del.(*natsDelivery); ok {
				st.Groups[i].Reconcile = d.reconcileStatus()
			}
		}
	}
	c.mu.Unlock()
	return st, nil
}

func (c *Collector) writeStatusSnapshot(running bool) {
	st, err := c.Status()
	if err != nil {
		return
	}
	st.Running = running
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return
	}
	_ = newFileWriter(false).write(filepath.Join(c.store.dir, StatusFile), b, time.Time{})
}

// Resubmit queues emails again for group (every configured, enabled group
// when group is ""), whatever their current state. It returns how many
// (email, group) entries were queued.
func (c *Collector) Resubmit(ids []string, group string) (int, error) {
	var groups []string
	for _, g := range c.cfg().Groups {
		if (group == "" || g.Name == group) && g.IsEnabled() {
			groups = append(groups, g.Name)
		}
	}
	if len(groups) == 0 {
		if group != "" {
			return 0, fmt.Errorf("no enabled node group named %q", group)
		}
		return 0, errors.New("no enabled node group configured")
	}
	var changed []*SubmissionStatus
	n, err := resubmit(c.store, ids, groups, &changed)
	for _, st := range changed {
		c.submissionChanged(st)
	}
	c.mu.Lock()
	for _, r := range c.groups {
		r.poke()
	}
	c.mu.Unlock()
	c.refreshGauges()
	return n, err
}

// Resubmit queues emails again in a store no collector is running on
// (used by `smtpscope submit`); groups must be named.
func (s *Store) Resubmit(ids []string, groups []string) (int, error) {
	return resubmit(s, ids, groups, nil)
}

func resubmit(s *Store, ids []string, groups []string, changed *[]*SubmissionStatus) (int, error) {
	now := time.Now().UTC()
	n := 0
	var missing []string
	err := s.db.b.Update(func(tx *bolt.Tx) error {
		for _, id := range ids {
			if tx.Bucket(bEmails).Get([]byte(id)) == nil {
				missing = append(missing, id)
				continue
			}
			for _, g := range groups {
				old, err := getSub(tx, id, g)
				if err != nil {
					return err
				}
				nw := SubmissionStatus{EmailID: id, Group: g, State: StateQueued, Queued: now, Updated: now, NextAttempt: now, Manual: true}
				if old != nil {
					nw.Attempts = old.Attempts
					nw.UUID = old.UUID
				}
				if err := setSub(tx, old, &nw); err != nil {
					return err
				}
				n++
				if changed != nil {
					cp := nw
					*changed = append(*changed, &cp)
				}
			}
		}
		return nil
	})
	if err != nil {
		return n, err
	}
	if len(missing) > 0 {
		return n, fmt.Errorf("unknown email ids: %s", strings.Join(missing, ", "))
	}
	return n, nil
}

// ResubmitRequest is a resubmission `smtpscope submit` leaves in
// DATA/requests/ for a running collector.
type ResubmitRequest struct {
	IDs   []string `json:"ids"`
	Group string   `json:"group,omitempty"`
}

// WriteResubmitRequest leaves a request for the collector running on dataDir.
func WriteResubmitRequest(dataDir string, req ResubmitRequest) (string, error) {
	b, err := json.Marshal(req)
	if err != nil {
		return "", err
	}
	p := filepath.Join(dataDir, RequestsDir, fmt.Sprintf("%d-%s%s", time.Now().UnixNano(), tmpSuffix(), requestSuffix))
	w := newFileWriterMode(syncPerFile) // one small file: no need to write out the file system
	defer w.close()
	if err := w.write(p, b, time.Time{}); err != nil {
		return p, err
	}
	return p, w.sync()
}

func (c *Collector) processRequests() {
	dir := filepath.Join(c.store.dir, RequestsDir)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range ents {
		if !strings.HasSuffix(e.Name(), requestSuffix) || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		p := filepath.Join(dir, e.Name())
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		var req ResubmitRequest
		if err := json.Unmarshal(b, &req); err != nil {
			c.fail("resubmission request "+e.Name(), err)
		} else if n, err := c.Resubmit(req.IDs, req.Group); err != nil {
			c.fail("resubmission request "+e.Name(), err)
		} else {
			c.log.Info("resubmission request applied", "request", e.Name(), "queued", n)
		}
		_ = os.Remove(p)
	}
}

// Reload applies a new configuration: analysis options, submission
// settings and node groups (runners are restarted; the queue stays).
// Spool and data dirs cannot change while running.
func (c *Collector) Reload(cfg *Config) error {
	cfg.ApplyDefaults()
	old := c.cfg()
	if cfg.Spool == "" {
		cfg.Spool = old.Spool
	}
	if cfg.Data == "" {
		cfg.Data = old.Data
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	if len(cfg.Maildir) == 0 && len(cfg.EMLDir) == 0 {
		cfg.Maildir, cfg.EMLDir, cfg.EMLRecursive = old.Maildir, old.EMLDir, old.EMLRecursive
	}
	if filepath.Clean(cfg.Data) != filepath.Clean(old.Data) || filepath.Clean(cfg.Spool) != filepath.Clean(old.Spool) ||
		!slices.Equal(cfg.Maildir, old.Maildir) || !slices.Equal(cfg.EMLDir, old.EMLDir) || cfg.EMLRecursive != old.EMLRecursive {
		return errors.New("reload: spool, maildir, eml_dir and data dirs cannot change while running (restart instead)")
	}
	runners := map[string]*groupRunner{}
	for _, g := range cfg.Groups {
		if !g.IsEnabled() {
			continue
		}
		r, err := newGroupRunner(c, g, cfg.Submission)
		if err != nil {
			return err
		}
		runners[g.Name] = r
	}
	// YARA: the new rules are compiled first; on error the running ones
	// (and the whole running configuration) stay. Swapping closes the old
	// set once its running scans are done.
	if err := c.yara.load(cfg.Analysis.YaraRules); err != nil {
		return fmt.Errorf("%w (keeping the running rules and configuration)", err)
	}
	if r := c.yara.rules(); r != nil {
		c.log.Info("yara rules reloaded", "rules", r.Count(), "files", len(r.Files()))
	}
	c.cfgp.Store(cfg)
	c.anp.Store(newAnalysis(cfg.Analysis, &c.yara, c.archiveAttachment))
	c.mu.Lock()
	var oldRunners []*groupRunner
	for _, r := range c.groups {
		if r.started {
			oldRunners = append(oldRunners, r)
		}
	}
	for name, cancel := range c.cancels {
		cancel()
		delete(c.cancels, name)
	}
	c.groups = runners
	c.mu.Unlock()
	// wait for the old runners' in-flight submissions before starting new
	// ones, so no email is sent twice concurrently
	go func() {
		for _, r := range oldRunners {
			<-r.done
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.runCtx == nil || c.runCtx.Err() != nil {
			return
		}
		for name, r := range c.groups {
			if _, running := c.cancels[name]; !running {
				c.startGroup(c.runCtx, name, r)
			}
		}
	}()
	c.log.Info("configuration reloaded", "groups", len(runners))
	return nil
}
