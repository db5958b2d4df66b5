package core

import (
	"bytes"
	"io"
	"net/mail"
	"slices"
	"strings"
	"time"
)

// STIX 2.1 export (STIXWriter): a bundle of what a set of emails shows,
// for threat-intelligence platforms (OpenCTI, MISP's STIX import, TAXII
// servers).
//
// Each email becomes an observed-data SDO (first/last observed: the
// email's time) whose object_refs are its SCOs: the email-message, the
// email-addr of its From, To and Cc, a file per attachment (hashes, size,
// name, mime_type; an archive's members in its contains_refs; the MIME
// attachments in the message's body_multipart), the session's client
// address, and an SCO per IOC (url, domain-name, ipv4-addr, ipv6-addr,
// email-addr, file with the hash). Every attachment's SHA-256, every IOC
// and the From address become an indicator SDO with a STIX pattern
// ("[file:hashes.'SHA-256' = '…']"), one per pattern across the bundle
// (valid_from: the earliest email showing it), with a based-on
// relationship to each observed-data that shows it (the relationship
// STIX 2.1 lists from indicator to observed-data).
//
// SCO ids are the deterministic UUIDv5 of STIXSCOID, so two exports name
// the same address, URL or file alike; SDOs, SROs and the bundle get
// random UUIDv4s. Bodies and the raw message are not exported (the
// bundle carries indicators and metadata, not mail text).
//
// The bundle is written as the emails come (Add), not held in memory;
// only the indicators (one per distinct pattern) wait for Close.

// STIXIndicatorType is the indicator_types value of the exported
// indicators: an export is of emails an analyst selected as an attack.
const STIXIndicatorType = "malicious-activity"

// STIXWriter writes one STIX 2.1 bundle.
type STIXWriter struct {
	w       io.Writer
	now     string
	n       int             // objects written
	sco     map[string]bool // ids of the SCOs written
	ind     map[string]*stixIndicator
	indList []*stixIndicator
	err     error
}

type stixIndicator struct {
	id, pattern, name string
	validFrom         time.Time
}

// NewSTIXWriter starts a bundle on w; now is the created/modified time of
// the SDOs and SROs.
func NewSTIXWriter(w io.Writer, now time.Time) *STIXWriter {
	s := &STIXWriter{w: w, now: stixTime(now), sco: map[string]bool{}, ind: map[string]*stixIndicator{}}
	s.write([]byte(`{"type":"bundle","id":"bundle--` + uuidV4() + `"`))
	return s
}

// stixTime is a STIX timestamp: UTC, millisecond precision.
func stixTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

func (s *STIXWriter) write(p []byte) {
	if s.err == nil {
		_, s.err = s.w.Write(p)
	}
}

// object writes one object of the bundle.
func (s *STIXWriter) object(o map[string]any) {
	var buf bytes.Buffer
	enc := NewJSONEncoder(&buf)
	if err := enc.Encode(o); err != nil {
		if s.err == nil {
			s.err = err
		}
		return
	}
	if s.n == 0 {
		s.write([]byte(",\"objects\":[\n"))
	} else {
		s.write([]byte(",\n"))
	}
	s.write(bytes.TrimRight(buf.Bytes(), "\n"))
	s.n++
}

// scoObj writes an SCO once; it returns its id.
func (s *STIXWriter) scoObj(typ string, idProps map[string]any, props map[string]any) string {
	id := STIXSCOID(typ, idProps)
	if s.sco[id] {
		return id
	}
	s.sco[id] = true
	o := map[string]any{"type": typ, "spec_version": "2.1", "id": id}
	for k, v := range idProps {
		o[k] = v
	}
	for k, v := range props {
		o[k] = v
	}
	s.object(o)
	return id
}

// indicator notes the pattern as shown by the observed-data od at t.
func (s *STIXWriter) indicator(pattern, name, od string, t time.Time) {
	in := s.ind[pattern]
	if in == nil {
		in = &stixIndicator{id: "indicator--" + uuidV4(), pattern: pattern, name: name, validFrom: t}
		s.ind[pattern] = in
		s.indList = append(s.indList, in)
	} else if t.Before(in.validFrom) {
		in.validFrom = t
	}
	s.object(map[string]any{
		"type": "relationship", "spec_version": "2.1", "id": "relationship--" + uuidV4(),
		"created": s.now, "modified": s.now,
		"relationship_type": "based-on", "source_ref": in.id, "target_ref": od,
	})
}

