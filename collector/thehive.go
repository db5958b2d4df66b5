package collector

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/mail"
	"os"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/smtpscope/smtpscope/collector/ace"
	"github.com/smtpscope/smtpscope/core"
)

// Group kinds of HTTP endpoints.
const (
	KindTheHive = "thehive"
	KindWebhook = "webhook"
)

// TheHive alert defaults and bounds (README "TheHive 5 delivery").
const (
	TheHiveDefaultType    = "smtpscope"
	TheHiveDefaultSource  = "smtpscope"
	TheHiveDefaultTLP     = 2
	TheHiveDefaultPAP     = 2
	TheHiveDefaultMaxFile = 10 << 20 // bytes of an attachment sent as a file observable
	theHiveMaxObservables = 500      // observables per alert (the rest are left out, counted in the description)
	theHiveMaxFiles       = 20       // file observables per alert
	theHiveMaxText        = 256      // runes of one value quoted in the description
)

// TheHiveAlert is the body of TheHive 5's POST /api/v1/alert (the
// fields smtpscope sets).
type TheHiveAlert struct {
	Type        string              `json:"type"`
	Source      string              `json:"source"`
	SourceRef   string              `json:"sourceRef"`
	Title       string              `json:"title"`
	Description string              `json:"description"`
	Date        int64               `json:"date,omitempty"` // ms since the epoch
	Severity    int                 `json:"severity"`
	TLP         int                 `json:"tlp"`
	PAP         int                 `json:"pap"`
	Tags        []string            `json:"tags"`
	Observables []TheHiveObservable `json:"observables"`
}

// TheHiveObservable is one observable of an alert: Data for every
// dataType but "file", whose Attachment names the multipart part that
// carries the file.
type TheHiveObservable struct {
	DataType   string   `json:"dataType"`
	Data       string   `json:"data,omitempty"`
	Attachment string   `json:"attachment,omitempty"`
	Message    string   `json:"message,omitempty"`
	Tags       []string `json:"tags,omitempty"`
	IOC        bool     `json:"ioc,omitempty"`
}

// theHiveFile is an attachment sent as a file observable.
type theHiveFile struct {
	key, name, path string
}

// validateTheHive checks a thehive group's alert settings.
func (g GroupConfig) validateTheHive(where string) []error {
	var errs []error
	if g.TLP != nil && (*g.TLP < 0 || *g.TLP > 4) {
		errs = append(errs, fmt.Errorf("%s: tlp %d: want 0-4", where, *g.TLP))
	}
	if g.PAP != nil && (*g.PAP < 0 || *g.PAP > 3) {
		errs = append(errs, fmt.Errorf("%s: pap %d: want 0-3", where, *g.PAP))
	}
	if g.MaxFileSize < 0 {
		errs = append(errs, fmt.Errorf("%s: max_file_size: must be 0 (default) or positive", where))
	}
	if g.APIKeyFile != "" && g.APIKeyEnv != "" {
		errs = append(errs, fmt.Errorf("%s: api_key_file and api_key_env: set one", where))
	}
	if g.APIKeyFile == "" && g.APIKeyEnv == "" {
		errs = append(errs, fmt.Errorf("%s: TheHive needs an API key: api_key_file or api_key_env", where))
	}
	return errs
}

// theHiveDelivery creates one TheHive alert per email.
type theHiveDelivery struct {
	*httpDelivery
	key string
}

func newTheHiveDelivery(c *Collector, g GroupConfig, sub SubmissionConfig, wake func()) (deliverer, error) {
	key, err := secretFrom("api key", g.APIKeyFile, g.APIKeyEnv)
	if err != nil {
		return nil, fmt.Errorf("group %q: %w", g.Name, err)
	}
	hd, err := newHTTPDelivery(c, g, sub, wake)
	if err != nil {
		return nil, err
	}
	t := &theHiveDelivery{httpDelivery: hd, key: key}
	hd.send = t.send
	return t, nil
}

