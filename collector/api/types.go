package api

import "time"

// Submission states, per email per node group.
const (
	StateQueued   = "queued"   // waiting for its first attempt (or resubmitted)
	StateRetrying = "retrying" // at least one attempt failed; will be retried
	StateSent     = "sent"     // accepted by a node; UUID holds ACE's uuid
	StateFailed   = "failed"   // permanent failure (HTTP 400) or attempts exhausted
)

// States lists the submission states in display order.
var States = []string{StateQueued, StateRetrying, StateSent, StateFailed}

// StateRank orders states from best to worst for the status sort: no
// state 0, sent 1, queued 2, retrying 3, failed 4 (an unknown state 0).
func StateRank(state string) int {
	switch state {
	case StateSent:
		return 1
	case StateQueued:
		return 2
	case StateRetrying:
		return 3
	case StateFailed:
		return 4
	}
	return 0
}

// WorstState is the state of highest StateRank among a row's states (""
// when there is none of the known states).
func WorstState(st map[string]string) string {
	worst := ""
	for _, s := range st {
		if StateRank(s) > StateRank(worst) {
			worst = s
		}
	}
	return worst
}

// SubmissionStatus is the state of one email for one node group.
type SubmissionStatus struct {
	EmailID     string    `json:"email_id"`
	Group       string    `json:"group"`
	State       string    `json:"state"`
	UUID        string    `json:"uuid,omitempty"`
	Node        string    `json:"node,omitempty"`
	Attempts    int       `json:"attempts"`
	LastError   string    `json:"last_error,omitempty"`
	Queued      time.Time `json:"queued"`
	Updated     time.Time `json:"updated"`
	NextAttempt time.Time `json:"next_attempt,omitzero"`
	Sent        time.Time `json:"sent,omitzero"`
	Manual      bool      `json:"manual,omitempty"` // queued by a resubmission
}

// ReviewEntry is a session file that could not be parsed.
type ReviewEntry struct {
	Name   string    `json:"name"`   // file name under DATA/review/
	Reason string    `json:"reason"` // also in <name>.error
	Time   time.Time `json:"time"`
	Size   int64     `json:"size"`
	Sensor string    `json:"sensor,omitempty"` // the collector's sensor name
}

// ErrorEntry is one recent error, for status displays.
type ErrorEntry struct {
	Time  time.Time `json:"time"`
	Where string    `json:"where"`
	Msg   string    `json:"msg"`
}

// CollectorStatus describes the collector and its queue.
type CollectorStatus struct {
	Time       time.Time  `json:"time"`
	PID        int        `json:"pid,omitempty"`
	Running    bool       `json:"running"`
	Paused     bool       `json:"paused"`
	Started    time.Time  `json:"started,omitzero"`
	Spool      string     `json:"spool,omitempty"`
	Maildirs   []string   `json:"maildirs,omitempty"` // raw email inputs
	EMLDirs    []string   `json:"eml_dirs,omitempty"`
	Data       string     `json:"data"`
	Stats      StoreStats `json:"stats"`
	QueueDepth int        `json:"queue_depth"`
	// EventLog is the configured event log ([output] events, --events;
	// "" none) and EventsUnlogged how many stored emails still wait for
	// their line in it (marked at commit, unmarked once fsynced).
	EventLog       string        `json:"event_log,omitempty"`
	EventsUnlogged int           `json:"events_unlogged"`
	Groups         []GroupStatus `json:"groups"`
	Review         []ReviewEntry `json:"review"`
	LastErrors     []ErrorEntry  `json:"last_errors"`
	RunSessions    int64         `json:"run_sessions"` // stored since start
	RunEmails      int64         `json:"run_emails"`
	// Capture is the live capture the collector runs (collect
	// --interface), nil without one.
	Capture *CaptureStatus `json:"capture,omitempty"`
	// Hunts are the config's hunts ([[hunt]]); their matches are counted
	// by searching hunt:NAME.
	Hunts []HuntStatus `json:"hunts,omitempty"`
}

// HuntStatus is one configured hunt.
type HuntStatus struct {
	Name      string   `json:"name"`
	Query     string   `json:"query"`
	DeliverTo []string `json:"deliver_to,omitempty"`
}

