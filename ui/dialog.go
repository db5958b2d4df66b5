package ui

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"github.com/smtpscope/smtpscope/collector/api"
	"github.com/smtpscope/smtpscope/core"
	"github.com/smtpscope/smtpscope/ui/common"
	"github.com/smtpscope/smtpscope/ui/detail"
	"github.com/smtpscope/smtpscope/ui/help"
	"github.com/smtpscope/smtpscope/ui/keys"
	"github.com/smtpscope/smtpscope/ui/sanitize"
)

type dialogStep int

const (
	stepScope    dialogStep = iota // resubmit: this email or every result
	stepGroup                      // resubmit: which node group
	stepConfirm                    // resubmit: confirm
	stepProgress                   // resubmit: running
	stepWhat                       // export: what
	stepPath                       // export: where
)

// choice is one line of a dialog; a choice with a reason in disabled is
// drawn muted, marked unavailable and, picked, only says the reason (in
// the dialog and the status bar).
type choice struct{ label, value, disabled string }

// dialog is the modal of the resubmit and export flows.
type dialog struct {
	ctx     *common.Context
	width   int
	out     outcome // of the last key
	step    dialogStep
	title   string
	choices []choice
	sel     int
	input   []rune
	err     string

	// resubmit
	ids   []string // one email, or nil for "every result"
	all   bool
	query string
	opts  api.SearchOptions
	total uint64
	group string
	// presetGroup is the group `:resubmit GROUP` named (hasGroup): the
	// group step takes it without asking.
	presetGroup string
	hasGroup    bool

	// export
	path   string // proposed path (`:export PATH`); "" proposes one
	row    api.Row
	what   string
	att    *core.Attachment
	email  *core.Email
	sess   *core.Session
	review *api.Review
}

// outcome is what a key did to the dialog; the root acts on it.
type outcome int

const (
	stay      outcome = iota
	cancelled         // close (and stop a running resubmission)
	selected          // the choice under the cursor was picked
	confirmed         // resubmit confirmed
	write             // export to the path typed
)

// Init does nothing.
func (d *dialog) Init() tea.Cmd { return nil }

// SetSize sets the screen size the dialog is centred in.
func (d *dialog) SetSize(w, _ int) { d.width = w }

// ShortHelp is the hint line of the current step.
func (d *dialog) ShortHelp() []key.Binding {
	k := d.ctx.Keys.Dialog
	switch d.step {
	case stepScope, stepGroup, stepWhat:
		return []key.Binding{k.Up, k.Down, k.Choose, k.Select, k.Cancel}
	case stepConfirm:
		return []key.Binding{k.Confirm, k.Deny, k.Cancel}
	case stepPath:
		return []key.Binding{k.Write, k.ClearPath, k.Cancel}
	}
	return []key.Binding{k.Cancel}
}

// FullHelp is every key of the current step.
func (d *dialog) FullHelp() [][]key.Binding {
	k := d.ctx.Keys.Dialog
	if d.step == stepPath {
		return [][]key.Binding{{k.Write, k.Backspace, k.ClearPath, k.DeleteDir, k.Cancel}}
	}
	return [][]key.Binding{d.ShortHelp()}
}

// Update handles keys and paste; the outcome of a key is left in out.
func (d *dialog) Update(msg tea.Msg) (common.Component, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.KeyPressMsg:
		d.out = d.key(msg)
	case tea.PasteMsg:
		d.typeText(msg.Content)
	}
	return d, nil
}

// typeText adds printable text to the path prompt.
func (d *dialog) typeText(s string) {
	if d.step != stepPath {
		return
	}
	for _, r := range s {
		if r >= 0x20 && r != 0x7f {
			d.input = append(d.input, r)
		}
	}
}

// View draws the dialog box.
func (d *dialog) View() string {
	s := d.ctx.Styles
	w := min(max(d.width-10, 30), 90)
	lines := []string{s.PanelHead.Render(common.Trunc(d.title, w))}
	switch d.step {
	case stepScope, stepGroup, stepWhat:
		lines = append(lines, "")
		for i, ch := range d.choices {
			label := ch.label
			if ch.disabled != "" {
				label += " (unavailable)"
			}
			l := fmt.Sprintf("%d  %s", i+1, common.Trunc(label, w-4))
			switch {
			case i == d.sel:
				lines = append(lines, s.Selected.Render("› "+l))
			case ch.disabled != "":
				lines = append(lines, s.Muted.Render("  "+l))
			default:
				lines = append(lines, "  "+l)
			}
		}
	case stepPath:
		in := sanitize.Line(string(d.input))
		if !s.Plain {
			in += s.Cursor.Render(" ")
		} else {
			in += "▏"
		}
		lines = append(lines, "", "path: "+in)
	}
	lines = append(lines, "", help.Short(d.ctx, w, d.ShortHelp()))
	if d.err != "" {
		lines = append(lines, s.Error.Render(common.Trunc(d.err, w)))
	}
	return s.Dialog.Width(w + 4).Render(strings.Join(lines, "\n"))
}

