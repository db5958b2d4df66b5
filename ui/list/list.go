// Package list is the result list: one row per email (or session without
// email, or review/ entry), in the search's sort order (newest first
// unless told; the sorted column's heading carries an arrow). It is virtualized: it holds the
// pages loaded so far and renders only the rows on screen; when the cursor
// nears the end of what is loaded it asks for the next page (search-after).
// Counters are drawn with common.Count (never cut); below FullWidth it
// drops the triage columns (SOURCE, ATT, IOC, YARA). It is never left
// scrolled past its last row (a taller window brings rows back from
// above), and Click selects the row under the mouse. A SENSOR column
// (after RSK) is drawn only while the rows loaded come from more than
// one sensor, as at a hub: one sensor's user loses no room to it.
package list

import (
	"path/filepath"
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"github.com/smtpscope/smtpscope/collector/api"
	"github.com/smtpscope/smtpscope/ui/common"
)

// NeedMoreMsg asks the root model for the next page.
type NeedMoreMsg struct{}

// Model is the list.
type Model struct {
	ctx    *common.Context
	rows   []api.Row
	total  uint64
	next   []string // cursor of the next page; nil when all is loaded
	cursor int
	offset int // first row on screen
	width  int
	height int // rows on screen, heading included
	// Loading is true while a page is being fetched.
	Loading bool
	// Sort is the order of the rows: its column's heading carries an
	// arrow (▲ ascending, ▼ descending).
	Sort api.SortSpec
}

// New returns an empty list.
func New(ctx *common.Context) *Model { return &Model{ctx: ctx} }

// Init does nothing: the root runs the searches.
func (m *Model) Init() tea.Cmd { return nil }

// ShortHelp is the hint line of the list.
func (m *Model) ShortHelp() []key.Binding {
	k := m.ctx.Keys
	return []key.Binding{k.List.Search, k.List.Open, k.List.Facets, k.List.Resubmit, k.List.Export, k.Global.Help, k.List.Quit}
}

// FullHelp is every key of the list screen, in columns.
func (m *Model) FullHelp() [][]key.Binding {
	k := m.ctx.Keys
	n, l, g := k.Nav, k.List, k.Global
	return [][]key.Binding{
		{n.Up, n.Down, n.PageUp, n.PageDown, n.Top, n.Bottom, l.Open, l.Clear, l.Quit},
		append([]key.Binding{l.Search, l.Facets, l.HideFacets, l.Timeline, l.Sort, l.View}, append(l.Filters[:], l.ClearFilters)...),
		{l.Resubmit, l.Export, l.Command, l.Hunts, g.Pause, g.Theme, g.Refresh, g.Help, g.Quit},
	}
}

// SetSize sets the area the list draws in.
func (m *Model) SetSize(w, h int) {
	m.width, m.height = w, h
	m.clamp()
}

// SetResult replaces the rows with a first page; the cursor stays on the
// same row id when it is still there (live refresh), else at the top.
func (m *Model) SetResult(res *api.SearchResult, keepID string) {
	m.rows = res.Rows
	m.total = res.Total
	m.next = res.Next
	m.Loading = false
	m.cursor, m.offset = 0, 0
	if keepID != "" {
		for i, r := range m.rows {
			if r.ID == keepID {
				m.cursor = i
				break
			}
		}
	}
	m.clamp()
}

// Append adds the next page.
func (m *Model) Append(res *api.SearchResult) {
	m.rows = append(m.rows, res.Rows...)
	m.next = res.Next
	m.total = res.Total
	m.Loading = false
}

// Next is the cursor of the next page (nil when everything is loaded).
func (m *Model) Next() []string { return m.next }

// Total is the number of hits of the search.
func (m *Model) Total() uint64 { return m.total }

// Len is the number of rows loaded.
func (m *Model) Len() int { return len(m.rows) }

// Cursor is the index of the selected row.
func (m *Model) Cursor() int { return m.cursor }

