package core

import (
	"bytes"
	"io"
	"net/mail"
	"strconv"
	"time"
)

// MISP export (MISPWriter): one MISP event (the JSON MISP's "Add event
// from JSON" and its REST API take) of a set of emails.
//
// Each email is a MISP "email" object (template
// a0c666e0-fc65-4be8-b48f-3423d788b552: from, to, cc, reply-to,
// return-path, subject, message-id, send-date, x-mailer, user-agent,
// attachment names) with an ObjectReference "contains" to a "file"
// object per attachment (template 688c46fb-5edb-40a3-8273-1af7923e2215:
// filename, md5, sha1, sha256, size-in-bytes, mimetype). The IOCs are
// the event's Attributes, one per type and value: url, domain,
// ip-dst (IPs in the text), email-dst (addresses in the text), md5,
// sha1, sha256, sha512, and the session's client as ip-src. Types,
// categories and to_ids are MISP's (its describeTypes defaults): what
// detects (addresses, hashes, URLs, domains, file names) has to_ids
// true; context (subject, message-id, dates, sizes, MIME types, the
// SMTP client, which is often a shared relay) false.
//
// Objects are written as the emails come (Add); the event's attributes
// (one per distinct IOC) and its info wait for Close.

// MISP event defaults of an export: the analyst sets them in MISP.
const (
	MISPThreatLevelUndefined = "4" // threat_level_id: 1 high, 2 medium, 3 low, 4 undefined
	MISPAnalysisInitial      = "0" // analysis: 0 initial, 1 ongoing, 2 completed
	MISPDistributionOrg      = "0" // distribution: 0 your organisation only
)

// MISP object templates (misp-objects).
const (
	MISPEmailTemplate = "a0c666e0-fc65-4be8-b48f-3423d788b552"
	MISPFileTemplate  = "688c46fb-5edb-40a3-8273-1af7923e2215"
)

// MISPWriter writes one MISP event.
type MISPWriter struct {
	w       io.Writer
	now     time.Time
	n       int // objects written
	attrs   []map[string]any
	seen    map[string]bool // type "\x00" value of the attributes
	emails  int
	first   time.Time
	err     error
	evtUUID string
}

// NewMISPWriter starts an event on w; now is its timestamp.
func NewMISPWriter(w io.Writer, now time.Time) *MISPWriter {
	m := &MISPWriter{w: w, now: now, seen: map[string]bool{}, evtUUID: uuidV4()}
	m.write([]byte(`{"Event":{"Object":[`))
	return m
}

func (m *MISPWriter) write(p []byte) {
	if m.err == nil {
		_, m.err = m.w.Write(p)
	}
}

func (m *MISPWriter) object(o map[string]any) {
	var buf bytes.Buffer
	enc := NewJSONEncoder(&buf)
	if err := enc.Encode(o); err != nil {
		if m.err == nil {
			m.err = err
		}
		return
	}
	if m.n > 0 {
		m.write([]byte(","))
	}
	m.write([]byte("\n"))
	m.write(bytes.TrimRight(buf.Bytes(), "\n"))
	m.n++
}

// mispAttr is one attribute; relation "" for an event attribute.
func mispAttr(relation, typ, category, value string, toIDs bool) map[string]any {
	a := map[string]any{
		"uuid": uuidV4(), "type": typ, "category": category, "value": value,
		"to_ids": toIDs, "disable_correlation": false,
	}
	if relation != "" {
		a["object_relation"] = relation
	}
	return a
}

// eventAttr adds an event attribute once per type and value.
func (m *MISPWriter) eventAttr(typ, category, value string, toIDs bool, comment string) {
	k := typ + "\x00" + value
	if value == "" || m.seen[k] {
		return
	}
	m.seen[k] = true
	a := mispAttr("", typ, category, value, toIDs)
	if comment != "" {
		a["comment"] = comment
	}
	m.attrs = append(m.attrs, a)
}

