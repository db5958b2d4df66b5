package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestE2ETUIDemo drives the real binary in tmux, as an analyst would:
// `smtpscope demo`, search for the planted IOC, open the email, resubmit
// it to the demo's node group and see its submission come back "sent".
func TestE2ETUIDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test (builds the binary, runs tmux)")
	}
	tmux, err := exec.LookPath("tmux")
	if err != nil {
		t.Skip("tmux is not installed: skipping the TUI end-to-end test (apt-get install tmux)")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "smtpscope")
	build := exec.Command("go", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	// A private tmux server: nothing else is touched, and killing it
	// stops exactly what this test started.
	sock := fmt.Sprintf("smtpscope-e2e-%d", os.Getpid())
	tm := func(args ...string) (string, error) {
		out, err := exec.Command(tmux, append([]string{"-L", sock}, args...)...).CombinedOutput()
		return string(out), err
	}
	demoDir := filepath.Join(dir, "demo")
	cmdline := fmt.Sprintf("%s demo --dir %s --dark --interval 300ms; echo SMTPSCOPE-EXIT=$?; sleep 60", bin, demoDir)
	if out, err := tm("new-session", "-d", "-s", "e2e", "-x", "160", "-y", "48", "env", "TERM=xterm-256color", "sh", "-c", cmdline); err != nil {
		t.Fatalf("tmux new-session: %v %s", err, out)
	}
	defer tm("kill-server")

	screen := func() string {
		out, _ := tm("capture-pane", "-p", "-t", "e2e")
		return out
	}
	waitScreen := func(what string, ok func(string) bool) string {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		var s string
		for time.Now().Before(deadline) {
			if s = screen(); ok(s) {
				return s
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Fatalf("waiting for %s; screen:\n%s", what, s)
		return ""
	}
	has := func(subs ...string) func(string) bool {
		return func(s string) bool {
			for _, x := range subs {
				if !strings.Contains(s, x) {
					return false
				}
			}
			return true
		}
	}
	keys := func(k ...string) {
		t.Helper()
		if out, err := tm(append([]string{"send-keys", "-t", "e2e"}, k...)...); err != nil {
			t.Fatalf("send-keys %q: %v %s", k, err, out)
		}
	}
	literal := func(s string) {
		t.Helper()
		if out, err := tm("send-keys", "-t", "e2e", "-l", s); err != nil {
			t.Fatalf("send-keys -l %q: %v %s", s, err, out)
		}
	}

	// The demo starts, sessions arrive and are delivered to the sink.
	waitScreen("the demo's emails", has("7 results", "default: 7 sent"))
	// Search the planted IOC.
	keys("/")
	literal("ioc:login.evil-payload.example.com")
	keys("Enter")
	waitScreen("the search result", has("1 results", "Your account has been limited"))
	// Open it.
	keys("Enter")
	waitScreen("the detail", has("1 Summary", "security@pay-pal-secure.example.net"))
	// Resubmit to the group "default".
	keys("r")
	waitScreen("the group choice", has("Resubmit to which node group?"))
	keys("Enter")
	waitScreen("the confirmation", has("Resubmit 1 email to node group default?"))
	keys("y")
	keys("8")
	s := waitScreen("the resubmission sent", func(s string) bool {
		for _, l := range strings.Split(s, "\n") {
			if strings.Contains(l, "(resubmitted)") && strings.Contains(l, " sent ") && strings.HasPrefix(strings.TrimSpace(l), "default") {
				return true
			}
		}
		return false
	})
	if !strings.Contains(s, "resubmitted 1 emails") {
		t.Errorf("no resubmission notice on screen:\n%s", s)
	}
	// Back to the list, quit; the binary exits 0.
	keys("Escape")
	waitScreen("the list", has("1 results"))
	keys("q")
	waitScreen("the exit", has("SMTPSCOPE-EXIT=0"))
}
