// Package search is the query bar: bubbles' textinput editing a query of
// the index's language, with history (older/newer), and inline errors
// with a caret under the character the parser complained about. Every key
// comes from the keymap (keys.SearchKeys); the text is drawn through
// ui/sanitize, never raw.
package search

import (
	"strings"
	"unicode"

	"charm.land/bubbles/v2/key"
	"charm.land/bubbles/v2/textinput"
	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/smtpscope/smtpscope/ui/common"
	"github.com/smtpscope/smtpscope/ui/keys"
	"github.com/smtpscope/smtpscope/ui/sanitize"
)

// SubmitMsg is sent when the user runs a query.
type SubmitMsg struct{ Query string }

// CancelMsg is sent when the user leaves the bar without running.
type CancelMsg struct{}

// maxHistory bounds the history.
const maxHistory = 100

// maxQuery bounds the query typed or pasted (characters).
const maxQuery = 4096

// Model is the query bar.
type Model struct {
	ctx     *common.Context
	input   textinput.Model
	width   int
	history []string // oldest first
	hpos    int      // index in history while browsing; len(history) = editing
	draft   string
	// Err is the error of the last query (shown under the bar) and ErrCol
	// its 1-based column in characters (0: no position).
	Err    string
	ErrCol int
}

// New returns an empty bar.
func New(ctx *common.Context) *Model {
	in := textinput.New()
	in.Prompt = ""
	in.CharLimit = maxQuery
	in.SetVirtualCursor(false) // the bar draws its own cursor (sanitized text)
	in.KeyMap = inputKeys(ctx.Keys.Search)
	return &Model{ctx: ctx, input: in}
}

// inputKeys maps the keymap's editing keys onto textinput's. There is no
// completion (its keys are disabled) and no clipboard read (the terminal's
// bracketed paste still works). Deleting the next word is the bar's own
// (see deleteWordForward).
func inputKeys(k keys.SearchKeys) textinput.KeyMap {
	off := key.NewBinding(key.WithDisabled())
	return textinput.KeyMap{
		CharacterForward: k.Right, CharacterBackward: k.Left,
		WordForward: k.WordRight, WordBackward: k.WordLeft,
		DeleteWordBackward: k.DeleteWord, DeleteWordForward: off,
		DeleteAfterCursor: k.DeleteToEnd, DeleteBeforeCursor: k.DeleteToStart,
		DeleteCharacterBackward: k.Backspace, DeleteCharacterForward: k.Delete,
		LineStart: k.Home, LineEnd: k.End,
		Paste: off, AcceptSuggestion: off, NextSuggestion: off, PrevSuggestion: off,
	}
}

// Init does nothing.
func (m *Model) Init() tea.Cmd { return nil }

// SetSize sets the width the bar draws in.
func (m *Model) SetSize(w, _ int) { m.width = w }

// ShortHelp is the hint line while editing.
func (m *Model) ShortHelp() []key.Binding {
	k := m.ctx.Keys.Search
	return []key.Binding{k.Run, k.Cancel, k.Older, k.Newer}
}

// FullHelp is every key of the bar, in columns.
func (m *Model) FullHelp() [][]key.Binding {
	k := m.ctx.Keys.Search
	return [][]key.Binding{
		{k.Run, k.Cancel, k.Older, k.Newer},
		{k.Left, k.Right, k.WordLeft, k.WordRight, k.Home, k.End},
		{k.Backspace, k.Delete, k.DeleteWord, k.DeleteWordForward, k.DeleteToStart, k.DeleteToEnd},
	}
}

// Focus starts editing.
func (m *Model) Focus() { m.input.Focus(); m.hpos = len(m.history) }

// Blur stops editing.
func (m *Model) Blur() { m.input.Blur() }

// Focused reports whether the bar is being edited.
func (m *Model) Focused() bool { return m.input.Focused() }

// Value is the query text.
func (m *Model) Value() string { return m.input.Value() }

// SetValue replaces the text (cursor at the end).
func (m *Model) SetValue(s string) {
	m.input.SetValue(s)
	m.input.CursorEnd()
}

// History returns the queries run, oldest first.
func (m *Model) History() []string { return m.history }

// SetHistory puts queries (oldest first, a previous session's) before
// those run in this one, keeping the last maxHistory.
func (m *Model) SetHistory(h []string) {
	m.history = append(append([]string(nil), h...), m.history...)
	if len(m.history) > maxHistory {
		m.history = m.history[len(m.history)-maxHistory:]
	}
	m.hpos = len(m.history)
}

// Remember adds a query to the history.
func (m *Model) Remember(q string) {
	q = strings.TrimSpace(q)
	if q == "" {
		return
	}
	if n := len(m.history); n > 0 && m.history[n-1] == q {
		return
	}
	m.history = append(m.history, q)
	if len(m.history) > maxHistory {
		m.history = m.history[len(m.history)-maxHistory:]
	}
	m.hpos = len(m.history)
}

