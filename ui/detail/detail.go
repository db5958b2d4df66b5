// Package detail is the detail screen of one list row, in tabs. For an
// email: Summary · Transcript · Headers · Body · MIME · Attachments · IOCs
// · Submissions. For a session without email: Summary · Transcript. For a
// review/ entry: Summary · Data. Every string shown is sanitized. The tab
// bar shortens its labels to keep every tab on screen from 80 columns;
// `/` finds text in the current tab (highlighted, counted, n/N to step).
package detail

import (
	"context"
	"strings"
	"time"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"github.com/smtpscope/smtpscope/collector/api"
	"github.com/smtpscope/smtpscope/core"
	"github.com/smtpscope/smtpscope/ui/common"
	"github.com/smtpscope/smtpscope/ui/keys"
)

// Tab names.
const (
	TabSummary     = "Summary"
	TabTranscript  = "Transcript"
	TabHeaders     = "Headers"
	TabBody        = "Body"
	TabMIME        = "MIME"
	TabAttachments = "Attachments"
	TabIOCs        = "IOCs"
	TabSubmissions = "Submissions"
	TabData        = "Data"
)

var (
	emailTabs   = []string{TabSummary, TabTranscript, TabHeaders, TabBody, TabMIME, TabAttachments, TabIOCs, TabSubmissions}
	sessionTabs = []string{TabSummary, TabTranscript}
	reviewTabs  = []string{TabSummary, TabData}
)

// LoadedMsg carries what Load fetched.
type LoadedMsg struct {
	ID      string
	Email   *core.Email
	Session *core.Session
	SessErr error
	Subs    []api.SubmissionStatus
	Review  *api.Review
	Err     error
}

// SubsMsg carries fresh submission states of an email.
type SubsMsg struct {
	ID   string
	Subs []api.SubmissionStatus
	Err  error
}

// CopyMsg asks the root to copy a value to the clipboard.
type CopyMsg struct{ What, Value string }

// Load fetches everything the detail of row shows.
func Load(b api.Backend, row api.Row) tea.Cmd {
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		out := LoadedMsg{ID: row.ID}
		switch row.Kind {
		case api.KindReview:
			name := row.Name
			if name == "" {
				name = strings.TrimPrefix(row.ID, "review/")
			}
			out.Review, out.Err = b.Review(ctx, name)
		case api.KindSession:
			uid := row.UID
			if uid == "" {
				uid = strings.TrimPrefix(row.ID, "session/")
			}
			out.Session, out.SessErr = b.Session(ctx, "session/"+uid)
		default:
			out.Email, out.Err = b.Email(ctx, row.ID)
			if out.Err == nil {
				if out.Email.HasSession() { // a file read has none to load
					out.Session, out.SessErr = b.Session(ctx, row.ID)
				}
				out.Subs, _ = b.Submissions(ctx, row.ID)
			}
		}
		return out
	}
}

// LoadSubs fetches the submission states of an email.
func LoadSubs(b api.Backend, id string) tea.Cmd {
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		s, err := b.Submissions(ctx, id)
		return SubsMsg{ID: id, Subs: s, Err: err}
	}
}

// Model is the detail screen.
type Model struct {
	ctx     *common.Context
	Row     api.Row
	Email   *core.Email
	Session *core.Session
	sessErr error
	Subs    []api.SubmissionStatus
	Review  *api.Review
	err     error
	loading bool

	tabs   []string
	tab    int
	scroll map[string]int
	sel    map[string]int
	fold   bool // transcript message bytes folded
	raw    bool // headers: raw instead of decoded

	width, height int
	lines         []string // rendered content of the current tab
	selLine       int      // line of the selected item, -1 if none
	dirty         bool

	find finder
}

// New returns the detail screen of row (Load fills it).
func New(ctx *common.Context, row api.Row) *Model {
	m := &Model{ctx: ctx, Row: row, loading: true, scroll: map[string]int{}, sel: map[string]int{}, fold: true, dirty: true}
	switch row.Kind {
	case api.KindSession:
		m.tabs = sessionTabs
	case api.KindReview:
		m.tabs = reviewTabs
	default:
		m.tabs = emailTabs
	}
	return m
}

// Init does nothing: the root runs Load.
func (m *Model) Init() tea.Cmd { return nil }

