package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/smtpscope/smtpscope/collector"
	"github.com/smtpscope/smtpscope/collector/api"
	"github.com/smtpscope/smtpscope/core"
	"github.com/smtpscope/smtpscope/ui/sanitize"
	"golang.org/x/term"
)

// ShowCmd prints one email (or one session without email) of a data dir.
type ShowCmd struct {
	Data       string `help:"Data directory." env:"SMTPSCOPE_DATA" required:"" placeholder:"DIR"`
	JSON       bool   `help:"Print the email's record (same schema as parse), or the parsed session of session/<uid>." xor:"what"`
	Raw        bool   `help:"Write the exact message bytes (.eml)." xor:"what"`
	Transcript bool   `help:"Print the SMTP transcript of the session the email came from." xor:"what"`
	Headers    bool   `help:"Print the header block of the message." xor:"what"`
	Attachment string `help:"Write the bytes of the attachment with this sha256 (or sha1), in full." placeholder:"SHA256" xor:"what"`
	Pcap       bool   `help:"Write the email's TCP connection as a pcap, cut from the evidence pcaps its session names (capture --pcap-dir)." xor:"what"`
	Output     string `short:"o" help:"Write to FILE instead of standard output (text exactly as stored, not escaped for a terminal)." placeholder:"FILE" type:"path"`
	Force      bool   `help:"Write raw, attachment or pcap bytes to a terminal; overwrite an existing -o FILE."`
	ID         string `arg:"" help:"Email id (as search prints it), session/<uid> for a session without email, or review/<name> for a review entry."`
}

// stdoutIsTerminal reports whether standard output is a terminal (a
// variable: tests stand in for one).
var stdoutIsTerminal = func() bool { return term.IsTerminal(int(os.Stdout.Fd())) }

// usageErr is a usage error found after parsing: exit status 2.
func usageErr(format string, args ...any) error {
	return exitError{code: exitUsage, err: fmt.Errorf(format, args...)}
}

// Run prints what was asked.
func (c *ShowCmd) Run() error {
	return c.run(context.Background(), os.Stdout)
}

func (c *ShowCmd) run(ctx context.Context, stdout io.Writer) error {
	if c.ID == "" {
		return usageErr("no id: give an email id as `smtpscope search` prints it, or session/<uid>")
	}
	var hashKind string
	if c.Attachment != "" {
		switch {
		case len(c.Attachment) == 64 && isHex(c.Attachment):
			hashKind = "sha256"
		case len(c.Attachment) == 40 && isHex(c.Attachment):
			hashKind = "sha1"
		default:
			return usageErr("--attachment %s: give the attachment's full sha256 (64 hex digits) or sha1 (40), as `show ID` lists them", sanitize.Clip(c.Attachment, 80))
		}
	}
	src, err := openStoreSource(ctx, c.Data)
	if err != nil {
		return err
	}
	defer src.close()
	if strings.HasPrefix(c.ID, "session/") {
		return c.showSession(ctx, src, stdout)
	}
	if strings.HasPrefix(c.ID, "review/") {
		return c.showReview(ctx, src, stdout)
	}
	rec, err := src.record(ctx, c.ID)
	if err != nil {
		return notFoundHint(c.ID, err)
	}
	switch {
	case c.JSON:
		return c.writeText(stdout, func(w io.Writer) error { return core.NewJSONEncoder(w).Encode(rec) }, false)
	case c.Raw:
		raw, err := src.raw(ctx, c.ID)
		if err != nil {
			return fmt.Errorf("email %s: its message bytes: %w", c.ID, err)
		}
		return c.writeBytes(stdout, raw, "the raw message")
	case c.Headers:
		raw, err := src.raw(ctx, c.ID)
		if err != nil {
			return fmt.Errorf("email %s: its message bytes: %w", c.ID, err)
		}
		hb := headerBlock(raw)
		return c.writeText(stdout, func(w io.Writer) error { _, err := w.Write(hb); return err }, true)
	case c.Transcript:
		s, err := src.session(ctx, c.ID)
		if err != nil {
			return fmt.Errorf("email %s: its session: %w", c.ID, err)
		}
		return c.writeText(stdout, func(w io.Writer) error { _, err := io.WriteString(w, api.TranscriptText(s, false)); return err }, true)
	case c.Attachment != "":
		return c.writeAttachment(ctx, src, rec, hashKind, stdout)
	case c.Pcap:
		return c.writePcap(ctx, src, rec, stdout)
	}
	return c.writeText(stdout, func(w io.Writer) error { return printEmail(w, rec) }, false)
}

