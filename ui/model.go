package ui

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"

	"github.com/smtpscope/smtpscope/collector/api"
	"github.com/smtpscope/smtpscope/ui/cmdline"
	"github.com/smtpscope/smtpscope/ui/common"
	"github.com/smtpscope/smtpscope/ui/detail"
	"github.com/smtpscope/smtpscope/ui/facets"
	"github.com/smtpscope/smtpscope/ui/help"
	"github.com/smtpscope/smtpscope/ui/keys"
	"github.com/smtpscope/smtpscope/ui/list"
	"github.com/smtpscope/smtpscope/ui/sanitize"
	"github.com/smtpscope/smtpscope/ui/saved"
	"github.com/smtpscope/smtpscope/ui/search"
	"github.com/smtpscope/smtpscope/ui/statusbar"
	"github.com/smtpscope/smtpscope/ui/styles"
	"github.com/smtpscope/smtpscope/ui/timeline"
)

// PageSize is how many rows one search page holds.
const PageSize = 200

// Options configure a Model.
type Options struct {
	Backend api.Backend
	// Dark selects the dark or light styles; nil asks the terminal.
	Dark *bool
	// Plain draws with no colours or attributes (tests).
	Plain bool
	// Now is the clock (default time.Now); Loc the time zone (default UTC).
	Now func() time.Time
	Loc *time.Location
	// ExportDir is where export proposes to write (default ".").
	ExportDir string
	// Query is the initial query.
	Query string
	// Title is shown in the header (e.g. the data dir).
	Title string
	// NoTick disables the periodic refresh (tests that want a fixed
	// sequence of messages).
	NoTick bool
	// SearchesFile keeps the search history and the saved searches
	// across restarts (see ui/saved); "" keeps them for this run only.
	SearchesFile string
}

// views cycled by `v`.
var views = []struct{ name, kind string }{
	{"emails", api.KindEmail},
	{"sessions without email", api.KindSession},
	{"review", api.KindReview},
	{"all", ""},
}

// Model is the root model.
type Model struct {
	ctx    *common.Context
	opts   Options
	cancel context.CancelFunc
	bg     context.Context

	list   *list.Model
	search *search.Model
	cmd    *cmdline.Model // the `:` command line (commands.go)
	store  *saved.Store   // history and saved searches (nil until loaded)
	facets *facets.Model
	tl     *timeline.Model // volume over time, above the list when showTimeline
	detail *detail.Model   // nil: the list screen
	help   *help.Model
	bar    *statusbar.Model

	showFacets   bool
	showTimeline bool
	facetFocus   bool
	dlg          *dialog

	query    string
	facetSeq int    // search whose facets may still arrive
	shown    int    // last search whose answer was applied
	sort     string // the sort order (api.SortSpec's form)
	view     int
	seq      int
	took     time.Duration
	searched bool
	typing   typing // search-as-you-type (typing.go)

	status    *api.Status
	statusErr error
	msg       string
	msgErr    bool
	msgAt     time.Time

	events       <-chan api.Event
	newRows      int
	statusDirty  bool
	refreshDirty bool
	refreshSubs  bool
	facetsDirty  bool
	facetsAt     time.Time
	resub        *resubJob

	// pendingFacets counts facet searches under way (tests wait on it).
	pendingFacets atomic.Int32
	// last is the last frame drawn (read by tests from another goroutine).
	last atomic.Pointer[string]
}

// New returns the root model.
func New(o Options) *Model {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Loc == nil {
		o.Loc = time.UTC
	}
	if o.ExportDir == "" {
		o.ExportDir = "."
	}
	dark := true
	if o.Dark != nil {
		dark = *o.Dark
	}
	st := styles.New(dark)
	if o.Plain {
		st = styles.NewPlain()
	}
	c := &common.Context{Backend: o.Backend, Styles: st, Keys: keys.Default(), Width: 120, Height: 40, Now: o.Now, Loc: o.Loc, ExportDir: o.ExportDir}
	bg, cancel := context.WithCancel(context.Background())
	m := &Model{ctx: c, opts: o, bg: bg, cancel: cancel, query: o.Query}
	m.list = list.New(c)
	m.search = search.New(c)
	m.search.SetValue(o.Query)
	m.sort, m.list.Sort = "-"+api.SortTime, api.SortSpec{Field: api.SortTime, Desc: true}
	m.cmd = cmdline.New(c)
	m.facets = facets.New(c)
	m.tl = timeline.New(c)
	m.help = help.New(c)
	m.bar = statusbar.New(c)
	m.showFacets = true
	m.list.Loading = true
	m.layout()
	return m
}