// ShortHelp is the hint line: the keys the current tab answers to (the
// find prompt's while it is typed in).
func (m *Model) ShortHelp() []key.Binding {
	if m.find.editing {
		f := m.ctx.Keys.Find
		return []key.Binding{f.Run, f.Cancel, f.Backspace, f.Clear}
	}
	k := m.ctx.Keys.Detail
	out := []key.Binding{k.NextTab}
	switch m.Tab() {
	case TabTranscript, TabHeaders:
		out = append(out, k.Toggle)
	case TabAttachments:
		out = append(out, k.Save, k.Copy)
	case TabIOCs:
		out = append(out, k.Copy)
	}
	if m.find.query != "" {
		out = append(out, k.FindNext, k.FindPrev)
	} else {
		out = append(out, k.Find)
	}
	out = append(out, k.NextEmail, k.PrevEmail)
	if m.Row.Kind == api.KindEmail {
		out = append(out, k.Resubmit)
	}
	return append(out, k.Export, k.Back, m.ctx.Keys.Global.Help)
}

// FullHelp is every key of the detail screen, in columns (the find
// prompt's while it is typed in).
func (m *Model) FullHelp() [][]key.Binding {
	if m.find.editing {
		f := m.ctx.Keys.Find
		return [][]key.Binding{{f.Run, f.Cancel, f.Backspace, f.Clear}}
	}
	k, n, g := m.ctx.Keys.Detail, m.ctx.Keys.Nav, m.ctx.Keys.Global
	return [][]key.Binding{
		{k.NextTab, k.PrevTab, k.GoTab, k.Toggle, k.Copy, k.Save, k.Export, k.Resubmit, k.Back},
		{n.Up, n.Down, n.PageUp, n.PageDown, n.Top, n.Bottom},
		{k.NextEmail, k.PrevEmail, k.Find, k.FindNext, k.FindPrev},
		{g.Pause, g.Theme, g.Refresh, g.Help, g.Quit},
	}
}

// SetSize sets the area.
func (m *Model) SetSize(w, h int) {
	if w != m.width || h != m.height {
		m.width, m.height = w, h
		m.dirty = true
	}
}

// Tab is the name of the current tab.
func (m *Model) Tab() string { return m.tabs[m.tab] }

// SetTab switches to the named tab (ignored when absent).
func (m *Model) SetTab(name string) {
	for i, t := range m.tabs {
		if t == name {
			m.tab = i
			m.dirty = true
		}
	}
}

// SelectedAttachment returns the attachment selected on the Attachments
// tab, or nil.
func (m *Model) SelectedAttachment() *core.Attachment {
	if m.Email == nil || m.Tab() != TabAttachments {
		return nil
	}
	i := m.sel[TabAttachments]
	if i < 0 || i >= len(m.Email.Attachments) {
		return nil
	}
	return &m.Email.Attachments[i]
}

// Loaded fills the model.
func (m *Model) Loaded(msg LoadedMsg) {
	if msg.ID != m.Row.ID {
		return
	}
	m.loading = false
	m.Email, m.Session, m.sessErr, m.Subs, m.Review, m.err = msg.Email, msg.Session, msg.SessErr, msg.Subs, msg.Review, msg.Err
	m.dirty = true
}

// SetSubs replaces the submission states.
func (m *Model) SetSubs(msg SubsMsg) {
	if msg.ID == m.Row.ID && msg.Err == nil {
		m.Subs = msg.Subs
		m.dirty = true
	}
}

func (m *Model) bodyHeight() int { return max(m.height-2, 1) }

func (m *Model) items() int {
	if m.Email == nil {
		return 0
	}
	switch m.Tab() {
	case TabAttachments:
		return len(m.Email.Attachments)
	case TabIOCs:
		return len(m.Email.IOCs)
	}
	return 0
}

