package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/smtpscope/smtpscope/internal/backendtest"
)

// TestE2ETUISecondUITakesOver: two `smtpscope ui` on one data dir, as two
// analysts would. The second attaches to the first (remote); when the
// first quits, the second takes the data dir over (its status bar says
// so), keeps searching and refreshing, and never shows Go's transport
// errors.
func TestE2ETUISecondUITakesOver(t *testing.T) {
	bin, tmux := e2eBinary(t)
	dir := t.TempDir()
	spool, data := filepath.Join(dir, "spool"), filepath.Join(dir, "data")
	backendtest.WriteSpool(t, spool)

	first := startTmux(t, tmux, "owner", fmt.Sprintf("%s ui --data %s --spool %s --create --dark; echo SMTPSCOPE-EXIT=$?; sleep 60", bin, data, spool))
	first.waitFor("the owner's emails", "local ● watching", "7 results", "Invoice INV-2025-1187")
	second := startTmux(t, tmux, "second", fmt.Sprintf("%s ui --data %s --dark; echo SMTPSCOPE-EXIT=$?; sleep 60", bin, data))
	second.waitFor("the attached UI", "remote ● watching", "7 results", "Invoice INV-2025-1187")

	first.keys("q")
	first.waitFor("the owner's exit", "SMTPSCOPE-EXIT=0")
	// The second notices within a status poll and takes over.
	s := second.waitFor("the take-over", "local, took over ● watching", "this UI took it over")
	if rawTransport(s) {
		t.Fatalf("raw transport error on screen:\n%s", s)
	}
	second.keys("C-r")
	second.keys("/")
	second.literal("subject:INV-2025-1187")
	second.keys("Enter")
	s = second.waitFor("a search after the take-over", "1 results", "Invoice INV-2025-1187", "local, took over")
	if rawTransport(s) {
		t.Fatalf("raw transport error on screen:\n%s", s)
	}
	second.keys("q")
	second.waitFor("the second's exit", "SMTPSCOPE-EXIT=0")
}

func rawTransport(screen string) bool {
	return strings.Contains(screen, "http://smtpscope") || strings.Contains(screen, "dial unix")
}
