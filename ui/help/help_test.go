package help

import (
	"strings"
	"testing"
	"time"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/smtpscope/smtpscope/ui/common"
	"github.com/smtpscope/smtpscope/ui/keys"
	"github.com/smtpscope/smtpscope/ui/styles"
)

func newHelp(w, h int) *Model {
	ctx := &common.Context{Styles: styles.NewPlain(), Keys: keys.Default(), Loc: time.UTC, Now: time.Now}
	m := New(ctx)
	m.SetSize(w, h)
	k := ctx.Keys
	n, l, g := k.Nav, k.List, k.Global
	m.Show([]Section{{Title: "keys", Keys: [][]key.Binding{
		{n.Up, n.Down, n.PageUp, n.PageDown, n.Top, n.Bottom, l.Open},
		{l.Search, l.Facets, l.HideFacets, l.Timeline, l.Sort, l.View},
		{l.Resubmit, l.Export, l.Command, g.Pause, g.Theme, g.Refresh, g.Help, g.Quit},
	}}}, true)
	return m
}

// TestHelpWrapsColumns: at 80 columns the key columns that do not fit
// side by side go under one another: every key's description is on
// screen, no key line cut with "…", no line wider than the screen.
func TestHelpWrapsColumns(t *testing.T) {
	for _, w := range []int{60, 80, 160} {
		m := newHelp(w, 200)
		v := ansi.Strip(m.View())
		for _, d := range []string{"up", "open / select", "cycle sort", "emails/sessions/review/all", "resubmit", "command line", "pause/resume collector", "quit"} {
			if !strings.Contains(v, d) {
				t.Errorf("at %d columns the help lacks %q:\n%s", w, d, v)
			}
		}
		for i, l := range strings.Split(v, "\n") {
			if ansi.StringWidth(l) > w {
				t.Errorf("at %d columns line %d is %d wide: %q", w, i, ansi.StringWidth(l), l)
			}
			if strings.HasSuffix(strings.TrimSpace(l), "…") && i < strings.Count(v[:strings.Index(v, "Query language")], "\n") {
				t.Errorf("at %d columns line %d is cut: %q", w, i, l)
			}
		}
	}
	// Wide enough, the columns stay side by side.
	side := func(w int) bool {
		for _, l := range strings.Split(ansi.Strip(newHelp(w, 200).View()), "\n") {
			if strings.Contains(l, "up") && strings.Contains(l, "search") && strings.Contains(l, "resubmit") {
				return true
			}
		}
		return false
	}
	if !side(160) || side(80) {
		t.Errorf("side by side at 160: %v, at 80: %v", side(160), side(80))
	}
}

// TestHelpScrolls: taller than the screen, the help shows a window of
// it and a last line saying what is above and below; the navigation
// keys scroll it, never past either end; what fits is not scrolled.
func TestHelpScrolls(t *testing.T) {
	m := newHelp(80, 10)
	all := m.lines()
	if len(all) <= 10 {
		t.Fatalf("help of %d lines fits 10", len(all))
	}
	view := func() []string { return strings.Split(ansi.Strip(m.View()), "\n") }
	v := view()
	if len(v) != 10 || !strings.Contains(v[9], "0 lines above") || v[0] != ansi.Strip(all[0]) {
		t.Fatalf("top:\n%s", strings.Join(v, "\n"))
	}
	press := func(s string, code rune) { m.Update(tea.KeyPressMsg{Code: code, Text: s}) }
	press("j", 'j')
	if v = view(); v[0] != ansi.Strip(all[1]) || !strings.Contains(v[9], "1 lines above") {
		t.Fatalf("after j:\n%s", strings.Join(v, "\n"))
	}
	press("G", 'G')
	v = view()
	if v[8] != ansi.Strip(all[len(all)-1]) || !strings.Contains(v[9], ", 0 below") {
		t.Fatalf("bottom:\n%s", strings.Join(v, "\n"))
	}
	press("j", 'j') // past the end: stays
	if v2 := view(); strings.Join(v2, "\n") != strings.Join(v, "\n") {
		t.Fatalf("scrolled past the end:\n%s", strings.Join(v2, "\n"))
	}
	press("g", 'g')
	if v = view(); !strings.Contains(v[9], "0 lines above") {
		t.Fatalf("g: %q", v[9])
	}
	press("k", 'k') // before the top: stays
	if v = view(); !strings.Contains(v[9], "0 lines above") {
		t.Fatalf("k at the top: %q", v[9])
	}
	// Reopened: at the top again.
	press("G", 'G')
	m.View()
	m.Show(m.sections, true)
	if v = view(); !strings.Contains(v[9], "0 lines above") {
		t.Fatalf("reopened: %q", v[9])
	}
	if big := newHelp(160, 200); strings.Contains(big.View(), "lines above") {
		t.Fatal("a help that fits says it scrolls")
	}
}