// showSession shows a session without email: a summary, the transcript
// or the parsed session (JSON).
func (c *ShowCmd) showSession(ctx context.Context, src *dataSource, stdout io.Writer) error {
	if c.Pcap {
		return usageErr("--pcap writes an email's connection: give the id of an email (a session without email has no record naming its evidence pcaps)")
	}
	if c.Raw || c.Headers || c.Attachment != "" {
		return usageErr("%s is a session without email: it has no message bytes, headers or attachments (show it, or use --transcript or --json)", sanitize.Clip(c.ID, 200))
	}
	s, err := src.session(ctx, c.ID)
	if err != nil {
		return notFoundHint(c.ID, err)
	}
	switch {
	case c.JSON:
		return c.writeText(stdout, func(w io.Writer) error { return json.NewEncoder(w).Encode(s) }, false)
	case c.Transcript:
		return c.writeText(stdout, func(w io.Writer) error { _, err := io.WriteString(w, api.TranscriptText(s, false)); return err }, true)
	}
	return c.writeText(stdout, func(w io.Writer) error {
		p := &printer{w: w}
		si := s.Info
		p.kv("Session", si.UID)
		p.kv("Time", si.Time.UTC().Format("2006-01-02 15:04:05 UTC"))
		p.kv("Client", endpoints(si))
		p.kv("CommunityID", si.CID())
		p.list("Pcap", si.Pcap)
		p.kv("HELO", si.Helo)
		p.kv("No email", api.NoEmailReason(s))
		p.line("")
		p.line("(the SMTP transcript: --transcript)")
		return p.err
	}, false)
}

// endpoints is "client -> server" of a session, leaving out what the
// capture does not give.
func endpoints(si core.SessionInfo) string {
	ep := func(ip string, port int) string {
		switch {
		case ip == "":
			return "?"
		case port == 0:
			return ip
		}
		return fmt.Sprintf("%s:%d", ip, port)
	}
	return ep(si.SourceIP, si.SourcePort) + " -> " + ep(si.DestIP, si.DestPort)
}

// showReview shows a review entry (a spool file that was no session):
// why it is there, or its bytes (--raw).
func (c *ShowCmd) showReview(ctx context.Context, src *dataSource, stdout io.Writer) error {
	if !c.Raw && (c.JSON || c.Headers || c.Transcript || c.Attachment != "" || c.Pcap) {
		return usageErr("%s is a review entry (a spool file that is no session): show it, or write its bytes with --raw", sanitize.Clip(c.ID, 200))
	}
	r, err := src.review(ctx, c.ID)
	if err != nil {
		return notFoundHint(c.ID, err)
	}
	if c.Raw {
		return c.writeBytes(stdout, r.Data, "the review entry's bytes")
	}
	return c.writeText(stdout, func(w io.Writer) error {
		p := &printer{w: w}
		p.kv("Review", r.Entry.Name)
		if !r.Entry.Time.IsZero() {
			p.kv("Time", r.Entry.Time.UTC().Format("2006-01-02 15:04:05 UTC"))
		}
		p.kv("Size", fmt.Sprintf("%d bytes", len(r.Data)))
		p.kv("Reason", r.Entry.Reason)
		p.line("")
		p.line("(its bytes: --raw)")
		return p.err
	}, false)
}

// notFoundHint says how to find ids when one is unknown.
func notFoundHint(id string, err error) error {
	if errors.Is(err, api.ErrNotFound) || errors.Is(err, collector.ErrNotFound) {
		return fmt.Errorf("%s: no such email, session or review entry in this data dir (ids are in the first column of `smtpscope search`)", id)
	}
	return err
}

// writeText writes text output: through the terminal sanitizer on
// standard output (escape sequences in mail never reach the terminal),
// exactly as it is into -o FILE. JSON is escaped by its encoder.
func (c *ShowCmd) writeText(stdout io.Writer, write func(io.Writer) error, mailText bool) error {
	if c.Output != "" {
		return c.toFile(write)
	}
	if !mailText {
		return write(stdout)
	}
	var b bytes.Buffer
	if err := write(&b); err != nil {
		return err
	}
	_, err := io.WriteString(stdout, sanitize.Text(b.String()))
	return err
}

// writeBytes writes raw bytes: into -o FILE, or to standard output when it
// is not a terminal (or with --force).
func (c *ShowCmd) writeBytes(stdout io.Writer, data []byte, what string) error {
	if c.Output != "" {
		return c.toFile(func(w io.Writer) error { _, err := w.Write(data); return err })
	}
	if stdoutIsTerminal() && !c.Force {
		return usageErr("refusing to write %s (%d bytes) to a terminal: give -o FILE, pipe it, or add --force", what, len(data))
	}
	_, err := stdout.Write(data)
	return err
}

