package detail

import (
	"strconv"
	"strings"

	"charm.land/lipgloss/v2"
)

// shortTabs are the tab labels used when the full ones do not fit.
var shortTabs = map[string]string{
	TabSummary:     "Sum",
	TabTranscript:  "Trans",
	TabHeaders:     "Hdrs",
	TabBody:        "Body",
	TabMIME:        "MIME",
	TabAttachments: "Att",
	TabIOCs:        "IOCs",
	TabSubmissions: "Subs",
	TabData:        "Data",
}

// tabBar lays the tab bar out in width cells: every tab with its number
// and full name when they fit, else with short names (all 8 tabs of an
// email fit in 80 columns), else numbers only but for the current tab's
// short name. It returns the rendered bar and, for each tab, the first
// and last+1 column it covers (for mouse clicks).
func (m *Model) tabBar(width int) (string, [][2]int) {
	s := m.ctx.Styles
	sep := s.Muted.Render("·")
	for level := 0; ; level++ {
		var parts []string
		spans := make([][2]int, len(m.tabs))
		x := 0
		for i, t := range m.tabs {
			label := strconv.Itoa(i+1) + " " + t
			switch {
			case level == 1 || level == 2 && i == m.tab:
				label = strconv.Itoa(i+1) + " " + shortTabs[t]
			case level == 2:
				label = strconv.Itoa(i + 1)
			}
			st := s.Tab
			if i == m.tab {
				st = s.TabActive
			}
			p := st.Render(label)
			if i > 0 {
				x += lipgloss.Width(sep)
			}
			w := lipgloss.Width(p)
			spans[i] = [2]int{x, x + w}
			x += w
			parts = append(parts, p)
		}
		if x <= width || level == 2 {
			return strings.Join(parts, sep), spans
		}
	}
}

// TabAt returns the index of the tab drawn at column x of the tab bar,
// or -1.
func (m *Model) TabAt(x int) int {
	_, spans := m.tabBar(m.width)
	for i, sp := range spans {
		if x >= sp[0] && x < sp[1] {
			return i
		}
	}
	return -1
}

// SetTabIndex switches to tab i (ignored when out of range).
func (m *Model) SetTabIndex(i int) {
	if i >= 0 && i < len(m.tabs) && i != m.tab {
		m.tab = i
		m.dirty = true
	}
}
