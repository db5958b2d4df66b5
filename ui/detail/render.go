package detail

import (
	"fmt"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"charm.land/bubbles/v2/key"
	"github.com/charmbracelet/x/ansi"
	"github.com/inbucket/html2text"
	"golang.org/x/net/html"

	"github.com/smtpscope/smtpscope/core"
	"github.com/smtpscope/smtpscope/ui/common"
	"github.com/smtpscope/smtpscope/ui/sanitize"
)

// maxLines bounds what one tab renders (a 50 MB body must not freeze the
// UI): the rest is reachable by exporting.
const maxLines = 20000

func stripForSel(s string) string { return ansi.Strip(s) }

// renderer accumulates the styled lines of a tab. Every value from mail
// goes through common.Fit/Trunc/Wrap or sanitize before it is added.
type renderer struct {
	ctx   *common.Context
	w     int
	lines []string
	cut   bool
}

// keys names the keys of bindings for the hints drawn in a tab.
func (r *renderer) keys(bs ...key.Binding) string {
	ks := make([]string, len(bs))
	for i, b := range bs {
		ks[i] = b.Help().Key
	}
	return strings.Join(ks, " ")
}

func (r *renderer) add(l string) {
	if len(r.lines) >= maxLines {
		if !r.cut {
			r.cut = true
			r.lines = append(r.lines, r.ctx.Styles.Warn.Render(fmt.Sprintf("… cut at %d lines; export (e) to see everything", maxLines)))
		}
		return
	}
	r.lines = append(r.lines, l)
}

func (r *renderer) blank()         { r.add("") }
func (r *renderer) muted(s string) { r.add(r.ctx.Styles.Muted.Render(common.Trunc(s, r.w))) }
func (r *renderer) err(s string) {
	for _, l := range common.Wrap(s, r.w) {
		r.add(r.ctx.Styles.Error.Render(l))
	}
}
func (r *renderer) heading(s string) { r.add(r.ctx.Styles.PanelHead.Render(common.Trunc(s, r.w))) }

// kv adds "label  value", wrapping long values under the value column.
func (r *renderer) kv(label, value string) {
	const lw = 16
	s := r.ctx.Styles
	vw := max(r.w-lw, 10)
	vals := common.Wrap(value, vw)
	if len(vals) == 0 {
		vals = []string{""}
	}
	for i, v := range vals {
		l := strings.Repeat(" ", lw)
		if i == 0 {
			l = s.Label.Render(common.Fit(label, lw))
		}
		r.add(l + v)
	}
}

func (r *renderer) list(label string, vals []string) {
	if len(vals) == 0 {
		return
	}
	r.kv(label, strings.Join(vals, ", "))
}

func yaraCount(e *core.Email) int {
	n := len(e.YARA)
	for _, a := range e.Attachments {
		n += len(a.YARA)
	}
	return n
}

// sessionInfo is the Session block: the sensor (the collector that
// stored it, "-" for records stored before sensors were named) and
// what the session said.
func (r *renderer) sessionInfo(sensor string, si core.SessionInfo) {
	src := si.SourceIP
	if si.SourcePort != 0 {
		src = joinHostPort(si.SourceIP, si.SourcePort)
	}
	if si.DestIP != "" {
		src += " → " + joinHostPort(si.DestIP, si.DestPort)
	}
	r.kv("Sensor", orDash(sensor))
	r.kv("Session", si.UID)
	r.kv("Time", r.ctx.Time(si.Time)+" ("+orDash(si.TimeSource)+")")
	r.kv("Connection", src)
	if cid := si.CID(); cid != "" {
		r.kv("Community ID", cid)
	}
	if si.Banner != "" {
		r.kv("Banner", si.Banner)
	}
	r.kv("HELO", orDash(si.Helo))
	tls := "no"
	if si.StartTLS {
		tls = "yes (STARTTLS: the rest of the session is encrypted)"
	}
	r.kv("STARTTLS", tls)
	if si.Auth {
		r.kv("AUTH", orDash(si.AuthMech))
	}
	if si.File != "" {
		r.kv("Session file", si.File)
	}
	r.list("Evidence pcap", si.Pcap)
	r.list("Anomalies", si.Anomalies)
}

