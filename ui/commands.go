package ui

import (
	"fmt"
	"slices"

	tea "charm.land/bubbletea/v2"

	"github.com/smtpscope/smtpscope/collector/api"
	"github.com/smtpscope/smtpscope/ui/cmdline"
	"github.com/smtpscope/smtpscope/ui/help"
)

// openCommand opens the command line with what its arguments complete
// to: the sort fields, the node groups.
func (m *Model) openCommand() {
	m.cmd.SetValues(cmdline.Sort, api.SortFields)
	var groups []string
	if m.status != nil {
		groups = m.status.GroupNames()
	}
	m.cmd.SetValues(cmdline.Resubmit, groups)
	var names []string
	if m.store != nil {
		names = m.store.Names()
	}
	m.cmd.SetValues(cmdline.Load, names)
	m.cmd.SetValues(cmdline.Forget, names)
	m.cmd.Open()
	m.layout()
}

// onCommand acts on what the command line sent.
func (m *Model) onCommand(msg tea.Msg) tea.Cmd {
	m.layout()
	switch msg := msg.(type) {
	case cmdline.ErrorMsg:
		m.notice(msg.Err, true)
	case cmdline.RunMsg:
		return m.runCommand(msg)
	}
	return nil
}

// runCommand runs one command; each goes through the code path of its
// key (the sort cycle, the export and resubmit dialogs, help, quit).
func (m *Model) runCommand(c cmdline.RunMsg) tea.Cmd {
	switch c.Name {
	case cmdline.Sort:
		return m.setSort(c.Arg)
	case cmdline.Export:
		r := m.list.Selected()
		if r == nil {
			m.notice("export: no row selected", true)
			return nil
		}
		m.startExport(*r, nil)
		m.dlg.path = c.Arg
	case cmdline.Resubmit:
		r := m.list.Selected()
		if r == nil || r.Kind != api.KindEmail {
			m.notice("resubmit: select an email first", true)
			return nil
		}
		if c.Arg != "" && (m.status == nil || !slices.Contains(m.status.GroupNames(), c.Arg)) {
			var known []string
			if m.status != nil {
				known = m.status.GroupNames()
			}
			m.notice(fmt.Sprintf("resubmit: no enabled node group %q (groups: %v)", c.Arg, known), true)
			return nil
		}
		m.startResubmit([]string{r.ID}, true)
		if m.dlg != nil && c.Arg != "" {
			m.dlg.presetGroup, m.dlg.hasGroup = c.Arg, true
			if m.dlg.step == stepGroup {
				m.askGroup()
			}
		}
	case cmdline.Save, cmdline.Load, cmdline.Forget:
		return m.savedCommand(c)
	case cmdline.Help:
		// The list's keys and the commands (`?` has no room for them
		// beside the search bar's keys and the query language).
		m.help.Show([]help.Section{
			{Title: "smtpscope — keys", Keys: m.list.FullHelp()},
			{Title: "Command line", Keys: m.cmd.FullHelp(), Rows: cmdline.HelpRows(m.ctx.Keys.List.Command.Help().Key)},
		}, false)
	case cmdline.Quit:
		m.cancel()
		return tea.Quit
	}
	return nil
}
