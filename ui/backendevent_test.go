package ui

import (
	"strings"
	"testing"
	"time"

	"github.com/charmbracelet/x/ansi"

	"github.com/smtpscope/smtpscope/collector/api"
)

// TestBackendEventNotice: when the backend reaches the data dir another
// way (the owner quit), the model says how in the status line and loads
// the list, status and facets again.
func TestBackendEventNotice(t *testing.T) {
	m := New(Options{Backend: memoryFixture(t), Plain: true, NoTick: true, Now: func() time.Time { return fixedNow }})
	t.Cleanup(m.Close)
	m.Update(eventMsg{ok: true, ev: api.Event{Type: api.EventBackend, State: "the owner of the data dir quit: this UI took it over"}})
	if !m.refreshDirty || !m.statusDirty || !m.facetsDirty {
		t.Fatalf("nothing is loaded again: refresh %v status %v facets %v", m.refreshDirty, m.statusDirty, m.facetsDirty)
	}
	if f := ansi.Strip(m.View().Content); !strings.Contains(f, "this UI took it over") {
		t.Fatalf("no notice in the frame:\n%s", f)
	}
	if m.msgErr {
		t.Fatal("the notice is drawn as an error")
	}
}
