package collector

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

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
	}
	m.captureKernel = prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "smtpscope", Name: "capture_kernel_packets",
		Help: "Live capture: packets per interface since the capture started, as the kernel counts them (what=received: passed the filter; what=dropped: lost, the ring was full)."}, []string{"interface", "what"})
	m.captureLoss = prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "smtpscope", Name: "capture_loss",
		Help: "Live capture losses since it started, by kind: gap_bytes (bytes missing from reassembled streams), half_open_evicted, flows_evicted, flow_bytes_cuts, total_bytes_cuts (limits hit: sessions written partial), fragments_discarded, sessions (session files written)."}, []string{"kind"})
	m.reg.MustRegister(m.captureKernel, m.captureLoss)
	m.reg.MustRegister(m.sessions, m.emails, m.reviewed, m.duplicates, m.errors, m.submissions, m.queue, m.removed, m.storeBytes, m.queueDepth,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}
