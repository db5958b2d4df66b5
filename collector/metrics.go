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

	reconcileRounds *prometheus.CounterVec // by group
	republished     *prometheus.CounterVec // by group
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
		reconcileRounds: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "smtpscope", Name: "reconcile_rounds_total",
			Help: "Reconciliation rounds with the hub by NATS group."}, []string{"group"}),
		republished: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "smtpscope", Name: "reconcile_republished_total",
			Help: "Emails re-published by reconciliation (hours the hub was short of) by NATS group."}, []string{"group"}),
	}
	m.reg.MustRegister(m.sessions, m.emails, m.reviewed, m.duplicates, m.errors, m.submissions, m.queue, m.removed, m.storeBytes, m.queueDepth, m.reconcileRounds, m.republished,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}