// Close stops the background work of the model (event subscription).
func (m *Model) Close() { m.cancel() }

// Messages.
type (
	searchMsg struct {
		seq    int
		res    *api.SearchResult
		err    error
		append bool
		keepID string
		typed  bool // an as-you-type search
	}
	statusMsg struct {
		st  *api.Status
		err error
	}
	// huntsMsg: the collector's hunts with their match counts (H).
	huntsMsg struct {
		rows [][2]string
		err  error
	}
	facetsMsg struct {
		seq    int
		facets []api.Facet
		hist   *api.Histogram
		err    error
	}
	eventsMsg struct{ ch <-chan api.Event }
	eventMsg  struct {
		ev api.Event
		ok bool
	}
	tickMsg   time.Time
	noticeMsg struct {
		text string
		err  bool
	}
)

// Init starts the first search, the status and the event stream. The
// saved searches are read before the first search runs, so that once
// results show, :load completes them (a key pressed as soon as the list
// appears found none while the file was still being read).
func (m *Model) Init() tea.Cmd {
	cmds := []tea.Cmd{tea.Sequence(m.loadSaved(), m.runSearch(false, "")), m.loadStatus(), m.subscribe()}
	for _, c := range m.components() {
		cmds = append(cmds, c.Init())
	}
	if m.opts.Dark == nil && !m.opts.Plain {
		cmds = append(cmds, tea.RequestBackgroundColor)
	}
	if !m.opts.NoTick {
		cmds = append(cmds, tick())
	}
	return tea.Batch(cmds...)
}

func tick() tea.Cmd {
	return tea.Tick(time.Second, func(t time.Time) tea.Msg { return tickMsg(t) })
}

func (m *Model) searchOpts() api.SearchOptions {
	return api.SearchOptions{Limit: PageSize, Sort: m.sort, Facets: true, Kind: views[m.view].kind}
}

// runSearch starts a search of the current query (first page, or the next
// one when more is true). The facet counts of a first page (a pass over
// every match) are asked for once its rows are shown, so they never hold
// the list back nor compete with it for the CPU.
func (m *Model) runSearch(more bool, keepID string) tea.Cmd {
	m.seq++
	q, typed := m.searchQuery()
	seq, o, b := m.seq, m.searchOpts(), m.ctx.Backend
	o.Facets, o.AsYouType = false, typed
	if more {
		o.After = m.list.Next()
	}
	if !more && keepID != "" && m.list.Len() > PageSize {
		// Live refresh: keep as many rows as were loaded (bounded).
		o.Limit = min(m.list.Len(), 5000)
	}
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		res, err := b.Search(ctx, q, o)
		return searchMsg{seq: seq, res: res, err: err, append: more, keepID: keepID, typed: typed}
	}
}

// loadFacets asks for the facet counts of search seq.
func (m *Model) loadFacets(seq int) tea.Cmd {
	q, typed := m.searchQuery()
	o, b := m.searchOpts(), m.ctx.Backend
	o.Limit, o.Facets, o.IDsOnly, o.AsYouType, o.Histogram = 1, true, true, typed, true
	m.pendingFacets.Add(1)
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		res, err := b.Search(ctx, q, o)
		if err != nil {
			return facetsMsg{seq: seq, err: err}
		}
		return facetsMsg{seq: seq, facets: res.Facets, hist: res.Histogram}
	}
}

func (m *Model) loadStatus() tea.Cmd {
	b := m.ctx.Backend
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		st, err := b.Status(ctx)
		return statusMsg{st: st, err: err}
	}
}