func (d *dialog) key(msg tea.KeyPressMsg) outcome {
	k := d.ctx.Keys.Dialog
	if key.Matches(msg, k.Cancel) || (d.step == stepConfirm && key.Matches(msg, k.Deny)) {
		return cancelled
	}
	switch d.step {
	case stepScope, stepGroup, stepWhat:
		return d.chooseKey(msg)
	case stepConfirm:
		if key.Matches(msg, k.Confirm) {
			return confirmed
		}
	case stepPath:
		return d.pathKey(msg)
	}
	return stay
}

func (d *dialog) chooseKey(msg tea.KeyPressMsg) outcome {
	k := d.ctx.Keys.Dialog
	switch {
	case key.Matches(msg, k.Up):
		d.sel = (d.sel + len(d.choices) - 1) % len(d.choices)
	case key.Matches(msg, k.Down):
		d.sel = (d.sel + 1) % len(d.choices)
	case key.Matches(msg, k.Choose):
		if i := keys.Index(k.Choose, msg.String()); i < len(d.choices) {
			d.sel = i
			return selected
		}
	case key.Matches(msg, k.Select):
		return selected
	}
	return stay
}

func (d *dialog) pathKey(msg tea.KeyPressMsg) outcome {
	k := d.ctx.Keys.Dialog
	switch {
	case key.Matches(msg, k.Write):
		return write
	case key.Matches(msg, k.Backspace):
		if len(d.input) > 0 {
			d.input = d.input[:len(d.input)-1]
		}
	case key.Matches(msg, k.ClearPath):
		d.input = nil
	case key.Matches(msg, k.DeleteDir):
		s := strings.TrimRight(string(d.input), "/")
		if i := strings.LastIndexByte(s, '/'); i >= 0 {
			d.input = []rune(s[:i+1])
		} else {
			d.input = nil
		}
	case msg.Mod&(tea.ModCtrl|tea.ModAlt) == 0:
		d.typeText(msg.Text)
	}
	return stay
}

// dialogKey passes a key to the open dialog and acts on its outcome.
func (m *Model) dialogKey(msg tea.KeyPressMsg) tea.Cmd {
	d := m.dlg
	d.Update(msg)
	switch d.out {
	case cancelled:
		if d.step == stepProgress && m.resub != nil {
			m.resub.stop = true
		}
		m.dlg = nil
	case selected:
		return m.dialogSelect()
	case confirmed:
		return m.runResubmit()
	case write:
		return m.runExport()
	}
	return nil
}

func (m *Model) dialogSelect() tea.Cmd {
	d := m.dlg
	ch := d.choices[d.sel]
	switch d.step {
	case stepScope:
		if ch.value == "all" {
			d.all, d.ids = true, nil
		}
		m.askGroup()
	case stepGroup:
		d.group = ch.value
		d.step = stepConfirm
		n := "1 email"
		if d.all {
			n = fmt.Sprintf("all %d results", d.total)
		}
		g := d.group
		if g == "" {
			g = "every enabled node group"
		} else {
			g = "node group " + g
		}
		d.title = fmt.Sprintf("Resubmit %s to %s?", n, g)
	case stepWhat:
		if ch.disabled != "" {
			d.err = ch.label + ": " + ch.disabled
			m.notice("export: "+ch.disabled, true)
			return nil
		}
		d.what, d.err = ch.value, ""
		d.step = stepPath
		d.title = "Export " + ch.label + " to"
		d.input = []rune(filepath.Join(m.ctx.ExportDir, m.exportName()))
		if d.path != "" {
			d.input = []rune(d.path)
		}
	}
	return nil
}