// writePcap writes the packets of rec's TCP connection, cut from the
// evidence pcaps its session names (service.EmailPcap: here, or in the
// collector that owns the data dir, through its socket), as one pcap:
// into -o FILE, or to standard output when it is not a terminal (or with
// --force).
func (c *ShowCmd) writePcap(ctx context.Context, src *dataSource, rec *core.Email, stdout io.Writer) error {
	if len(rec.Session.Pcap) == 0 {
		_, err := src.pcap(ctx, c.ID, io.Discard) // says why there is none
		if err == nil {
			err = fmt.Errorf("email %s names no evidence pcap", c.ID)
		}
		return err
	}
	if c.Output == "" && stdoutIsTerminal() && !c.Force {
		return usageErr("refusing to write a pcap to a terminal: give -o FILE, pipe it, or add --force")
	}
	extract := func(w io.Writer) error {
		_, err := src.pcap(ctx, c.ID, w)
		return err
	}
	if c.Output != "" {
		wrote := false
		err := c.toFile(func(w io.Writer) error { wrote = true; return extract(w) })
		if err != nil && wrote {
			_ = os.Remove(c.Output) // no half pcap left behind
		}
		return err
	}
	return extract(stdout)
}

// toFile writes into -o FILE: a new file unless --force.
func (c *ShowCmd) toFile(write func(io.Writer) error) error {
	flags := os.O_WRONLY | os.O_CREATE | os.O_EXCL
	if c.Force {
		flags = os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	}
	f, err := os.OpenFile(c.Output, flags, 0o600)
	if errors.Is(err, os.ErrExist) {
		return fmt.Errorf("%s exists; choose another -o FILE or add --force to overwrite it", c.Output)
	}
	if err != nil {
		return err
	}
	if err := write(f); err != nil {
		f.Close()
		return fmt.Errorf("%s: %w", c.Output, err)
	}
	return f.Close()
}

// writeAttachment writes the bytes of one attachment of rec, checked
// against the hashes its record gives.
func (c *ShowCmd) writeAttachment(ctx context.Context, src *dataSource, rec *core.Email, kind string, stdout io.Writer) error {
	want := strings.ToLower(c.Attachment)
	var att *core.Attachment
	for i := range rec.Attachments {
		a := &rec.Attachments[i]
		if (kind == "sha256" && strings.EqualFold(a.SHA256, want)) || (kind == "sha1" && strings.EqualFold(a.SHA1, want)) {
			att = a
			break
		}
	}
	if att == nil {
		return fmt.Errorf("email %s has no attachment with %s %s (it has %d; `smtpscope show %s` lists them)", c.ID, kind, want, len(rec.Attachments), c.ID)
	}
	data, err := src.attachment(ctx, c.ID, att.SHA1)
	if err != nil {
		return fmt.Errorf("email %s: attachment %s: %w", c.ID, want, err)
	}
	if att.SHA256 != "" {
		sum := sha256.Sum256(data)
		if got := hex.EncodeToString(sum[:]); !strings.EqualFold(got, att.SHA256) {
			return fmt.Errorf("email %s: attachment %s: the bytes found have sha256 %s, not %s: not written", c.ID, want, got, att.SHA256)
		}
	}
	return c.writeBytes(stdout, data, "attachment "+sanitize.Clip(att.Filename, 80))
}

// headerBlock returns the header block of a message: up to and with the
// blank line that ends it (all of raw when there is none).
func headerBlock(raw []byte) []byte {
	for i := 0; i < len(raw); {
		j := bytes.IndexByte(raw[i:], '\n')
		if j < 0 {
			break
		}
		line := raw[i : i+j+1]
		if len(bytes.TrimRight(line, "\r\n")) == 0 {
			return raw[:i+j+1]
		}
		i += j + 1
	}
	return raw
}

func isHex(s string) bool {
	for _, r := range s {
		if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'f' || r >= 'A' && r <= 'F') {
			return false
		}
	}
	return s != ""
}

// printer writes "Key: value" lines, every value through the sanitizer.
type printer struct {
	w   io.Writer
	err error
}

func (p *printer) line(s string) {
	if p.err == nil {
		_, p.err = fmt.Fprintln(p.w, s)
	}
}

func (p *printer) kv(k, v string) {
	if v == "" {
		return
	}
	p.line(fmt.Sprintf("%-12s %s", k+":", sanitize.Clip(v, 400)))
}

func (p *printer) list(k string, vs []string) {
	if len(vs) > 0 {
		cl := make([]string, len(vs))
		for i, v := range vs {
			cl[i] = sanitize.Clip(v, 200)
		}
		p.line(fmt.Sprintf("%-12s %s", k+":", strings.Join(cl, ", ")))
	}
}

// notableHeaders are the header fields the summary shows (besides From,
// To, Cc, Subject, Date and Message-ID, shown above them).
var notableHeaders = []string{"reply-to", "return-path", "sender", "received", "authentication-results", "received-spf", "dkim-signature", "x-mailer", "user-agent", "x-originating-ip", "list-unsubscribe"}