// loadHunts reads the collector's hunts and counts each one's matches
// (hunt:NAME, emails).
func (m *Model) loadHunts() tea.Cmd {
	b := m.ctx.Backend
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		st, err := b.Status(ctx)
		if err != nil {
			return huntsMsg{err: err}
		}
		var rows [][2]string
		for _, h := range st.Hunts {
			res, err := b.Search(ctx, "hunt:"+h.Name, api.SearchOptions{Limit: 1, Kind: api.KindEmail, IDsOnly: true})
			if err != nil {
				return huntsMsg{err: err}
			}
			to := "-"
			if len(h.DeliverTo) > 0 {
				to = strings.Join(h.DeliverTo, ",")
			}
			rows = append(rows, [2]string{sanitize.Line("hunt:" + h.Name),
				sanitize.Line(fmt.Sprintf("%d matched · to %s · %s", res.Total, to, h.Query))})
		}
		return huntsMsg{rows: rows}
	}
}

// showHunts shows the hunts on the help screen: what to search for each
// (hunt:NAME) and its matches, groups and query.
func (m *Model) showHunts(msg huntsMsg) {
	sec := help.Section{Title: "smtpscope — hunts (search hunt:NAME for a hunt's emails)", Rows: msg.rows}
	switch {
	case msg.err != nil:
		sec.Rows = [][2]string{{"error", sanitize.Line(msg.err.Error())}}
	case len(msg.rows) == 0:
		sec.Rows = [][2]string{{"none", "the collector's config has no [[hunt]]"}}
	}
	m.help.Show([]help.Section{sec}, false)
}

func (m *Model) subscribe() tea.Cmd {
	b, bg := m.ctx.Backend, m.bg
	return func() tea.Msg {
		ch, err := b.Events(bg)
		if err != nil {
			return noticeMsg{text: "live updates unavailable: " + err.Error(), err: true}
		}
		return eventsMsg{ch: ch}
	}
}

func waitEvent(ch <-chan api.Event) tea.Cmd {
	return func() tea.Msg {
		ev, ok := <-ch
		return eventMsg{ev: ev, ok: ok}
	}
}

func (m *Model) notice(text string, isErr bool) {
	m.msg, m.msgErr, m.msgAt = text, isErr, m.ctx.Now()
}

// layout gives the components their sizes.
func (m *Model) layout() {
	c := m.ctx
	m.search.SetSize(c.Width, 1)
	m.cmd.SetSize(c.Width, 1)
	m.help.SetSize(c.Width, c.Height-1)
	m.bar.SetSize(c.Width, 1)
	main := m.mainHeight()
	lw := c.Width
	if m.facetFocus && !m.facetsVisible() { // the window got too narrow
		m.facetFocus, m.facets.Focused = false, false
	}
	if m.facetsVisible() {
		lw -= facets.Width
		m.facets.SetSize(facets.Width, main)
	}
	m.tl.SetSize(lw, timeline.Height)
	if m.timelineVisible() {
		main -= timeline.Height
	}
	m.list.SetSize(lw, main)
	if m.detail != nil {
		m.detail.SetSize(c.Width, c.Height-3)
	}
	if m.dlg != nil {
		m.dlg.SetSize(c.Width, c.Height)
	}
}

// searchLines are the search bar's lines, or the command line while it
// is read.
func (m *Model) searchLines() []string {
	if m.cmd.Focused() {
		return []string{m.cmd.View()}
	}
	return m.search.Lines()
}

// focused is the component keys go to: an open dialog, the search bar
// being edited, the help screen, the detail screen, the facet panel when
// it has the focus, else the list.
func (m *Model) focused() common.Component {
	switch {
	case m.dlg != nil:
		return m.dlg
	case m.cmd.Focused():
		return m.cmd
	case m.search.Focused():
		return m.search
	case m.help.Open:
		return m.help
	case m.detail != nil:
		return m.detail
	case m.facetFocus && m.facetsVisible():
		return m.facets
	}
	return m.list
}

// components are every component on the screen.
func (m *Model) components() []common.Component {
	cs := []common.Component{m.list, m.search, m.cmd, m.facets, m.tl, m.help, m.bar}
	if m.detail != nil {
		cs = append(cs, m.detail)
	}
	if m.dlg != nil {
		cs = append(cs, m.dlg)
	}
	return cs
}

func (m *Model) mainHeight() int {
	return max(m.ctx.Height-3-len(m.searchLines()), 1) // header, hints, status bar
}

