package ui

import (
	"fmt"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/colorprofile"
	"github.com/charmbracelet/x/exp/teatest/v2"

	"github.com/smtpscope/smtpscope/collector/api"
)

// goldenSizes are the terminal sizes the screens of the command line,
// the sorts and the timeline are drawn at in golden frames.
var goldenSizes = []struct{ w, h int }{{80, 24}, {120, 40}, {160, 45}}

// newSizedModel is newTestModel at w x h, with o's fields (DataDir,
// StateDir, Dark) set as given; dark unless o.Dark says otherwise.
func newSizedModel(t *testing.T, b api.Backend, w, h int, o Options) (*Model, *teatest.TestModel) {
	t.Helper()
	if o.Dark == nil {
		dark := true
		o.Dark = &dark
	}
	o.Backend, o.Now, o.NoTick, o.Title = testClock{b}, func() time.Time { return fixedNow }, true, "fixture"
	if o.ExportDir == "" {
		o.ExportDir = t.TempDir()
	}
	m := New(o)
	t.Cleanup(m.Close)
	tm := teatest.NewTestModel(t, m,
		teatest.WithInitialTermSize(w, h),
		teatest.WithProgramOptions(tea.WithColorProfile(colorprofile.ANSI)))
	return m, tm
}

// waitFirstRow waits until the list's first row shows sub: the answer
// of the last search is drawn (an earlier one may show the same count).
func waitFirstRow(t *testing.T, m *Model, sub string) {
	t.Helper()
	waitUntil(t, m, func(f string) bool {
		lines := strings.Split(f, "\n")
		for i, l := range lines {
			if strings.Contains(l, "TIME (UTC)") && i+1 < len(lines) {
				return strings.Contains(lines[i+1], sub)
			}
		}
		return false
	})
}

// waitRows waits until the list's rows, from the first, contain subs in
// that order (one per row): a frame of a sorted list is taken only once
// the answer of the last sort is drawn, not a previous order's rows.
func waitRows(t *testing.T, m *Model, subs ...string) {
	t.Helper()
	waitUntil(t, m, func(f string) bool {
		lines := strings.Split(f, "\n")
		for i, l := range lines {
			if !strings.Contains(l, "TIME (UTC)") {
				continue
			}
			for k, sub := range subs {
				if i+1+k >= len(lines) || !strings.Contains(lines[i+1+k], sub) {
					return false
				}
			}
			return true
		}
		return false
	})
}

// frameSized is frame for any size: it waits for the status bar's state
// (at 80 columns a message hides its queue counts).
func frameSized(t *testing.T, m *Model, tm *teatest.TestModel) (*Model, string) {
	t.Helper()
	return frameAfter(t, m, tm, "● watching")
}

// sizeName is the golden name suffix of a size: "80x24".
func sizeName(w, h int) string { return fmt.Sprintf("%dx%d", w, h) }

// waitUntilTrue waits for ok (what a tea.Cmd does in the background).
func waitUntilTrue(t *testing.T, ok func() bool, what string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !ok(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal(what)
		}
	}
}