// printEnvelope prints the SMTP envelope block of a record.
func printEnvelope(p *printer, e *core.Email) {
	p.line("")
	p.line("Envelope")
	from := e.Envelope.MailFrom
	if from == "" {
		from = core.NullSender
	}
	p.kv("  MAIL FROM", from)
	p.list("  RCPT TO", e.Envelope.RcptTo)
	p.list("  refused", e.Envelope.RcptRejected)
	if e.ServerReply != nil {
		p.kv("  reply", fmt.Sprintf("%d %s", e.ServerReply.Code, e.ServerReply.Text))
	}
}

// printEmail prints the readable summary of a record.
func printEmail(w io.Writer, e *core.Email) error {
	p := &printer{w: w}
	p.kv("Email", e.ID)
	if e.Partial {
		p.line("             [partial: the message was cut short]")
	}
	si := e.Session
	if si.UID != "" {
		p.kv("Session", fmt.Sprintf("%s (message %d)", si.UID, e.Index))
		p.kv("Time", si.Time.UTC().Format("2006-01-02 15:04:05 UTC"))
		p.kv("Client", endpoints(si))
		p.kv("CommunityID", si.CID())
		p.list("Pcap", si.Pcap)
		p.kv("HELO", si.Helo)
		var tags []string
		if si.StartTLS {
			tags = append(tags, "STARTTLS")
		}
		if si.Auth {
			tags = append(tags, "AUTH")
		}
		p.list("Session has", tags)
	}
	p.kv("Source", e.Source)
	if e.HasSession() {
		printEnvelope(p, e)
	} else {
		p.line("             read from a file, no SMTP session: no envelope")
	}
	p.line("")
	p.line("Message")
	p.kv("  Size", fmt.Sprintf("%d bytes", e.Size))
	p.kv("  SHA256", e.SHA256)
	p.kv("  Subject", e.Subject)
	p.kv("  From", e.From)
	p.list("  To", e.To)
	p.list("  Cc", e.Cc)
	p.kv("  Date", e.Date)
	p.kv("  Message-ID", e.MessageID)
	for _, h := range notableHeaders {
		for _, v := range e.Headers[h] {
			p.kv("  "+h, v)
		}
	}
	p.list("  Flags", e.Flags)
	p.list("  Anomalies", e.Anomalies)
	if len(e.Parts) > 0 {
		p.line("")
		p.line(fmt.Sprintf("Parts (%d)", len(e.Parts)))
		for _, pt := range e.Parts {
			name := ""
			if pt.Filename != "" {
				name = "  " + sanitize.Clip(pt.Filename, 80)
			}
			p.line(fmt.Sprintf("  %-8s %-40s %9d%s", sanitize.Clip(pt.Part, 8), sanitize.Clip(pt.ContentType, 40), pt.Size, name))
		}
	}
	if len(e.Attachments) > 0 {
		p.line("")
		p.line(fmt.Sprintf("Attachments (%d; write one with --attachment SHA256 -o FILE)", len(e.Attachments)))
		for _, a := range e.Attachments {
			p.line(fmt.Sprintf("  %s  (%d bytes)", sanitize.Clip(orDash(a.Filename), 120), a.Size))
			p.line(fmt.Sprintf("    type    %s (declared %s)", sanitize.Clip(orDash(a.DetectedType), 80), sanitize.Clip(orDash(a.ContentType), 80)))
			p.line("    sha256  " + sanitize.Clip(a.SHA256, 64))
			p.line("    sha1    " + sanitize.Clip(a.SHA1, 40))
			p.line("    md5     " + sanitize.Clip(a.MD5, 32))
			for _, y := range a.YARA {
				p.line("    YARA    " + sanitize.Clip(y.Rule, 120))
			}
		}
	}
	if len(e.IOCs) > 0 {
		p.line("")
		p.line(fmt.Sprintf("IOCs (%d)", len(e.IOCs)))
		for _, i := range e.IOCs {
			p.line(fmt.Sprintf("  %-7s %s  [%s]", sanitize.Clip(i.Type, 7), sanitize.Clip(i.Value, 200), sanitize.Clip(i.Source, 60)))
		}
	}
	if len(e.YARA) > 0 {
		p.line("")
		p.line(fmt.Sprintf("YARA (%d)", len(e.YARA)))
		for _, y := range e.YARA {
			tags := ""
			if len(y.Tags) > 0 {
				tags = "  [" + sanitize.Clip(strings.Join(y.Tags, " "), 80) + "]"
			}
			p.line("  " + sanitize.Clip(y.Namespace+":"+y.Rule, 120) + tags)
		}
	}
	if len(e.Errors) > 0 {
		p.line("")
		p.line("Errors")
		for _, er := range e.Errors {
			p.line("  " + sanitize.Clip(er, 300))
		}
	}
	return p.err
}
