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
	bin, tmux := e2eBinary(t)
	cmdline := fmt.Sprintf("%s demo --dir %s --dark --interval 300ms; echo SMTPSCOPE-EXIT=$?; sleep 60", bin, filepath.Join(t.TempDir(), "demo"))
	tt := startTmux(t, tmux, "demo", cmdline)

	// The demo starts, sessions arrive and are delivered to the sink.
	tt.waitFor("the demo's emails", "Your account has been limited", "queue 0", " sent")
	// Search the planted IOC.
	tt.keys("/")
	tt.literal("ioc:login.evil-payload.example.com")
	tt.keys("Enter")
	tt.waitFor("the search result", "1 results", "Your account has been limited")
	// Open it.
	tt.keys("Enter")
	tt.waitFor("the detail", "1 Summary", "security@pay-pal-secure.example.net")
	// Resubmit to the group "default".
	tt.keys("r")
	tt.waitFor("the group choice", "Resubmit to which node group?")
	tt.keys("Enter")
	tt.waitFor("the confirmation", "Resubmit 1 email to node group default?")
	tt.keys("y")
	tt.keys("8")
	s := tt.wait("the resubmission sent", func(s string) bool {
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
	tt.keys("Escape")
	tt.waitFor("the list", "1 results")
	tt.keys("q")
	tt.waitFor("the exit", "SMTPSCOPE-EXIT=0")
}

// TestE2ETUIAttach: a headless `smtpscope collect` owns the data dir (and
// serves DATA/run/smtpscope.sock); `smtpscope ui --data DIR` attaches to it
// instead of failing on the locks, shows the same screens, and resubmits
// through it.
func TestE2ETUIAttach(t *testing.T) {
	bin, tmux := e2eBinary(t)
	dir := t.TempDir()
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

	tt := startTmux(t, tmux, "attach", fmt.Sprintf("%s ui --data %s --dark; echo SMTPSCOPE-EXIT=$?; sleep 60", bin, data))
	tt.waitFor("the attached UI", "remote ● watching", "7 results", "default: 7 sent")
	tt.keys("/")
	tt.literal("ioc:login.evil-payload.example.com")
	tt.keys("Enter")
	tt.waitFor("the search result", "1 results", "Your account has been limited")
	tt.keys("Enter")
	tt.waitFor("the detail", "1 Summary")
	tt.keys("2")
	tt.waitFor("the transcript", "C: MAIL FROM:<security@pay-pal-secure.example.net>", "(folded)")
	tt.keys("r")
	tt.waitFor("the group choice", "Resubmit to which node group?")
	tt.keys("Enter")
	tt.keys("y")
	tt.keys("8")
	tt.waitFor("the resubmission", "(resubmitted)", "resubmitted 1 emails")
	tt.keys("Escape")
	tt.waitFor("the list", "1 results", "TIME (UTC)")
	tt.keys("q")
	tt.waitFor("the exit", "SMTPSCOPE-EXIT=0")
}
