package ui

import (
	"fmt"

	tea "charm.land/bubbletea/v2"

	"github.com/smtpscope/smtpscope/collector/api"
	"github.com/smtpscope/smtpscope/ui/cmdline"
	"github.com/smtpscope/smtpscope/ui/common"
	"github.com/smtpscope/smtpscope/ui/saved"
)

// savedMsg brings the store of the history and saved searches.
type savedMsg struct {
	store *saved.Store
	err   error
}

// loadSaved reads Options.SearchesFile (nil when there is none).
func (m *Model) loadSaved() tea.Cmd {
	path := m.opts.SearchesFile
	if path == "" {
		return nil
	}
	return func() tea.Msg {
		st, err := saved.Open(path)
		return savedMsg{store: st, err: err}
	}
}

// onSaved puts the kept history before this session's; a file that
// could not be read is named in the status bar and left as it is.
func (m *Model) onSaved(msg savedMsg) tea.Cmd {
	m.store = msg.store
	if msg.err != nil {
		m.notice(msg.err.Error()+" (searches are not kept this session)", true)
	}
	m.search.SetHistory(m.store.State().History)
	m.store.SetHistory(m.search.History())
	return nil
}

// keepHistory writes the search bar's history to the store.
func (m *Model) keepHistory() tea.Cmd {
	if m.store == nil {
		return nil
	}
	m.store.SetHistory(m.search.History())
	return m.writeSaved()
}

// writeSaved writes the store in a tea.Cmd; a failure is a notice.
func (m *Model) writeSaved() tea.Cmd {
	st := m.store
	return func() tea.Msg {
		if err := st.Save(); err != nil {
			return noticeMsg{text: err.Error(), err: true}
		}
		return nil
	}
}

// savedCommand runs :save, :load and :forget.
func (m *Model) savedCommand(c cmdline.RunMsg) tea.Cmd {
	if m.store == nil {
		m.notice("saved searches are not kept in this session (no searches file)", true)
		return nil
	}
	switch c.Name {
	case cmdline.Save:
		name, err := m.store.Put(c.Arg, m.query, m.sort)
		if err != nil {
			m.notice("save: "+err.Error(), true)
			return nil
		}
		where := ""
		if m.store.Path() == "" {
			where = " (this session only)"
		}
		m.notice(fmt.Sprintf("saved search %q%s: %s", name, where, common.Trunc(orAll(m.query), 60)), false)
		return m.writeSaved()
	case cmdline.Load:
		s, ok := m.store.Get(c.Arg)
		if !ok {
			m.notice(fmt.Sprintf("load: no saved search %q (tab lists them)", c.Arg), true)
			return nil
		}
		m.setQuery(s.Query)
		m.search.SetValue(m.query)
		if sp, err := api.ParseSort(s.Sort); err == nil {
			m.sort, m.list.Sort = sp.String(), sp
		}
		m.notice(fmt.Sprintf("loaded search %q", s.Name), false)
		m.layout()
		return m.runSearch(false, "")
	case cmdline.Forget:
		if !m.store.Delete(c.Arg) {
			m.notice(fmt.Sprintf("forget: no saved search %q", c.Arg), true)
			return nil
		}
		m.notice(fmt.Sprintf("forgot saved search %q", c.Arg), false)
		return m.writeSaved()
	}
	return nil
}

func orAll(q string) string {
	if q == "" {
		return "(every result)"
	}
	return q
}