// Update handles tabs, scrolling, selection, fold and copy.
func (m *Model) Update(msg tea.Msg) (common.Component, tea.Cmd) {
	k, n := m.ctx.Keys.Detail, m.ctx.Keys.Nav
	tab := m.Tab()
	scroll := func(d int) {
		if n := m.items(); n > 0 {
			s := m.sel[tab] + d
			m.sel[tab] = min(max(s, 0), n-1)
			m.dirty = true
			return
		}
		m.render()
		maxS := max(len(m.lines)-m.bodyHeight(), 0)
		m.scroll[tab] = min(max(m.scroll[tab]+d, 0), maxS)
	}
	switch msg := msg.(type) {
	case tea.KeyPressMsg:
		if m.find.editing {
			m.findKey(msg)
			return m, nil
		}
		switch {
		case key.Matches(msg, k.Find):
			m.StartFind()
		case key.Matches(msg, k.FindNext):
			m.step(1)
		case key.Matches(msg, k.FindPrev):
			m.step(-1)
		case key.Matches(msg, k.NextTab):
			m.tab = (m.tab + 1) % len(m.tabs)
			m.dirty = true
		case key.Matches(msg, k.PrevTab):
			m.tab = (m.tab + len(m.tabs) - 1) % len(m.tabs)
			m.dirty = true
		case key.Matches(msg, n.Up):
			scroll(-1)
		case key.Matches(msg, n.Down):
			scroll(1)
		case key.Matches(msg, n.PageUp):
			scroll(-m.bodyHeight())
		case key.Matches(msg, n.PageDown):
			scroll(m.bodyHeight())
		case key.Matches(msg, n.Top):
			scroll(-1 << 30)
		case key.Matches(msg, n.Bottom):
			scroll(1 << 30)
		case key.Matches(msg, k.Toggle):
			switch tab {
			case TabTranscript:
				m.fold = !m.fold
			case TabHeaders:
				m.raw = !m.raw
			}
			m.dirty = true
		case key.Matches(msg, k.Copy):
			if m.Email != nil && tab == TabIOCs {
				if i := m.sel[tab]; i < len(m.Email.IOCs) {
					v := m.Email.IOCs[i].Value
					return m, func() tea.Msg { return CopyMsg{What: "IOC", Value: v} }
				}
			}
			if m.Email != nil && tab == TabAttachments {
				if a := m.SelectedAttachment(); a != nil {
					v := a.SHA256
					return m, func() tea.Msg { return CopyMsg{What: "sha256", Value: v} }
				}
			}
		case key.Matches(msg, k.GoTab):
			if i := keys.Index(k.GoTab, msg.String()); i < len(m.tabs) {
				m.tab = i
				m.dirty = true
			}
		}
	case tea.PasteMsg:
		if m.find.editing {
			m.setFind(m.find.query + msg.Content)
		}
	case tea.MouseWheelMsg:
		switch msg.Button {
		case tea.MouseWheelUp:
			scroll(-3)
		case tea.MouseWheelDown:
			scroll(3)
		}
	}
	return m, nil
}

// View renders the tab bar and the current tab.
func (m *Model) View() string {
	s := m.ctx.Styles
	m.render()
	bar, _ := m.tabBar(m.width)
	rule := s.Muted.Render(strings.Repeat("─", max(m.width, 1)))
	if m.find.editing || m.find.query != "" {
		rule = m.findLine()
	}
	out := []string{bar, rule}
	h := m.bodyHeight()
	start := m.scroll[m.Tab()]
	if m.selLine >= 0 && len(m.find.hits) == 0 {
		// Keep the selected item on screen.
		if m.selLine < start {
			start = m.selLine
		}
		if m.selLine >= start+h {
			start = m.selLine - h + 1
		}
	}
	// Never scrolled past the end: after the window grows, lines come
	// back from above instead of empty lines showing below.
	start = min(max(start, 0), max(len(m.lines)-h, 0))
	for i := start; i < len(m.lines) && len(out) < h+2; i++ {
		l := m.lines[i]
		if hl, ok := m.highlight(i); ok {
			l = hl
		} else if i == m.selLine {
			l = s.Selected.Render(common.Fit(stripForSel(l), m.width))
		}
		out = append(out, l)
	}
	return common.PadLines(out, m.width, m.height)
}

// Prepare renders the current tab if something changed; the root calls
// it after every update so that View only draws.
func (m *Model) Prepare() { m.render() }

// render rebuilds the lines of the current tab when something changed.
func (m *Model) render() {
	if !m.dirty && m.lines != nil {
		return
	}
	m.dirty = false
	m.selLine = -1
	r := &renderer{ctx: m.ctx, w: max(m.width, 20)}
	switch {
	case m.loading:
		r.muted("loading…")
	case m.err != nil:
		r.err("error: " + m.err.Error())
	default:
		switch m.Tab() {
		case TabSummary:
			r.summary(m)
		case TabTranscript:
			r.transcript(m)
		case TabHeaders:
			r.headers(m)
		case TabBody:
			r.body(m)
		case TabMIME:
			r.mime(m)
		case TabAttachments:
			m.selLine = r.attachments(m, m.sel[TabAttachments])
		case TabIOCs:
			m.selLine = r.iocs(m, m.sel[TabIOCs])
		case TabSubmissions:
			r.submissions(m)
		case TabData:
			r.data(m)
		}
	}
	m.lines = r.lines
	if m.find.query != "" {
		m.search()
		if m.find.pending && !m.loading {
			m.find.pending = false
			m.jump()
		}
	}
}