// send creates the alert of email id in one request: JSON, or
// multipart (the alert as "_json", each file observable's bytes as the
// part its attachment key names) when it has file observables, so an
// alert never exists without its files. TheHive refuses a second alert
// with the same type, source and sourceRef (the email's global id):
// that answer (409, or 400 "already exists") means an earlier attempt
// created it, and counts as sent.
func (t *theHiveDelivery) send(ctx context.Context, id string) (string, bool, error) {
	s := t.c.store
	rec, m, err := s.deliverable(id)
	if err != nil {
		return "", false, err
	}
	alert, files := BuildTheHiveAlert(rec, m, t.cfg, t.c.cfg().Sensor, func(sha1 string) string {
		p := s.Path(ArchiveRel(strings.ToLower(sha1)))
		if validSHA1(strings.ToLower(sha1)) {
			if _, err := os.Stat(p); err == nil {
				return p
			}
		}
		return ""
	})
	js, err := json.Marshal(alert)
	if err != nil {
		return "", false, localError("encoding alert", err)
	}
	u := strings.TrimRight(t.cfg.URL, "/") + "/api/v1/alert"
	var body io.Reader = bytes.NewReader(js)
	ctype := "application/json"
	if len(files) > 0 {
		var opened []*os.File
		defer func() {
			for _, f := range opened {
				f.Close()
			}
		}()
		for _, f := range files {
			fh, err := os.Open(f.path)
			if err != nil {
				return "", false, localError("reading attachment", err)
			}
			opened = append(opened, fh)
		}
		pr, pw := io.Pipe()
		mw := multipart.NewWriter(pw)
		ctype = mw.FormDataContentType()
		go func() {
			err := mw.WriteField("_json", string(js))
			for i := 0; err == nil && i < len(files); i++ {
				var w io.Writer
				if w, err = mw.CreateFormFile(files[i].key, files[i].name); err == nil {
					_, err = io.Copy(w, opened[i])
				}
			}
			if err == nil {
				err = mw.Close()
			}
			pw.CloseWithError(err)
		}()
		defer pr.Close()
		body = pr
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, body)
	if err != nil {
		e := ace.NodeError(t.cfg.URL, 0, err.Error())
		e.Permanent = true
		return "", true, e
	}
	req.Header.Set("Content-Type", ctype)
	req.Header.Set("Authorization", "Bearer "+t.key)
	req.Header.Set("User-Agent", "smtpscope")
	if t.cfg.Organisation != "" {
		req.Header.Set("X-Organisation", t.cfg.Organisation)
	}
	status, rb, err := ace.Do(t.http, req, t.cfg.URL, 1<<20)
	switch {
	case err != nil:
		return "", true, err
	case status == http.StatusCreated || status == http.StatusOK:
		var r struct {
			ID string `json:"_id"`
		}
		if err := json.Unmarshal(rb, &r); err != nil || r.ID == "" {
			return "", true, ace.NodeError(t.cfg.URL, status, "answer without _id: "+ace.Snippet(rb))
		}
		return r.ID, true, nil
	case theHiveDuplicate(status, rb):
		return "duplicate of " + alert.SourceRef, true, nil
	default:
		// 401/403: a key or organisation to fix, retried (and recorded
		// as a refusal); other 4xx: the alert is refused for good
		return "", true, answerError(t.cfg.URL, status, rb, func(s int) bool {
			return s == http.StatusUnauthorized || s == http.StatusForbidden
		})
	}
}

// theHiveDuplicate reports whether an answer refuses an alert because
// one with the same type, source and sourceRef exists: 409, or 400 with
// a message saying it already exists (TheHive's CreateError /
// ConflictError).
func theHiveDuplicate(status int, body []byte) bool {
	if status == http.StatusConflict {
		return true
	}
	if status != http.StatusBadRequest {
		return false
	}
	var r struct {
		Type    string `json:"type"`
		Message string `json:"message"`
	}
	_ = json.Unmarshal(body, &r)
	return r.Type == "ConflictError" || strings.Contains(strings.ToLower(r.Message), "already exist")
}

// TheHiveSeverity maps an email's risk to TheHive's severity: 4
// (critical) for a virus refused by the server, an executable disguised
// or inside an archive, or a YARA hit; 3 (high) for two or more risk
// reasons; 2 (medium) for one; 1 (low) for none.
func TheHiveSeverity(rec *core.Email) int {
	yara := len(rec.YARA) > 0 || slices.ContainsFunc(rec.Attachments, func(a core.Attachment) bool { return len(a.YARA) > 0 })
	crit := slices.ContainsFunc(rec.Risks, func(r core.Risk) bool {
		return r.Code == core.RiskVirusRefused || r.Code == core.RiskDisguisedExe || r.Code == core.RiskExeInArchive
	})
	switch {
	case crit || yara:
		return 4
	case len(rec.Risks) >= 2:
		return 3
	case len(rec.Risks) == 1:
		return 2
	}
	return 1
}

