package core

import (
	"path"
	"slices"
	"strings"
	"time"
)

// ECSVersion is the Elastic Common Schema version the ECS events follow.
const ECSVersion = "8.11.0"

// ECSEvent is one email as an Elastic Common Schema 8.x document (the
// `ecs` event-log and output format): email.*, source/destination,
// network (Community ID), observer (the sensor), tls, event.*,
// related.*, and each IOC as a threat.enrichments[].indicator. What ECS
// has no field for is under the custom smtpscope.* namespace. Empty values
// are left out.
type ECSEvent struct {
	Timestamp   string       `json:"@timestamp"`
	ECS         ecsVersion   `json:"ecs"`
	Event       ecsEventMeta `json:"event"`
	Email       ecsEmail     `json:"email"`
	Source      *ecsEndpoint `json:"source,omitempty"`
	Destination *ecsEndpoint `json:"destination,omitempty"`
	Network     *ecsNetwork  `json:"network,omitempty"`
	Observer    *ecsObserver `json:"observer,omitempty"`
	TLS         *ecsTLS      `json:"tls,omitempty"`
	Threat      *ecsThreat   `json:"threat,omitempty"`
	Related     *ecsRelated  `json:"related,omitempty"`
	Smtpscope   ecsSmtpscope `json:"smtpscope"`
}

type ecsVersion struct {
	Version string `json:"version"`
}

// ecsEventMeta is event.*: kind "event", category ["email","network"]
// (network only for emails carried in a session), type ["info"].
type ecsEventMeta struct {
	Kind     string   `json:"kind"`
	Category []string `json:"category"`
	Type     []string `json:"type"`
	Dataset  string   `json:"dataset"`
	Module   string   `json:"module"`
	Created  string   `json:"created"`
	ID       string   `json:"id"`
	Outcome  string   `json:"outcome,omitempty"`
}

type ecsAddrs struct {
	Address []string `json:"address"`
}

type ecsAddr struct {
	Address string `json:"address"`
}

type ecsEmail struct {
	Attachments          []ecsAttachment `json:"attachments,omitempty"`
	Cc                   *ecsAddrs       `json:"cc,omitempty"`
	ContentType          string          `json:"content_type,omitempty"`
	DeliveryTimestamp    string          `json:"delivery_timestamp,omitempty"`
	Direction            string          `json:"direction,omitempty"`
	From                 *ecsAddrs       `json:"from,omitempty"`
	LocalID              string          `json:"local_id"`
	MessageID            string          `json:"message_id,omitempty"`
	OriginationTimestamp string          `json:"origination_timestamp,omitempty"`
	ReplyTo              *ecsAddrs       `json:"reply_to,omitempty"`
	Sender               *ecsAddr        `json:"sender,omitempty"`
	Subject              string          `json:"subject,omitempty"`
	To                   *ecsAddrs       `json:"to,omitempty"`
	XMailer              string          `json:"x_mailer,omitempty"`
}

type ecsAttachment struct {
	File ecsFile `json:"file"`
}

type ecsFile struct {
	Extension string   `json:"extension,omitempty"`
	Hash      *ecsHash `json:"hash,omitempty"`
	MimeType  string   `json:"mime_type,omitempty"`
	Name      string   `json:"name,omitempty"`
	Size      int64    `json:"size"`
}

type ecsHash struct {
	MD5    string `json:"md5,omitempty"`
	SHA1   string `json:"sha1,omitempty"`
	SHA256 string `json:"sha256,omitempty"`
	SHA512 string `json:"sha512,omitempty"`
	SSDeep string `json:"ssdeep,omitempty"`
	TLSH   string `json:"tlsh,omitempty"`
}

type ecsEndpoint struct {
	IP   string `json:"ip,omitempty"`
	Port int    `json:"port,omitempty"`
}

type ecsNetwork struct {
	CommunityID string `json:"community_id,omitempty"`
	Transport   string `json:"transport"`
	Protocol    string `json:"protocol"`
}

type ecsObserver struct {
	Name string `json:"name"`
	Type string `json:"type"`
}

type ecsTLS struct {
	Established bool `json:"established"`
}

type ecsThreat struct {
	Enrichments []ecsEnrichment `json:"enrichments"`
}

