package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/smtpscope/smtpscope/collector"
	"github.com/smtpscope/smtpscope/collector/capture"
)

// TestCollectCaptureOptions: collect --interface captures with the
// configuration's direction (capture_direction) and ports, the default
// ports when none is set.
func TestCollectCaptureOptions(t *testing.T) {
	p := filepath.Join(t.TempDir(), "c.toml")
	if err := os.WriteFile(p, []byte("spool = \"/s\"\ninterface = [\"mon0\", \"mon1\"]\ncapture_direction = \"both\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := collector.LoadConfig(p)
	if err != nil {
		t.Fatal(err)
	}
	o := collectCaptureOptions(cfg)
	if o.Direction != capture.DirectionBoth || !slices.Equal(o.Ports, capture.DefaultPorts) || o.Evidence != nil {
		t.Errorf("options %+v", o)
	}
	cfg.CaptureDirection, cfg.CapturePorts = "", []int{2525}
	if o := collectCaptureOptions(cfg); o.Direction != capture.DirectionAuto || !slices.Equal(o.Ports, []int{2525}) {
		t.Errorf("options %+v", o)
	}
}

// TestCaptureStatusMerge: the merge's counters of a capture on several
// interfaces reach the collector's status (and its printout).
func TestCaptureStatusMerge(t *testing.T) {
	ls := capture.LiveStats{Interfaces: []capture.IfaceStats{{Name: "mon0", KernelPackets: 5}, {Name: "mon1", KernelPackets: 6}},
		Merge: capture.MergeStats{Forced: 3, Late: 2}}
	cs := captureStatus(&ls, []int{25})
	if cs.MergeForced != 3 || cs.MergeLate != 2 || len(cs.Interfaces) != 2 {
		t.Fatalf("status %+v", cs)
	}
	var b strings.Builder
	printCaptureStatus(&b, &cs)
	if !strings.Contains(b.String(), "merged by time: 3 packets passed on early (window full), 2 late") {
		t.Errorf("printed:\n%s", b.String())
	}
	cs.Interfaces = cs.Interfaces[:1]
	b.Reset()
	printCaptureStatus(&b, &cs)
	if strings.Contains(b.String(), "merged") {
		t.Errorf("one interface, printed:\n%s", b.String())
	}
}
