package ui

import (
	"strings"
	"testing"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"
)

func TestViewsSessionsAndReview(t *testing.T) {
	m, tm := newTestModel(t, fixtureBackend(t), false)
	waitFor(t, m, "Weekly digest")
	press(tm, "v")
	waitFor(t, m, "sessions without email · 2 results", "demo-starttls: START")
	press(tm, "j", "enter")
	waitFor(t, m, "Session without email", "STARTTLS: the rest of the session is encrypted")
	press(tm, "2")
	waitFor(t, m, "C: STARTTLS", "S: 220 2.0.0 Ready to start TLS")
	_, f := frame(t, m, tm)
	golden(t, "session_transcript", f)

	m, tm = newTestModel(t, fixtureBackend(t), false)
	waitFor(t, m, "Weekly digest")
	press(tm, "v", "v")
	waitFor(t, m, "review · 1 results", "demo-garbage.session")
	press(tm, "enter")
	waitFor(t, m, "Review entry (could not be parsed)", "not a session file")
	press(tm, "2")
	waitFor(t, m, `\x00\x01\x02PK\x03\x04 this is not an SMTP session\xff\xfe`)
	_, f = frame(t, m, tm)
	golden(t, "review_data", f)
}

func TestQuickFiltersFacetsSort(t *testing.T) {
	m, tm := newTestModel(t, fixtureBackend(t), false)
	waitFor(t, m, "Weekly digest")
	press(tm, "1")
	waitFor(t, m, "/ has:attachment", "2 results")
	press(tm, "1")
	waitFor(t, m, "7 results")
	// The facets of has:attachment may still be shown: wait for these
	// (the panel, left of the list, lists the digest's sender domain).
	waitUntil(t, m, func(f string) bool {
		for _, l := range strings.Split(f, "\n") {
			if i := strings.Index(l, "│"); i > 0 && strings.Contains(l[:i], "news.example.org") {
				return true
			}
		}
		return false
	})
	// Facet panel: focus, move to the first sender domain, select.
	press(tm, "f", "enter")
	waitFor(t, m, "/ sender:news.example.org", "2 results", "✓ news.example.org")
	press(tm, "esc", "s")
	waitFor(t, m, "oldest first")
	fm, f := frame(t, m, tm)
	if fm.query != "sender:news.example.org" {
		t.Fatalf("query = %q", fm.query)
	}
	if !strings.Contains(f, "oldest first") {
		t.Fatal("sort not shown")
	}
}

func TestCopyIOC(t *testing.T) {
	m, tm := newTestModel(t, fixtureBackend(t), false)
	openEmail(t, m, tm, "ioc:login.evil-payload.example.com", "Your account")
	press(tm, "7", "y")
	waitFor(t, m, "copied IOC to the clipboard")
	tm.Quit()
}

func TestResizeAndMouse(t *testing.T) {
	m, tm := newTestModel(t, fixtureBackend(t), false)
	waitFor(t, m, "Weekly digest")
	tm.Send(tea.WindowSizeMsg{Width: 90, Height: 20})
	waitUntil(t, m, func(f string) bool {
		lines := strings.Split(f, "\n")
		return len(lines) == 20 && !strings.Contains(f, "FACETS") // the panel hides when narrow
	})
	tm.Send(tea.MouseWheelMsg{Button: tea.MouseWheelDown})
	fm, f := frame(t, m, tm)
	if fm.list.Cursor() != 3 {
		t.Fatalf("wheel: cursor at %d, want 3", fm.list.Cursor())
	}
	for i, l := range strings.Split(f, "\n") {
		if w := len([]rune(stripANSI(l))); w > 90 {
			t.Fatalf("line %d is %d cells wide at width 90", i, w)
		}
	}
}

func stripANSI(s string) string { return ansi.Strip(s) }

func TestLightGolden(t *testing.T) {
	m, tm := newTestModel(t, fixtureBackend(t), false)
	waitFor(t, m, "Weekly digest")
	press(tm, "T") // dark -> light
	waitUntil(t, m, func(string) bool { return true })
	fm, f := frame(t, m, tm)
	if fm.ctx.Styles.Dark {
		t.Fatal("T did not switch to the light styles")
	}
	golden(t, "list_light", f)
}
