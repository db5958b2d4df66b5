package common

import (
	"math"
	"strings"
	"testing"

	"github.com/charmbracelet/x/ansi"

	"github.com/smtpscope/smtpscope/ui/sanitize"
)

func TestCount(t *testing.T) {
	for _, c := range []struct {
		n    int
		want string
	}{
		{0, "0"}, {7, "7"}, {999, "999"}, {1000, "1k"}, {1500, "1.5k"}, {1599, "1.5k"},
		{9999, "9.9k"}, {10000, "10k"}, {23456, "23k"}, {999999, "999k"}, {1000000, "1M"},
		{1234567, "1.2M"}, {23000000, "23M"}, {999999999, "999M"}, {1200000000, "1.2G"},
		{-1, "-"},
	} {
		if got := Count(c.n); got != c.want {
			t.Errorf("Count(%d) = %q, want %q", c.n, got, c.want)
		}
	}
	// Never wider than 4 cells, whatever the count.
	for n := 1; n > 0 && n < math.MaxInt/7; n = n*7 + 3 {
		if w := ansi.StringWidth(Count(n)); w > 4 {
			t.Fatalf("Count(%d) = %q: %d cells", n, Count(n), w)
		}
	}
	if w := ansi.StringWidth(Count(math.MaxInt)); w > 4 {
		t.Fatalf("Count(MaxInt) = %q", Count(math.MaxInt))
	}
}

func TestTruncLeft(t *testing.T) {
	for _, c := range []struct {
		s    string
		w    int
		want string
	}{
		{"/var/lib/smtpscope", 40, "/var/lib/smtpscope"},
		{"/var/lib/smtpscope", 10, "…smtpscope"},
		{"/var/lib/smtpscope", 1, "/"},
		{"a\x1b[31mb", 40, `a\x1b[31mb`},
	} {
		got := TruncLeft(c.s, c.w)
		if got != c.want {
			t.Errorf("TruncLeft(%q, %d) = %q, want %q", c.s, c.w, got, c.want)
		}
		if w := ansi.StringWidth(got); w > c.w {
			t.Errorf("TruncLeft(%q, %d) is %d cells", c.s, c.w, w)
		}
	}
}

// TestWordWrap: prose wraps at spaces and hyphens, a word longer than
// the width is broken, every line fits, nothing is lost, and hostile
// bytes are sanitized.
func TestWordWrap(t *testing.T) {
	in := `"INV-2025-1187.pdf.exe" in part "2": .exe hidden behind .pdf ` + strings.Repeat("x", 30) + "\x1b[2J"
	got := WordWrap(in, 20)
	for _, l := range got {
		if ansi.StringWidth(l) > 20 {
			t.Errorf("line %q wider than 20", l)
		}
		if strings.Contains(l, "\x1b") {
			t.Errorf("raw escape in %q", l)
		}
	}
	joined := strings.Join(got, "\n")
	for _, w := range []string{"hidden behind .pdf", "part \"2\""} {
		if !strings.Contains(joined, w) {
			t.Errorf("words split: %q lacks %q", got, w)
		}
	}
	if strings.ReplaceAll(strings.ReplaceAll(joined, "\n", ""), " ", "") != strings.ReplaceAll(sanitize.Text(in), " ", "") {
		t.Errorf("text lost: %q", got)
	}
}
