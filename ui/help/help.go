// Package help is the help screen (`?`): the full help of the view that
// had the focus, drawn from that component's FullHelp, and the one-line
// hints drawn from a component's ShortHelp. Every key shown comes from
// the keymap's bindings. Columns of keys that do not fit the width side
// by side are drawn under one another (no key is cut off at 80 columns),
// and a screen taller than the terminal scrolls with the list's
// navigation keys, its last line saying how much more there is.
package help

import (
	"fmt"
	"strings"

	bhelp "charm.land/bubbles/v2/help"
	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"

	"github.com/smtpscope/smtpscope/collector/api"
	"github.com/smtpscope/smtpscope/ui/common"
)

// Section is one titled block of bindings, in columns, or of rows of
// text (a usage and what it does: the command line's commands).
type Section struct {
	Title string
	Keys  [][]key.Binding
	Rows  [][2]string
}

// Model is the help screen.
type Model struct {
	ctx           *common.Context
	sections      []Section
	query         bool
	width, height int
	offset        int // first line on screen
	// Open is true while the screen is shown.
	Open bool
}

// New returns a closed help screen.
func New(ctx *common.Context) *Model { return &Model{ctx: ctx} }

// Show opens the screen with the sections of the focused view; query adds
// examples of the query language.
func (m *Model) Show(sections []Section, query bool) {
	m.sections, m.query, m.Open, m.offset = sections, query, true, 0
}

// Init does nothing.
func (m *Model) Init() tea.Cmd { return nil }

// SetSize sets the area.
func (m *Model) SetSize(w, h int) { m.width, m.height = w, h }

// ShortHelp is how to leave.
func (m *Model) ShortHelp() []key.Binding { return []key.Binding{m.ctx.Keys.Help.Close} }

// FullHelp is every key of the help screen.
func (m *Model) FullHelp() [][]key.Binding {
	n := m.ctx.Keys.Nav
	return [][]key.Binding{{m.ctx.Keys.Help.Close, m.ctx.Keys.Global.Quit}, {n.Up, n.Down, n.PageUp, n.PageDown, n.Top, n.Bottom}}
}

// Update closes the screen or scrolls it.
func (m *Model) Update(msg tea.Msg) (common.Component, tea.Cmd) {
	kp, ok := msg.(tea.KeyPressMsg)
	if !ok {
		return m, nil
	}
	n, page := m.ctx.Keys.Nav, max(m.height-1, 1)
	switch {
	case key.Matches(kp, m.ctx.Keys.Help.Close):
		m.Open = false
	case key.Matches(kp, n.Up):
		m.offset--
	case key.Matches(kp, n.Down):
		m.offset++
	case key.Matches(kp, n.PageUp):
		m.offset -= page
	case key.Matches(kp, n.PageDown):
		m.offset += page
	case key.Matches(kp, n.Top):
		m.offset = 0
	case key.Matches(kp, n.Bottom):
		m.offset = len(m.lines())
	}
	m.offset = m.clamp(m.offset, len(m.lines()))
	return m, nil
}

// clamp keeps a scroll offset within the lines (n of them) that do not
// fit the screen: 0 when everything fits.
func (m *Model) clamp(off, n int) int {
	if m.height <= 1 || n <= m.height {
		return 0
	}
	return max(min(off, n-(m.height-1)), 0)
}

func model(ctx *common.Context, w int) bhelp.Model {
	h := bhelp.New()
	s := ctx.Styles
	h.Styles.ShortKey, h.Styles.ShortDesc = s.HelpKey, s.HelpDesc
	h.Styles.FullKey, h.Styles.FullDesc = s.HelpKey, s.HelpDesc
	h.Styles.ShortSeparator, h.Styles.FullSeparator, h.Styles.Ellipsis = s.Muted, s.Muted, s.Muted
	h.SetWidth(w)
	return h
}

// Short is the one-line hint of a component, at most w cells wide.
func Short(ctx *common.Context, w int, keys []key.Binding) string {
	return model(ctx, w).ShortHelpView(keys)
}

// View renders the lines on screen (not padded): all of them when they
// fit, else a window of height-1 lines from the scroll offset and a last
// line telling the lines above and below and how to scroll.
func (m *Model) View() string {
	lines := m.lines()
	if m.height <= 1 || len(lines) <= m.height {
		return strings.Join(lines, "\n")
	}
	// The window may have changed size since the last key: clamp again.
	win, off := m.height-1, m.clamp(m.offset, len(lines))
	below := len(lines) - win - off
	n := m.ctx.Keys.Nav
	more := fmt.Sprintf("  %d lines above, %d below · %s/%s scroll · %s/%s page", off, below,
		n.Up.Help().Key, n.Down.Help().Key, n.PageUp.Help().Key, n.PageDown.Help().Key)
	out := append(append([]string(nil), lines[off:off+win]...), m.ctx.Styles.Muted.Render(common.Trunc(more, m.width)))
	return strings.Join(out, "\n")
}

// keyColumns draws columns of keys side by side as long as they fit the
// width, then the next ones under them.
func (m *Model) keyColumns(cols [][]key.Binding) string {
	wide := model(m.ctx, 1<<16)
	var groups []string
	for start := 0; start < len(cols); {
		end := start + 1
		for end < len(cols) && lipgloss.Width(wide.FullHelpView(cols[start:end+1])) <= m.width {
			end++
		}
		groups = append(groups, model(m.ctx, m.width).FullHelpView(cols[start:end]))
		start = end
	}
	return strings.Join(groups, "\n\n")
}

// lines is the whole screen, line by line.
func (m *Model) lines() []string {
	s := m.ctx.Styles
	var b strings.Builder
	for i, sec := range m.sections {
		if i > 0 {
			b.WriteString("\n\n")
		}
		b.WriteString(s.Title.Render(sec.Title) + "\n\n")
		if len(sec.Keys) > 0 {
			b.WriteString(m.keyColumns(sec.Keys))
		}
		w := 0
		for _, r := range sec.Rows {
			w = max(w, len(r[0]))
		}
		for i, r := range sec.Rows {
			if i > 0 {
				b.WriteString("\n")
			}
			b.WriteString(s.HelpKey.Render(common.Fit(r[0], w)) + "  " + s.HelpDesc.Render(common.Trunc(r[1], max(m.width-w-2, 10))))
		}
	}
	if m.query {
		b.WriteString("\n\n" + queryHelp(m.ctx, m.width))
	}
	c := m.ctx.Keys.Help.Close.Help()
	b.WriteString("\n\n" + s.Muted.Render("  press "+c.Key+" to "+c.Desc))
	return strings.Split(b.String(), "\n")
}

// queryHelp is the help screen's block of query-language examples.
func queryHelp(ctx *common.Context, w int) string {
	s := ctx.Styles
	var b strings.Builder
	b.WriteString(s.PanelHead.Render("Query language (examples)") + "\n")
	for _, q := range queryExamples(min(max(w-4, 10), 96)) {
		b.WriteString("  " + s.HelpDesc.Render(common.Trunc(q, max(w-4, 10))) + "\n")
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// queryExamples are the help's query-language lines: words and phrases,
// an example of each field of the one field table (api.Fields) packed
// into lines of at most width cells, then the operators.
func queryExamples(width int) []string {
	lines := []string{`invoice "wire transfer"       words and phrases in subject, bodies, names`}
	line := ""
	for _, ex := range api.Examples() {
		if line != "" && len(line)+2+len(ex) > width {
			lines, line = append(lines, line), ""
		}
		line = strings.TrimPrefix(line+"  "+ex, "  ")
	}
	return append(lines, line, `-negation  a OR b  (parentheses)`)
}
