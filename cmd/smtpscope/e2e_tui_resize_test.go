package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestE2ETUIResize drives the real binary in tmux: the demo's list at
// 160 columns, scrolled to its last row, the window shrunk to 80x12 (the
// list then scrolls: its first rows go out of view) and enlarged back to
// 160x45: every row must be on screen again, none left hidden above the
// first line drawn with blank lines below.
func TestE2ETUIResize(t *testing.T) {
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
	// A private tmux server: killing it stops exactly what this test started.
	sock := fmt.Sprintf("smtpscope-e2e-resize-%d", os.Getpid())
	tm := func(args ...string) (string, error) {
		out, err := exec.Command(tmux, append([]string{"-L", sock}, args...)...).CombinedOutput()
		return string(out), err
	}
	cmdline := fmt.Sprintf("%s demo --dir %s --dark --interval 100ms; echo SMTPSCOPE-EXIT=$?; sleep 60", bin, filepath.Join(dir, "demo"))
	if out, err := tm("new-session", "-d", "-s", "e2e", "-x", "160", "-y", "45", "env", "TERM=xterm-256color", "sh", "-c", cmdline); err != nil {
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
	resize := func(w, h int) {
		t.Helper()
		if out, err := tm("resize-window", "-t", "e2e", "-x", strconv.Itoa(w), "-y", strconv.Itoa(h)); err != nil {
			t.Fatalf("tmux resize-window: %v %s", err, out)
		}
	}
	rowRE := regexp.MustCompile(`\d{4}-\d\d-\d\d \d\d:\d\d:\d\d`)
	totalRE := regexp.MustCompile(`· (\d+) results`)
	// rows counts the list rows on a screen and reads the result count.
	rows := func(s string) (shown, total int) {
		shown = len(rowRE.FindAllString(s, -1))
		if m := totalRE.FindStringSubmatch(s); m != nil {
			total, _ = strconv.Atoi(m[1])
		}
		return shown, total
	}

	// Enough rows to scroll at 80x12 (7 rows in view there), all in view
	// at 160x45. The demo may still be feeding: once scrolled down (G)
	// the list is no longer refreshed live, so what it holds stays put.
	s := waitScreen("10 rows of the demo", func(s string) bool {
		shown, total := rows(s)
		return total >= 10 && shown == total
	})
	if out, err := tm("send-keys", "-t", "e2e", "G"); err != nil {
		t.Fatalf("send-keys: %v %s", err, out)
	}
	resize(80, 12)
	waitScreen("the list scrolled at 80x12", func(s string) bool {
		shown, total := rows(s)
		return len(strings.Split(strings.TrimRight(s, "\n"), "\n")) <= 12 && shown > 0 && shown < total
	})
	resize(160, 45)
	s = waitScreen("every row back at 160x45", func(s string) bool {
		shown, total := rows(s)
		return total > 0 && shown == total
	})
	if shown, total := rows(s); shown != total {
		t.Fatalf("after 160→80→160: %d rows of %d shown:\n%s", shown, total, s)
	}
	if out, err := tm("send-keys", "-t", "e2e", "q"); err != nil {
		t.Fatalf("send-keys: %v %s", err, out)
	}
	waitScreen("the exit", func(s string) bool { return strings.Contains(s, "SMTPSCOPE-EXIT=0") })
}