type ecsEnrichment struct {
	Indicator ecsIndicator `json:"indicator"`
}

// ecsIndicator is threat.enrichments.indicator: type is a STIX 2
// cyber-observable type name (ECS's expected values), the value in the
// field of that type.
type ecsIndicator struct {
	Type        string        `json:"type"`
	Provider    string        `json:"provider"`
	Description string        `json:"description,omitempty"`
	IP          string        `json:"ip,omitempty"`
	URL         *ecsURL       `json:"url,omitempty"`
	Email       *ecsAddr      `json:"email,omitempty"`
	File        *ecsIndicFile `json:"file,omitempty"`
}

type ecsURL struct {
	Full   string `json:"full,omitempty"`
	Domain string `json:"domain,omitempty"`
}

type ecsIndicFile struct {
	Hash ecsHash `json:"hash"`
}

type ecsRelated struct {
	Hash  []string `json:"hash,omitempty"`
	Hosts []string `json:"hosts,omitempty"`
	IP    []string `json:"ip,omitempty"`
}

// ecsSmtpscope is the custom smtpscope.* namespace: what ECS has no field
// for (the SMTP envelope, the server's verdict, our flags and risks).
type ecsSmtpscope struct {
	ID         string   `json:"id"`
	Sensor     string   `json:"sensor,omitempty"`
	SessionUID string   `json:"session_uid,omitempty"`
	Index      int      `json:"index"`
	Helo       string   `json:"helo,omitempty"`
	MailFrom   string   `json:"mail_from,omitempty"`
	RcptTo     []string `json:"rcpt_to,omitempty"`
	ReplyCode  int      `json:"reply_code,omitempty"`
	ReplyText  string   `json:"reply_text,omitempty"`
	Partial    bool     `json:"partial,omitempty"`
	Size       int64    `json:"size"`
	SHA256     string   `json:"sha256"`
	Flags      []string `json:"flags,omitempty"`
	Risks      []string `json:"risks,omitempty"`
	Yara       []string `json:"yara,omitempty"`
	Source     string   `json:"source,omitempty"`
	NoSession  bool     `json:"no_session,omitempty"`
}