// STIXPatternString quotes s as a STIX pattern string literal.
func STIXPatternString(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

// stixHashes are an attachment's hashes under STIX's hash names.
func stixHashes(md5, sha1, sha256 string) map[string]string {
	h := map[string]string{}
	if md5 != "" {
		h["MD5"] = md5
	}
	if sha1 != "" {
		h["SHA-1"] = sha1
	}
	if sha256 != "" {
		h["SHA-256"] = sha256
	}
	return h
}

// stixEmailTime is when the email was seen: its session's time, else its
// Date, else now.
func stixEmailTime(e *Email, now time.Time) time.Time {
	if !e.Session.Time.IsZero() {
		return e.Session.Time
	}
	if t, err := time.Parse(time.RFC3339, e.Date); err == nil {
		return t
	}
	return now
}

// emailAddrParts parses one address header value: the address ("" when
// it holds none) and the display name.
func emailAddrParts(v string) (addr, name string) {
	addr, _ = addrDomain(v)
	if !strings.Contains(addr, "@") || strings.ContainsAny(addr, " \t\r\n<>") {
		return "", ""
	}
	return addr, displayName(v)
}

// stixHeaderSkip are the header fields the email-message SCO has
// properties for (not repeated in additional_header_fields).
var stixHeaderSkip = map[string]bool{
	"date": true, "received": true, "content-type": true, "from": true, "sender": true,
	"to": true, "cc": true, "bcc": true, "subject": true, "message-id": true,
}

// stixHeaderName reports whether a header name can be a STIX dictionary
// key: ASCII, printable, at most 250 characters.
func stixHeaderName(n string) bool {
	if n == "" || len(n) > 250 {
		return false
	}
	for i := 0; i < len(n); i++ {
		if n[i] <= ' ' || n[i] >= 0x7f || n[i] == ':' {
			return false
		}
	}
	return true
}

// Add writes the objects of one email.
func (s *STIXWriter) Add(e *Email) error {
	if s.err != nil {
		return s.err
	}
	nowT, _ := time.Parse(time.RFC3339, s.now)
	t := stixEmailTime(e, nowT)
	var refs []string
	ref := func(id string) string {
		if !slices.Contains(refs, id) {
			refs = append(refs, id)
		}
		return id
	}
	type pending struct{ pattern, name string }
	var inds []pending
	addr := func(v string) string {
		a, name := emailAddrParts(v)
		if a == "" {
			return ""
		}
		var props map[string]any
		if name != "" {
			props = map[string]any{"display_name": name}
		}
		return ref(s.scoObj("email-addr", map[string]any{"value": a}, props))
	}
	msg := map[string]any{}
	if id := addr(e.From); id != "" {
		msg["from_ref"] = id
		if a, _ := emailAddrParts(e.From); a != "" {
			inds = append(inds, pending{"[email-addr:value = " + STIXPatternString(a) + "]", "From " + a})
		}
	}
	if len(e.Headers["sender"]) > 0 {
		if id := addr(e.Headers["sender"][0]); id != "" {
			msg["sender_ref"] = id
		}
	}
	addrList := func(vals []string) []string {
		var ids []string
		for _, v := range vals {
			list, err := mail.ParseAddressList(v)
			if err != nil || len(list) == 0 {
				if id := addr(v); id != "" && !slices.Contains(ids, id) {
					ids = append(ids, id)
				}
				continue
			}
			for _, a := range list {
				if id := addr(a.String()); id != "" && !slices.Contains(ids, id) {
					ids = append(ids, id)
				}
			}
		}
		return ids
	}
	if ids := addrList(e.To); len(ids) > 0 {
		msg["to_refs"] = ids
	}
	if ids := addrList(e.Cc); len(ids) > 0 {
		msg["cc_refs"] = ids
	}

	// Attachments: the files, archive members in their container's
	// contains_refs.
	fileIDs := make([]string, len(e.Attachments))
	byPart := map[string]int{}
	for i, a := range e.Attachments {
		if a.Part != "" {
			if _, dup := byPart[a.Part]; !dup {
				byPart[a.Part] = i
			}
		}
	}
	contains := make([][]string, len(e.Attachments))
	idProps := make([]map[string]any, len(e.Attachments))
	for i, a := range e.Attachments {
		h := stixHashes(a.MD5, a.SHA1, a.SHA256)
		if len(h) == 0 {
			continue
		}
		p := map[string]any{"hashes": h}
		if a.Filename != "" {
			p["name"] = a.Filename
		}
		idProps[i] = p
		fileIDs[i] = STIXSCOID("file", p)
	}
	for i, a := range e.Attachments {
		if fileIDs[i] == "" || a.Parent == "" {
			continue
		}
		if j, ok := byPart[a.Parent]; ok && j != i && fileIDs[j] != "" && !slices.Contains(contains[j], fileIDs[i]) {
			contains[j] = append(contains[j], fileIDs[i])
		}
	}
	var body []any
	for i, a := range e.Attachments {
		if fileIDs[i] == "" {
			continue
		}
		props := map[string]any{"size": a.Size}
		if mt := strings.ToLower(strings.TrimSpace(a.ContentType)); mt != "" && strings.Contains(mt, "/") {
			props["mime_type"] = mt
		}
		if len(contains[i]) > 0 {
			props["contains_refs"] = contains[i]
		}
		ref(s.scoObj("file", idProps[i], props))
		if a.SHA256 != "" {
			name := "attachment " + a.SHA256
			if a.Filename != "" {
				name = "attachment " + a.Filename
			}
			inds = append(inds, pending{"[file:hashes.'SHA-256' = " + STIXPatternString(a.SHA256) + "]", name})
		}
		if _, member := byPart[a.Parent]; !member && !strings.Contains(a.Part, "!") {
			mp := map[string]any{"body_raw_ref": fileIDs[i]}
			if a.ContentType != "" {
				mp["content_type"] = a.ContentType
			}
			if a.Disposition != "" {
				mp["content_disposition"] = a.Disposition
			}
			body = append(body, mp)
		}
	}

	// The email-message.
	ct := ""
	if v := e.Headers["content-type"]; len(v) > 0 {
		ct = v[0]
	} else if len(e.Parts) > 0 {
		ct = e.Parts[0].ContentType
	}
	multipart := strings.HasPrefix(strings.ToLower(strings.TrimSpace(ct)), "multipart/")
	msg["is_multipart"] = multipart
	if ct != "" {
		msg["content_type"] = ct
	}
	if d, err := time.Parse(time.RFC3339, e.Date); err == nil {
		msg["date"] = stixTime(d)
	}
	if e.MessageID != "" {
		msg["message_id"] = e.MessageID
	}
	if multipart && len(body) > 0 {
		msg["body_multipart"] = body
	}
	if r := e.Headers["received"]; len(r) > 0 {
		msg["received_lines"] = r
	}
	extra := map[string]any{}
	for _, f := range e.RawHeader {
		low := strings.ToLower(f.Name)
		if stixHeaderSkip[low] || !stixHeaderName(f.Name) {
			continue
		}
		if _, done := extra[f.Name]; done {
			continue
		}
		if vals := e.Headers[low]; len(vals) > 0 {
			extra[f.Name] = vals
		}
	}
	if len(extra) > 0 {
		msg["additional_header_fields"] = extra
	}
	msgID := map[string]any{}
	if v, ok := msg["from_ref"]; ok {
		msgID["from_ref"] = v
	}
	if e.Subject != "" {
		msgID["subject"] = e.Subject
	}
	delete(msg, "from_ref")
	ref(s.scoObj("email-message", msgID, msg))
	// The message first among the refs.
	if n := len(refs); n > 1 {
		last := refs[n-1]
		copy(refs[1:], refs[:n-1])
		refs[0] = last
	}

	if ip := e.Session.SourceIP; ip != "" {
		typ := "ipv4-addr"
		if strings.Contains(ip, ":") {
			typ = "ipv6-addr"
		}
		ref(s.scoObj(typ, map[string]any{"value": ip}, nil))
	}
	for _, ioc := range e.IOCs {
		var typ, pat string
		var p map[string]any
		switch ioc.Type {
		case IOCURL:
			typ, pat = "url", "[url:value = "+STIXPatternString(ioc.Value)+"]"
		case IOCDomain:
			typ, pat = "domain-name", "[domain-name:value = "+STIXPatternString(ioc.Value)+"]"
		case IOCIPv4:
			typ, pat = "ipv4-addr", "[ipv4-addr:value = "+STIXPatternString(ioc.Value)+"]"
		case IOCIPv6:
			typ, pat = "ipv6-addr", "[ipv6-addr:value = "+STIXPatternString(ioc.Value)+"]"
		case IOCEmail:
			typ, pat = "email-addr", "[email-addr:value = "+STIXPatternString(ioc.Value)+"]"
		case IOCMD5, IOCSHA1, IOCSHA256, IOCSHA512:
			alg := map[string]string{IOCMD5: "MD5", IOCSHA1: "SHA-1", IOCSHA256: "SHA-256", IOCSHA512: "SHA-512"}[ioc.Type]
			typ, pat = "file", "[file:hashes."+STIXPatternString(alg)+" = "+STIXPatternString(ioc.Value)+"]"
			p = map[string]any{"hashes": map[string]string{alg: ioc.Value}}
		default:
			continue
		}
		if p == nil {
			p = map[string]any{"value": ioc.Value}
		}
		ref(s.scoObj(typ, p, nil))
		inds = append(inds, pending{pat, ioc.Type + " " + ioc.Value})
	}

	od := "observed-data--" + uuidV4()
	s.object(map[string]any{
		"type": "observed-data", "spec_version": "2.1", "id": od,
		"created": s.now, "modified": s.now,
		"first_observed": stixTime(t), "last_observed": stixTime(t), "number_observed": 1,
		"object_refs": refs,
	})
	seen := map[string]bool{}
	for _, in := range inds {
		if seen[in.pattern] {
			continue
		}
		seen[in.pattern] = true
		s.indicator(in.pattern, in.name, od, t)
	}
	return s.err
}

// Close writes the indicators and ends the bundle; it does not close the
// underlying writer.
func (s *STIXWriter) Close() error {
	for _, in := range s.indList {
		name := in.name
		if len(name) > 256 {
			name = strings.ToValidUTF8(name[:256], "") + "…"
		}
		s.object(map[string]any{
			"type": "indicator", "spec_version": "2.1", "id": in.id,
			"created": s.now, "modified": s.now,
			"name": name, "indicator_types": []string{STIXIndicatorType},
			"pattern": in.pattern, "pattern_type": "stix", "pattern_version": "2.1",
			"valid_from": stixTime(in.validFrom),
		})
	}
	if s.n > 0 {
		s.write([]byte("\n]"))
	}
	s.write([]byte("}\n"))
	return s.err
}
