package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"github.com/smtpscope/smtpscope/collector/capture"
)

// TestPcapInterrupted: a run stopped by a signal (its context cancelled)
// between two captures exits 130 and says what it wrote (complete session
// files with their .ready) and what it did not; the files written stay.
func TestPcapInterrupted(t *testing.T) {
	first := filepath.Join("..", "..", "testdata", "pcap", "swaks-plain.pcap")
	if _, err := os.Stat(first); err != nil {
		t.Skip("no testdata/pcap/swaks-plain.pcap")
	}
	dir := t.TempDir()
	fifo := filepath.Join(dir, "second.pcap")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skipf("no named pipes here: %v", err)
	}
	out := filepath.Join(dir, "out")
	c := &PcapCmd{Out: out, Ports: []int{25, 587, 2525, e2ePort}, Sync: "none", Quiet: true,
		Limits: pcapLimits{MaxFlows: 1000, MaxHalfOpen: 1000, MaxFlowMiB: 16, MaxBufferedMiB: 64, IdleTimeout: 5 * time.Minute},
		Files:  []string{first, fifo, first}}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- c.run(ctx) }()
	// The first capture's session is written while the run waits for the
	// pipe; then the signal comes, and the pipe ends.
	var ready []string
	for deadline := time.Now().Add(30 * time.Second); len(ready) == 0; time.Sleep(10 * time.Millisecond) {
		ready, _ = filepath.Glob(filepath.Join(out, "*.ready"))
		if time.Now().After(deadline) {
			t.Fatal("no session file written from the first capture")
		}
	}
	cancel()
	w, err := os.OpenFile(fifo, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := pcapgo.NewWriter(w).WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	w.Close()
	err = <-done
	if exitCode(err) != exitInterrupted || !strings.Contains(err.Error(), "interrupted: 1 session file(s) written to "+out+", each complete") ||
		!strings.Contains(err.Error(), "2 of 3 capture file(s) read in full") || !strings.Contains(err.Error(), "were not written") {
		t.Fatalf("interrupted run: %v (exit %d)", err, exitCode(err))
	}
	for _, r := range ready {
		if _, err := os.Stat(strings.TrimSuffix(r, ".ready")); err != nil {
			t.Errorf("session file of %s: %v", r, err)
		}
	}
}

// TestPcapInterruptedMessage: a failure to finish the markers is named
// beside the interruption.
func TestPcapInterruptedMessage(t *testing.T) {
	st := &capture.Stats{Files: 1}
	err := pcapInterrupted(3, st, 2, "/o", errors.Join(context.Canceled, errors.New("capture: fsync /o: disk gone")))
	if exitCode(err) != exitInterrupted || !strings.Contains(err.Error(), "3 session file(s) written to /o") ||
		!strings.Contains(err.Error(), "1 of 2 capture file(s)") || !strings.Contains(err.Error(), "the run also failed (a session file without its .ready marker is not complete): capture: fsync /o: disk gone") {
		t.Errorf("%v", err)
	}
	if err := pcapInterrupted(0, st, 2, "/o", context.Canceled); strings.Contains(err.Error(), "also failed") {
		t.Errorf("plain interruption: %v", err)
	}
}
