package collector

import (
	"sync"
	"time"

	"github.com/smtpscope/smtpscope/core"
)

// EventType names what happened.
type EventType string

// Event types.
const (
	EventSession    EventType = "session"    // a session file was stored (Session, Emails)
	EventEmail      EventType = "email"      // an email was stored and queued (Email, Record)
	EventSubmission EventType = "submission" // a submission changed state (Submission)
	EventReview     EventType = "review"     // a session file went to review/ (Review)
	EventRemoved    EventType = "removed"    // retention removed an email (EmailID)
	EventError      EventType = "error"      // an error the user should see (Err)
)

// Event is one thing the collector did, for live UIs. Events are sent
// after the change is committed.
type Event struct {
	Type       EventType         `json:"type"`
	Time       time.Time         `json:"time"`
	Session    *SessionMeta      `json:"session,omitempty"`
	EmailID    string            `json:"email_id,omitempty"`
	Email      *EmailMeta        `json:"email,omitempty"`
	Record     *core.Email       `json:"-"`
	Submission *SubmissionStatus `json:"submission,omitempty"`
	Review     *ReviewEntry      `json:"review,omitempty"`
	Err        string            `json:"error,omitempty"`
}

// hub fans events out to subscribers. A subscriber that does not keep up
// loses events (counted), it never blocks the collector.
type hub struct {
	mu      sync.Mutex
	subs    map[int]chan Event
	next    int
	dropped int64
}

func (h *hub) subscribe(buf int) (<-chan Event, func()) {
	if buf <= 0 {
		buf = 256
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.subs == nil {
		h.subs = map[int]chan Event{}
	}
	id := h.next
	h.next++
	ch := make(chan Event, buf)
	h.subs[id] = ch
	return ch, func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		if c, ok := h.subs[id]; ok {
			delete(h.subs, id)
			close(c)
		}
	}
}

func (h *hub) publish(e Event) {
	if e.Time.IsZero() {
		e.Time = time.Now().UTC()
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, ch := range h.subs {
		select {
		case ch <- e:
		default:
			h.dropped++
		}
	}
}

func (h *hub) closeAll() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for id, ch := range h.subs {
		delete(h.subs, id)
		close(ch)
	}
}
