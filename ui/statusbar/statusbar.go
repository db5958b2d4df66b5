// Package statusbar draws the bottom line: how the UI reaches the data
// (local collector or attached to a running one), the collector's state,
// queue depth per group, errors and review entries, and a transient
// message.
package statusbar

import (
	"fmt"
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/smtpscope/smtpscope/collector/api"
	"github.com/smtpscope/smtpscope/ui/common"
)

// Model is the status bar. Its keys are the global ones, which act on
// what it shows (pause, refresh) or on the whole screen.
type Model struct {
	ctx    *common.Context
	st     *api.Status
	stErr  error
	msg    string
	msgErr bool
	width  int
}

// New returns an empty bar.
func New(ctx *common.Context) *Model { return &Model{ctx: ctx, width: ctx.Width} }

// Set gives the bar the collector's status (or the error getting it) and
// a transient message (may be empty; msgErr colours it as an error).
func (m *Model) Set(st *api.Status, stErr error, msg string, msgErr bool) {
	m.st, m.stErr, m.msg, m.msgErr = st, stErr, msg, msgErr
}

// Init does nothing.
func (m *Model) Init() tea.Cmd { return nil }

// Update does nothing: the root feeds the bar through Set.
func (m *Model) Update(tea.Msg) (common.Component, tea.Cmd) { return m, nil }

// SetSize sets the width (the bar is one line).
func (m *Model) SetSize(w, _ int) { m.width = w }

// ShortHelp is the hint drawn at the right of the bar.
func (m *Model) ShortHelp() []key.Binding { return []key.Binding{m.ctx.Keys.Global.Help} }

// FullHelp is the global keys.
func (m *Model) FullHelp() [][]key.Binding {
	g := m.ctx.Keys.Global
	return [][]key.Binding{{g.Pause, g.Refresh, g.Theme, g.Help, g.Quit}}
}

// View renders the status bar.
func (m *Model) View() string {
	s, st, stErr, msg, msgErr := m.ctx.Styles, m.st, m.stErr, m.msg, m.msgErr
	var parts []string
	switch {
	case stErr != nil:
		parts = append(parts, s.Error.Render("status: "+common.Trunc(stErr.Error(), 60)))
	case st == nil:
		parts = append(parts, "…")
	default:
		state := "● watching"
		switch {
		case !st.Running:
			state = "○ stopped"
		case st.Paused:
			state = "‖ paused"
		}
		parts = append(parts, s.StatusKey.Render(st.Mode)+s.StatusBar.Render(" "+state))
		parts = append(parts, fmt.Sprintf("emails %d", st.Stats.Emails))
		parts = append(parts, fmt.Sprintf("queue %d", st.QueueDepth))
		for _, g := range st.Groups {
			if !g.Configured || !g.Enabled {
				continue
			}
			var c []string
			for _, state := range []string{"queued", "retrying", "sent", "failed"} {
				if n := g.Counts[state]; n > 0 {
					c = append(c, s.State(state).Render(fmt.Sprintf("%d %s", n, state)))
				}
			}
			if len(c) == 0 {
				c = append(c, "idle")
			}
			parts = append(parts, common.Trunc(g.Name, 16)+": "+strings.Join(c, " "))
		}
		if n := len(st.LastErrors); n > 0 {
			parts = append(parts, s.Error.Render(fmt.Sprintf("errors %d", n)))
		}
		if n := len(st.Review); n > 0 {
			parts = append(parts, s.Warn.Render(fmt.Sprintf("review %d", n)))
		}
	}
	left := " " + strings.Join(parts, s.Muted.Render(" │ "))
	right := ""
	for _, b := range m.ShortHelp() {
		right += b.Help().Key + " " + b.Help().Desc + " "
	}
	if msg != "" {
		t := common.Trunc(msg, max(m.width/2, 20))
		if msgErr {
			t = s.Error.Render(t)
		} else {
			t = s.OK.Render(t)
		}
		right = t + "  " + right
	}
	lw, rw := ansi.StringWidth(left), ansi.StringWidth(right)
	if lw+rw+1 > m.width {
		left = ansi.Truncate(left, max(m.width-rw-1, 0), "…")
		lw = ansi.StringWidth(left)
	}
	gap := max(m.width-lw-rw, 0)
	return s.StatusBar.Render(left + strings.Repeat(" ", gap) + right)
}