// ECS returns the email as an ECS document; created is event.created (when
// smtpscope made the event: the store time in the event log, now in
// `parse`).
func ECS(e *Email, created time.Time) *ECSEvent {
	ts := e.Session.Time
	if ts.IsZero() {
		if t, err := time.Parse(time.RFC3339, e.Date); err == nil {
			ts = t
		} else {
			ts = created
		}
	}
	ev := &ECSEvent{
		Timestamp: ts.UTC().Format(time.RFC3339Nano),
		ECS:       ecsVersion{ECSVersion},
		Event: ecsEventMeta{Kind: "event", Category: []string{"email"}, Type: []string{"info"},
			Dataset: "smtpscope.email", Module: "smtpscope", Created: created.UTC().Format(time.RFC3339Nano), ID: GlobalID(e.Sensor, e.ID)},
		Smtpscope: ecsSmtpscope{ID: e.ID, Sensor: e.Sensor, Index: e.Index, Partial: e.Partial, Size: e.Size, SHA256: e.SHA256,
			Flags: e.Flags, Source: e.Source, NoSession: e.NoSession},
	}
	em := &ev.Email
	em.LocalID = e.ID
	em.From = addrsOf(e.Headers["from"])
	em.To = addrsOf(e.To)
	em.Cc = addrsOf(e.Cc)
	em.ReplyTo = addrsOf(e.ReplyTo)
	if s := addrsOf(lastHeader(e, "sender")); s != nil {
		em.Sender = &ecsAddr{s.Address[0]}
	}
	em.Subject = e.Subject
	em.MessageID = e.MessageID
	em.XMailer = firstOf(lastHeader(e, "x-mailer"), lastHeader(e, "user-agent"))
	if len(e.Parts) > 0 {
		em.ContentType = e.Parts[0].ContentType
	}
	if t, err := time.Parse(time.RFC3339, e.Date); err == nil {
		em.OriginationTimestamp = t.UTC().Format(time.RFC3339Nano)
	}
	for _, a := range e.Attachments {
		f := ecsFile{Name: a.Filename, Size: a.Size, MimeType: firstOf([]string{a.ContentType, a.DetectedType}),
			Hash: &ecsHash{MD5: a.MD5, SHA1: a.SHA1, SHA256: a.SHA256, SSDeep: a.SSDeep, TLSH: a.TLSH}}
		if x := strings.TrimPrefix(path.Ext(a.Filename), "."); x != "" && x != a.Filename {
			f.Extension = strings.ToLower(x)
		}
		em.Attachments = append(em.Attachments, ecsAttachment{File: f})
	}
	for _, r := range e.Risks {
		ev.Smtpscope.Risks = append(ev.Smtpscope.Risks, r.Code)
	}
	for _, y := range allYara(e) {
		ev.Smtpscope.Yara = appendNew(ev.Smtpscope.Yara, y)
	}
	rel := &ecsRelated{}
	if e.HasSession() {
		si := &e.Session
		ev.Event.Category = []string{"email", "network"}
		ev.Smtpscope.SessionUID = si.UID
		ev.Smtpscope.Helo = si.Helo
		ev.Smtpscope.MailFrom = e.Envelope.MailFrom
		ev.Smtpscope.RcptTo = e.Envelope.RcptTo
		if si.SourceIP != "" {
			ev.Source = &ecsEndpoint{IP: si.SourceIP, Port: si.SourcePort}
			rel.IP = appendNew(rel.IP, si.SourceIP)
		}
		if si.DestIP != "" {
			ev.Destination = &ecsEndpoint{IP: si.DestIP, Port: si.DestPort}
			rel.IP = appendNew(rel.IP, si.DestIP)
		}
		ev.Network = &ecsNetwork{CommunityID: si.CID(), Transport: "tcp", Protocol: "smtp"}
		ev.TLS = &ecsTLS{Established: si.StartTLS}
		if r := e.ServerReply; r != nil {
			ev.Smtpscope.ReplyCode, ev.Smtpscope.ReplyText = r.Code, r.Text
			switch {
			case r.Code >= 200 && r.Code < 300:
				ev.Event.Outcome = "success"
				em.DeliveryTimestamp = si.Time.UTC().Format(time.RFC3339Nano)
			case r.Code >= 400:
				ev.Event.Outcome = "failure"
			}
		}
	}
	if e.Sensor != "" {
		ev.Observer = &ecsObserver{Name: e.Sensor, Type: "sensor"}
	}
	var th ecsThreat
	for _, ioc := range e.IOCs {
		ind := ecsIndicator{Provider: "smtpscope", Description: "found in " + ioc.Source}
		switch ioc.Type {
		case "url":
			ind.Type, ind.URL = "url", &ecsURL{Full: ioc.Value}
		case "domain":
			ind.Type, ind.URL = "domain-name", &ecsURL{Domain: ioc.Value}
			rel.Hosts = appendNew(rel.Hosts, ioc.Value)
		case "ipv4", "ipv6":
			ind.Type, ind.IP = ioc.Type+"-addr", ioc.Value
			rel.IP = appendNew(rel.IP, ioc.Value)
		case "email":
			ind.Type, ind.Email = "email-addr", &ecsAddr{ioc.Value}
		case "md5", "sha1", "sha256", "sha512":
			h := ecsHash{}
			switch ioc.Type {
			case "md5":
				h.MD5 = ioc.Value
			case "sha1":
				h.SHA1 = ioc.Value
			case "sha256":
				h.SHA256 = ioc.Value
			default:
				h.SHA512 = ioc.Value
			}
			ind.Type, ind.File = "file", &ecsIndicFile{Hash: h}
			rel.Hash = appendNew(rel.Hash, ioc.Value)
		default:
			continue
		}
		th.Enrichments = append(th.Enrichments, ecsEnrichment{Indicator: ind})
	}
	if len(th.Enrichments) > 0 {
		ev.Threat = &th
	}
	rel.Hash = appendNew(rel.Hash, e.SHA256)
	for _, a := range e.Attachments {
		rel.Hash = appendNew(rel.Hash, a.SHA256)
	}
	ev.Related = rel
	return ev
}