// Update runs, cancels, browses the history, or lets textinput edit.
func (m *Model) Update(msg tea.Msg) (common.Component, tea.Cmd) {
	k := m.ctx.Keys.Search
	if p, ok := msg.(tea.PasteMsg); ok {
		// One line: a pasted line break is one space (textinput makes two
		// of CR LF).
		msg = tea.PasteMsg{Content: strings.ReplaceAll(p.Content, "\r", "")}
	}
	if msg, ok := msg.(tea.KeyPressMsg); ok {
		switch {
		case key.Matches(msg, k.Run):
			q := strings.TrimSpace(m.Value())
			m.Blur()
			return m, func() tea.Msg { return SubmitMsg{Query: q} }
		case key.Matches(msg, k.Cancel):
			m.Blur()
			return m, func() tea.Msg { return CancelMsg{} }
		case key.Matches(msg, k.Older):
			m.older()
			return m, nil
		case key.Matches(msg, k.Newer):
			m.newer()
			return m, nil
		case key.Matches(msg, k.DeleteWordForward):
			m.deleteWordForward()
			return m, nil
		case msg.Mod&(tea.ModCtrl|tea.ModAlt) != 0 && !m.editKey(msg):
			return m, nil // no text from unbound ctrl/alt chords
		}
	}
	var cmd tea.Cmd
	m.input, cmd = m.input.Update(msg)
	return m, cmd
}

func (m *Model) editKey(msg tea.KeyPressMsg) bool {
	for _, col := range m.FullHelp()[1:] {
		if key.Matches(msg, col...) {
			return true
		}
	}
	return false
}

// deleteWordForward deletes the spaces and the word after the cursor.
// textinput's own indexes past the end of the text when that word ends it
// and panics (bubbles v2.2.1).
func (m *Model) deleteWordForward() {
	v, pos := []rune(m.Value()), m.input.Position()
	end := pos
	for end < len(v) && unicode.IsSpace(v[end]) {
		end++
	}
	for end < len(v) && !unicode.IsSpace(v[end]) {
		end++
	}
	m.input.SetValue(string(v[:pos]) + string(v[end:]))
	m.input.SetCursor(pos)
}

func (m *Model) older() {
	if m.hpos > 0 {
		if m.hpos == len(m.history) {
			m.draft = m.Value()
		}
		m.hpos--
		m.SetValue(m.history[m.hpos])
	}
}

func (m *Model) newer() {
	if m.hpos < len(m.history) {
		m.hpos++
		if m.hpos == len(m.history) {
			m.SetValue(m.draft)
		} else {
			m.SetValue(m.history[m.hpos])
		}
	}
}

// View renders the bar, and under it the error caret and message when
// the last query failed.
func (m *Model) View() string { return strings.Join(m.Lines(), "\n") }

// Lines is View as lines (the root lays them out).
func (m *Model) Lines() []string {
	s, w := m.ctx.Styles, m.width
	line := m.text()
	if ansi.StringWidth(ansi.Strip(line)) > w-2 {
		line = ansi.Truncate(line, w-3, "…")
	}
	out := []string{s.Accent.Render(m.ctx.Keys.List.Search.Help().Key+" ") + line}
	if m.Err == "" {
		return out
	}
	if m.ErrCol > 0 && m.ErrCol <= w-2 {
		out = append(out, strings.Repeat(" ", 2+m.caretCol())+s.Error.Render("^"))
	}
	return append(out, s.Error.Render("✗ "+common.Trunc(m.Err, w-4)))
}

// caretCol is the cell under character ErrCol of the query as drawn
// (escapes of sanitized characters are wider than one cell).
func (m *Model) caretCol() int {
	col := 0
	rs := []rune(m.Value())
	for i := 0; i < m.ErrCol-1 && i < len(rs); i++ {
		col += ansi.StringWidth(sanitize.Line(string(rs[i])))
	}
	return col
}

// text is the query as drawn: sanitized, with the cursor while editing,
// a hint when empty.
func (m *Model) text() string {
	s := m.ctx.Styles
	v := []rune(m.Value())
	if !m.Focused() {
		if len(v) == 0 {
			return s.Muted.Render("press " + m.ctx.Keys.List.Search.Help().Key + " to search (e.g. ioc:evil.example  has:attachment  from:*@example.com)")
		}
		return sanitize.Line(string(v))
	}
	pos := min(m.input.Position(), len(v))
	before := sanitize.Line(string(v[:pos]))
	cur, after := " ", ""
	if pos < len(v) {
		cur, after = sanitize.Line(string(v[pos])), sanitize.Line(string(v[pos+1:]))
	}
	if !s.Plain {
		return before + s.Cursor.Render(cur) + after
	}
	if cur == " " && after == "" {
		return before + "▏"
	}
	return before + "▏" + cur + after
}
