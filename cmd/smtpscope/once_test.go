package main

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/smtpscope/smtpscope/collector"
	"github.com/smtpscope/smtpscope/internal/backendtest"
)

// TestOnceSummary: `collect --once` ends with a summary line on stderr;
// interrupted (its node down, so it waits to deliver), it exits 130 with
// that summary, what it stored committed.
func TestOnceSummary(t *testing.T) {
	tmp := t.TempDir()
	spool, data := filepath.Join(tmp, "spool"), filepath.Join(tmp, "data")
	backendtest.WriteSpool(t, spool)
	noSync := false
	cfg := &collector.Config{Spool: spool, Data: data, Fsync: &noSync,
		Groups: []collector.GroupConfig{{Name: "g", Coverage: 100, Nodes: []string{"http://127.0.0.1:1"}}}}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	svc, err := openServiceWaiting(ctx, cfg, serviceOpts{log: slog.New(slog.NewTextHandler(io.Discard, nil)), index: false, indexOptional: true})
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for svc.Collector().Summary().Emails == 0 {
			time.Sleep(10 * time.Millisecond)
		}
		time.Sleep(200 * time.Millisecond)
		cancel() // as SIGINT does
	}()
	var runErr error
	stderr := captureOutput(t, &os.Stderr, func() { runErr = runOnce(ctx, svc, time.Minute) })
	if exitCode(runErr) != exitInterrupted || !strings.Contains(runErr.Error(), "interrupted") {
		t.Errorf("interrupted --once: %v (exit %d), want exit %d", runErr, exitCode(runErr), exitInterrupted)
	}
	if !strings.Contains(stderr, "smtpscope collect --once: ") || !strings.Contains(stderr, "new emails stored") || !strings.Contains(stderr, "0 submissions sent") {
		t.Errorf("summary: %q", stderr)
	}
}

// captureOutput runs fn with *f (os.Stdout or os.Stderr) going to a
// pipe and returns what was written.
func captureOutput(t *testing.T, f **os.File, fn func()) string {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	old := *f
	*f = w
	done := make(chan string)
	go func() {
		b, _ := io.ReadAll(r)
		done <- string(b)
	}()
	fn()
	*f = old
	w.Close()
	return <-done
}