// addrsOf is the bare addresses of address header values ("Name <a@b>"),
// nil when there is none.
func addrsOf(vals []string) *ecsAddrs {
	var out []string
	for _, v := range vals {
		for _, part := range splitAddrList(v) {
			if a, _ := addrDomain(part); a != "" {
				out = appendNew(out, a)
			}
		}
	}
	if len(out) == 0 {
		return nil
	}
	return &ecsAddrs{Address: out}
}

// splitAddrList splits an address list at commas outside quotes and
// angle brackets.
func splitAddrList(v string) []string {
	var out []string
	depth, quoted, start := 0, false, 0
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case c == '\\' && quoted:
			i++
		case c == '"':
			quoted = !quoted
		case c == '<' && !quoted:
			depth++
		case c == '>' && !quoted && depth > 0:
			depth--
		case c == ',' && !quoted && depth == 0:
			out = append(out, strings.TrimSpace(v[start:i]))
			start = i + 1
		}
	}
	if s := strings.TrimSpace(v[start:]); s != "" {
		out = append(out, s)
	}
	return out
}

// lastHeader is the decoded values of a header, the last one only (as
// Zeek keeps the last of repeated fields), nil when absent.
func lastHeader(e *Email, name string) []string {
	if v := e.Headers[name]; len(v) > 0 {
		return v[len(v)-1:]
	}
	return nil
}

func firstOf(lists ...[]string) string {
	for _, l := range lists {
		for _, v := range l {
			if v = strings.TrimSpace(v); v != "" {
				return v
			}
		}
	}
	return ""
}

func appendNew(list []string, v string) []string {
	if v == "" || slices.Contains(list, v) {
		return list
	}
	return append(list, v)
}

// allYara is every YARA rule name that hit the email or an attachment.
func allYara(e *Email) []string {
	var out []string
	for _, y := range e.YARA {
		out = append(out, y.Rule)
	}
	for _, a := range e.Attachments {
		for _, y := range a.YARA {
			out = append(out, y.Rule)
		}
	}
	return out
}

// SetDirection sets email.direction from the domains that are the
// organisation's own (internal: domain names; a subdomain of one is
// internal too; none: the direction stays unset, as smtpscope cannot
// tell). The sender is the envelope's MAIL FROM, else the From header's
// first address; the recipients the envelope's accepted RCPT TOs, else
// the To and Cc addresses. "inbound": an external sender to an internal
// recipient; "outbound": an internal sender to an external recipient
// (also when other recipients are internal); "internal": internal to
// internal only; "external": neither end internal; "unknown": no sender
// or no recipient.
func (ev *ECSEvent) SetDirection(e *Email, internal []string) {
	if len(internal) == 0 {
		return
	}
	sender := e.Envelope.MailFrom
	if sender == "" && ev.Email.From != nil && len(ev.Email.From.Address) > 0 {
		sender = ev.Email.From.Address[0]
	}
	rcpts := e.Envelope.RcptTo
	if len(rcpts) == 0 {
		for _, l := range []*ecsAddrs{ev.Email.To, ev.Email.Cc} {
			if l != nil {
				rcpts = append(rcpts, l.Address...)
			}
		}
	}
	ev.Email.Direction = EmailDirection(sender, rcpts, internal)
}

// EmailDirection is SetDirection's rule on a sender and recipients.
func EmailDirection(sender string, rcpts, internal []string) string {
	if sender == "" || len(rcpts) == 0 {
		return "unknown"
	}
	in := func(addr string) bool {
		d := strings.TrimSuffix(strings.ToLower(addr[strings.LastIndexByte(addr, '@')+1:]), ".")
		for _, o := range internal {
			o = strings.TrimSuffix(strings.TrimPrefix(strings.ToLower(strings.TrimSpace(o)), "."), ".")
			if o != "" && (d == o || strings.HasSuffix(d, "."+o)) {
				return true
			}
		}
		return false
	}
	anyIn, anyOut := false, false
	for _, r := range rcpts {
		if in(r) {
			anyIn = true
		} else {
			anyOut = true
		}
	}
	switch {
	case in(sender) && anyOut:
		return "outbound"
	case in(sender):
		return "internal"
	case anyIn:
		return "inbound"
	}
	return "external"
}
