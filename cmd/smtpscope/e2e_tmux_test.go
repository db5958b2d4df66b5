package main

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// The tmux harness of the TUI end-to-end tests: the real binary in a
// private tmux server, driven by keys and read from the pane.

// tmuxTerm is one private tmux server running one command in a window of
// 160x48; everything it started ends with the test.
type tmuxTerm struct {
	t    *testing.T
	tmux string
	sock string
}

// e2eBinary builds smtpscope (testBinary), or skips the test when
// tmux is missing or -short is given.
func e2eBinary(t *testing.T) (bin, tmux string) {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end test (builds the binary, runs tmux)")
	}
	tmux, err := exec.LookPath("tmux")
	if err != nil {
		t.Skip("tmux is not installed: skipping the TUI end-to-end test (apt-get install tmux)")
	}
	return testBinary(t), tmux
}

// startTmux runs cmdline (a sh command) in a new private tmux server
// named after name; the server is killed when the test ends.
func startTmux(t *testing.T, tmux, name, cmdline string) *tmuxTerm {
	t.Helper()
	tt := &tmuxTerm{t: t, tmux: tmux, sock: fmt.Sprintf("smtpscope-e2e-%s-%d", name, os.Getpid())}
	if out, err := tt.run("new-session", "-d", "-s", "e2e", "-x", "160", "-y", "48", "env", "TERM=xterm-256color", "sh", "-c", cmdline); err != nil {
		t.Fatalf("tmux new-session: %v %s", err, out)
	}
	t.Cleanup(func() { tt.run("kill-server") })
	return tt
}

func (tt *tmuxTerm) run(args ...string) (string, error) {
	out, err := exec.Command(tt.tmux, append([]string{"-L", tt.sock}, args...)...).CombinedOutput()
	return string(out), err
}

func (tt *tmuxTerm) screen() string { s, _ := tt.run("capture-pane", "-p", "-t", "e2e"); return s }

// keys sends tmux key names; literal sends text as typed.
func (tt *tmuxTerm) keys(k ...string) {
	tt.t.Helper()
	if out, err := tt.run(append([]string{"send-keys", "-t", "e2e"}, k...)...); err != nil {
		tt.t.Fatalf("send-keys %q: %v %s", k, err, out)
	}
}

func (tt *tmuxTerm) literal(s string) { tt.keys("-l", s) }

// wait waits (a liveness bound, not a speed check) until ok accepts the
// screen, and returns it.
func (tt *tmuxTerm) wait(what string, ok func(string) bool) string {
	tt.t.Helper()
	var s string
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if s = tt.screen(); ok(s) {
			return s
		}
	}
	tt.t.Fatalf("waiting for %s; screen:\n%s", what, s)
	return ""
}

func (tt *tmuxTerm) waitFor(what string, subs ...string) string {
	tt.t.Helper()
	return tt.wait(what, func(s string) bool {
		for _, x := range subs {
			if !strings.Contains(s, x) {
				return false
			}
		}
		return true
	})
}
