// Package statusbar draws the bottom line: how the UI reaches the data
// (local collector or attached to a running one), the collector's state,
// queue depth per group, errors and review entries, and a transient
// message.
package statusbar

import (
	"fmt"
	"sort"
	"strings"

	"github.com/charmbracelet/x/ansi"

	"github.com/smtpscope/smtpscope/collector/api"
	"github.com/smtpscope/smtpscope/ui/common"
)

// View renders the status bar in the context's width. msg is a transient
// message (may be empty); msgErr colours it as an error.
func View(ctx *common.Context, st *api.Status, stErr error, msg string, msgErr bool) string {
	s := ctx.Styles
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
		groups := append([]string(nil), st.GroupNames()...)
		sort.Strings(groups)
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
	right := "? help "
	if msg != "" {
		m := common.Trunc(msg, max(ctx.Width/2, 20))
		if msgErr {
			m = s.Error.Render(m)
		} else {
			m = s.OK.Render(m)
		}
		right = m + "  " + right
	}
	lw, rw := ansi.StringWidth(left), ansi.StringWidth(right)
	if lw+rw+1 > ctx.Width {
		left = ansi.Truncate(left, max(ctx.Width-rw-1, 0), "…")
		lw = ansi.StringWidth(left)
	}
	gap := max(ctx.Width-lw-rw, 0)
	return s.StatusBar.Render(left + strings.Repeat(" ", gap) + right)
}