// startResubmit opens the resubmit dialog for ids; canAll offers the whole
// result set too.
func (m *Model) startResubmit(ids []string, canAll bool) {
	if m.resub != nil {
		m.notice("a resubmission is still running", true)
		return
	}
	d := &dialog{ctx: m.ctx, width: m.ctx.Width, ids: ids, query: m.query, opts: m.searchOpts(), total: m.list.Total()}
	m.dlg = d
	if canAll && m.list.Total() > 1 {
		d.step = stepScope
		d.title = "Resubmit"
		d.choices = []choice{
			{label: "this email (" + common.Trunc(ids[0], 60) + ")", value: "one"},
			{label: fmt.Sprintf("all %d results of the search", m.list.Total()), value: "all"},
		}
		return
	}
	m.askGroup()
}

func (m *Model) askGroup() {
	d := m.dlg
	d.step, d.sel = stepGroup, 0
	d.title = "Resubmit to which node group?"
	d.choices = nil
	if m.status != nil {
		for _, g := range m.status.GroupNames() {
			d.choices = append(d.choices, choice{label: g, value: g})
		}
	}
	d.choices = append(d.choices, choice{label: "every enabled group", value: ""})
	if d.hasGroup {
		d.choices, d.sel = []choice{{label: d.presetGroup, value: d.presetGroup}}, 0
		m.dialogSelect()
	}
}

// resubJob is a running resubmission of a whole result set.
type resubJob struct {
	stop   bool
	done   int
	queued int
}

type resubMsg struct {
	ids    int // emails handled in this step
	queued int
	next   []string
	err    error
	last   bool
}

func (m *Model) runResubmit() tea.Cmd {
	d := m.dlg
	d.step = stepProgress
	m.resub = &resubJob{}
	if !d.all {
		// One email is quick: no modal, the keys go on to the screen.
		m.dlg = nil
		m.notice(fmt.Sprintf("resubmitting %d email(s)…", len(d.ids)), false)
		return resubStep(m.ctx.Backend, d.ids, d.group)
	}
	d.title = fmt.Sprintf("Resubmitting 0/%d…", d.total)
	return resubPage(m.ctx.Backend, d.query, d.opts, nil, d.group)
}

func resubStep(b api.Backend, ids []string, group string) tea.Cmd {
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		n, err := b.Resubmit(ctx, ids, group)
		return resubMsg{ids: len(ids), queued: n, err: err, last: true}
	}
}

// resubPage resubmits one page of the result set (ids only).
func resubPage(b api.Backend, q string, o api.SearchOptions, after []string, group string) tea.Cmd {
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		o.Limit, o.After, o.Facets, o.IDsOnly = 1000, after, false, true
		o.Kind = api.KindEmail
		res, err := b.Search(ctx, q, o)
		if err != nil {
			return resubMsg{err: err, last: true}
		}
		ids := make([]string, 0, len(res.Rows))
		for _, r := range res.Rows {
			if r.Kind == api.KindEmail || r.Kind == "" {
				ids = append(ids, r.ID)
			}
		}
		n := 0
		if len(ids) > 0 {
			n, err = b.Resubmit(ctx, ids, group)
		}
		return resubMsg{ids: len(res.Rows), queued: n, next: res.Next, err: err, last: res.Next == nil || len(res.Rows) == 0}
	}
}

func (m *Model) onResub(msg resubMsg) tea.Cmd {
	j := m.resub
	if j == nil {
		return nil
	}
	j.done += msg.ids
	j.queued += msg.queued
	finish := func(text string, isErr bool) tea.Cmd {
		m.resub = nil
		if m.dlg != nil && m.dlg.step == stepProgress {
			m.dlg = nil
		}
		m.notice(text, isErr)
		m.statusDirty = true
		return m.loadStatus()
	}
	if msg.err != nil {
		return finish(fmt.Sprintf("resubmit stopped after %d emails: %v", j.done, msg.err), true)
	}
	if msg.last || j.stop {
		return finish(fmt.Sprintf("resubmitted %d emails: %d submissions queued", j.done, j.queued), false)
	}
	if m.dlg != nil {
		m.dlg.title = fmt.Sprintf("Resubmitting %d/%d…", j.done, m.dlg.total)
		return resubPage(m.ctx.Backend, m.dlg.query, m.dlg.opts, msg.next, m.dlg.group)
	}
	return finish("resubmit stopped", true)
}

