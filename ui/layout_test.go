package ui

import (
	"fmt"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/colorprofile"
	"github.com/charmbracelet/x/ansi"
	"github.com/charmbracelet/x/exp/teatest/v2"

	"github.com/smtpscope/smtpscope/collector/api"
	"github.com/smtpscope/smtpscope/core"
	"github.com/smtpscope/smtpscope/internal/fakebackend"
	"github.com/smtpscope/smtpscope/ui/list"
)

// sizes are the terminal sizes every changed screen is drawn at.
var sizes = []struct{ w, h int }{{80, 24}, {120, 40}, {160, 45}}

// newSized is newTestModel at a w×h terminal, dark or light, with title.
func newSized(t *testing.T, b api.Backend, w, h int, dark bool, title string) (*Model, *teatest.TestModel) {
	t.Helper()
	m := New(Options{Backend: testClock{b}, Dark: &dark, Now: func() time.Time { return fixedNow }, NoTick: true, ExportDir: t.TempDir(), Title: title})
	t.Cleanup(m.Close)
	tm := teatest.NewTestModel(t, m,
		teatest.WithInitialTermSize(w, h),
		teatest.WithProgramOptions(tea.WithColorProfile(colorprofile.ANSI)))
	return m, tm
}

// bulkBackend is the fake backend with n plain emails "bulk 000"…, one a
// minute before the test clock (newest first: bulk 000 on top).
func bulkBackend(t *testing.T, n int) *fakebackend.Memory {
	t.Helper()
	b := fakebackend.NewMemory(t, "default")
	b.Now = func() time.Time { return fixedNow }
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("bulk-%03d.0", i)
		e := &core.Email{ID: id, Subject: fmt.Sprintf("bulk %03d", i), From: "a@example.org",
			Envelope: core.Envelope{MailFrom: "a@example.org", RcptTo: []string{"b@example.net"}},
			Session:  core.SessionInfo{UID: fmt.Sprintf("bulk-%03d", i), Time: fixedNow.Add(-time.Duration(i) * time.Minute), SourceIP: "192.0.2.7"}}
		b.AddEmail(e, []byte("Subject: x\r\n\r\nbody\r\n"), nil, nil)
	}
	return b
}

// frameLines returns the plain lines of the model's last frame.
func frameLines(m *Model) []string {
	p := m.last.Load()
	if p == nil {
		return nil
	}
	return strings.Split(ansi.Strip(*p), "\n")
}

// listHeading is the list's column heading line of the last frame.
func listHeading(t *testing.T, m *Model) string {
	t.Helper()
	for _, l := range frameLines(m) {
		if strings.Contains(l, "TIME (UTC)") {
			return l
		}
	}
	t.Fatalf("no list heading in:\n%s", strings.Join(frameLines(m), "\n"))
	return ""
}

// TestFacetsYieldToTriageColumns: the facet panel is drawn only when the
// list beside it keeps SOURCE, ATT, IOC and YARA; at 120 columns it
// hides (until `f` focuses it), at 160 it shows.
func TestFacetsYieldToTriageColumns(t *testing.T) {
	for _, sz := range sizes {
		t.Run(fmt.Sprintf("%dx%d", sz.w, sz.h), func(t *testing.T) {
			m, tm := newSized(t, fixtureBackend(t), sz.w, sz.h, true, "fixture")
			waitFor(t, m, "Weekly digest")
			head := listHeading(t, m)
			panel := strings.Contains(head, "FACETS")
			if want := sz.w-30 >= list.FullWidth(); panel != want {
				t.Fatalf("facet panel shown=%v at %d columns: %q", panel, sz.w, head)
			}
			if sz.w >= list.FullWidth() {
				for _, col := range []string{"SOURCE", "ATT", "IOC", "YARA"} {
					if !strings.Contains(head, col) {
						t.Errorf("at %d columns the list lost %s: %q", sz.w, col, head)
					}
				}
			}
			if panel {
				tm.Quit()
				return
			}
			// `f` brings the panel while it has the focus, esc hides it.
			press(tm, "f")
			waitUntil(t, m, func(f string) bool { return strings.Contains(f, "FACETS") && strings.Contains(f, "back to the list") })
			press(tm, "esc")
			waitUntil(t, m, func(f string) bool { return !strings.Contains(f, "FACETS") })
			// Focused, then the window too narrow for the panel: the focus
			// goes back to the list (keys move the list, not a hidden panel).
			press(tm, "f")
			waitFor(t, m, "FACETS")
			tm.Send(tea.WindowSizeMsg{Width: 60, Height: sz.h})
			waitUntil(t, m, func(f string) bool { return !strings.Contains(f, "FACETS") })
			tm.Send(tea.WindowSizeMsg{Width: sz.w, Height: sz.h})
			waitUntil(t, m, func(f string) bool {
				return strings.Contains(f, "TIME (UTC)") && len(strings.SplitN(f, "\n", 2)[0]) >= sz.w
			})
			if strings.Contains(strings.Join(frameLines(m), "\n"), "FACETS") {
				t.Errorf("the panel came back focused after the window was narrowed and widened")
			}
			if !strings.Contains(listHeading(t, m), "YARA") && sz.w >= list.FullWidth() {
				t.Errorf("after esc the list did not get its columns back")
			}
			tm.Quit()
		})
	}
}

