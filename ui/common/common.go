// Package common is what every TUI component shares: the Component
// interface they implement, the context (backend, styles, keymap,
// terminal size and clock), and small rendering helpers that always
// sanitize attacker-controlled text.
package common

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/smtpscope/smtpscope/collector/api"
	"github.com/smtpscope/smtpscope/ui/keys"
	"github.com/smtpscope/smtpscope/ui/sanitize"
	"github.com/smtpscope/smtpscope/ui/styles"
)

// Context is shared (by pointer) by the root model and its components.
type Context struct {
	Backend api.Backend
	Styles  *styles.Styles
	Keys    *keys.KeyMap
	Width   int
	Height  int
	// Now is the clock (tests fix it).
	Now func() time.Time
	// Loc is the time zone times are shown in (UTC unless told).
	Loc *time.Location
	// ExportDir is the default directory export prompts propose.
	ExportDir string
}

// TimeFormat is how times are shown.
const TimeFormat = "2006-01-02 15:04:05"

// Time formats t in the context's zone ("-" for the zero time).
func (c *Context) Time(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.In(c.Loc).Format(TimeFormat)
}

// Fit sanitizes s as one line and fits it to exactly w cells: truncated
// with "…" or padded with spaces.
func Fit(s string, w int) string {
	if w <= 0 {
		return ""
	}
	s = sanitize.Line(s)
	sw := ansi.StringWidth(s)
	if sw > w {
		s = ansi.Truncate(s, w, "…")
		sw = ansi.StringWidth(s)
	}
	if sw < w {
		s += strings.Repeat(" ", w-sw)
	}
	return s
}

// FitRight is Fit, right-aligned (numbers).
func FitRight(s string, w int) string {
	if w <= 0 {
		return ""
	}
	s = sanitize.Line(s)
	sw := ansi.StringWidth(s)
	if sw > w {
		return ansi.Truncate(s, w, "…")
	}
	return strings.Repeat(" ", w-sw) + s
}

// Trunc sanitizes s as one line and truncates it to w cells (no padding).
func Trunc(s string, w int) string {
	s = sanitize.Line(s)
	if ansi.StringWidth(s) > w {
		return ansi.Truncate(s, max(w, 0), "…")
	}
	return s
}

// TruncLeft sanitizes s as one line and, when it is wider than w cells,
// keeps its end behind a leading "…" (a path's last parts say the most).
func TruncLeft(s string, w int) string {
	s = sanitize.Line(s)
	sw := ansi.StringWidth(s)
	if sw <= w {
		return s
	}
	if w <= 1 {
		return ansi.Truncate(s, max(w, 0), "")
	}
	return "…" + ansi.TruncateLeft(s, sw-w+1, "")
}

// Wrap sanitizes s as text and hard-wraps it to w cells.
func Wrap(s string, w int) []string {
	s = sanitize.Text(s)
	if w < 1 {
		w = 1
	}
	var out []string
	for _, line := range strings.Split(s, "\n") {
		if ansi.StringWidth(line) <= w {
			out = append(out, line)
			continue
		}
		out = append(out, strings.Split(ansi.Hardwrap(line, w, true), "\n")...)
	}
	return out
}

// WordWrap sanitizes s as text and wraps it to w cells at spaces and
// hyphens, breaking a word only when it is longer than w: for prose
// (risk evidence), where Wrap's exact columns matter less than words.
func WordWrap(s string, w int) []string {
	s = sanitize.Text(s)
	if w < 1 {
		w = 1
	}
	var out []string
	for _, line := range strings.Split(s, "\n") {
		if ansi.StringWidth(line) <= w {
			out = append(out, line)
			continue
		}
		for _, l := range strings.Split(ansi.Wrap(line, w, ""), "\n") {
			out = append(out, strings.TrimRight(l, " "))
		}
	}
	return out
}

// PadLines makes lines exactly h lines of width w (cut or padded).
func PadLines(lines []string, w, h int) string {
	var b strings.Builder
	for i := 0; i < h; i++ {
		l := ""
		if i < len(lines) {
			l = lines[i]
		}
		lw := lipgloss.Width(l)
		if lw > w {
			l = ansi.Truncate(l, w, "")
			lw = lipgloss.Width(l)
		}
		b.WriteString(l)
		if lw < w {
			b.WriteString(strings.Repeat(" ", w-lw))
		}
		if i < h-1 {
			b.WriteByte('\n')
		}
	}
	return b.String()
}

// Size formats a byte count.
func Size(n int64) string {
	if n < 1024 {
		return strconv.FormatInt(n, 10) + " B"
	}
	f, units := float64(n)/1024, "KMGT"
	i := 0
	for f >= 1024 && i < len(units)-1 {
		f /= 1024
		i++
	}
	return strings.TrimSuffix(fmt.Sprintf("%.1f", f), ".0") + " " + string(units[i]) + "iB"
}

// Count formats a count in at most 4 cells, so that a narrow column
// never cuts it: 999, 1.5k, 23k, 999k, 1.2M, 23M, 1.2G. Rounding is down,
// so a count is never shown larger than it is.
func Count(n int) string {
	if n < 0 {
		return "-"
	}
	if n < 1000 {
		return strconv.Itoa(n)
	}
	units := "kMGTPE"
	div := 1000
	for i := 0; i < len(units); i++ {
		if i > 0 {
			div *= 1000
		}
		q := n / div
		if q < 10 {
			// one decimal, rounded down: 1.5k
			d := (n % div) / (div / 10)
			if d == 0 {
				return strconv.Itoa(q) + string(units[i])
			}
			return strconv.Itoa(q) + "." + strconv.Itoa(d) + string(units[i])
		}
		if q < 1000 || i == len(units)-1 {
			return strconv.Itoa(q) + string(units[i])
		}
	}
	return strconv.Itoa(n)
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// StatusSummary condenses the per-group states of a row into one word:
// the worst state wins (failed, retrying, queued, sent), with "n/m" when
// groups disagree.
func StatusSummary(st map[string]string) (word string, state string) {
	if len(st) == 0 {
		return "-", ""
	}
	rank := map[string]int{"failed": 4, "retrying": 3, "queued": 2, "sent": 1}
	worst, n := "", 0
	for _, s := range st {
		if rank[s] > rank[worst] {
			worst = s
		}
	}
	for _, s := range st {
		if s == worst {
			n++
		}
	}
	if worst == "" {
		for _, s := range st {
			worst = s
			break
		}
	}
	if len(st) > 1 && n != len(st) {
		return worst + " " + itoa(int64(n)) + "/" + itoa(int64(len(st))), worst
	}
	return worst, worst
}