// BuildTheHiveAlert makes the alert of a stored email for group g:
// sourceRef is the email's global id, the title its subject, the
// description Markdown (envelope, session, risk reasons, attachments),
// the observables its addresses, subject, client IP, IOCs, attachment
// hashes and, for attachments archivePath finds ("" = not archived) of
// at most g.MaxFileSize bytes, file observables. Every value from the
// mail is a JSON string; in the Markdown it is quoted as code with
// backticks and control characters removed.
func BuildTheHiveAlert(rec *core.Email, m *EmailMeta, g GroupConfig, sensor string, archivePath func(sha1 string) string) (TheHiveAlert, []theHiveFile) {
	sensor = firstOf(rec.Sensor, sensor)
	a := TheHiveAlert{Type: firstOf(g.AlertType, TheHiveDefaultType), Source: firstOf(g.AlertSource, TheHiveDefaultSource),
		SourceRef: core.GlobalID(sensor, rec.ID), Severity: TheHiveSeverity(rec), TLP: TheHiveDefaultTLP, PAP: TheHiveDefaultPAP}
	if g.TLP != nil {
		a.TLP = *g.TLP
	}
	if g.PAP != nil {
		a.PAP = *g.PAP
	}
	a.Title = oneLine(rec.Subject, 200)
	if a.Title == "" {
		a.Title = "(no subject)"
	}
	a.Title = "Email: " + a.Title
	when := rec.Session.Time
	if when.IsZero() && m != nil {
		when = m.Time
	}
	if !when.IsZero() {
		a.Date = when.UnixMilli()
	}
	a.Tags = append([]string{"smtpscope"}, g.Tags...)
	if sensor != "" {
		a.Tags = append(a.Tags, "sensor:"+sensor)
	}
	for _, r := range rec.Risks {
		a.Tags = append(a.Tags, "risk:"+r.Code)
	}
	for _, y := range allYARA(rec) {
		a.Tags = append(a.Tags, "yara:"+oneLine(y, 100))
	}
	a.Tags = uniq(a.Tags)

	seen := map[string]bool{}
	dropped := 0
	add := func(o TheHiveObservable) {
		if o.DataType != "file" {
			o.Data = strings.TrimSpace(o.Data)
			if o.Data == "" || !utf8.ValidString(o.Data) {
				return
			}
		}
		k := o.DataType + "\x00" + o.Data + "\x00" + o.Attachment
		if seen[k] {
			return
		}
		seen[k] = true
		if len(a.Observables) >= theHiveMaxObservables {
			dropped++
			return
		}
		a.Observables = append(a.Observables, o)
	}
	env := rec.Envelope
	add(TheHiveObservable{DataType: "mail", Data: env.MailFrom, Message: "envelope sender (MAIL FROM)", Tags: []string{"sender"}})
	if addr, err := mail.ParseAddress(rec.From); err == nil {
		add(TheHiveObservable{DataType: "mail", Data: addr.Address, Message: "header From", Tags: []string{"from"}})
	}
	for _, r := range env.RcptTo {
		add(TheHiveObservable{DataType: "mail", Data: r, Message: "envelope recipient (RCPT TO)", Tags: []string{"recipient"}})
	}
	add(TheHiveObservable{DataType: "mail-subject", Data: rec.Subject})
	add(TheHiveObservable{DataType: "ip", Data: rec.Session.SourceIP, Message: "SMTP client", Tags: []string{"client"}})
	for _, ioc := range rec.IOCs {
		o := TheHiveObservable{Data: ioc.Value, Message: "IOC from " + ioc.Source, IOC: true}
		switch ioc.Type {
		case "url":
			o.DataType = "url"
		case "domain":
			o.DataType = "domain"
		case "ipv4", "ipv6":
			o.DataType = "ip"
		case "email":
			o.DataType = "mail"
		case "md5", "sha1", "sha256", "sha512":
			o.DataType = "hash"
		default:
			continue
		}
		add(o)
	}
	var files []theHiveFile
	for _, at := range rec.Attachments {
		name := oneLine(at.Filename, 200)
		msg := "attachment " + strconv.Quote(name)
		add(TheHiveObservable{DataType: "hash", Data: at.SHA256, Message: msg + " sha256", Tags: []string{"attachment"}})
		add(TheHiveObservable{DataType: "hash", Data: at.MD5, Message: msg + " md5", Tags: []string{"attachment"}})
		maxFile := int64(g.MaxFileSize)
		if maxFile == 0 {
			maxFile = TheHiveDefaultMaxFile
		}
		if archivePath == nil || at.SHA1 == "" || at.Size > maxFile || len(files) >= theHiveMaxFiles {
			continue
		}
		p := archivePath(at.SHA1)
		if p == "" || seen["file\x00\x00"+at.SHA1] {
			continue
		}
		key := "file" + strconv.Itoa(len(files))
		fname := ace.SafeName(at.Filename)
		if fname == "" {
			fname = at.SHA256
		}
		n := len(a.Observables)
		add(TheHiveObservable{DataType: "file", Attachment: key, Message: msg, Tags: []string{"attachment"}})
		if len(a.Observables) > n {
			seen["file\x00\x00"+at.SHA1] = true
			files = append(files, theHiveFile{key: key, name: fname, path: p})
		}
	}
	a.Description = theHiveDescription(rec, sensor, dropped)
	if a.Observables == nil {
		a.Observables = []TheHiveObservable{}
	}
	return a, files
}

