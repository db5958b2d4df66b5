package ui

import (
	"strings"
	"time"

	tea "charm.land/bubbletea/v2"
)

// typeDelay is how long the search bar waits after the last edit before
// it searches what is typed (search-as-you-type): a burst of keys makes
// one search, not one per key.
const typeDelay = 150 * time.Millisecond

// typingMsg is the end of the wait after edit number seq of the bar.
type typingMsg struct{ seq int }

// typing is the state of search-as-you-type.
type typing struct {
	// seq counts the edits of the bar (and every exact query set): a
	// typingMsg of an older edit is dropped.
	seq int
	// active: the list shows (or is loading) the results of the text
	// being typed, parsed with the last word as a prefix, not m.query.
	active bool
}

// edited is called after the search bar handled a key: when the text
// changed, it starts the wait after which that text is searched.
func (m *Model) edited(before string) tea.Cmd {
	if !m.search.Focused() || m.search.Value() == before {
		return nil
	}
	m.typing.seq++
	seq := m.typing.seq
	return tea.Tick(typeDelay, func(time.Time) tea.Msg { return typingMsg{seq: seq} })
}

// onTyping searches the text of the bar when no edit came after the one
// that started the wait and the bar is still being edited.
func (m *Model) onTyping(msg typingMsg) tea.Cmd {
	if msg.seq != m.typing.seq || !m.search.Focused() {
		return nil
	}
	m.typing.active = true
	return m.runSearch(false, "")
}

// stopTyping makes the exact query (m.query) what the list shows again
// and drops the waits under way.
func (m *Model) stopTyping() {
	m.typing.seq++
	m.typing.active = false
}

// searchQuery is the query the list shows: the text being typed (as you
// type), else the exact query.
func (m *Model) searchQuery() (q string, asYouType bool) {
	if m.typing.active {
		return strings.TrimSpace(m.search.Value()), true
	}
	return m.query, false
}
