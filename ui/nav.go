package ui

import (
	tea "charm.land/bubbletea/v2"

	"github.com/smtpscope/smtpscope/ui/detail"
	"github.com/smtpscope/smtpscope/ui/facets"
)

// stepDetail opens the row d rows below (d=1) or above (d=-1) the one the
// detail shows, on the same tab and with the same find text, loading the
// list's next page when it nears the end as scrolling does.
func (m *Model) stepDetail(d int) tea.Cmd {
	before := m.list.Cursor()
	more := m.list.Move(d)
	r := m.list.Selected()
	if r == nil || m.list.Cursor() == before {
		if d > 0 {
			m.notice("no next email in the list", false)
		} else {
			m.notice("no previous email in the list", false)
		}
		return more
	}
	old := m.detail
	m.detail = detail.New(m.ctx, *r)
	m.detail.SetTab(old.Tab())
	m.detail.CarryFind(old)
	m.layout()
	return tea.Batch(more, detail.Load(m.ctx.Backend, *r))
}

// onClick handles a left click: on the detail's tab bar it selects the
// tab; on a list row it selects the row, or opens it when it already was
// selected. Clicks under a dialog or the help screen do nothing.
func (m *Model) onClick(msg tea.MouseClickMsg) tea.Cmd {
	mouse := msg.Mouse()
	if mouse.Button != tea.MouseLeft || m.dlg != nil || m.help.Open || m.search.Focused() {
		return nil
	}
	if m.detail != nil {
		if mouse.Y == 1 && !m.detail.Finding() { // under the header
			m.detail.SetTabIndex(m.detail.TabAt(mouse.X))
		}
		return nil
	}
	top, left := 1+len(m.searchLines()), 0
	if m.facetsVisible() {
		left = facets.Width
	}
	if mouse.X < left || mouse.Y < top || mouse.Y >= top+m.mainHeight() {
		return nil
	}
	if m.list.Click(mouse.Y - top) {
		return m.openDetail()
	}
	return nil
}
