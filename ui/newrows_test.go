package ui

import (
	"testing"

	"github.com/smtpscope/smtpscope/collector/api"
)

// TestNewRowsSkipsListedEmails: an email event counts as new only when
// the list does not show that email already (events are told once the
// email is searchable, so a search in between may have listed it).
func TestNewRowsSkipsListedEmails(t *testing.T) {
	m := New(Options{Backend: memoryFixture(t), NoTick: true})
	t.Cleanup(m.Close)
	m.list.SetResult(&api.SearchResult{Total: 1, Rows: []api.Row{{ID: "listed.0"}}}, "")
	m.onEvent(api.Event{Type: api.EventEmail, ID: "listed.0"})
	if m.newRows != 0 {
		t.Errorf("an event for a listed email counted as new: %d", m.newRows)
	}
	m.onEvent(api.Event{Type: api.EventEmail, ID: "unseen.0"})
	if m.newRows != 1 || !m.refreshDirty {
		t.Errorf("a new email: newRows %d, refresh %v", m.newRows, m.refreshDirty)
	}
}
