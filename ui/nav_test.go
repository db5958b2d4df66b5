package ui

import (
	"strings"
	"testing"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/smtpscope/smtpscope/ui/detail"
)

// TestNextPrevEmail: J and K open the next and previous rows of the list
// from the detail, on the same tab; at either end a notice says so.
func TestNextPrevEmail(t *testing.T) {
	m, tm := newTestModel(t, fixtureBackend(t), false)
	waitFor(t, m, "Weekly digest", "Invoice INV-2025-1187")
	press(tm, "enter")
	waitFor(t, m, "1 Summary", "email demo-hostile.0")
	press(tm, "3")
	waitFor(t, m, "decoded header values")
	press(tm, "K")
	waitFor(t, m, "no previous email in the list")
	press(tm, "J")
	waitFor(t, m, "Weekly digest ✓", "decoded header values")
	press(tm, "J", "J")
	waitFor(t, m, "email demo-invoice.0", "decoded header values")
	press(tm, "K")
	waitFor(t, m, "Weekly digest #47")
	fm, _ := frame(t, m, tm)
	if fm.detail == nil || fm.detail.Tab() != detail.TabHeaders {
		t.Fatalf("the detail did not stay on the Headers tab")
	}
	if fm.list.Cursor() != 2 || fm.detail.Row.ID != fm.list.Selected().ID {
		t.Fatalf("list cursor %d, detail of %s", fm.list.Cursor(), fm.detail.Row.ID)
	}
}

// TestFindFromRoot: in the detail, `/` opens the find prompt and every key
// is text there (?, q, T, p are not help, back, theme, pause); esc clears
// the find, a second esc goes back to the list.
func TestFindFromRoot(t *testing.T) {
	m, tm := newTestModel(t, fixtureBackend(t), false)
	openEmail(t, m, tm, "ioc:login.evil-payload.example.com", "Your account")
	press(tm, "4", "/")
	tm.Type("evil-payload")
	waitUntil(t, m, func(f string) bool { return strings.Contains(f, "/evil-payload") && strings.Contains(f, "1/") })
	press(tm, "?", "q", "T", "p")
	waitFor(t, m, "/evil-payload?qTp", "no match")
	for range 4 {
		tm.Send(tea.KeyPressMsg{Code: tea.KeyBackspace})
	}
	press(tm, "enter", "n")
	waitFor(t, m, "2/", "next match")
	press(tm, "esc")
	waitUntil(t, m, func(f string) bool { return !strings.Contains(f, "/evil-payload") && strings.Contains(f, "4 Body") })
	press(tm, "esc")
	waitFor(t, m, "TIME (UTC)")
	fm, _ := frame(t, m, tm)
	if fm.detail != nil || fm.help.Open || !fm.ctx.Styles.Dark {
		t.Fatalf("keys typed in the find prompt acted: detail %v, help %v, dark %v", fm.detail != nil, fm.help.Open, fm.ctx.Styles.Dark)
	}
}

func click(x, y int) tea.MouseClickMsg {
	return tea.MouseClickMsg{X: x, Y: y, Button: tea.MouseLeft}
}

// TestMouse: a click on a list row selects it, a second click opens it; a
// click on a tab of the detail selects the tab.
func TestMouse(t *testing.T) {
	m, tm := newTestModel(t, fixtureBackend(t), false)
	waitFor(t, m, "Weekly digest", "Invoice INV-2025-1187")
	// Header, search bar, list heading: the 4th row is on screen line 6,
	// the 5th on line 7. Clicks on two rows select (had the first opened
	// the invoice, the next clicks would fall on its body); a second
	// click on the selected row opens it.
	tm.Send(click(60, 6))
	tm.Send(click(60, 7))
	tm.Send(click(60, 7))
	waitFor(t, m, "1 Summary", "Your account has been limited")
	var x int
	waitUntil(t, m, func(f string) bool {
		bar := strings.Split(f, "\n")[1]
		i := strings.Index(bar, "6 Attachments")
		x = ansi.StringWidth(bar[:max(i, 0)])
		return i >= 0
	})
	tm.Send(click(x+2, 1))
	waitFor(t, m, "(no attachments)")
	// A click in the facet panel area of the detail does nothing.
	tm.Send(click(5, 10))
	fm, _ := frame(t, m, tm)
	if fm.detail == nil || fm.detail.Tab() != detail.TabAttachments || fm.list.Cursor() != 4 {
		t.Fatalf("after the clicks: detail %v, list cursor %d", fm.detail != nil, fm.list.Cursor())
	}
}
