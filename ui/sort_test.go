package ui

import (
	"slices"
	"strings"
	"testing"

	"github.com/charmbracelet/x/ansi"

	"github.com/smtpscope/smtpscope/collector/api"
)

// `s` cycles the orders of api.Sorts; each reorders the rows through the
// index and the header and the sorted column say which order it is.
func TestSortKeyCycles(t *testing.T) {
	m, tm := newTestModel(t, fixtureBackend(t), false)
	waitFor(t, m, "Weekly digest", "newest first", "TIME (UTC)▼")
	press(tm, "s")
	waitFor(t, m, "oldest first", "TIME (UTC)▲")
	press(tm, "s")
	waitFor(t, m, "by size ▼")
	waitFirstRow(t, m, "Invoice INV-2025-1187")
	fm, f := frame(t, m, tm)
	if fm.sort != "-size" {
		t.Fatalf("sort = %q", fm.sort)
	}
	if fm.list.Len() == 0 {
		t.Fatal("no rows")
	}
	var sizes []int64
	for i := range fm.list.Len() {
		sizes = append(sizes, fm.list.Row(i).Size)
	}
	if !slices.IsSortedFunc(sizes, func(a, b int64) int { return int(b - a) }) {
		t.Fatalf("rows not by size, descending: %v", sizes)
	}
	if !strings.Contains(ansi.Strip(f), "by size ▼") {
		t.Fatal("header does not say the sort")
	}
}

// Every order of the cycle is one the index accepts, and the cycle comes
// back to newest first.
func TestSortCycleIsComplete(t *testing.T) {
	s := "-time"
	for range api.Sorts {
		if _, err := api.ParseSort(s); err != nil {
			t.Fatal(err)
		}
		s = nextSort(s)
	}
	if s != "-time" {
		t.Fatalf("cycle ends at %q", s)
	}
	if nextSort("-sender") != api.Sorts[0] {
		t.Fatal("an order outside the cycle does not restart it")
	}
}

// The sorted list at each golden size, dark and light: the arrow on the
// sorted column.
func TestSortGolden(t *testing.T) {
	for _, sz := range goldenSizes {
		for _, th := range themes {
			name := "sort_attachments_" + sizeName(sz.w, sz.h) + th.suffix
			t.Run(name, func(t *testing.T) {
				m, tm := newSizedModel(t, fixtureBackend(t), sz.w, sz.h, Options{Dark: &th.dark})
				waitFor(t, m, "newest first")
				press(tm, "s", "s", "s", "s", "s")
				waitFor(t, m, "by attachments ▼", "7 results")
				waitRows(t, m, "Invoice INV-2025-1187", "Hostile", "Weekly digest ✓", "Weekly digest #47", "Your account", "bounce", "pipelined")
				_, f := frameSized(t, m, tm)
				goldenH(t, name, f, sz.h)
			})
		}
	}
}

// `t` shows the volume of the result set over time above the list,
// counted by the index; a query changes it; `t` again hides it.
func TestTimeline(t *testing.T) {
	m, tm := newTestModel(t, fixtureBackend(t), false)
	waitFor(t, m, "Weekly digest", "queue ")
	press(tm, "t")
	waitFor(t, m, "VOLUME per", "2023-11-14", "2025-11-22")
	press(tm, "/")
	tm.Type("after:2025-11-22")
	press(tm, "enter")
	waitFor(t, m, "5 results", "VOLUME per hour (UTC) · peak 2", "2025-11-22 08:00", "2025-11-22 11:00")
	fm, _ := frame(t, m, tm)
	h := fm.tl.Histogram()
	n := h.Missing
	for _, b := range h.Buckets {
		n += b.Count
	}
	if h.Unit != api.UnitHour || len(h.Buckets) != 4 || n != 5 {
		t.Fatalf("histogram %+v", h)
	}

	m, tm = newTestModel(t, fixtureBackend(t), false)
	waitFor(t, m, "Weekly digest")
	press(tm, "t", "t")
	fm, f := frame(t, m, tm)
	if fm.showTimeline || strings.Contains(f, "VOLUME") {
		t.Fatal("t does not hide the timeline")
	}
}

func TestTimelineGolden(t *testing.T) {
	for _, sz := range goldenSizes {
		for _, th := range themes {
			name := "timeline_" + sizeName(sz.w, sz.h) + th.suffix
			t.Run(name, func(t *testing.T) {
				m, tm := newSizedModel(t, fixtureBackend(t), sz.w, sz.h, Options{Query: "after:2025-11-22", Dark: &th.dark})
				waitFor(t, m, "Weekly digest")
				press(tm, "t")
				waitFor(t, m, "VOLUME per hour")
				_, f := frameSized(t, m, tm)
				goldenH(t, name, f, sz.h)
			})
		}
	}
}
