package main

import (
	"fmt"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestE2ETUIResize drives the real binary in tmux: the demo's list at
// 160 columns, scrolled to its last row, the window shrunk to 80x12 (the
// list then scrolls: its first rows go out of view) and enlarged back to
// 160x48: every row must be on screen again, none left hidden above the
// first line drawn with blank lines below.
func TestE2ETUIResize(t *testing.T) {
	bin, tmux := e2eBinary(t)
	cmdline := fmt.Sprintf("%s demo --dir %s --dark --interval 100ms; echo SMTPSCOPE-EXIT=$?; sleep 60", bin, filepath.Join(t.TempDir(), "demo"))
	tt := startTmux(t, tmux, "resize", cmdline)
	resize := func(w, h int) {
		t.Helper()
		if out, err := tt.run("resize-window", "-t", "e2e", "-x", strconv.Itoa(w), "-y", strconv.Itoa(h)); err != nil {
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
	// at 160x48. The demo may still be feeding: once scrolled down (G)
	// the list is no longer refreshed live, so what it holds stays put.
	tt.wait("10 rows of the demo", func(s string) bool {
		shown, total := rows(s)
		return total >= 10 && shown == total
	})
	tt.keys("G")
	resize(80, 12)
	tt.wait("the list scrolled at 80x12", func(s string) bool {
		shown, total := rows(s)
		return len(strings.Split(strings.TrimRight(s, "\n"), "\n")) <= 12 && shown > 0 && shown < total
	})
	resize(160, 48)
	s := tt.wait("every row back at 160x48", func(s string) bool {
		shown, total := rows(s)
		return total > 0 && shown == total
	})
	if shown, total := rows(s); shown != total {
		t.Fatalf("after 160→80→160: %d rows of %d shown:\n%s", shown, total, s)
	}
	tt.keys("q")
	tt.waitFor("the exit", "SMTPSCOPE-EXIT=0")
}
