package ace

import (
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/smtpscope/smtpscope/core"
)

// EventTimeFormat is ACE's event_time_format_json_tz
// ("%Y-%m-%dT%H:%M:%S.%f%z") as a Go layout.
const EventTimeFormat = "2006-01-02T15:04:05.000000-0700"

// Observable types, tags and directives used by the SMTP submission, with
// the names ACE's constants give them.
const (
	TypeIPv4         = "ipv4"
	TypeEmailAddress = "email_address"
	TypeFile         = "file"

	TagSenderIP     = "sender_ip"
	TagSMTPMailFrom = "smtp_mail_from"
	TagSMTPRcptTo   = "smtp_rcpt_to"
	TagSMTPRejected = "smtp_rejected"

	DirectiveNoScan         = "no_scan"
	DirectiveOriginalSMTP   = "original_smtp"
	DirectiveExcludeAll     = "exclude_all"
	DirectiveOriginalEmail  = "original_email"
	DirectiveRenameAnalysis = "rename_analysis"
	DirectiveArchive        = "archive"
)

// Observable is one entry of the analysis' observables list.
type Observable struct {
	Type       string   `json:"type"`
	Value      string   `json:"value"`
	Time       string   `json:"time,omitempty"`
	Tags       []string `json:"tags,omitempty"`
	Directives []string `json:"directives,omitempty"`
}

// Analysis is the JSON of the multipart field "analysis".
type Analysis struct {
	AnalysisMode string         `json:"analysis_mode"`
	Tool         string         `json:"tool"`
	ToolInstance string         `json:"tool_instance"`
	Type         string         `json:"type"`
	CompanyID    int            `json:"company_id,omitempty"`
	Description  string         `json:"description"`
	EventTime    string         `json:"event_time"`
	Details      map[string]any `json:"details"`
	Observables  []Observable   `json:"observables"`
	Tags         []string       `json:"tags"`
	Queue        string         `json:"queue"`
	Instructions string         `json:"instructions"`
}

// File is one file part of a submission (multipart name "file"): its
// content is Data or, when Path is set, the file at Path, read only while
// the body is sent (see Body).
type File struct {
	Name string // the filename; equals a file observable's value
	Data []byte
	Path string
}

// Submission is what one POST to /api/analysis/submit carries.
type Submission struct {
	Analysis Analysis
	Files    []File
}

// Template holds the configurable parts of a submission.
type Template struct {
	Tool         string // default "smtpscope"
	ToolInstance string // default: host name
	Type         string // default "bro - smtp"
	// Description is expanded with {uid}, {id}, {mail_from}, {subject},
	// {source_ip}; default "BRO SMTP Scanner Detection - {uid}".
	Description  string
	Queue        string // default "default"
	Instructions string
}

// Defaults fills the empty fields of t.
func (t Template) Defaults() Template {
	if t.Tool == "" {
		t.Tool = "smtpscope"
	}
	if t.Type == "" {
		t.Type = "bro - smtp"
	}
	if t.Description == "" {
		t.Description = "BRO SMTP Scanner Detection - {uid}"
	}
	if t.Queue == "" {
		t.Queue = "default"
	}
	return t
}

// FormatEventTime formats t in ACE's JSON event time format, in UTC.
func FormatEventTime(t time.Time) string {
	return t.UTC().Format(EventTimeFormat)
}

// EmailFileName is the name the email's file carries in a submission
// (and its file observable's value): "<email id>.email.rfc822", made safe.
func EmailFileName(rec *core.Email) string {
	return SafeName(rec.ID) + ".email.rfc822"
}