// AtTop reports whether the first row is on screen.
func (m *Model) AtTop() bool { return m.offset == 0 }

// Selected returns the selected row, or nil.
func (m *Model) Selected() *api.Row {
	if m.cursor < 0 || m.cursor >= len(m.rows) {
		return nil
	}
	return &m.rows[m.cursor]
}

// Row returns loaded row i, or nil.
func (m *Model) Row(i int) *api.Row {
	if i < 0 || i >= len(m.rows) {
		return nil
	}
	return &m.rows[i]
}

// Has reports whether a loaded row is the document id.
func (m *Model) Has(id string) bool {
	for i := range m.rows {
		if m.rows[i].ID == id {
			return true
		}
	}
	return false
}

// UpdateStatus sets the submission state of a loaded row.
func (m *Model) UpdateStatus(id, group, state string) bool {
	for i := range m.rows {
		if m.rows[i].ID != id {
			continue
		}
		st := make(map[string]string, len(m.rows[i].Status)+1)
		for k, v := range m.rows[i].Status {
			st[k] = v
		}
		st[group] = state
		m.rows[i].Status = st
		return true
	}
	return false
}

func (m *Model) visible() int { return max(m.height-1, 1) }

func (m *Model) clamp() {
	if m.cursor >= len(m.rows) {
		m.cursor = len(m.rows) - 1
	}
	if m.cursor < 0 {
		m.cursor = 0
	}
	v := m.visible()
	if m.cursor < m.offset {
		m.offset = m.cursor
	}
	if m.cursor >= m.offset+v {
		m.offset = m.cursor - v + 1
	}
	// Never scrolled past the last row: after the window grows, rows
	// come back from above instead of empty lines showing below.
	if m.offset > len(m.rows)-v {
		m.offset = len(m.rows) - v
	}
	if m.offset < 0 {
		m.offset = 0
	}
}

// Click selects the row drawn on line y of the list (0 is the heading)
// and reports whether it already was the selected one (a second click
// opens it).
func (m *Model) Click(y int) bool {
	i := m.offset + y - 1
	if y < 1 || y > m.visible() || i < 0 || i >= len(m.rows) {
		return false
	}
	if i == m.cursor {
		return true
	}
	m.cursor = i
	m.clamp()
	return false
}

// Move moves the cursor by d rows and reports whether the next page should
// be loaded.
func (m *Model) Move(d int) tea.Cmd {
	m.cursor += d
	m.clamp()
	return m.maybeMore()
}

func (m *Model) maybeMore() tea.Cmd {
	if m.next != nil && !m.Loading && m.cursor >= len(m.rows)-m.visible()*2 {
		m.Loading = true
		return func() tea.Msg { return NeedMoreMsg{} }
	}
	return nil
}

// Update handles navigation keys and the mouse wheel.
func (m *Model) Update(msg tea.Msg) (common.Component, tea.Cmd) {
	k := m.ctx.Keys.Nav
	switch msg := msg.(type) {
	case tea.KeyPressMsg:
		switch {
		case key.Matches(msg, k.Up):
			return m, m.Move(-1)
		case key.Matches(msg, k.Down):
			return m, m.Move(1)
		case key.Matches(msg, k.PageUp):
			return m, m.Move(-m.visible())
		case key.Matches(msg, k.PageDown):
			return m, m.Move(m.visible())
		case key.Matches(msg, k.Top):
			return m, m.Move(-m.cursor)
		case key.Matches(msg, k.Bottom):
			return m, m.Move(len(m.rows))
		}
	case tea.MouseWheelMsg:
		switch msg.Button {
		case tea.MouseWheelUp:
			return m, m.Move(-3)
		case tea.MouseWheelDown:
			return m, m.Move(3)
		}
	}
	return m, nil
}

// columns computes the column widths for the list width.
type columns struct {
	time, risk, sensor, ip, from, rcpt, subj, att, ioc, yara, status int
}

