package collector

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	bolt "go.etcd.io/bbolt"
)

// BuildVersion is the version smtpscope_build_info reports; the binary
// sets it (its -ldflags version); "" reports the module's version from
// the build info, else "dev".
var BuildVersion string

func buildVersion() string {
	if BuildVersion != "" {
		return BuildVersion
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

// latencyBuckets are the histogram buckets of the latencies, in seconds:
// 1 ms to 2 min.
var latencyBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120}

// groupKind is the delivery kind of a group ("ace" when unset).
func groupKind(g GroupConfig) string {
	if g.Kind == "" {
		return "ace"
	}
	return g.Kind
}

// metrics are the collector's Prometheus metrics (namespace smtpscope).
type metrics struct {
	reg         *prometheus.Registry
	sessions    prometheus.Counter
	emails      prometheus.Counter
	reviewed    prometheus.Counter
	duplicates  prometheus.Counter
	errors      *prometheus.CounterVec
	submissions *prometheus.CounterVec // by group and result
	queue       *prometheus.GaugeVec   // by group and state
	removed     prometheus.Counter
	storeBytes  prometheus.Gauge
	queueDepth  prometheus.Gauge
	parse       prometheus.Histogram
	analyse     prometheus.Histogram
	submit      *prometheus.HistogramVec // by group and kind
	index       prometheus.Histogram

	reconcileRounds *prometheus.CounterVec // by group
	republished     *prometheus.CounterVec // by group
	// live capture (collect --interface): totals since it started
	captureKernel *prometheus.GaugeVec // by interface and counter (packets, drops)
	captureLoss   *prometheus.GaugeVec // by kind: gap_bytes, limit hits, fragments
}

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		sessions: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "smtpscope", Name: "sessions_total",
			Help: "Session files stored."}),
		emails: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "smtpscope", Name: "emails_total",
			Help: "Emails stored."}),
		reviewed: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "smtpscope", Name: "review_total",
			Help: "Session files moved to review/ (unparsable)."}),
		duplicates: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "smtpscope", Name: "duplicate_claims_total",
			Help: "Spool entries found already stored (after a crash, or delivered twice)."}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "smtpscope", Name: "errors_total",
			Help: "Errors by stage."}, []string{"stage"}),
		submissions: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "smtpscope", Name: "submissions_total",
			Help: "ACE submission attempts by group and result (sent, retry, failed)."}, []string{"group", "result"}),
		queue: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "smtpscope", Name: "submissions",
			Help: "Emails per group and submission state (queued, retrying, sent, failed)."}, []string{"group", "state"}),
		removed: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "smtpscope", Name: "retention_removed_total",
			Help: "Emails removed by retention."}),
		storeBytes: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "smtpscope", Name: "store_bytes",
			Help: "Bytes in the store (sessions, emails, results, archive)."}),
		queueDepth: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "smtpscope", Name: "queue_depth",
			Help: "Submissions not yet delivered (queued or retrying), all groups."}),
		parse: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "smtpscope", Name: "parse_seconds",
			Help: "Reading and parsing one spool session file.", Buckets: latencyBuckets}),
		analyse: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "smtpscope", Name: "analyse_seconds",
			Help: "Analysing the emails of one session (or one .eml/Maildir/mbox message).", Buckets: latencyBuckets}),
		submit: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: "smtpscope", Name: "submit_seconds",
			Help: "One delivery attempt, by group and group kind (ace, nats).", Buckets: latencyBuckets}, []string{"group", "kind"}),
		index: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "smtpscope", Name: "index_seconds",
			Help: "Handing one committed email to the index.", Buckets: latencyBuckets}),
		reconcileRounds: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "smtpscope", Name: "reconcile_rounds_total",
			Help: "Reconciliation rounds with the hub by NATS group."}, []string{"group"}),
		republished: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "smtpscope", Name: "reconcile_republished_total",
			Help: "Emails re-published by reconciliation (hours the hub was short of) by NATS group."}, []string{"group"}),
	}
	m.captureKernel = prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "smtpscope", Name: "capture_kernel_packets",
		Help: "Live capture: packets per interface since the capture started, as the kernel counts them (what=received: passed the filter; what=dropped: lost, the ring was full)."}, []string{"interface", "what"})
	m.captureLoss = prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "smtpscope", Name: "capture_loss",
		Help: "Live capture losses since it started, by kind: gap_bytes (bytes missing from reassembled streams), half_open_evicted, flows_evicted, flow_bytes_cuts, total_bytes_cuts (limits hit: sessions written partial), fragments_discarded, sessions (session files written), merge_forced and merge_late (several interfaces: packets the time merge passed on early, the window full, or got late)."}, []string{"kind"})
	m.reg.MustRegister(m.captureKernel, m.captureLoss)
	build := prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "smtpscope", Name: "build_info",
		Help: "Always 1: the version of smtpscope and of Go it was built with."}, []string{"version", "goversion"})
	build.WithLabelValues(buildVersion(), runtime.Version()).Set(1)
	m.reg.MustRegister(m.parse, m.analyse, m.submit, m.index, build)
	m.reg.MustRegister(m.sessions, m.emails, m.reviewed, m.duplicates, m.errors, m.submissions, m.queue, m.removed, m.storeBytes, m.queueDepth, m.reconcileRounds, m.republished,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// opsCollector computes, at each scrape, what is read off the spool and
// the queue: the spool's backlog (its .ready entries) and the age of the
// oldest, and the age of the oldest undelivered entry of each group.
type opsCollector struct {
	c        *Collector
	backlog  *prometheus.Desc
	oldest   *prometheus.Desc
	queueAge *prometheus.Desc
	unlogged *prometheus.Desc
}

func newOpsCollector(c *Collector) *opsCollector {
	return &opsCollector{
		c: c,
		backlog: prometheus.NewDesc("smtpscope_spool_backlog",
			"Session files ready in the spool (a .ready beside them) and not yet stored.", nil, nil),
		oldest: prometheus.NewDesc("smtpscope_spool_oldest_ready_age_seconds",
			"Age of the oldest .ready in the spool (0 when none).", nil, nil),
		queueAge: prometheus.NewDesc("smtpscope_queue_oldest_age_seconds",
			"Per group, how long its oldest undelivered (queued or retrying) email has been queued (0 when none).",
			[]string{"group"}, nil),
		unlogged: prometheus.NewDesc("smtpscope_events_unlogged",
			"Stored emails whose event-log line is not yet written and fsynced (only with an event log).", nil, nil),
	}
}

func (o *opsCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- o.backlog
	ch <- o.oldest
	ch <- o.queueAge
	ch <- o.unlogged
}

func (o *opsCollector) Collect(ch chan<- prometheus.Metric) {
	now := time.Now()
	if o.c.spoolOn() {
		n, oldest, err := spoolBacklog(o.c.cfg().Spool)
		if err == nil {
			age := 0.0
			if n > 0 {
				age = max(0, now.Sub(oldest).Seconds())
			}
			ch <- prometheus.MustNewConstMetric(o.backlog, prometheus.GaugeValue, float64(n))
			ch <- prometheus.MustNewConstMetric(o.oldest, prometheus.GaugeValue, age)
		}
	}
	if o.c.events != nil {
		if n, err := o.c.store.UnloggedCount(); err == nil {
			ch <- prometheus.MustNewConstMetric(o.unlogged, prometheus.GaugeValue, float64(n))
		}
	}
	queued, err := o.c.store.OldestQueued()
	if err != nil {
		return
	}
	for _, g := range o.c.groupNames() {
		age := 0.0
		if t, ok := queued[g]; ok {
			age = max(0, now.Sub(t).Seconds())
		}
		ch <- prometheus.MustNewConstMetric(o.queueAge, prometheus.GaugeValue, age, g)
	}
}

// spoolBacklog counts the .ready entries of a spool directory and finds
// the oldest one's modification time.
func spoolBacklog(spool string) (n int, oldest time.Time, err error) {
	ents, err := os.ReadDir(spool)
	if err != nil {
		return 0, time.Time{}, err
	}
	for _, e := range ents {
		name := e.Name()
		if !strings.HasSuffix(name, readySuffix) || len(name) == len(readySuffix) {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue // gone meanwhile: stored
		}
		n++
		if oldest.IsZero() || info.ModTime().Before(oldest) {
			oldest = info.ModTime()
		}
	}
	return n, oldest, nil
}

// indexReadier is an Indexer that can tell whether it is ready.
type indexReadier interface{ Ready() error }

// Ready reports whether the collector can do its work, for /readyz: the
// store answers, the index (when there is one) is open, and the spool
// watcher runs (when the spool is on). The error says what is not.
func (c *Collector) Ready() error {
	var why []string
	if err := c.store.view(func(*bolt.Tx) error { return nil }); err != nil {
		why = append(why, "store: "+err.Error())
	}
	if r, ok := c.indexer.(indexReadier); ok {
		if err := r.Ready(); err != nil {
			why = append(why, "index: "+err.Error())
		}
	}
	if c.spoolOn() && !c.watching.Load() {
		why = append(why, "spool watcher: not running")
	}
	if len(why) > 0 {
		return errors.New(strings.Join(why, "; "))
	}
	return nil
}

// readyHandler serves /readyz: 200 "ready", or 503 with the reasons.
func (c *Collector) readyHandler(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if err := c.Ready(); err != nil {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintf(w, "not ready: %s\n", err)
		return
	}
	fmt.Fprintln(w, "ready")
}

// healthHandler serves /healthz: 200 while the process serves HTTP.
func healthHandler(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintln(w, "ok")
}

// groupNames lists the enabled groups.
func (c *Collector) groupNames() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	names := make([]string, 0, len(c.groups))
	for n := range c.groups {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}