// BuildAnalysis makes the submission ACE's SMTP collector makes for one
// email: rec is the email's record, sessionFile the name the session file
// is uploaded under ("" for emails without a session), companyID the
// group's company (0: omitted).
func BuildAnalysis(rec *core.Email, sessionFile string, companyID int, t Template) Analysis {
	t = t.Defaults()
	evt := rec.Session.Time
	if evt.IsZero() {
		evt = time.Now()
	}
	et := FormatEventTime(evt)
	uid := rec.Session.UID
	if uid == "" {
		uid = rec.ID
	}
	a := Analysis{
		AnalysisMode: "email",
		Tool:         t.Tool,
		ToolInstance: t.ToolInstance,
		Type:         t.Type,
		CompanyID:    companyID,
		Description:  expand(t.Description, rec, uid),
		EventTime:    et,
		Queue:        t.Queue,
		Instructions: t.Instructions,
		Tags:         []string{},
	}
	a.Details = map[string]any{
		"email_id":        rec.ID,
		"connection_id":   rec.Session.UID,
		"source_ip":       rec.Session.SourceIP,
		"source_port":     rec.Session.SourcePort,
		"dest_ip":         rec.Session.DestIP,
		"dest_port":       rec.Session.DestPort,
		"community_id":    rec.Session.CID(),
		"helo":            rec.Session.Helo,
		"env_mail_from":   rec.Envelope.MailFrom,
		"env_rcpt_to":     nonNil(rec.Envelope.RcptTo),
		"rcpt_rejected":   nonNil(rec.Envelope.RcptRejected),
		"sha256":          rec.SHA256,
		"subject":         rec.Subject,
		"message_index":   rec.Index,
		"partial":         rec.Partial,
		"time_source":     rec.Session.TimeSource,
		"server_reply":    rec.ServerReply,
		"session_file":    sessionFile,
		"smtpscope_flags": nonNil(rec.Flags),
	}
	if rec.Source != "" {
		a.Details["source"] = rec.Source
	}

	if ip, ok := ipv4(rec.Session.SourceIP); ok {
		a.Observables = append(a.Observables, Observable{Type: TypeIPv4, Value: ip, Time: et, Tags: []string{TagSenderIP}})
	}
	if rec.Envelope.MailFrom != "" {
		a.Observables = append(a.Observables, Observable{Type: TypeEmailAddress, Value: rec.Envelope.MailFrom, Time: et, Tags: []string{TagSMTPMailFrom}})
	}
	for _, r := range rec.Envelope.RcptTo {
		if r == "" {
			continue
		}
		a.Observables = append(a.Observables, Observable{Type: TypeEmailAddress, Value: r, Time: et, Tags: []string{TagSMTPRcptTo}})
	}
	if sessionFile != "" {
		a.Observables = append(a.Observables, Observable{Type: TypeFile, Value: sessionFile, Time: et,
			Directives: []string{DirectiveNoScan, DirectiveOriginalSMTP, DirectiveExcludeAll}})
	}
	a.Observables = append(a.Observables, Observable{Type: TypeFile, Value: EmailFileName(rec), Time: et,
		Directives: []string{DirectiveNoScan, DirectiveOriginalEmail, DirectiveRenameAnalysis, DirectiveArchive}})

	if rec.ServerReply != nil && rec.ServerReply.Code >= 500 && rec.ServerReply.Code <= 599 {
		a.Tags = append(a.Tags, TagSMTPRejected)
	}
	a.Tags = append(a.Tags, yaraTags(rec)...)
	return a
}

func yaraTags(rec *core.Email) []string {
	seen := map[string]bool{}
	add := func(ms []core.YaraMatch) {
		for _, m := range ms {
			if m.Rule != "" {
				seen["yara:"+m.Rule] = true
			}
		}
	}
	add(rec.YARA)
	for _, at := range rec.Attachments {
		add(at.YARA)
	}
	out := make([]string, 0, len(seen))
	for k := range seen {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func ipv4(s string) (string, bool) {
	s = strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")
	a, err := netip.ParseAddr(s)
	if err != nil {
		return "", false
	}
	a = a.Unmap()
	if !a.Is4() {
		return "", false
	}
	return a.String(), true
}

func expand(tmpl string, rec *core.Email, uid string) string {
	r := strings.NewReplacer(
		"{uid}", uid,
		"{id}", rec.ID,
		"{mail_from}", rec.Envelope.MailFrom,
		"{subject}", rec.Subject,
		"{source_ip}", rec.Session.SourceIP,
		"{index}", strconv.Itoa(rec.Index),
	)
	return r.Replace(tmpl)
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// SafeName maps an arbitrary (attacker-influenced) name to one safe as a
// single path element: bytes outside [A-Za-z0-9._-] become '_', a leading
// dot becomes '_', long names are cut, and the result is never empty.
func SafeName(s string) string {
	b := []byte(s)
	if len(b) > 200 {
		b = b[:200]
	}
	for i, c := range b {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-'
		if !ok || (i == 0 && c == '.') {
			b[i] = '_'
		}
	}
	if len(b) == 0 {
		return "_"
	}
	return string(b)
}