// Add writes the objects of one email.
func (m *MISPWriter) Add(e *Email) error {
	if m.err != nil {
		return m.err
	}
	t := stixEmailTime(e, m.now)
	if m.emails == 0 || t.Before(m.first) {
		m.first = t
	}
	m.emails++
	ts := strconv.FormatInt(m.now.Unix(), 10)

	var refs []any
	var attrs []any
	add := func(relation, typ, category, value string, toIDs bool) {
		if value != "" {
			attrs = append(attrs, mispAttr(relation, typ, category, value, toIDs))
		}
	}
	addrs := func(relation, typ, category string, vals []string) {
		for _, v := range vals {
			list, err := mail.ParseAddressList(v)
			if err != nil || len(list) == 0 {
				a, _ := emailAddrParts(v)
				add(relation, typ, category, a, true)
				continue
			}
			for _, a := range list {
				if a2, _ := emailAddrParts(a.Address); a2 != "" {
					add(relation, typ, category, a2, true)
				}
			}
		}
	}
	if a, name := emailAddrParts(e.From); a != "" {
		add("from", "email-src", "Payload delivery", a, true)
		add("from-display-name", "email-src-display-name", "Payload delivery", name, false)
	}
	addrs("to", "email-dst", "Payload delivery", e.To)
	addrs("cc", "email-dst", "Payload delivery", e.Cc)
	addrs("reply-to", "email-reply-to", "Payload delivery", e.ReplyTo)
	if rp := e.Headers["return-path"]; len(rp) > 0 {
		if a, _ := emailAddrParts(rp[0]); a != "" {
			add("return-path", "email-src", "Payload delivery", a, true)
		}
	}
	add("subject", "email-subject", "Payload delivery", e.Subject, false)
	add("message-id", "email-message-id", "Payload delivery", e.MessageID, false)
	if d, err := time.Parse(time.RFC3339, e.Date); err == nil {
		add("send-date", "datetime", "Other", d.UTC().Format("2006-01-02T15:04:05Z"), false)
	}
	if v := e.Headers["x-mailer"]; len(v) > 0 {
		add("x-mailer", "email-x-mailer", "Payload delivery", v[0], false)
	}
	if v := e.Headers["user-agent"]; len(v) > 0 {
		add("user-agent", "text", "Payload delivery", v[0], false)
	}

	for _, at := range e.Attachments {
		if at.SHA256 == "" && at.MD5 == "" {
			continue
		}
		var fa []any
		fadd := func(relation, typ, category, value string, toIDs bool) {
			if value != "" {
				fa = append(fa, mispAttr(relation, typ, category, value, toIDs))
			}
		}
		fadd("filename", "filename", "Payload delivery", at.Filename, true)
		fadd("md5", "md5", "Payload delivery", at.MD5, true)
		fadd("sha1", "sha1", "Payload delivery", at.SHA1, true)
		fadd("sha256", "sha256", "Payload delivery", at.SHA256, true)
		fadd("size-in-bytes", "size-in-bytes", "Other", strconv.FormatInt(at.Size, 10), false)
		fadd("mimetype", "mime-type", "Payload delivery", at.ContentType, false)
		id := uuidV4()
		m.object(map[string]any{
			"name": "file", "meta-category": "file", "template_uuid": MISPFileTemplate,
			"description": "File object describing a file with meta-information",
			"uuid":        id, "timestamp": ts, "distribution": "5", "comment": "attachment of " + e.ID,
			"Attribute": fa,
		})
		refs = append(refs, map[string]any{
			"uuid": uuidV4(), "referenced_uuid": id, "relationship_type": "contains", "timestamp": ts,
		})
		add("attachment", "email-attachment", "Payload delivery", at.Filename, true)
	}
	if len(attrs) == 0 {
		add("send-date", "datetime", "Other", t.UTC().Format("2006-01-02T15:04:05Z"), false)
	}
	o := map[string]any{
		"name": "email", "meta-category": "network", "template_uuid": MISPEmailTemplate,
		"description": "Email object describing an email with meta-information",
		"uuid":        uuidV4(), "timestamp": ts, "distribution": "5", "comment": "smtpscope email " + e.ID,
		"Attribute": attrs,
	}
	if len(refs) > 0 {
		o["ObjectReference"] = refs
	}
	m.object(o)

	if ip := e.Session.SourceIP; ip != "" {
		m.eventAttr("ip-src", "Network activity", ip, false, "SMTP client")
	}
	for _, ioc := range e.IOCs {
		switch ioc.Type {
		case IOCURL:
			m.eventAttr("url", "Network activity", ioc.Value, true, "")
		case IOCDomain:
			m.eventAttr("domain", "Network activity", ioc.Value, true, "")
		case IOCIPv4, IOCIPv6:
			m.eventAttr("ip-dst", "Network activity", ioc.Value, true, "")
		case IOCEmail:
			m.eventAttr("email-dst", "Network activity", ioc.Value, true, "")
		case IOCMD5, IOCSHA1, IOCSHA256, IOCSHA512:
			m.eventAttr(ioc.Type, "Payload delivery", ioc.Value, true, "")
		}
	}
	return m.err
}

// Close writes the event's attributes and header (info: the given text)
// and ends the event; it does not close the underlying writer.
func (m *MISPWriter) Close(info string) error {
	date := m.now
	if m.emails > 0 {
		date = m.first
	}
	attrs := m.attrs
	if attrs == nil {
		attrs = []map[string]any{}
	}
	tail := map[string]any{
		"Attribute": attrs, "uuid": m.evtUUID, "info": info,
		"date": date.UTC().Format("2006-01-02"), "threat_level_id": MISPThreatLevelUndefined,
		"analysis": MISPAnalysisInitial, "distribution": MISPDistributionOrg, "published": false,
		"timestamp": strconv.FormatInt(m.now.Unix(), 10),
	}
	var buf bytes.Buffer
	enc := NewJSONEncoder(&buf)
	if err := enc.Encode(tail); err != nil {
		return err
	}
	b := bytes.TrimRight(buf.Bytes(), "\n")
	m.write([]byte("\n],"))
	m.write(b[1:]) // the members of tail, after the object list
	m.write([]byte("}\n"))
	return m.err
}
