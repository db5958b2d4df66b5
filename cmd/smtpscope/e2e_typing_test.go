package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestE2ETUISearchAsYouType: in the demo, typing `invoi` into the search
// bar, one key at a time as a person types, narrows the list to the
// invoice before Enter is pressed.
func TestE2ETUISearchAsYouType(t *testing.T) {
	bin, tmux := e2eBinary(t)
	demoDir := filepath.Join(t.TempDir(), "demo")
	tt := startTmux(t, tmux, "typing", fmt.Sprintf("%s demo --dir %s --dark --interval 300ms; echo SMTPSCOPE-EXIT=$?; sleep 60", bin, demoDir))
	tt.waitFor("the demo's emails", "Invoice INV-2025-1187", "Weekly digest", "Your account has been limited")
	tt.keys("/")
	for _, r := range "invoi" {
		tt.literal(string(r))
		time.Sleep(60 * time.Millisecond) // a typist's pace; the result does not depend on it
	}
	s := tt.wait("the invoice found as you type", func(s string) bool {
		return strings.Contains(s, "/ invoi") && strings.Contains(s, "Invoice INV-2025-1187") &&
			!strings.Contains(s, "Weekly digest") && !strings.Contains(s, "Your account has been limited")
	})
	if !strings.Contains(s, "enter run") {
		t.Fatalf("the search bar is no longer being edited:\n%s", s)
	}
	// Enter runs the exact query: "invoi" is no word of any email.
	tt.keys("Enter")
	tt.waitFor("the exact query", "0 results")
	tt.keys("q")
	tt.waitFor("the exit", "SMTPSCOPE-EXIT=0")
}