// facetsVisible: the facet panel is drawn when the list beside it keeps
// every column (list.NeedWidth: the SENSOR column too while shown);
// narrower, only while it has the focus (`f`), over a list that then
// drops its triage columns.
func (m *Model) facetsVisible() bool {
	w := m.ctx.Width - facets.Width
	return m.showFacets && (w >= m.list.NeedWidth() || m.facetFocus && w >= facets.MinBeside)
}

// timelineVisible: toggled on, and room for it and a few rows.
func (m *Model) timelineVisible() bool {
	return m.showTimeline && m.mainHeight() >= timeline.Height+4
}

// Update routes messages.
func (m *Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	cmd := m.update(msg)
	if m.detail != nil {
		m.detail.Prepare()
	}
	return m, cmd
}

func (m *Model) update(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.ctx.Width, m.ctx.Height = max(msg.Width, 20), max(msg.Height, 6)
		m.layout()
		return nil
	case tea.BackgroundColorMsg:
		if m.opts.Dark == nil && !m.opts.Plain {
			m.ctx.Styles = styles.New(msg.IsDark())
		}
		return nil
	case searchMsg:
		return m.onSearch(msg)
	case facetsMsg:
		m.pendingFacets.Add(-1)
		if msg.err == nil && (msg.seq == m.seq || msg.seq == m.facetSeq) {
			q, _ := m.searchQuery()
			m.facets.SetFacets(msg.facets, clauses(q))
			m.tl.Set(msg.hist)
		}
		return nil
	case statusMsg:
		m.status, m.statusErr = msg.st, msg.err
		return nil
	case huntsMsg:
		m.showHunts(msg)
		return nil
	case eventsMsg:
		m.events = msg.ch
		return waitEvent(msg.ch)
	case eventMsg:
		if !msg.ok {
			m.events = nil
			return nil
		}
		m.onEvent(msg.ev)
		return waitEvent(m.events)
	case tickMsg:
		return m.onTick()
	case typingMsg:
		return m.onTyping(msg)
	case noticeMsg:
		m.notice(msg.text, msg.err)
		return nil
	case savedMsg:
		return m.onSaved(msg)
	case cmdline.RunMsg, cmdline.ErrorMsg, cmdline.CancelMsg:
		return m.onCommand(msg)
	case list.NeedMoreMsg:
		return m.runSearch(true, "")
	case search.SubmitMsg:
		m.search.Remember(msg.Query)
		m.setQuery(msg.Query)
		m.layout()
		return tea.Batch(m.runSearch(false, ""), m.keepHistory())
	case search.CancelMsg:
		m.search.SetValue(m.query)
		m.layout()
		if m.typing.active {
			m.stopTyping()
			return m.runSearch(false, "")
		}
		m.stopTyping()
		return nil
	case facets.SelectMsg:
		m.setQuery(toggleClause(m.query, msg.Filter))
		m.search.SetValue(m.query)
		return m.runSearch(false, "")
	case detail.LoadedMsg:
		if m.detail != nil {
			m.detail.Loaded(msg)
		}
		return nil
	case detail.SubsMsg:
		if m.detail != nil {
			m.detail.SetSubs(msg)
		}
		return nil
	case detail.CopyMsg:
		v := msg.Value
		if !sanitize.Safe(v) {
			v = sanitize.Line(v)
		}
		m.notice("copied "+msg.What+" to the clipboard (OSC 52)", false)
		return tea.SetClipboard(v)
	case resubMsg:
		return m.onResub(msg)
	case exportMsg:
		switch {
		case msg.err != nil:
			m.notice("export: "+msg.err.Error(), true)
		case msg.packets > 0:
			m.notice(fmt.Sprintf("wrote %d packets (%d bytes) to %s", msg.packets, msg.n, msg.path), false)
		default:
			m.notice(fmt.Sprintf("wrote %d bytes to %s", msg.n, msg.path), false)
		}
		return nil
	case tea.KeyPressMsg:
		return m.onKey(msg)
	case tea.PasteMsg:
		if f := m.focused(); f == m.search || f == m.dlg || f == m.cmd || f == m.detail && m.detail.Finding() {
			before := m.search.Value()
			_, cmd := f.Update(msg)
			return tea.Batch(cmd, m.edited(before))
		}
		return nil
	case tea.MouseWheelMsg:
		if m.dlg != nil || m.help.Open {
			return nil
		}
		if m.detail != nil {
			_, cmd := m.detail.Update(msg)
			return cmd
		}
		_, cmd := m.list.Update(msg)
		return cmd
	case tea.MouseClickMsg:
		return m.onClick(msg)
	}
	return nil
}

