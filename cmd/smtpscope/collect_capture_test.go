package main

import (
	"os"
	"path/filepath"
	"slices"
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
