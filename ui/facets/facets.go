// Package facets is the side panel of counts by sender domain, attachment
// type, IOC type and submission status, each count with a bar scaled to
// the largest of its section. Selecting a value narrows the search to it
// (its filter clause is added to the query, or removed when already
// there).
package facets

import (
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"github.com/smtpscope/smtpscope/collector/api"
	"github.com/smtpscope/smtpscope/ui/common"
)

// SelectMsg asks the root to toggle Filter in the query.
type SelectMsg struct{ Filter string }

// Width is the panel's width, border included.
const Width = 30

// MinBeside is the least width the list keeps beside the panel: on a
// terminal narrower than Width+MinBeside the panel is never drawn.
const MinBeside = 40

// maxTerms is how many values of each facet are shown.
const maxTerms = 8

type item struct {
	heading bool
	text    string
	count   int
	top     int // the largest count of the section (bar scale)
	filter  string
}

// barWidth is the width of a count's bar (cells).
const barWidth = 5

// bar draws n of top as a horizontal bar of w cells, in eighths; a count
// above zero shows at least ▏.
func bar(n, top, w int) string {
	if top <= 0 || n <= 0 {
		return strings.Repeat(" ", w)
	}
	eighths := max(n*w*8/top, 1)
	full, part := eighths/8, eighths%8
	out := strings.Repeat("█", full)
	if part > 0 {
		out += string([]rune("▏▎▍▌▋▊▉")[part-1])
	}
	return out + strings.Repeat(" ", w-full-min(part, 1))
}

// Model is the panel.
type Model struct {
	ctx     *common.Context
	items   []item
	cursor  int
	height  int
	Focused bool
	active  map[string]bool // filters in the current query
}

// New returns an empty panel.
func New(ctx *common.Context) *Model { return &Model{ctx: ctx} }

// Init does nothing: the root loads the counts.
func (m *Model) Init() tea.Cmd { return nil }

// SetSize sets the panel height (its width is fixed: Width).
func (m *Model) SetSize(_, h int) { m.height = h }

// ShortHelp is the hint line while the panel has the focus.
func (m *Model) ShortHelp() []key.Binding {
	k := m.ctx.Keys.Facets
	return []key.Binding{k.Up, k.Down, k.Select, k.Leave}
}

// FullHelp is every key of the focused panel.
func (m *Model) FullHelp() [][]key.Binding {
	k, g := m.ctx.Keys.Facets, m.ctx.Keys.Global
	return [][]key.Binding{{k.Up, k.Down, k.Select, k.Leave, k.Quit}, {g.Pause, g.Theme, g.Refresh, g.Help, g.Quit}}
}

// SetFacets replaces the counts; active holds the clauses already in the
// query (shown checked).
func (m *Model) SetFacets(fs []api.Facet, active map[string]bool) {
	m.items = m.items[:0]
	m.active = active
	for _, f := range fs {
		m.items = append(m.items, item{heading: true, text: f.Name})
		n, top := 0, 0
		for _, t := range f.Terms {
			top = max(top, t.Count)
		}
		for _, t := range f.Terms {
			if n == maxTerms {
				break
			}
			m.items = append(m.items, item{text: t.Term, count: t.Count, top: top, filter: t.Filter})
			n++
		}
		if n == 0 {
			m.items = append(m.items, item{text: "(none)"})
		}
	}
	if m.cursor >= len(m.items) {
		m.cursor = 0
	}
	m.skip(1)
}

// skip moves the cursor off headings in direction d.
func (m *Model) skip(d int) {
	for i := 0; i < len(m.items); i++ {
		if m.cursor >= 0 && m.cursor < len(m.items) && m.items[m.cursor].filter != "" {
			return
		}
		m.cursor += d
		if m.cursor >= len(m.items) {
			m.cursor = 0
		}
		if m.cursor < 0 {
			m.cursor = len(m.items) - 1
		}
	}
}

// Update moves the selection and selects.
func (m *Model) Update(msg tea.Msg) (common.Component, tea.Cmd) {
	k := m.ctx.Keys.Facets
	if msg, ok := msg.(tea.KeyPressMsg); ok {
		switch {
		case key.Matches(msg, k.Up):
			m.cursor--
			if m.cursor < 0 {
				m.cursor = len(m.items) - 1
			}
			m.skip(-1)
		case key.Matches(msg, k.Down):
			m.cursor++
			if m.cursor >= len(m.items) {
				m.cursor = 0
			}
			m.skip(1)
		case key.Matches(msg, k.Select):
			if m.cursor < len(m.items) && m.items[m.cursor].filter != "" {
				f := m.items[m.cursor].filter
				return m, func() tea.Msg { return SelectMsg{Filter: f} }
			}
		}
	}
	return m, nil
}

// View renders the panel (Width wide, height high).
func (m *Model) View() string {
	s := m.ctx.Styles
	w := Width - 2
	lines := []string{s.PanelHead.Render(common.Fit("FACETS", w))}
	if len(m.items) == 0 {
		lines = append(lines, s.Muted.Render(common.Fit("(none)", w)))
	}
	vis := max(m.height-1, 1)
	off := max(m.cursor-vis+1, 0) // keep the cursor on screen
	for i := off; i < len(m.items) && len(lines) < m.height; i++ {
		it := m.items[i]
		if it.heading {
			lines = append(lines, s.Accent.Render(common.Fit(it.text, w)))
			continue
		}
		mark := "  "
		if m.active[it.filter] {
			mark = "✓ "
		}
		cnt := common.Count(it.count)
		if it.count == 0 && it.filter == "" {
			cnt = "" // "(none)"
		}
		if it.filter == "" { // "(none)"
			lines = append(lines, mark+common.Fit(it.text, w-len(cnt)-3)+" "+cnt)
			continue
		}
		name, b := mark+common.Fit(it.text, w-len(cnt)-4-barWidth)+" ", bar(it.count, it.top, barWidth)
		if m.Focused && i == m.cursor {
			lines = append(lines, s.Selected.Render(name+b+" "+cnt))
		} else {
			lines = append(lines, name+s.Accent.Render(b)+" "+cnt)
		}
	}
	return s.Panel.Render(common.PadLines(lines, w, m.height))
}