func (m *Model) setQuery(q string) {
	m.stopTyping()
	m.query = strings.TrimSpace(q)
	m.search.Err, m.search.ErrCol = "", 0
}

func (m *Model) onSearch(msg searchMsg) tea.Cmd {
	if msg.seq != m.seq {
		return nil // a newer search is running
	}
	m.shown = msg.seq
	m.list.Loading = false
	if msg.err != nil && msg.typed {
		return nil // a query half typed: keep the last results, Enter tells the error
	}
	if msg.err != nil {
		var qe *api.QueryError
		if errors.As(msg.err, &qe) {
			m.search.Err, m.search.ErrCol = qe.Msg, qe.Col
		} else {
			m.search.Err, m.search.ErrCol = msg.err.Error(), 0
		}
		m.layout()
		return nil
	}
	m.search.Err, m.search.ErrCol = "", 0
	m.searched = true
	m.took = msg.res.Took
	if msg.append {
		m.list.Append(msg.res)
	} else {
		m.list.SetResult(msg.res, msg.keepID)
		m.facetSeq = msg.seq
		m.facetsDirty, m.facetsAt = false, m.ctx.Now()
		m.layout()
		return m.loadFacets(msg.seq)
	}
	m.layout()
	return nil
}

func (m *Model) onEvent(ev api.Event) {
	switch ev.Type {
	case api.EventEmail, api.EventIndexed, api.EventReview, api.EventSession, api.EventRemoved:
		// An email is told once searchable: a search made in between
		// may have listed it already, and then it is not new.
		if ev.Type == api.EventEmail && !m.list.Has(ev.ID) {
			m.newRows++
		}
		m.refreshDirty = true
		m.statusDirty = true
	case api.EventSubmission:
		m.list.UpdateStatus(ev.ID, ev.Group, ev.State)
		m.statusDirty = true
		m.facetsDirty = true
		if m.detail != nil && m.detail.Row.ID == ev.ID {
			m.detail.Row.Status = mergeStatus(m.detail.Row.Status, ev.Group, ev.State)
			m.refreshSubs = true
		}
	case api.EventError:
		m.notice("collector: "+ev.Err, true)
		m.statusDirty = true
	case api.EventBackend:
		// The owner of the data dir went away and the backend reaches it
		// another way now: say how, and load everything again.
		m.notice(ev.State, false)
		m.statusDirty, m.refreshDirty, m.facetsDirty = true, true, true
	}
}

func mergeStatus(st map[string]string, g, s string) map[string]string {
	out := make(map[string]string, len(st)+1)
	for k, v := range st {
		out[k] = v
	}
	out[g] = s
	return out
}

func (m *Model) onTick() tea.Cmd {
	cmds := []tea.Cmd{tick()}
	if m.statusDirty || m.ctx.Now().Second()%5 == 0 {
		m.statusDirty = false
		cmds = append(cmds, m.loadStatus())
	}
	if m.refreshSubs && m.detail != nil {
		m.refreshSubs = false
		cmds = append(cmds, detail.LoadSubs(m.ctx.Backend, m.detail.Row.ID))
	}
	// Live rows: refresh the first page when the user is looking at it.
	if m.refreshDirty && m.list.AtTop() && m.list.Cursor() < 5 && !m.search.Focused() {
		m.refreshDirty = false
		m.newRows = 0
		keep := ""
		if r := m.list.Selected(); r != nil && m.list.Cursor() > 0 {
			keep = r.ID
		}
		cmds = append(cmds, m.runSearch(false, keep))
	}
	// Facet counts follow the submission states, at most every 5 s.
	if m.facetsDirty && m.pendingFacets.Load() == 0 && m.ctx.Now().Sub(m.facetsAt) > 5*time.Second {
		m.facetsDirty = false
		m.facetsAt = m.ctx.Now()
		cmds = append(cmds, m.loadFacets(m.seq))
	}
	if m.msg != "" && m.ctx.Now().Sub(m.msgAt) > 8*time.Second && m.resub == nil {
		m.msg = ""
	}
	return tea.Batch(cmds...)
}