// CaptureStatus is a live capture's loss accounting since it started: the
// kernel's counters per interface, bytes missing from reassembled streams
// and the memory limits hit (each such session was written partial).
type CaptureStatus struct {
	Interfaces      []CaptureInterface `json:"interfaces"`
	Ports           []int              `json:"ports"`
	Sessions        int                `json:"sessions"` // session files written
	Messages        int                `json:"messages"`
	PartialMessages int                `json:"partial_messages"`
	GapBytes        int64              `json:"gap_bytes"`
	HalfOpenEvicted int64              `json:"half_open_evicted"`
	FlowsEvicted    int64              `json:"flows_evicted"`
	FlowBytesCuts   int64              `json:"flow_bytes_cuts"`
	TotalBytesCuts  int64              `json:"total_bytes_cuts"`
	IdleClosed      int64              `json:"idle_closed"`
	FragDiscarded   int64              `json:"fragments_discarded"`
	// Several interfaces are merged by packet time: packets passed on
	// before their turn (the window full) and packets that came late.
	MergeForced uint64 `json:"merge_forced"`
	MergeLate   uint64 `json:"merge_late"`
	Error       string `json:"error,omitempty"` // why the capture stopped, when it failed
}

// CaptureInterface is one captured interface's kernel counters (TPACKET
// statistics): packets the filter passed, and packets dropped because
// the ring was full.
type CaptureInterface struct {
	Name    string `json:"name"`
	Packets uint64 `json:"packets"`
	Drops   uint64 `json:"drops"`
}

// GroupStatus is one node group's queue.
type GroupStatus struct {
	Name         string           `json:"name"`
	Configured   bool             `json:"configured"` // false: only in the database (removed from config)
	Enabled      bool             `json:"enabled"`
	Coverage     int              `json:"coverage,omitempty"`
	FullDelivery bool             `json:"full_delivery"`
	Counts       map[string]int64 `json:"counts"` // state -> emails
	Nodes        []NodeStatus     `json:"nodes,omitempty"`
	// Reconcile is a NATS group's reconciliation with the hub (nil for
	// other kinds and while none has run).
	Reconcile *ReconcileStatus `json:"reconcile,omitempty"`
}

// ReconcileStatus is a NATS group's last reconciliation round: the
// sensor's per-hour counts of emails the hub must hold compared with
// the hub's counts (KV bucket smtpscope-counts).
type ReconcileStatus struct {
	Last         time.Time `json:"last,omitzero"` // when the last round ended
	Rounds       int64     `json:"rounds"`        // rounds since start (skipped ones included)
	HoursChecked int       `json:"hours_checked"` // hours compared in the last round
	HoursShort   int       `json:"hours_short"`   // hours the hub was short of in the last round
	Republished  int       `json:"republished"`   // emails re-published in the last round
	Total        int64     `json:"republished_total"`
	Skipped      string    `json:"skipped,omitempty"` // why the last round compared nothing
	LastError    string    `json:"last_error,omitempty"`
}

// NodeStatus is the health of one node.
type NodeStatus struct {
	URL       string    `json:"url"` // credentials redacted
	Healthy   bool      `json:"healthy"`
	LastCheck time.Time `json:"last_check,omitzero"`
	LastError string    `json:"last_error,omitempty"`
	// DownUntil is when a down node is probed next (its backoff or the
	// Retry-After it sent); Failures counts its consecutive failures.
	DownUntil time.Time `json:"down_until,omitzero"`
	Failures  int       `json:"failures,omitempty"`
}

// StoreStats are totals kept by the queue database.
type StoreStats struct {
	Sessions        int64 `json:"sessions"`
	Emails          int64 `json:"emails"`
	Bytes           int64 `json:"bytes"`
	Reviewed        int64 `json:"reviewed"`
	DuplicateClaims int64 `json:"duplicate_claims"` // session files claimed again after a crash or resent
	DuplicateEmails int64 `json:"duplicate_emails"` // emails already stored, not queued again
	Removed         int64 `json:"removed"`          // emails removed by retention
}