func joinHostPort(ip string, port int) string {
	if strings.Contains(ip, ":") {
		return "[" + ip + "]:" + strconv.Itoa(port)
	}
	return ip + ":" + strconv.Itoa(port)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func (r *renderer) summary(m *Model) {
	s := r.ctx.Styles
	switch {
	case m.Review != nil:
		e := m.Review.Entry
		r.heading("Review entry (could not be parsed)")
		r.kv("Name", e.Name)
		r.kv("Time", r.ctx.Time(e.Time))
		r.kv("Size", common.Size(e.Size))
		r.kv("Reason", e.Reason)
		r.kv("Sensor", orDash(e.Sensor))
		return
	case m.Email == nil:
		r.heading("Session without email")
		if m.Row.Reason != "" {
			r.kv("Reason", m.Row.Reason)
		}
		if m.Session != nil {
			r.sessionInfo(m.Row.Sensor, m.Session.Info)
			r.kv("Events", strconv.Itoa(len(m.Session.Events)))
		} else if m.sessErr != nil {
			r.err("session: " + m.sessErr.Error())
		}
		return
	}
	e := m.Email
	r.heading("Email " + sanitize.Line(e.ID))
	r.risks(e.Risks)
	r.list("Hunts", m.Row.Hunts) // the collector's hunts that matched it
	r.kv("Subject", e.Subject)
	r.kv("From", e.From)
	r.list("To", e.To)
	r.list("Cc", e.Cc)
	r.list("Reply-To", e.ReplyTo)
	r.kv("Date", orDash(e.Date))
	r.kv("Message-ID", orDash(e.MessageID))
	r.blank()
	if !e.HasSession() {
		// Read from a file: there is no envelope nor session to show.
		r.heading("Source")
		r.kv("Read from", orDash(e.Source))
		r.kv("Sensor", orDash(e.Sensor))
		r.muted("read from " + fileOrDash(e.Source) + ", no SMTP session: no envelope, no transcript")
	} else {
		r.summaryEnvelope(e)
	}
	r.blank()
	r.heading("Message")
	r.kv("Size", fmt.Sprintf("%s (%d bytes)", common.Size(e.Size), e.Size))
	r.kv("SHA256", e.SHA256)
	r.kv("SHA1", e.SHA1)
	r.kv("MD5", e.MD5)
	r.kv("Contents", fmt.Sprintf("%d parts, %d attachments, %d IOCs, %d YARA hits", len(e.Parts), len(e.Attachments), len(e.IOCs), yaraCount(e)))
	if e.Partial {
		r.add(s.Warn.Render("partial: the capture holds only part of this message"))
	}
	r.list("Flags", e.Flags)
	if e.Source != "" && e.HasSession() {
		r.kv("Source", e.Source)
	}
	if len(e.YARA) > 0 {
		r.blank()
		r.heading("YARA (message)")
		for _, y := range e.YARA {
			r.add(s.Warn.Render(common.Trunc(y.Namespace+":"+y.Rule+" "+strings.Join(y.Tags, ","), r.w)))
		}
	}
	if len(e.Errors) > 0 {
		r.blank()
		r.heading("Errors")
		for _, er := range e.Errors {
			r.err(er)
		}
	}
	if len(m.Subs) > 0 {
		r.blank()
		r.heading("Submissions")
		for _, sub := range m.Subs {
			r.add(common.Fit(sub.Group, 16) + s.State(sub.State).Render(common.Fit(sub.State, 10)) + " " + common.Trunc(sub.UUID, r.w-27))
		}
	}
}

// summaryEnvelope is the summary's envelope and session blocks of an
// email carried in an SMTP session.
func (r *renderer) summaryEnvelope(e *core.Email) {
	r.heading("Envelope")
	mf := e.Envelope.MailFrom
	if mf == "" {
		mf = "<>"
	}
	r.kv("MAIL FROM", mf)
	r.list("MAIL params", e.Envelope.MailParams)
	r.kv("RCPT TO", fmt.Sprintf("%d accepted", len(e.Envelope.RcptTo)))
	for _, a := range e.Envelope.RcptTo {
		r.kv("", a)
	}
	r.list("Rejected", e.Envelope.RcptRejected)
	r.list("Unconfirmed", e.Envelope.RcptUnconfirmed)
	if e.ServerReply != nil {
		r.kv("End of data", fmt.Sprintf("%d %s", e.ServerReply.Code, e.ServerReply.Text))
	} else {
		r.kv("End of data", "(no reply seen)")
	}
	r.blank()
	r.heading("Session")
	r.sessionInfo(e.Sensor, e.Session)
}

// fileOrDash is the file name of a path, "-" when there is none.
func fileOrDash(p string) string {
	if p == "" {
		return "-"
	}
	return filepath.Base(p)
}

// risks draws the "Why suspicious" block: each reason's code and its
// evidence (mail text: wrapped at words, hence sanitized, by
// common.WordWrap).
func (r *renderer) risks(risks []core.Risk) {
	if len(risks) == 0 {
		return
	}
	s := r.ctx.Styles
	const cw = 22
	r.add(s.Warn.Render(common.Trunc(fmt.Sprintf("Why suspicious (%d)", len(risks)), r.w)))
	for _, k := range risks {
		for i, l := range common.WordWrap(k.Evidence, max(r.w-cw, 10)) {
			label := strings.Repeat(" ", cw)
			if i == 0 {
				label = s.Warn.Render(common.Fit("  "+k.Code, cw))
			}
			r.add(label + l)
		}
	}
	r.blank()
}

// transcript renders the SMTP session like termshark's stream view: client
// lines in one colour, server lines in another, message bytes folded.
func (r *renderer) transcript(m *Model) {
	s := r.ctx.Styles
	if m.Session == nil {
		if m.Email != nil && !m.Email.HasSession() {
			r.muted("no transcript: read from " + fileOrDash(m.Email.Source) + ", no SMTP session")
			return
		}
		if m.sessErr != nil {
			r.err("no transcript: " + m.sessErr.Error())
		} else {
			r.muted("no transcript: this email did not come from an SMTP session")
		}
		return
	}
	want := -1
	if m.Email != nil {
		want = m.Email.Index
	}
	r.muted(fmt.Sprintf("%d events · C: client  S: server · %s: %s message bytes", len(m.Session.Events), r.keys(r.ctx.Keys.Detail.Toggle), map[bool]string{true: "unfold", false: "fold"}[m.fold]))
	r.blank()
	w := r.w - 3
	for _, ev := range m.Session.Events {
		var text string
		switch ev.Kind {
		case core.EventClient:
			text = ev.Cmd
			if ev.Arg != "" {
				text += " " + ev.Arg
			}
			for i, l := range common.Wrap(text, w) {
				p := "C: "
				if i > 0 {
					p = "   "
				}
				r.add(s.Client.Render(p + l))
			}
		case core.EventServer:
			text = strconv.Itoa(ev.Code)
			if ev.Text != "" {
				text += " " + ev.Text
			}
			for i, l := range common.Wrap(text, w) {
				p := "S: "
				if i > 0 {
					p = "   "
				}
				r.add(s.Server.Render(p + l))
			}
		case core.EventData:
			mark := ""
			if ev.Msg == want {
				mark = " ◀ this email"
			}
			if m.fold || ev.Msg < 0 || ev.Msg >= len(m.Session.Messages) {
				r.add(s.Data.Render(common.Trunc(fmt.Sprintf("   ┄┄ message %d: %d bytes (folded)%s ┄┄", ev.Msg, ev.Bytes, mark), r.w)))
				continue
			}
			r.add(s.Data.Render(common.Trunc(fmt.Sprintf("   ┄┄ message %d: %d bytes%s ┄┄", ev.Msg, ev.Bytes, mark), r.w)))
			for _, l := range common.Wrap(string(m.Session.Messages[ev.Msg].Data), w) {
				r.add(s.Data.Render("   " + l))
				if r.cut {
					return
				}
			}
			r.add(s.Data.Render("   ┄┄ end of message ┄┄"))
		case core.EventAnomaly:
			for _, l := range common.Wrap("! "+ev.Text, r.w) {
				r.add(s.Anomaly.Render(l))
			}
		}
		if r.cut {
			return
		}
	}
}

func (r *renderer) headers(m *Model) {
	e := m.Email
	if e == nil {
		return
	}
	s := r.ctx.Styles
	if m.raw {
		r.muted("raw header fields as written · " + r.keys(r.ctx.Keys.Detail.Toggle) + ": decoded")
	} else {
		r.muted("decoded header values · " + r.keys(r.ctx.Keys.Detail.Toggle) + ": raw")
	}
	r.blank()
	seen := map[string]int{}
	for _, h := range e.RawHeader {
		name := strings.ToLower(h.Name)
		v := h.Value
		if !m.raw {
			if vals := e.Headers[name]; seen[name] < len(vals) {
				v = vals[seen[name]]
			}
			seen[name]++
		}
		label := common.Trunc(h.Name, 30) + ": "
		lw := ansi.StringWidth(label)
		vals := common.Wrap(v, max(r.w-lw, 10))
		for i, l := range vals {
			if i == 0 {
				r.add(s.Accent.Render(label) + l)
			} else {
				r.add(strings.Repeat(" ", lw) + l)
			}
		}
	}
}

func (r *renderer) body(m *Model) {
	e := m.Email
	if e == nil {
		return
	}
	if e.BodyOmitted {
		r.muted("bodies were omitted by configuration (omit_body)")
		return
	}
	if e.BodyText != "" {
		r.heading("text/plain")
		for _, l := range common.Wrap(e.BodyText, r.w) {
			r.add(l)
		}
	}
	if e.BodyHTML != "" {
		if e.BodyText != "" {
			r.blank()
		}
		r.heading("text/html (rendered as text)")
		txt, err := html2text.FromString(e.BodyHTML, html2text.Options{OmitLinks: true})
		if err != nil {
			r.err("html: " + err.Error())
		}
		for _, l := range common.Wrap(txt, r.w) {
			r.add(l)
		}
		r.links(e.BodyHTML)
	}
	if e.BodyText == "" && e.BodyHTML == "" {
		r.muted("(no text body)")
	}
}

// links lists the links of an HTML body: each <a> as "text → href"
// (core.HTMLLinks), a link whose text shows another host than its href
// marked "≠" with the host it shows; then the other targets (images,
// forms, frames) by themselves.
func (r *renderer) links(doc string) {
	s := r.ctx.Styles
	anchors := core.HTMLLinks(doc)
	seen := map[string]bool{}
	type line struct {
		l   core.Link
		txt bool
	}
	var out []line
	for _, l := range anchors {
		k := l.Text + "\x00" + l.Href
		if seen[k] || l.Href == "" || strings.HasPrefix(l.Href, "#") {
			continue
		}
		seen[k], seen[l.Href] = true, true
		out = append(out, line{l, true})
	}
	for _, u := range htmlLinks(doc) {
		if !seen[u] {
			seen[u] = true
			out = append(out, line{core.Link{Href: u}, false})
		}
	}
	if len(out) == 0 {
		return
	}
	mismatches := 0
	for _, o := range out {
		if o.l.Mismatch {
			mismatches++
		}
	}
	r.blank()
	head := fmt.Sprintf("Links (%d)", len(out))
	if mismatches > 0 {
		head += fmt.Sprintf(" · %d whose text shows another host (≠)", mismatches)
	}
	r.heading(head)
	for i, o := range out {
		num := fmt.Sprintf("[%d] ", i+1)
		mark := "  "
		if o.l.Mismatch {
			mark = "≠ "
		}
		w := max(r.w-len(num)-2, 10)
		var text string
		switch {
		case !o.txt:
			text = common.Trunc(o.l.Href, w)
		case o.l.Text == "":
			text = common.Trunc("(no text) → "+o.l.Href, w)
		default:
			tw := min(len([]rune(o.l.Text)), max(w*2/5, 8))
			text = common.Trunc(common.Trunc(o.l.Text, tw)+" → "+o.l.Href, w)
		}
		if o.l.Mismatch {
			r.add(s.Accent.Render(num) + s.Warn.Render(mark+text))
			r.add(s.Warn.Render(common.Trunc(strings.Repeat(" ", len(num)+2)+"text shows "+o.l.TextHost+", link goes to "+o.l.HrefHost, r.w)))
			continue
		}
		r.add(s.Accent.Render(num) + mark + text)
	}
}

// htmlLinks lists the distinct link targets of an HTML body, in order.
func htmlLinks(s string) []string {
	z := html.NewTokenizer(strings.NewReader(s))
	seen := map[string]bool{}
	var out []string
	for {
		tt := z.Next()
		if tt == html.ErrorToken {
			return out
		}
		if tt != html.StartTagToken && tt != html.SelfClosingTagToken {
			continue
		}
		name, hasAttr := z.TagName()
		tag := string(name)
		for hasAttr {
			var k, v []byte
			k, v, hasAttr = z.TagAttr()
			ks := string(k)
			if (tag == "a" || tag == "area" || tag == "form" || tag == "img" || tag == "iframe") && (ks == "href" || ks == "src" || ks == "action") {
				u := strings.TrimSpace(string(v))
				if u != "" && !seen[u] && !strings.HasPrefix(u, "cid:") && !strings.HasPrefix(u, "#") {
					seen[u] = true
					out = append(out, u)
				}
			}
		}
		if len(out) >= 500 {
			return out
		}
	}
}

func (r *renderer) mime(m *Model) {
	e := m.Email
	if e == nil {
		return
	}
	s := r.ctx.Styles
	r.add(s.ColHeader.Render(common.Fit("PART", 12) + " " + common.Fit("CONTENT TYPE", 40) + " " + common.FitRight("SIZE", 10) + " " + common.Fit("ENCODING / DISPOSITION / NAME", max(r.w-65, 10))))
	for _, p := range e.Parts {
		ind := strings.Repeat("  ", min(p.Depth, 12))
		ct := p.ContentType
		if p.Charset != "" {
			ct += "; " + p.Charset
		}
		extra := strings.TrimSpace(strings.Join(nonEmpty(p.Encoding, p.Disposition, p.Filename, p.ContentID), " "))
		r.add(common.Fit(p.Part, 12) + " " + common.Fit(ind+ct, 40) + " " + common.FitRight(common.Size(p.Size), 10) + " " + common.Trunc(extra, max(r.w-65, 10)))
	}
	if len(e.Parts) == 0 {
		r.muted("(no MIME parts)")
	}
}

func nonEmpty(ss ...string) []string {
	var out []string
	for _, s := range ss {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

func (r *renderer) attachments(m *Model, sel int) int {
	e := m.Email
	if e == nil {
		return -1
	}
	s := r.ctx.Styles
	if len(e.Attachments) == 0 {
		r.muted("(no attachments)")
		return -1
	}
	k := r.ctx.Keys
	r.muted(r.keys(k.Nav.Up, k.Nav.Down) + " select · " + r.keys(k.Detail.Export) + " save to a directory · " + r.keys(k.Detail.Copy) + " copy sha256")
	cw := attColumns(e.Attachments, r.w)
	r.add(s.ColHeader.Render(common.Fit(cw.head(), r.w)))
	selLine := -1
	for i, a := range e.Attachments {
		line := cw.row(a)
		if i == sel {
			selLine = len(r.lines)
		}
		if len(a.YARA) > 0 {
			line = s.Warn.Render(line)
		}
		r.add(line)
	}
	if sel >= 0 && sel < len(e.Attachments) {
		a := e.Attachments[sel]
		r.blank()
		r.heading("Selected attachment")
		r.kv("Filename", orDash(a.Filename))
		r.kv("Content-Type", a.ContentType)
		r.kv("Detected", orDash(a.DetectedType))
		r.kv("Size", fmt.Sprintf("%s (%d bytes)", common.Size(a.Size), a.Size))
		r.kv("SHA256", a.SHA256)
		r.kv("SHA1", a.SHA1)
		r.kv("MD5", a.MD5)
		r.kv("Disposition", orDash(a.Disposition))
		if a.ContentID != "" {
			r.kv("Content-ID", a.ContentID)
		}
		r.kv("Part", a.Part+" (parent "+orDash(a.Parent)+")")
		if a.Encrypted {
			r.add(s.Warn.Render("encrypted archive"))
		}
		for _, y := range a.YARA {
			r.add(s.Warn.Render(common.Trunc("YARA "+y.Namespace+":"+y.Rule+" "+strings.Join(y.Tags, ","), r.w)))
		}
		for _, er := range a.Errors {
			r.err(er)
		}
	}
	return selLine
}

// attCols are the widths of the attachments table: each column as wide
// as its widest cell (heading included); when the table is wider than the
// screen the widest of filename, type and part gives way first.
type attCols struct{ name, typ, size, part, yara int }

var attHead = [...]string{"FILENAME", "DETECTED TYPE", "SIZE", "PART", "YARA"}

func attName(a core.Attachment) string {
	name := a.Filename
	if name == "" {
		name = "(unnamed " + a.ContentType + ")"
	}
	return strings.Repeat("  ", min(a.Depth, 8)) + name
}

func attColumns(as []core.Attachment, w int) attCols {
	width := func(s string) int { return ansi.StringWidth(sanitize.Line(s)) }
	c := attCols{name: width(attHead[0]), typ: width(attHead[1]), size: width(attHead[2]), part: width(attHead[3]), yara: width(attHead[4])}
	for _, a := range as {
		c.name = max(c.name, width(attName(a)))
		c.typ = max(c.typ, width(orDash(a.DetectedType)))
		c.size = max(c.size, width(common.Size(a.Size)))
		c.part = max(c.part, width(a.Part))
		c.yara = max(c.yara, width(common.Count(len(a.YARA))))
	}
	// Shrink to the width: the widest of filename, type and part gives a
	// cell at a time (their text is then cut with "…"), none below 8.
	cols := []*int{&c.name, &c.typ, &c.part}
	for _, p := range cols {
		*p = min(*p, max(w, 8)) // bounds the loop below
	}
	for over := c.name + c.typ + c.size + c.part + c.yara + 4 - w; over > 0; over-- {
		widest := cols[0]
		for _, p := range cols[1:] {
			if *p > *widest {
				widest = p
			}
		}
		if *widest <= 8 {
			break
		}
		*widest--
	}
	return c
}

func (c attCols) cells(name, typ, size, part, yara string) string {
	return common.Fit(name, c.name) + " " + common.Fit(typ, c.typ) + " " + common.FitRight(size, c.size) + " " + common.Fit(part, c.part) + " " + common.FitRight(yara, c.yara)
}

func (c attCols) head() string {
	return c.cells(attHead[0], attHead[1], attHead[2], attHead[3], attHead[4])
}

func (c attCols) row(a core.Attachment) string {
	return c.cells(attName(a), orDash(a.DetectedType), common.Size(a.Size), a.Part, common.Count(len(a.YARA)))
}

func (r *renderer) iocs(m *Model, sel int) int {
	e := m.Email
	if e == nil {
		return -1
	}
	s := r.ctx.Styles
	if len(e.IOCs) == 0 {
		r.muted("(no IOCs)")
		return -1
	}
	r.muted(r.keys(r.ctx.Keys.Nav.Up, r.ctx.Keys.Nav.Down) + " select · " + r.keys(r.ctx.Keys.Detail.Copy) + " copy the value (OSC 52)")
	counts := map[string]int{}
	for _, i := range e.IOCs {
		counts[i.Type]++
	}
	var types []string
	for t := range counts {
		types = append(types, t)
	}
	sort.Strings(types)
	var parts []string
	for _, t := range types {
		parts = append(parts, fmt.Sprintf("%s %d", t, counts[t]))
	}
	r.muted(strings.Join(parts, " · "))
	vw := max(r.w-46, 16)
	r.add(s.ColHeader.Render(common.Fit("TYPE", 8) + " " + common.Fit("VALUE", vw) + " " + common.Fit("SOURCE", 26) + " " + common.Fit("DEFANGED", 9)))
	selLine := -1
	for i, ioc := range e.IOCs {
		if i == sel {
			selLine = len(r.lines)
		}
		src := ioc.Source
		if len(ioc.Sources) > 1 {
			src += fmt.Sprintf(" (+%d)", len(ioc.Sources)-1)
		}
		def := ""
		if ioc.Defanged {
			def = "defanged"
		}
		r.add(s.Accent.Render(common.Fit(ioc.Type, 8)) + " " + common.Fit(ioc.Value, vw) + " " + common.Fit(src, 26) + " " + common.Fit(def, 9))
	}
	if sel >= 0 && sel < len(e.IOCs) {
		ioc := e.IOCs[sel]
		r.blank()
		r.kv("Value", ioc.Value)
		if len(ioc.Sources) > 0 {
			r.kv("Found in", strings.Join(ioc.Sources, ", "))
		}
	}
	return selLine
}

func (r *renderer) submissions(m *Model) {
	s := r.ctx.Styles
	if len(m.Subs) == 0 {
		r.muted("not queued to any node group")
		return
	}
	r.muted(r.keys(r.ctx.Keys.Detail.Resubmit) + ": resubmit this email")
	r.add(s.ColHeader.Render(common.Fit("GROUP", 16) + " " + common.Fit("STATUS", 9) + " " + common.Fit("UUID", 36) + " " + common.FitRight("TRIES", 5) + " " + common.Fit("UPDATED", 19) + " " + common.Fit("NODE / LAST ERROR", max(r.w-91, 10))))
	for _, sub := range m.Subs {
		extra := sub.Node
		if sub.LastError != "" {
			extra = sub.LastError
		}
		st := common.Fit(sub.State, 9)
		if sub.Manual {
			extra = "(resubmitted) " + extra
		}
		r.add(common.Fit(sub.Group, 16) + " " + s.State(sub.State).Render(st) + " " + common.Fit(orDash(sub.UUID), 36) + " " + common.FitRight(strconv.Itoa(sub.Attempts), 5) + " " + common.Fit(r.ctx.Time(sub.Updated), 19) + " " + common.Trunc(extra, max(r.w-91, 10)))
	}
}

// data shows a review entry's bytes as sanitized text.
func (r *renderer) data(m *Model) {
	if m.Review == nil {
		return
	}
	d := m.Review.Data
	const maxShow = 256 << 10
	if len(d) > maxShow {
		d = d[:maxShow]
	}
	for _, l := range common.Wrap(string(d), r.w) {
		r.add(l)
		if r.cut {
			return
		}
	}
	if len(m.Review.Data) > maxShow {
		r.muted(fmt.Sprintf("… %d more bytes; export (e) to see everything", len(m.Review.Data)-maxShow))
	}
}
