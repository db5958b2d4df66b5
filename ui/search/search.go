// Package search is the query bar: a one-line editor for the index's query
// language with history (↑/↓), and inline errors that point at the column
// the parser complained about.
package search

import (
	"strings"
	"unicode/utf8"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/smtpscope/smtpscope/ui/common"
	"github.com/smtpscope/smtpscope/ui/sanitize"
)

// SubmitMsg is sent when the user runs a query.
type SubmitMsg struct{ Query string }

// CancelMsg is sent when the user leaves the bar without running.
type CancelMsg struct{}

// maxHistory bounds the history.
const maxHistory = 100

// Model is the query bar.
type Model struct {
	ctx     *common.Context
	value   []rune
	pos     int
	focused bool
	history []string // oldest first
	hpos    int      // index in history while browsing; len(history) = editing
	draft   string
	// Err is the error of the last query (shown under the bar) and ErrCol
	// its 1-based column (0: no position).
	Err    string
	ErrCol int
}

// New returns an empty bar.
func New(ctx *common.Context) Model { return Model{ctx: ctx} }

// Focus starts editing.
func (m *Model) Focus() { m.focused = true; m.hpos = len(m.history) }

// Blur stops editing.
func (m *Model) Blur() { m.focused = false }

// Focused reports whether the bar is being edited.
func (m *Model) Focused() bool { return m.focused }

// Value is the query text.
func (m *Model) Value() string { return string(m.value) }

// SetValue replaces the text (cursor at the end).
func (m *Model) SetValue(s string) {
	m.value = []rune(s)
	m.pos = len(m.value)
}

// History returns the queries run, oldest first.
func (m *Model) History() []string { return m.history }

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

// Update edits the text.
func (m Model) Update(msg tea.Msg) (Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.PasteMsg:
		m.insert(strings.ReplaceAll(strings.ReplaceAll(msg.Content, "\n", " "), "\r", ""))
	case tea.KeyPressMsg:
		switch msg.String() {
		case "enter":
			q := strings.TrimSpace(m.Value())
			m.focused = false
			return m, func() tea.Msg { return SubmitMsg{Query: q} }
		case "esc", "ctrl+c":
			m.focused = false
			return m, func() tea.Msg { return CancelMsg{} }
		case "left", "ctrl+b":
			m.pos = max(m.pos-1, 0)
		case "right", "ctrl+f":
			m.pos = min(m.pos+1, len(m.value))
		case "home", "ctrl+a":
			m.pos = 0
		case "end", "ctrl+e":
			m.pos = len(m.value)
		case "backspace", "ctrl+h":
			if m.pos > 0 {
				m.value = append(m.value[:m.pos-1], m.value[m.pos:]...)
				m.pos--
			}
		case "delete", "ctrl+d":
			if m.pos < len(m.value) {
				m.value = append(m.value[:m.pos], m.value[m.pos+1:]...)
			}
		case "ctrl+u":
			m.value = m.value[m.pos:]
			m.pos = 0
		case "ctrl+k":
			m.value = m.value[:m.pos]
		case "ctrl+w", "alt+backspace":
			i := m.pos
			for i > 0 && m.value[i-1] == ' ' {
				i--
			}
			for i > 0 && m.value[i-1] != ' ' {
				i--
			}
			m.value = append(m.value[:i], m.value[m.pos:]...)
			m.pos = i
		case "up", "ctrl+p":
			if m.hpos > 0 {
				if m.hpos == len(m.history) {
					m.draft = m.Value()
				}
				m.hpos--
				m.SetValue(m.history[m.hpos])
			}
		case "down", "ctrl+n":
			if m.hpos < len(m.history) {
				m.hpos++
				if m.hpos == len(m.history) {
					m.SetValue(m.draft)
				} else {
					m.SetValue(m.history[m.hpos])
				}
			}
		default:
			if msg.Text != "" && msg.Mod&(tea.ModCtrl|tea.ModAlt) == 0 {
				m.insert(msg.Text)
			}
		}
	}
	return m, nil
}

func (m *Model) insert(s string) {
	var rs []rune
	for _, r := range s {
		if r == utf8.RuneError || r < 0x20 || r == 0x7f || (r >= 0x80 && r <= 0x9f) {
			continue
		}
		rs = append(rs, r)
	}
	v := make([]rune, 0, len(m.value)+len(rs))
	v = append(v, m.value[:m.pos]...)
	v = append(v, rs...)
	v = append(v, m.value[m.pos:]...)
	m.value = v
	m.pos += len(rs)
}

// View renders the bar (and its error line when there is an error) in
// width w; it returns the lines.
func (m Model) View(w int) []string {
	s := m.ctx.Styles
	prompt := s.Accent.Render("/ ")
	text := m.Value()
	var line string
	if m.focused {
		before := sanitize.Line(string(m.value[:m.pos]))
		cur, after := " ", ""
		if m.pos < len(m.value) {
			cur = sanitize.Line(string(m.value[m.pos]))
			after = sanitize.Line(string(m.value[m.pos+1:]))
		}
		line = before + s.Cursor.Render(cur) + after
		if s.Plain {
			line = before + "▏" + cur + after
			if cur == " " && after == "" {
				line = before + "▏"
			}
		}
	} else if text == "" {
		line = s.Muted.Render("press / to search (e.g. ioc:evil.example  has:attachment  from:*@example.com)")
	} else {
		line = sanitize.Line(text)
	}
	if ansi.StringWidth(ansi.Strip(line)) > w-2 {
		line = ansi.Truncate(line, w-3, "…")
	}
	out := []string{prompt + line}
	if m.Err != "" {
		e := s.Error.Render("✗ " + common.Trunc(m.Err, w-4))
		if m.ErrCol > 0 && m.ErrCol <= w-2 {
			// A caret under the column the parser pointed at.
			col := 0
			rs := m.value
			for i := 0; i < m.ErrCol-1 && i < len(rs); i++ {
				col += ansi.StringWidth(sanitize.Line(string(rs[i])))
			}
			out = append(out, strings.Repeat(" ", 2+col)+s.Error.Render("^"))
		}
		out = append(out, e)
	}
	return out
}
