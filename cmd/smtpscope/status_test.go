package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/smtpscope/smtpscope/collector"
)

// TestPrintStatusRedactsNodes: node URLs with credentials (as a snapshot
// written by an older version holds them) print without them; a down
// node shows when it is probed next.
func TestPrintStatusRedactsNodes(t *testing.T) {
	until := time.Date(2025, 1, 2, 3, 4, 5, 0, time.Local)
	st := &collector.Status{Data: "/d", Groups: []collector.GroupStatus{{Name: "g", Configured: true, Enabled: true,
		Counts: map[string]int64{}, Nodes: []collector.NodeStatus{
			{URL: "https://ace:pw-SECRET@ace1.example", Healthy: true},
			{URL: "https://t0ken-SECRET@ace2.example", DownUntil: until, Failures: 3},
		}}}}
	var b bytes.Buffer
	printStatus(&b, st, "test", 10)
	out := b.String()
	if strings.Contains(out, "SECRET") {
		t.Errorf("status shows credentials:\n%s", out)
	}
	for _, want := range []string{"https://xxxxx@ace1.example up", "https://xxxxx@ace2.example down (3 failures; next probe 03:04:05)"} {
		if !strings.Contains(out, want) {
			t.Errorf("status lacks %q:\n%s", want, out)
		}
	}
}

// TestPrintStatusReconcile: a NATS group's last reconciliation is one
// line: hours compared, short, re-published (and since start), or why
// it compared nothing, with its error.
func TestPrintStatusReconcile(t *testing.T) {
	last := time.Date(2026, 12, 7, 15, 0, 0, 0, time.Local)
	st := &collector.Status{Data: "/d", Groups: []collector.GroupStatus{
		{Name: "hub", Configured: true, Enabled: true, Counts: map[string]int64{},
			Reconcile: &collector.ReconcileStatus{Last: last, Rounds: 3, HoursChecked: 7, HoursShort: 2, Republished: 41, Total: 50}},
		{Name: "hub2", Configured: true, Enabled: true, Counts: map[string]int64{},
			Reconcile: &collector.ReconcileStatus{Last: last, Rounds: 1, Skipped: "no hub counts yet", LastError: "kv \x1b[31mdown"}},
		{Name: "ace", Configured: true, Enabled: true, Counts: map[string]int64{}},
	}}
	var b bytes.Buffer
	printStatus(&b, st, "test", 10)
	out := b.String()
	for _, want := range []string{
		"reconcile  hub: last " + last.Format(time.RFC3339) + ", 7 hours compared, 2 short, 41 emails re-published; 50 re-published since start\n",
		"reconcile  hub2: last " + last.Format(time.RFC3339) + ", compared nothing (no hub counts yet); 0 re-published since start; error: kv ",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("status lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "\x1b") || strings.Contains(out, "reconcile  ace") {
		t.Errorf("status shows an escape or a reconcile line for an ACE group:\n%s", out)
	}
}

// TestPrintStatusEvents: with an event log, status prints how many
// stored emails still wait for their line (the unlogged marks) and the
// log's path, sanitized; without one and nothing waiting, no line.
func TestPrintStatusEvents(t *testing.T) {
	var b bytes.Buffer
	printStatus(&b, &collector.Status{Data: "/d", EventLog: "/var/log/e\x1b[2J.ndjson", EventsUnlogged: 7}, "test", 10)
	if out := b.String(); !strings.Contains(out, "events     7 waiting to be logged to /var/log/e") || strings.Contains(out, "\x1b") {
		t.Errorf("status with an event log:\n%q", out)
	}
	b.Reset()
	printStatus(&b, &collector.Status{Data: "/d"}, "test", 10)
	if out := b.String(); strings.Contains(out, "events ") {
		t.Errorf("status without an event log has an events line:\n%s", out)
	}
}
