// Package help is the help screen (`?`): the full help of the view that
// had the focus, drawn from that component's FullHelp, and the one-line
// hints drawn from a component's ShortHelp. Every key shown comes from
// the keymap's bindings.
package help

import (
	"strings"

	bhelp "charm.land/bubbles/v2/help"
	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

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
	// Open is true while the screen is shown.
	Open bool
}

// New returns a closed help screen.
func New(ctx *common.Context) *Model { return &Model{ctx: ctx} }

// Show opens the screen with the sections of the focused view; query adds
// examples of the query language.
func (m *Model) Show(sections []Section, query bool) {
	m.sections, m.query, m.Open = sections, query, true
}

// Init does nothing.
func (m *Model) Init() tea.Cmd { return nil }

// SetSize sets the area.
func (m *Model) SetSize(w, h int) { m.width, m.height = w, h }

// ShortHelp is how to leave.
func (m *Model) ShortHelp() []key.Binding { return []key.Binding{m.ctx.Keys.Help.Close} }

// FullHelp is every key of the help screen.
func (m *Model) FullHelp() [][]key.Binding {
	return [][]key.Binding{{m.ctx.Keys.Help.Close, m.ctx.Keys.Global.Quit}}
}

// Update closes the screen.
func (m *Model) Update(msg tea.Msg) (common.Component, tea.Cmd) {
	if msg, ok := msg.(tea.KeyPressMsg); ok && key.Matches(msg, m.ctx.Keys.Help.Close) {
		m.Open = false
	}
	return m, nil
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

// View renders the screen (not padded).
func (m *Model) View() string {
	s := m.ctx.Styles
	var b strings.Builder
	for i, sec := range m.sections {
		if i > 0 {
			b.WriteString("\n\n")
		}
		b.WriteString(s.Title.Render(sec.Title) + "\n\n")
		if len(sec.Keys) > 0 {
			b.WriteString(model(m.ctx, m.width).FullHelpView(sec.Keys))
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
	return b.String()
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