// TestTitleUsesTheWidth: the header's title (the data dir) is cut only
// when the header has no room for it, keeping its end.
func TestTitleUsesTheWidth(t *testing.T) {
	title := "/srv/forensics/cases/2025-11-incident-4711/smtpscope-data"
	m, tm := newSized(t, fixtureBackend(t), 160, 30, true, title)
	waitFor(t, m, "Weekly digest")
	if h := frameLines(m)[0]; !strings.Contains(h, title+" · emails") {
		t.Errorf("at 160 columns the title is cut: %q", h)
	}
	tm.Send(tea.WindowSizeMsg{Width: 80, Height: 24})
	waitUntil(t, m, func(f string) bool {
		return strings.Contains(strings.SplitN(f, "\n", 2)[0], "…cident-4711/smtpscope-data · emails")
	})
	h := frameLines(m)[0]
	if w := ansi.StringWidth(h); w != 80 {
		t.Errorf("header is %d cells at 80 columns: %q", w, h)
	}
	if !strings.Contains(h, "7 results") {
		t.Errorf("the title pushed the result count out: %q", h)
	}
	tm.Quit()
}

// TestResizeShowsEveryRow: scrolled to the bottom, shrinking the window
// then enlarging it again shows every row from the first (none left
// hidden above an empty screen).
func TestResizeShowsEveryRow(t *testing.T) {
	m, tm := newSized(t, bulkBackend(t, 30), 160, 45, true, "fixture")
	waitFor(t, m, "bulk 000", "bulk 029")
	press(tm, "G")
	tm.Send(tea.WindowSizeMsg{Width: 80, Height: 24})
	waitUntil(t, m, func(f string) bool { return !strings.Contains(f, "bulk 000") && strings.Contains(f, "bulk 029") })
	tm.Send(tea.WindowSizeMsg{Width: 160, Height: 45})
	waitUntil(t, m, func(f string) bool {
		return strings.Contains(strings.SplitN(f, "\n", 2)[0], "30 results") && len(strings.Split(f, "\n")) == 45
	})
	f := strings.Join(frameLines(m), "\n")
	for i := 0; i < 30; i++ {
		if s := fmt.Sprintf("bulk %03d", i); !strings.Contains(f, s) {
			t.Errorf("after 160→80→160 %q is hidden:\n%s", s, f)
		}
	}
	tm.Quit()
}

// TestLayoutGoldens draws every screen this layout work changed — the
// list (facet panel or not, 4-cell counters), the detail's tab bar and
// attachments table, and a find in the body — at 80x24, 120x40 and
// 160x45, dark and light, against testdata/ui/layout_*.golden. The fake
// backend serves the demo samples: no collector runs, so no notice with
// a random port can reach the status bar.
func TestLayoutGoldens(t *testing.T) {
	screens := []struct {
		name string
		run  func(t *testing.T, m *Model, tm *teatest.TestModel)
	}{
		{"list", func(t *testing.T, m *Model, tm *teatest.TestModel) {
			waitFor(t, m, "Weekly digest", "Invoice INV-2025-1187")
		}},
		{"facets", func(t *testing.T, m *Model, tm *teatest.TestModel) {
			waitFor(t, m, "Weekly digest", "Invoice INV-2025-1187")
			press(tm, "f")
			waitFor(t, m, "FACETS", "back to the list", "md5") // the counts are in
			press(tm, "down")
		}},
		{"attachments", func(t *testing.T, m *Model, tm *teatest.TestModel) {
			openByQuery(t, m, tm, "subject:INV-2025-1187", "demo-invoice.0")
			press(tm, "6")
			waitFor(t, m, "Selected attachment", "FILENAME")
		}},
		{"find", func(t *testing.T, m *Model, tm *teatest.TestModel) {
			openByQuery(t, m, tm, "ioc:login.evil-payload.example.com", "demo-phish.0")
			press(tm, "4", "/")
			tm.Type("evil")
			press(tm, "enter", "n")
			waitFor(t, m, "/evil  2/")
		}},
	}
	for _, sc := range screens {
		for _, sz := range sizes {
			for _, dark := range []bool{true, false} {
				theme := map[bool]string{true: "dark", false: "light"}[dark]
				name := fmt.Sprintf("layout_%s_%dx%d_%s", sc.name, sz.w, sz.h, theme)
				t.Run(name, func(t *testing.T) {
					m, tm := newSized(t, memoryFixture(t), sz.w, sz.h, dark, "fixture")
					sc.run(t, m, tm)
					_, f := frame(t, m, tm)
					goldenH(t, name, f, sz.h)
					for i, l := range strings.Split(ansi.Strip(f), "\n") {
						if w := ansi.StringWidth(l); w > sz.w {
							t.Errorf("line %d is %d cells wide, more than %d: %q", i, w, sz.w, l)
						}
					}
				})
			}
		}
	}
}

// openByQuery searches for query and opens its one result (id).
func openByQuery(t *testing.T, m *Model, tm *teatest.TestModel, query, id string) {
	t.Helper()
	waitFor(t, m, "Weekly digest")
	press(tm, "/")
	tm.Type(query)
	press(tm, "enter")
	waitFor(t, m, "1 results")
	press(tm, "enter")
	waitFor(t, m, "email "+id, "MAIL FROM")
}
