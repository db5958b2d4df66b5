package ui

import (
	"slices"

	tea "charm.land/bubbletea/v2"

	"github.com/smtpscope/smtpscope/collector/api"
	"github.com/smtpscope/smtpscope/ui/list"
)

// setSort sorts the list by spec (any form api.ParseSort reads) and runs
// the search again from its first page.
func (m *Model) setSort(spec string) tea.Cmd {
	sp, err := api.ParseSort(spec)
	if err != nil {
		m.notice(err.Error(), true)
		return nil
	}
	m.sort, m.list.Sort = sp.String(), sp
	return m.runSearch(false, "")
}

// nextSort is the order after cur in api.Sorts (the first one after an
// order not in the cycle).
func nextSort(cur string) string {
	i := slices.Index(api.Sorts, cur)
	return api.Sorts[(i+1)%len(api.Sorts)]
}

// sortName says the order in the header: "newest first", "oldest
// first", or the column and its arrow ("size ▼").
func sortName(sp api.SortSpec) string {
	if sp.Field == api.SortTime {
		if sp.Desc {
			return "newest first"
		}
		return "oldest first"
	}
	return "by " + sp.Field + " " + list.Arrow(sp.Desc)
}