// openDetail opens the selected row.
func (m *Model) openDetail() tea.Cmd {
	r := m.list.Selected()
	if r == nil {
		return nil
	}
	m.detail = detail.New(m.ctx, *r)
	m.layout()
	return detail.Load(m.ctx.Backend, *r)
}

// onKey routes a key: dialogs, the search bar and the help screen take
// every key; elsewhere the global keys come first, then the focused
// screen's.
func (m *Model) onKey(msg tea.KeyPressMsg) tea.Cmd {
	g := m.ctx.Keys.Global
	switch f := m.focused(); {
	case f == m.dlg:
		return m.dialogKey(msg)
	case f == m.search, f == m.cmd:
		before := m.search.Value()
		_, cmd := f.Update(msg)
		m.layout()
		return tea.Batch(cmd, m.edited(before))
	case f == m.detail && m.detail.Finding():
		_, cmd := m.detail.Update(msg) // the find prompt takes every key
		return cmd
	case key.Matches(msg, g.Quit):
		m.cancel()
		return tea.Quit
	case f == m.help:
		m.help.Update(msg)
		return nil
	case key.Matches(msg, g.Help):
		m.showHelp(f)
		return nil
	case key.Matches(msg, g.Theme):
		m.toggleTheme()
		return nil
	case key.Matches(msg, g.Pause):
		return m.togglePause()
	case key.Matches(msg, g.Refresh):
		m.newRows, m.refreshDirty = 0, false
		return tea.Batch(m.runSearch(false, ""), m.loadStatus())
	case f == m.detail:
		return m.detailKey(msg)
	case f == m.facets:
		return m.facetKey(msg)
	}
	return m.listKey(msg)
}

// showHelp opens the help screen of the focused component f; the list's
// also shows the search bar's keys and the query language.
func (m *Model) showHelp(f common.Component) {
	switch f {
	case m.detail:
		m.help.Show([]help.Section{{Title: "smtpscope — detail keys", Keys: f.FullHelp()}}, false)
	case m.facets:
		m.help.Show([]help.Section{{Title: "smtpscope — facet panel keys", Keys: f.FullHelp()}}, false)
	default:
		m.help.Show([]help.Section{
			{Title: "smtpscope — keys", Keys: f.FullHelp()},
			{Title: "Search bar", Keys: m.search.FullHelp()},
		}, true)
	}
}

func (m *Model) toggleTheme() {
	m.ctx.Styles = styles.New(!m.ctx.Styles.Dark)
	if m.opts.Plain {
		m.ctx.Styles = styles.NewPlain()
	}
	if m.detail != nil {
		m.detail.SetSize(0, 0)
		m.layout()
	}
}

func (m *Model) togglePause() tea.Cmd {
	paused := m.status != nil && m.status.Paused
	b := m.ctx.Backend
	return func() tea.Msg {
		if err := b.SetPaused(context.Background(), !paused); err != nil {
			return noticeMsg{text: "pause: " + err.Error(), err: true}
		}
		st, err := b.Status(context.Background())
		return statusMsg{st: st, err: err}
	}
}

func (m *Model) detailKey(msg tea.KeyPressMsg) tea.Cmd {
	k := m.ctx.Keys.Detail
	switch {
	case key.Matches(msg, k.Back):
		if !m.detail.ClearFind() {
			m.detail = nil
		}
		return nil
	case key.Matches(msg, k.NextEmail):
		return m.stepDetail(1)
	case key.Matches(msg, k.PrevEmail):
		return m.stepDetail(-1)
	case key.Matches(msg, k.Resubmit):
		if m.detail.Row.Kind == api.KindEmail {
			m.startResubmit([]string{m.detail.Row.ID}, false)
		}
		return nil
	case key.Matches(msg, k.Export),
		key.Matches(msg, k.Save) && m.detail.Tab() == detail.TabAttachments:
		m.startExport(m.detail.Row, m.detail)
		return nil
	}
	_, cmd := m.detail.Update(msg)
	return cmd
}