// startExport opens the export dialog for a row; d is the open detail
// screen (nil from the list).
func (m *Model) startExport(row api.Row, d *detail.Model) {
	dl := &dialog{ctx: m.ctx, width: m.ctx.Width, step: stepWhat, row: row, title: "Export",
		query: m.query, opts: m.searchOpts(), total: m.list.Total()}
	if d != nil {
		dl.email, dl.sess, dl.review = d.Email, d.Session, d.Review
		dl.att = d.SelectedAttachment()
	}
	switch row.Kind {
	case api.KindEmail:
		if dl.att != nil {
			name := dl.att.Filename
			if name == "" {
				name = dl.att.SHA256
			}
			dl.choices = append(dl.choices, choice{label: "attachment " + common.Trunc(name, 50), value: "attachment"})
		}
		dl.choices = append(dl.choices,
			choice{label: "raw message (.eml)", value: "eml"},
			choice{label: "JSON record", value: "json"},
			choice{label: "SMTP transcript (text)", value: "transcript"},
			choice{label: "STIX 2.1 bundle", value: "stix2"},
			choice{label: "MISP event", value: "misp"})
		if dl.total > 1 {
			dl.choices = append(dl.choices,
				choice{label: fmt.Sprintf("all %d results: STIX 2.1 bundle", dl.total), value: "stix2-all"},
				choice{label: fmt.Sprintf("all %d results: MISP event", dl.total), value: "misp-all"})
		}
		dl.choices = append(dl.choices, choice{label: "connection as pcap", value: "pcap", disabled: noEvidence(row, dl.email)})
	case api.KindSession:
		dl.choices = []choice{{label: "SMTP transcript (text)", value: "transcript"}}
	case api.KindReview:
		dl.choices = []choice{{label: "the quarantined file", value: "review"}}
	}
	m.dlg = dl
}

// noEvidence says why an email has no connection to export as pcap ("":
// it may have one; an email known from its list row only is asked for
// it, and the backend's error says why not).
func noEvidence(row api.Row, e *core.Email) string {
	switch {
	case row.NoSession || e != nil && !e.HasSession():
		return "no evidence pcap: read from a file, not from SMTP"
	case e != nil && len(e.Session.Pcap) == 0:
		return "no evidence pcap: not captured with --pcap-dir"
	}
	return ""
}

// exportName is the proposed file name: always sanitized (no directory
// parts, no control characters), whatever the mail says.
func (m *Model) exportName() string {
	d := m.dlg
	id := d.row.ID
	switch d.what {
	case "attachment":
		return sanitize.Filename(d.att.Filename, d.att.SHA256+".bin")
	case "eml":
		return sanitize.Filename(id+".eml", "email.eml")
	case "json":
		return sanitize.Filename(id+".json", "email.json")
	case "transcript":
		return sanitize.Filename(strings.TrimPrefix(id, "session/")+".transcript.txt", "transcript.txt")
	case "review":
		return sanitize.Filename(d.row.Name, "review.bin")
	case "stix2":
		return sanitize.Filename(id+".stix.json", "email.stix.json")
	case "misp":
		return sanitize.Filename(id+".misp.json", "email.misp.json")
	case "pcap":
		return sanitize.Filename(id+".pcap", "connection.pcap")
	case "stix2-all":
		return "search.stix.json"
	case "misp-all":
		return "search.misp.json"
	}
	return "export.bin"
}

type exportMsg struct {
	path    string
	n       int
	packets int // a connection as pcap: its packets
	err     error
}

// runExport fetches the data and writes it to the path typed.
func (m *Model) runExport() tea.Cmd {
	d := m.dlg
	path := strings.TrimSpace(string(d.input))
	if path == "" {
		d.err = "type a path"
		return nil
	}
	if strings.HasPrefix(path, "~/") {
		if home, err := os.UserHomeDir(); err == nil {
			path = filepath.Join(home, path[2:])
		}
	}
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		path = filepath.Join(path, m.exportName())
	}
	m.dlg = nil
	b, row, what, att, email := m.ctx.Backend, d.row, d.what, d.att, d.email
	if what == "pcap" {
		return exportPcap(b, row.ID, path)
	}
	if intelFormat(what) != "" {
		q, o := d.query, d.opts
		return func() tea.Msg {
			ctx, cancel := context.WithTimeout(context.Background(), intelTimeout)
			defer cancel()
			var cw countWriter
			err := writeNewWith(path, func(w io.Writer) error {
				cw.w = w
				return exportIntel(ctx, b, row, what, email, q, o, &cw)
			})
			if err != nil {
				return exportMsg{err: err}
			}
			return exportMsg{path: path, n: int(cw.n)}
		}
	}
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		data, err := exportData(ctx, b, row, what, att, email)
		if err != nil {
			return exportMsg{err: err}
		}
		if err := writeNew(path, data); err != nil {
			return exportMsg{err: err}
		}
		return exportMsg{path: path, n: len(data)}
	}
}