// full is the list with every column at its fixed width; the counters
// are 4 cells wide, what common.Count needs.
// The risk count (at most 12 reasons) takes 3.
var full = columns{time: 19, risk: 3, ip: 15, rcpt: 4, att: 4, ioc: 4, yara: 4, status: 12}

// minText is the least room MAIL FROM and SUBJECT together keep before
// the triage columns (SOURCE, ATT, IOC, YARA) are dropped.
const minText = 30

func (c columns) fixed() int {
	return c.time + c.risk + c.ip + c.rcpt + c.att + c.ioc + c.yara + c.status + 9 + c.sensorCell() // separators
}

// sensorCell is the room the SENSOR column takes, its separator included.
func (c columns) sensorCell() int {
	if c.sensor == 0 {
		return 0
	}
	return c.sensor + 1
}

// Sensor column widths: the heading's, and at most this much of a name
// (sensor names run to core.MaxSensorLen; the cell cuts the rest).
const (
	minSensor = len("SENSOR")
	maxSensor = 12
)

// sensorWidth is the width of the SENSOR column: 0 (no column) while
// every row loaded comes from one sensor (or none names its sensor),
// else as wide as the longest name, within [minSensor, maxSensor].
func (m *Model) sensorWidth() int {
	first, many, w := "", false, 0
	for i := range m.rows {
		s := m.rows[i].Sensor
		if s == "" {
			continue
		}
		if first == "" {
			first = s
		} else if s != first {
			many = true
		}
		w = max(w, len(s))
	}
	if !many {
		return 0
	}
	return min(max(w, minSensor), maxSensor)
}

// MultiSensor reports whether the rows loaded come from more than one
// sensor: the list then shows its SENSOR column.
func (m *Model) MultiSensor() bool { return m.sensorWidth() > 0 }

// NeedWidth is the narrowest width at which the list shows every column
// of the rows it holds: FullWidth, plus the SENSOR column when shown.
func (m *Model) NeedWidth() int {
	return FullWidth() + columns{sensor: m.sensorWidth()}.sensorCell()
}

// FullWidth is the narrowest width at which the list shows every column
// (the triage columns SOURCE, ATT, IOC and YARA included): the root hides
// the facet panel rather than make the list narrower than this.
func FullWidth() int { return full.fixed() + minText }

func (m *Model) columns() columns {
	c := full
	c.sensor = m.sensorWidth()
	rest := m.width - c.fixed()
	if rest < minText {
		// Narrow terminal: drop the counters first (the risk count and
		// the sensor stay).
		c.ip, c.att, c.ioc, c.yara = 0, 0, 0, 0
		rest = m.width - (c.time + c.risk + c.rcpt + c.status + 5 + c.sensorCell())
	}
	if rest < 10 {
		rest = 10
	}
	c.from = min(max(rest*2/5, 8), 32)
	c.subj = max(rest-c.from, 1)
	return c
}

// View renders the visible rows.
func (m *Model) View() string {
	s := m.ctx.Styles
	c := m.columns()
	lines := make([]string, 0, m.height)
	cell := func(parts []string) string { return strings.Join(parts, " ") }
	head := []string{common.Fit(m.mark("TIME (UTC)", api.SortTime, c.time), c.time), common.FitRight("RSK", c.risk)}
	if c.sensor > 0 {
		head = append(head, common.Fit("SENSOR", c.sensor))
	}
	if c.ip > 0 {
		head = append(head, common.Fit("SOURCE", c.ip))
	}
	head = append(head, common.Fit(m.mark("MAIL FROM", api.SortSender, c.from), c.from), common.FitRight("RCPT", c.rcpt), common.Fit("SUBJECT", c.subj))
	if c.att > 0 {
		head = append(head, common.FitRight(m.mark("ATT", api.SortAttachments, c.att), c.att), common.FitRight(m.mark("IOC", api.SortIOCs, c.ioc), c.ioc), common.FitRight("YARA", c.yara))
	}
	head = append(head, common.Fit(m.mark("STATUS", api.SortStatus, c.status), c.status))
	lines = append(lines, s.ColHeader.Render(common.Fit(cell(head), m.width)))
	if len(m.rows) == 0 {
		msg := "no results"
		if m.Loading {
			msg = "loading…"
		}
		lines = append(lines, s.Muted.Render("  "+msg))
	}
	end := min(m.offset+m.visible(), len(m.rows))
	for i := m.offset; i < end; i++ {
		r := &m.rows[i]
		lines = append(lines, m.renderRow(r, c, i == m.cursor))
	}
	return common.PadLines(lines, m.width, m.height)
}