func (m *Model) facetKey(msg tea.KeyPressMsg) tea.Cmd {
	k := m.ctx.Keys.Facets
	switch {
	case key.Matches(msg, k.Leave):
		m.facetFocus = false
		m.facets.Focused = false
		m.layout()
		return nil
	case key.Matches(msg, k.Quit):
		m.cancel()
		return tea.Quit
	}
	_, cmd := m.facets.Update(msg)
	return cmd
}

func (m *Model) listKey(msg tea.KeyPressMsg) tea.Cmd {
	k := m.ctx.Keys.List
	switch {
	case key.Matches(msg, k.Quit):
		m.cancel()
		return tea.Quit
	case key.Matches(msg, k.Search):
		m.search.SetValue(m.query)
		m.search.Focus()
		m.layout()
		return nil
	case key.Matches(msg, k.Open):
		return m.openDetail()
	case key.Matches(msg, k.Command):
		m.openCommand()
		return nil
	case key.Matches(msg, k.Timeline):
		m.showTimeline = !m.showTimeline
		m.layout()
		return nil
	case key.Matches(msg, k.Hunts):
		return m.loadHunts()
	case key.Matches(msg, k.Facets):
		m.showFacets, m.facetFocus = true, true
		m.facetFocus = m.facetsVisible()
		m.facets.Focused = m.facetFocus
		m.layout()
		return nil
	case key.Matches(msg, k.HideFacets):
		m.showFacets = !m.showFacets
		m.facetFocus = false
		m.facets.Focused = false
		m.layout()
		return nil
	case key.Matches(msg, k.Sort):
		return m.setSort(nextSort(m.sort))
	case key.Matches(msg, k.View):
		m.view = (m.view + 1) % len(views)
		return m.runSearch(false, "")
	case key.Matches(msg, k.ClearFilters), key.Matches(msg, k.Clear) && m.query != "":
		m.setQuery("")
		m.search.SetValue("")
		return m.runSearch(false, "")
	case key.Matches(msg, k.Resubmit):
		if r := m.list.Selected(); r != nil {
			m.startResubmit([]string{r.ID}, r.Kind == api.KindEmail)
		}
		return nil
	case key.Matches(msg, k.Export):
		if r := m.list.Selected(); r != nil {
			m.startExport(*r, nil)
		}
		return nil
	}
	for i, f := range k.Filters {
		if key.Matches(msg, f) {
			m.setQuery(toggleClause(m.query, keys.QuickFilters[i]))
			m.search.SetValue(m.query)
			return m.runSearch(false, "")
		}
	}
	_, cmd := m.list.Update(msg)
	return cmd
}

// clauses returns the top-level clauses of a query (for checkmarks).
func clauses(q string) map[string]bool {
	out := map[string]bool{}
	for _, c := range splitClauses(q) {
		out[c] = true
	}
	return out
}

// splitClauses splits a query on spaces outside quotes and parentheses.
func splitClauses(q string) []string {
	var out []string
	depth, inQ, start := 0, false, -1
	for i, r := range q {
		switch {
		case r == '"':
			inQ = !inQ
		case r == '(' && !inQ:
			depth++
		case r == ')' && !inQ && depth > 0:
			depth--
		case r == ' ' && !inQ && depth == 0:
			if start >= 0 {
				out = append(out, q[start:i])
				start = -1
			}
			continue
		}
		if start < 0 {
			start = i
		}
	}
	if start >= 0 {
		out = append(out, q[start:])
	}
	return out
}

// toggleClause removes clause c from q (every copy) when present, else
// appends it.
func toggleClause(q, c string) string {
	cs := splitClauses(q)
	kept := cs[:0:0]
	for _, x := range cs {
		if x != c {
			kept = append(kept, x)
		}
	}
	if len(kept) < len(cs) {
		return strings.Join(kept, " ")
	}
	return strings.TrimSpace(strings.Join(append(cs, c), " "))
}

// under is the screen under a dialog.
func (m *Model) under() common.Component {
	if m.detail != nil {
		return m.detail
	}
	return m.list
}

