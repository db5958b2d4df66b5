package main

import (
	"bufio"
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
	waitScreen("the demo's emails", has("Your account has been limited", "queue 0", " sent"))
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

// TestE2ETUIAttach: a headless `smtpscope collect` owns the data dir (and
// serves DATA/run/smtpscope.sock); `smtpscope ui --data DIR` attaches to it
// instead of failing on the locks, shows the same screens, and resubmits
// through it.
func TestE2ETUIAttach(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test (builds the binary, runs tmux)")
	}
	tmux, err := exec.LookPath("tmux")
	if err != nil {
		t.Skip("tmux is not installed: skipping the TUI end-to-end test (apt-get install tmux)")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "smtpscope")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	// The sink, as its own process.
	sink := exec.Command(bin, "ace-sink", "--listen", "127.0.0.1:0", "--dir", filepath.Join(dir, "sink"))
	stdout, _ := sink.StdoutPipe()
	if err := sink.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { sink.Process.Kill(); sink.Wait() }()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("ace-sink: %v", err)
	}
	url := strings.TrimSpace(line[strings.Index(line, "http://"):])

	spool, data := filepath.Join(dir, "spool"), filepath.Join(dir, "data")
	os.MkdirAll(spool, 0o700)
	samples, _ := filepath.Glob(filepath.Join("internal", "demo", "samples", "*.session"))
	if len(samples) == 0 {
		t.Fatal("no samples under internal/demo/samples")
	}
	for _, p := range samples {
		b, _ := os.ReadFile(p)
		os.WriteFile(filepath.Join(spool, filepath.Base(p)), b, 0o600)
		os.WriteFile(filepath.Join(spool, filepath.Base(p)+".ready"), nil, 0o600)
	}
	col := exec.Command(bin, "collect", "--spool", spool, "--data", data, "--ace", url, "--no-fsync")
	col.Stderr, _ = os.Create(filepath.Join(dir, "collect.log"))
	if err := col.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { col.Process.Signal(os.Interrupt); col.Wait() }()
	sock := filepath.Join(data, "run", "smtpscope.sock")
	for i := 0; ; i++ {
		if _, err := os.Stat(sock); err == nil {
			break
		}
		if i > 300 {
			log, _ := os.ReadFile(filepath.Join(dir, "collect.log"))
			t.Fatalf("collect never served %s; its log:\n%s", sock, log)
		}
		time.Sleep(50 * time.Millisecond)
	}

	tsock := fmt.Sprintf("smtpscope-e2e-attach-%d", os.Getpid())
	tm := func(args ...string) (string, error) {
		out, err := exec.Command(tmux, append([]string{"-L", tsock}, args...)...).CombinedOutput()
		return string(out), err
	}
	cmdline := fmt.Sprintf("%s ui --data %s --dark; echo SMTPSCOPE-EXIT=$?; sleep 60", bin, data)
	if out, err := tm("new-session", "-d", "-s", "e2e", "-x", "160", "-y", "48", "env", "TERM=xterm-256color", "sh", "-c", cmdline); err != nil {
		t.Fatalf("tmux new-session: %v %s", err, out)
	}
	defer tm("kill-server")
	screen := func() string { out, _ := tm("capture-pane", "-p", "-t", "e2e"); return out }
	wait := func(what string, subs ...string) string {
		t.Helper()
		var s string
		for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
			s = screen()
			ok := true
			for _, x := range subs {
				ok = ok && strings.Contains(s, x)
			}
			if ok {
				return s
			}
		}
		t.Fatalf("waiting for %s; screen:\n%s", what, s)
		return ""
	}
	wait("the attached UI", "remote ● watching", "7 results", "default: 7 sent")
	tm("send-keys", "-t", "e2e", "/")
	tm("send-keys", "-t", "e2e", "-l", "ioc:login.evil-payload.example.com")
	tm("send-keys", "-t", "e2e", "Enter")
	wait("the search result", "1 results", "Your account has been limited")
	tm("send-keys", "-t", "e2e", "Enter")
	wait("the detail", "1 Summary")
	tm("send-keys", "-t", "e2e", "2")
	wait("the transcript", "C: MAIL FROM:<security@pay-pal-secure.example.net>", "(folded)")
	tm("send-keys", "-t", "e2e", "r")
	wait("the group choice", "Resubmit to which node group?")
	tm("send-keys", "-t", "e2e", "Enter")
	tm("send-keys", "-t", "e2e", "y")
	tm("send-keys", "-t", "e2e", "8")
	wait("the resubmission", "(resubmitted)", "resubmitted 1 emails")
	tm("send-keys", "-t", "e2e", "Escape")
	wait("the list", "1 results", "TIME (UTC)")
	tm("send-keys", "-t", "e2e", "q")
	wait("the exit", "SMTPSCOPE-EXIT=0")
}