// Arrow is the sort indicator of a direction.
func Arrow(desc bool) string {
	if desc {
		return "▼"
	}
	return "▲"
}

// mark adds the sort arrow to the heading of the sorted column, cutting
// the name when the column is too narrow for both.
func (m *Model) mark(name, field string, w int) string {
	if m.Sort.Field != field {
		return name
	}
	r := []rune(name)
	if len(r)+1 > w {
		r = r[:max(w-1, 0)]
	}
	return string(r) + Arrow(m.Sort.Desc)
}

// num is a counter cell: "·" for none, else common.Count (never cut).
func num(n int) string {
	if n == 0 {
		return "·"
	}
	return common.Count(n)
}

// fileName is the last element of the path an email was read from.
func fileName(p string) string {
	if p == "" {
		return "a file"
	}
	return filepath.Base(p)
}

func (m *Model) renderRow(r *api.Row, c columns, sel bool) string {
	s := m.ctx.Styles
	from, subj, rcpt, src := r.MailFrom, r.Subject, num(r.Rcpt), r.SourceIP
	switch r.Kind {
	case api.KindSession:
		from, subj, rcpt = "(no email)", r.UID+": "+r.Reason, ""
	case api.KindReview:
		from, subj, rcpt = "(review)", r.Name+": "+r.Reason, ""
	default:
		if r.NoSession {
			// Read from a file: no envelope, and no bounce either.
			src, from, rcpt = "no SMTP session", "read from "+fileName(r.Source), ""
		} else if from == "" {
			from = "<>"
		}
		if r.Partial {
			subj = "[partial] " + subj
		}
		if len(r.Hunts) > 0 {
			subj = "[hunt:" + strings.Join(r.Hunts, ",") + "] " + subj
		}
	}
	risk := common.FitRight(num(r.Risk), c.risk)
	if r.Kind != api.KindEmail {
		risk = common.FitRight("", c.risk)
	}
	parts := []string{common.Fit(m.ctx.Time(r.Time), c.time), risk}
	if c.sensor > 0 {
		parts = append(parts, common.Fit(r.Sensor, c.sensor)) // Fit sanitizes
	}
	if c.ip > 0 {
		parts = append(parts, common.Fit(src, c.ip))
	}
	parts = append(parts, common.Fit(from, c.from), common.FitRight(rcpt, c.rcpt), common.Fit(subj, c.subj))
	if c.att > 0 {
		parts = append(parts, common.FitRight(num(r.Att), c.att), common.FitRight(num(r.IOC), c.ioc), common.FitRight(num(r.YARA), c.yara))
	}
	word, state := common.StatusSummary(r.Status)
	if r.Kind != api.KindEmail {
		word, state = r.Kind, ""
	}
	status := common.Fit(word, c.status)
	if sel {
		line := strings.Join(append(parts, status), " ")
		return s.Selected.Render(common.Fit(line, m.width))
	}
	if r.Risk > 0 && r.YARA == 0 {
		parts[1] = s.Warn.Render(parts[1])
	}
	line := strings.Join(parts, " ") + " "
	if state != "" {
		status = s.State(state).Render(status)
	}
	if r.YARA > 0 {
		return s.Warn.Render(line) + status
	}
	return line + status
}