func allYARA(rec *core.Email) []string {
	var out []string
	for _, y := range rec.YARA {
		out = append(out, y.Rule)
	}
	for _, at := range rec.Attachments {
		for _, y := range at.YARA {
			out = append(out, y.Rule)
		}
	}
	return out
}

func uniq(in []string) []string {
	seen := map[string]bool{}
	out := in[:0]
	for _, s := range in {
		if s != "" && !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// oneLine makes a value from mail one printable line of at most n
// runes: control and format characters (bidi overrides too) are
// dropped, runs of space become one space.
func oneLine(s string, n int) string {
	var b strings.Builder
	runes, space := 0, false
	for _, r := range strings.ToValidUTF8(s, "\uFFFD") {
		if unicode.IsSpace(r) {
			space = b.Len() > 0
			continue
		}
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) {
			continue
		}
		if runes >= n {
			b.WriteString("…")
			break
		}
		if space {
			b.WriteByte(' ')
			space = false
		}
		b.WriteRune(r)
		runes++
	}
	return b.String()
}

// mdCode quotes a value from mail as Markdown inline code: one line,
// backticks replaced by "'" so it cannot close the span ("-" when
// empty).
func mdCode(s string) string {
	s = strings.ReplaceAll(oneLine(s, theHiveMaxText), "`", "'")
	if s == "" {
		return "-"
	}
	return "`" + s + "`"
}

// theHiveDescription is the alert's Markdown description.
func theHiveDescription(rec *core.Email, sensor string, dropped int) string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	w("smtpscope email %s\n\n", mdCode(core.GlobalID(sensor, rec.ID)))
	w("### Envelope\n\n")
	if rec.NoSession {
		w("- read from a file, no SMTP session: %s\n", mdCode(rec.Source))
	} else {
		w("- MAIL FROM: %s\n", mdCode(rec.Envelope.MailFrom))
		rcpts := make([]string, 0, len(rec.Envelope.RcptTo))
		for i, r := range rec.Envelope.RcptTo {
			if i == 20 {
				rcpts = append(rcpts, fmt.Sprintf("and %d more", len(rec.Envelope.RcptTo)-20))
				break
			}
			rcpts = append(rcpts, mdCode(r))
		}
		w("- RCPT TO: %s\n", strings.Join(rcpts, ", "))
		si := rec.Session
		w("- client: %s port %d, HELO %s\n", mdCode(si.SourceIP), si.SourcePort, mdCode(si.Helo))
		if si.DestIP != "" {
			w("- server: %s port %d\n", mdCode(si.DestIP), si.DestPort)
		}
		w("- STARTTLS: %t, AUTH: %t\n", si.StartTLS, si.Auth)
		if !si.Time.IsZero() {
			w("- time: %s\n", si.Time.UTC().Format("2006-01-02T15:04:05Z"))
		}
	}
	w("- From: %s\n- Subject: %s\n- Message-ID: %s\n- size: %d bytes, sha256 %s\n", mdCode(rec.From), mdCode(rec.Subject),
		mdCode(rec.MessageID), rec.Size, mdCode(rec.SHA256))
	w("\n### Risk reasons\n\n")
	if len(rec.Risks) == 0 {
		w("none\n")
	}
	for _, r := range rec.Risks {
		w("- %s: %s\n", mdCode(r.Code), mdCode(r.Evidence))
	}
	if y := allYARA(rec); len(y) > 0 {
		w("\n### YARA\n\n")
		for _, r := range uniq(y) {
			w("- %s\n", mdCode(r))
		}
	}
	if len(rec.Attachments) > 0 {
		w("\n### Attachments\n\n")
		for _, at := range rec.Attachments {
			w("- %s (%s, detected %s, %d bytes) sha256 %s\n", mdCode(at.Filename), mdCode(at.ContentType), mdCode(at.DetectedType),
				at.Size, mdCode(at.SHA256))
		}
	}
	if dropped > 0 {
		w("\n%d more observables left out (at most %d per alert).\n", dropped, theHiveMaxObservables)
	}
	return b.String()
}