// View draws the screen.
func (m *Model) View() tea.View {
	var content string
	m.bar.Set(m.status, m.statusErr, m.msg, m.msgErr)
	if m.help.Open {
		content = common.PadLines(strings.Split(m.help.View(), "\n"), m.ctx.Width, m.ctx.Height-1) + "\n" + m.bar.View()
	} else {
		content = m.screen()
	}
	m.last.Store(&content)
	v := tea.NewView(content)
	v.AltScreen = true
	v.MouseMode = tea.MouseModeCellMotion
	v.WindowTitle = "smtpscope"
	return v
}

func (m *Model) header() string {
	s := m.ctx.Styles
	c := m.ctx
	left := s.Title.Render("smtpscope")
	var right string
	// The title (the data dir) gets the room the rest of the header
	// leaves, whatever the width.
	title := func(rest int) {
		if m.opts.Title != "" {
			left += s.Muted.Render(" " + common.TruncLeft(m.opts.Title, max(c.Width-lipgloss.Width(left)-rest-1, 8)))
		}
	}
	if m.detail != nil {
		title(c.Width * 3 / 4)
		r := m.detail.Row
		what := "email " + r.ID
		switch r.Kind {
		case api.KindSession:
			what = "session " + r.UID
		case api.KindReview:
			what = "review " + r.Name
		}
		left += s.Muted.Render(" ‹ "+c.Keys.Detail.Back.Help().Key+" · ") + common.Trunc(what, max(c.Width/2, 20))
		if r.Subject != "" {
			left += s.Muted.Render(" · ") + common.Trunc(r.Subject, max(c.Width-lipgloss.Width(left)-4, 5))
		}
	} else {
		info := fmt.Sprintf("%s · %d results · %s", views[m.view].name, m.list.Total(), sortName(m.list.Sort))
		if m.searched {
			if m.took < time.Millisecond {
				info += " · <1ms"
			} else {
				info += fmt.Sprintf(" · %s", m.took.Round(time.Millisecond))
			}
		}
		if m.newRows > 0 {
			right = s.Warn.Render(fmt.Sprintf("%d new (%s) ", m.newRows, c.Keys.Global.Refresh.Help().Key))
		}
		title(lipgloss.Width(" · "+info) + lipgloss.Width(right))
		left += s.Muted.Render(" · " + info)
	}
	return common.PadLines([]string{left + strings.Repeat(" ", max(c.Width-lipgloss.Width(left)-lipgloss.Width(right), 1)) + right}, c.Width, 1)
}

func (m *Model) screen() string {
	c := m.ctx
	var parts []string
	parts = append(parts, m.header())
	if m.detail != nil {
		body := m.detail.View()
		if m.dlg != nil {
			body = m.overlay(body, c.Height-3)
		}
		parts = append(parts, body)
	} else {
		parts = append(parts, m.searchLines()...)
		main := m.list.View()
		if m.timelineVisible() {
			main = m.tl.View() + "\n" + main
		}
		if m.facetsVisible() {
			main = lipgloss.JoinHorizontal(lipgloss.Top, m.facets.View(), main)
		}
		if m.dlg != nil {
			main = m.overlay(main, m.mainHeight())
		}
		parts = append(parts, main)
	}
	// The hints are the focused screen's (a dialog's are in its box).
	hints := m.focused()
	if hints == m.dlg {
		hints = m.under()
	}
	parts = append(parts, common.PadLines([]string{" " + help.Short(c, c.Width-1, hints.ShortHelp())}, c.Width, 1))
	parts = append(parts, m.bar.View())
	return strings.Join(parts, "\n")
}

// overlay draws the dialog centred over an area of height h.
func (m *Model) overlay(under string, h int) string {
	box := m.dlg.View()
	bw, bh := lipgloss.Size(box)
	x, y := max((m.ctx.Width-bw)/2, 0), max((h-bh)/2, 0)
	out := lipgloss.NewCompositor(lipgloss.NewLayer(under), lipgloss.NewLayer(box).X(x).Y(y).Z(1)).Render()
	return common.PadLines(strings.Split(out, "\n"), m.ctx.Width, h)
}