// exportPcap writes the email's connection, cut from its evidence pcaps
// by the backend (api.Backend.Pcap), streamed to a new file at path.
func exportPcap(b api.Backend, id, path string) tea.Cmd {
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(context.Background(), intelTimeout)
		defer cancel()
		var cw countWriter
		packets := 0
		err := writeNewWith(path, func(w io.Writer) error {
			cw.w = w
			var err error
			packets, err = b.Pcap(ctx, id, &cw)
			return err
		})
		if err != nil {
			return exportMsg{err: err}
		}
		return exportMsg{path: path, n: int(cw.n), packets: packets}
	}
}

func exportData(ctx context.Context, b api.Backend, row api.Row, what string, att *core.Attachment, email *core.Email) ([]byte, error) {
	switch what {
	case "attachment":
		return b.Attachment(ctx, row.ID, att.SHA1)
	case "eml":
		return b.Raw(ctx, row.ID)
	case "json":
		if email == nil {
			var err error
			if email, err = b.Email(ctx, row.ID); err != nil {
				return nil, err
			}
		}
		out, err := json.MarshalIndent(email, "", "  ")
		return append(out, '\n'), err
	case "transcript":
		id := row.ID
		if row.Kind == api.KindSession {
			id = "session/" + strings.TrimPrefix(row.UID, "session/")
		}
		s, err := b.Session(ctx, id)
		if err != nil {
			return nil, err
		}
		return []byte(api.TranscriptText(s, true)), nil
	case "review":
		r, err := b.Review(ctx, row.Name)
		if err != nil {
			return nil, err
		}
		return r.Data, nil
	}
	return nil, errors.New("nothing to export")
}

// writeNew writes data to a new file (never overwriting), creating the
// parent directories.
func writeNew(path string, data []byte) error {
	return writeNewWith(path, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// writeNewWith writes what fill writes to a new file (never
// overwriting), creating the parent directories; the file is removed
// when fill fails.
func writeNewWith(path string, fill func(io.Writer) error) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		if errors.Is(err, os.ErrExist) {
			return fmt.Errorf("not overwritten: %s exists", path)
		}
		return err
	}
	bw := bufio.NewWriterSize(f, 64<<10)
	if err := fill(bw); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	if err := bw.Flush(); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	return f.Close()
}

// intelTimeout bounds an export of a whole result set (one record read
// per email).
const intelTimeout = 10 * time.Minute

// intelFormat is the format of an export choice: "stix2", "misp" or ""
// (not an intelligence export).
func intelFormat(what string) string {
	f := strings.TrimSuffix(what, "-all")
	if f == "stix2" || f == "misp" {
		return f
	}
	return ""
}

// exportIntel writes the email of row (what "stix2", "misp") or every
// email of the search (what "stix2-all", "misp-all": the query and
// options of the list) as one STIX 2.1 bundle or one MISP event, as
// `smtpscope export --format stix2|misp` does.
func exportIntel(ctx context.Context, b api.Backend, row api.Row, what string, email *core.Email, q string, o api.SearchOptions, w io.Writer) error {
	now := time.Now()
	var add func(*core.Email) error
	var done func() error
	info := "smtpscope export: " + row.ID
	if strings.HasSuffix(what, "-all") {
		info = "smtpscope export: " + q
		if q == "" {
			info = "smtpscope export: every email"
		}
	}
	if intelFormat(what) == "stix2" {
		sw := core.NewSTIXWriter(w, now)
		add, done = sw.Add, sw.Close
	} else {
		mw := core.NewMISPWriter(w, now)
		add, done = mw.Add, func() error { return mw.Close(info) }
	}
	if !strings.HasSuffix(what, "-all") {
		if email == nil {
			var err error
			if email, err = b.Email(ctx, row.ID); err != nil {
				return err
			}
		}
		if err := add(email); err != nil {
			return err
		}
		return done()
	}
	var after []string
	for {
		o.Limit, o.After, o.Facets, o.IDsOnly, o.Kind = 1000, after, false, true, api.KindEmail
		res, err := b.Search(ctx, q, o)
		if err != nil {
			return err
		}
		for _, r := range res.Rows {
			if r.Kind != api.KindEmail && r.Kind != "" {
				continue
			}
			e, err := b.Email(ctx, r.ID)
			if err != nil {
				return fmt.Errorf("email %s: %w", r.ID, err)
			}
			if err := add(e); err != nil {
				return err
			}
		}
		if res.Next == nil || len(res.Rows) == 0 {
			break
		}
		after = res.Next
	}
	return done()
}

// countWriter counts the bytes written through it.
type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
