package ui

import (
	"strings"
	"testing"

	tea "charm.land/bubbletea/v2"

	"github.com/smtpscope/smtpscope/ui/search"
)

// TestSearchAsYouType: the list follows the keys typed in the search bar
// (the last word matching as a prefix) before Enter; Enter runs the exact
// query; Esc goes back to the results of the query that was run.
func TestSearchAsYouType(t *testing.T) {
	m, tm := newTestModel(t, fixtureBackend(t), false)
	waitFor(t, m, "Weekly digest", "7 results")
	press(tm, "/")
	for _, r := range "invoi" {
		press(tm, string(r))
	}
	waitFor(t, m, "2 results", "Invoice INV-2025-1187") // and the hostile one, that names an invoice
	if f := *m.last.Load(); strings.Contains(f, "Weekly digest") {
		t.Fatalf("as-you-type results still list the digest:\n%s", f)
	}
	// Enter: the exact query, where "invoi" is no word of the invoice.
	press(tm, "enter")
	waitFor(t, m, "0 results")
	// Typing again then Esc: back to the exact query's results.
	press(tm, "/")
	for range "invoi" {
		tm.Send(tea.KeyPressMsg{Code: tea.KeyBackspace})
	}
	waitFor(t, m, "7 results", "Weekly digest")
	press(tm, "esc")
	waitFor(t, m, "0 results")
	fm, _ := frame(t, m, tm)
	if fm.query != "invoi" || fm.typing.active {
		t.Fatalf("after esc: query %q, as-you-type %v", fm.query, fm.typing.active)
	}
}

// TestTypingStaleDropped: only the wait started by the last edit searches;
// the waits of earlier edits, and any wait once the bar is left, do nothing.
func TestTypingStaleDropped(t *testing.T) {
	m := New(Options{Backend: memoryFixture(t), Plain: true, NoTick: true})
	t.Cleanup(m.Close)
	m.Update(keyMsg("/"))
	for _, r := range "inv" {
		if _, cmd := m.Update(keyMsg(string(r))); cmd == nil {
			t.Fatalf("the edit %q started no debounce tick", r)
		}
	}
	if m.typing.seq != 3 || m.typing.active {
		t.Fatalf("after 3 keys: seq %d, active %v", m.typing.seq, m.typing.active)
	}
	for i, stale := range []int{1, 2} {
		if _, cmd := m.Update(typingMsg{seq: stale}); cmd != nil || m.typing.active {
			t.Fatalf("wait %d of an older edit started a search", i+1)
		}
	}
	_, cmd := m.Update(typingMsg{seq: 3})
	if cmd == nil || !m.typing.active {
		t.Fatal("the last edit's wait searched nothing")
	}
	msg, ok := cmd().(searchMsg)
	if !ok || !msg.typed || msg.err != nil {
		t.Fatalf("as-you-type search: %#v", msg)
	}
	m.Update(msg)
	if !m.list.Has("demo-invoice.0") || m.list.Total() == 0 || m.list.Total() >= 7 {
		t.Fatalf("inv as you type: %d rows, invoice among them: %v", m.list.Total(), m.list.Has("demo-invoice.0"))
	}
	// Esc leaves the bar: the list goes back to the query that was run.
	_, cmd = m.Update(keyMsg("esc"))
	if cmd == nil {
		t.Fatal("esc: no command")
	}
	if _, cmd = m.Update(search.CancelMsg{}); cmd == nil {
		t.Fatal("esc: the exact query's results are not searched again")
	}
	if m.typing.active {
		t.Fatal("esc left as-you-type on")
	}
	if _, c := m.Update(typingMsg{seq: m.typing.seq}); c != nil {
		t.Fatal("a wait after esc started a search")
	}
}
