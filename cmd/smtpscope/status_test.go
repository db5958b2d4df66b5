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
