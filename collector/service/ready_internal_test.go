package service

import (
	"strings"
	"testing"
)

// TestHookReady: the index hook is ready while its batcher writes, not
// before it is attached nor after it is closed (the collector's /readyz).
func TestHookReady(t *testing.T) {
	h := &hook{}
	if err := h.Ready(); err == nil || !strings.Contains(err.Error(), "not open") {
		t.Errorf("unattached: %v", err)
	}
	h.b = &batcher{}
	if err := h.Ready(); err != nil {
		t.Errorf("attached: %v", err)
	}
	h.b.closed = true
	if err := h.Ready(); err == nil || !strings.Contains(err.Error(), "closed") {
		t.Errorf("closed: %v", err)
	}
}
