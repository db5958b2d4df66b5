package timeline

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/charmbracelet/x/ansi"

	"github.com/smtpscope/smtpscope/collector/api"
	"github.com/smtpscope/smtpscope/ui/common"
	"github.com/smtpscope/smtpscope/ui/keys"
	"github.com/smtpscope/smtpscope/ui/styles"
)

func buckets(counts ...int) []api.Bucket {
	t0 := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	out := make([]api.Bucket, len(counts))
	for i, c := range counts {
		out[i] = api.Bucket{Start: t0.Add(time.Duration(i) * time.Hour), Count: c}
	}
	return out
}

func TestColumns(t *testing.T) {
	cols, n := Columns(buckets(1, 2, 3, 4, 5), 10)
	if fmt.Sprint(cols) != "[1 2 3 4 5]" || n != 1 {
		t.Fatalf("fits: %v per %d", cols, n)
	}
	cols, n = Columns(buckets(1, 2, 3, 4, 5), 2)
	if fmt.Sprint(cols) != "[6 9]" || n != 3 {
		t.Fatalf("merged: %v per %d", cols, n)
	}
	if cols, _ := Columns(nil, 5); cols != nil {
		t.Fatal("no buckets")
	}
}

func TestBars(t *testing.T) {
	got := Bars([]int{8, 4, 1, 0}, 2, 1)
	want := []string{"█   ", "██▂ "}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("bars %q, want %q", got, want)
	}
	if got := Bars([]int{0, 0}, 1, 2); got[0] != "    " {
		t.Fatalf("all zero: %q", got)
	}
}

func TestView(t *testing.T) {
	ctx := &common.Context{Styles: styles.NewPlain(), Keys: keys.Default()}
	m := New(ctx)
	m.SetSize(60, Height)
	if v := m.View(); !strings.Contains(v, "counting") || strings.Count(v, "\n") != Height-1 {
		t.Fatalf("before counts: %q", v)
	}
	m.Set(&api.Histogram{Unit: api.UnitHour, Buckets: buckets(3, 0, 6), Missing: 2})
	v := ansi.Strip(m.View())
	lines := strings.Split(v, "\n")
	if len(lines) != Height || !strings.Contains(lines[0], "VOLUME per hour (UTC) · peak 6 · 2 without a time") {
		t.Fatalf("view:\n%s", v)
	}
	if !strings.HasPrefix(lines[Height-1], "2026-03-01 00:00") || !strings.Contains(lines[Height-1], "2026-03-01 02:00") {
		t.Fatalf("axis %q", lines[Height-1])
	}
	// Three columns of 8 cells (7 and a gap): the peak fills the last one.
	if !strings.HasPrefix(lines[1], strings.Repeat(" ", 16)+"███████ ") || !strings.HasPrefix(lines[4], "███████ "+strings.Repeat(" ", 8)+"███████ ") {
		t.Fatalf("top row %q", lines[1])
	}
	for _, l := range lines {
		if ansi.StringWidth(l) != 60 {
			t.Fatalf("line %q is %d wide", l, ansi.StringWidth(l))
		}
	}
	m.Set(&api.Histogram{Unit: api.UnitDay, Buckets: buckets(make([]int, 100)...)})
	if v := ansi.Strip(m.View()); !strings.Contains(v, "VOLUME per 2 days") {
		t.Fatalf("merged:\n%s", v)
	}
	m.Set(&api.Histogram{Unit: api.UnitDay})
	if v := m.View(); !strings.Contains(v, "no match with a known time") {
		t.Fatalf("empty: %q", v)
	}
}
