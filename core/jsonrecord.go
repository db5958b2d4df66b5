package core

import (
	"encoding/binary"
	"io"
	"slices"
	"strconv"
	"sync"
	"unicode/utf8"
	"unsafe"
)

// WriteEmailJSON writes e to w as NewJSONEncoder(w).Encode(e) does, byte
// for byte (compact JSON, one line, HTML characters as written, the runes
// NewJSONEncoder escapes escaped), in one Write, and nothing on an error
// (a session time whose year has no RFC 3339 form). It is the record
// writer of `parse` and of the collector: it encodes the record's types
// by hand, without reflection, and escapes each string in one pass
// (encoding/json then a second pass over its output cost 8.6 % of the
// CPU of parse). TestEmailJSONEveryField fills every field of Email and
// requires the same bytes as encoding/json, so a field added to the
// record and not here fails it.
func WriteEmailJSON(w io.Writer, e *Email) error {
	bp := recordBufs.Get().(*[]byte)
	b, err := AppendEmailJSON((*bp)[:0], e)
	if err == nil {
		b = append(b, '\n')
		_, err = w.Write(b)
	}
	if cap(b) <= 1<<20 { // do not keep a large record's buffer
		*bp = b
		recordBufs.Put(bp)
	}
	return err
}

var recordBufs = sync.Pool{New: func() any { b := make([]byte, 0, 64<<10); return &b }}

// AppendEmailJSON appends e's JSON record (as WriteEmailJSON writes it,
// without the line end) to dst.
func AppendEmailJSON(dst []byte, e *Email) ([]byte, error) {
	// Room for the bodies and headers (most of a record), so that a
	// large one is not grown by doubling.
	n := 2048 + len(e.BodyText) + len(e.BodyHTML) + 320*len(e.Parts) + 400*len(e.Attachments) + 96*len(e.IOCs)
	for i := range e.RawHeader {
		n += len(e.RawHeader[i].Value) + len(e.RawHeader[i].Name) + 24
	}
	j := jsonRec{b: slices.Grow(dst, n+n/16)}
	j.email(e)
	return j.b, j.err
}

// jsonRec appends the record's JSON. The field order, names and
// omitempty rules are those of the json tags in record.go.
type jsonRec struct {
	b   []byte
	err error
}

func (j *jsonRec) key(k string) {
	// k is a literal ",\"name\":" or "\"name\":" (ASCII, nothing to escape).
	j.b = append(j.b, k...)
}

func (j *jsonRec) str(s string) { j.b = appendJSONString(j.b, s) }

// optStr writes the key k and s, unless s is empty (omitempty).
func (j *jsonRec) optStr(k, s string) {
	if s != "" {
		j.key(k)
		j.str(s)
	}
}

func (j *jsonRec) int(n int64) { j.b = strconv.AppendInt(j.b, n, 10) }

func (j *jsonRec) bool(v bool) { j.b = strconv.AppendBool(j.b, v) }

func (j *jsonRec) strs(list []string) { jsonList(j, list, func(s *string) { j.str(*s) }) }

// jsonList writes list as a JSON array, each element by one (null for a
// nil slice, as encoding/json does).
func jsonList[T any](j *jsonRec, list []T, one func(*T)) {
	if list == nil {
		j.b = append(j.b, "null"...)
		return
	}
	j.b = append(j.b, '[')
	for i := range list {
		if i > 0 {
			j.b = append(j.b, ',')
		}
		one(&list[i])
	}
	j.b = append(j.b, ']')
}

func (j *jsonRec) email(e *Email) {
	j.key(`{"id":`)
	j.str(e.ID)
	j.optStr(`,"sensor":`, e.Sensor)
	j.key(`,"session":`)
	j.session(&e.Session)
	j.key(`,"index":`)
	j.int(int64(e.Index))
	j.key(`,"partial":`)
	j.bool(e.Partial)
	j.key(`,"envelope":`)
	j.envelope(&e.Envelope)
	if e.SessionTried != nil {
		j.key(`,"session_tried":{`)
		comma := false
		if len(e.SessionTried.MailFrom) > 0 {
			j.key(`"mail_from":`)
			j.strs(e.SessionTried.MailFrom)
			comma = true
		}
		if len(e.SessionTried.RcptTo) > 0 {
			if comma {
				j.b = append(j.b, ',')
			}
			j.key(`"rcpt_to":`)
			j.strs(e.SessionTried.RcptTo)
		}
		j.b = append(j.b, '}')
	}
	j.key(`,"server_reply":`)
	if e.ServerReply == nil {
		j.b = append(j.b, "null"...)
	} else {
		j.key(`{"code":`)
		j.int(int64(e.ServerReply.Code))
		j.key(`,"text":`)
		j.str(e.ServerReply.Text)
		j.b = append(j.b, '}')
	}
	j.key(`,"size":`)
	j.int(e.Size)
	j.key(`,"md5":`)
	j.str(e.MD5)
	j.key(`,"sha1":`)
	j.str(e.SHA1)
	j.key(`,"sha256":`)
	j.str(e.SHA256)
	j.optStr(`,"ssdeep":`, e.SSDeep)
	j.optStr(`,"tlsh":`, e.TLSH)
	j.key(`,"subject":`)
	j.str(e.Subject)
	j.key(`,"from":`)
	j.str(e.From)
	j.key(`,"to":`)
	j.strs(e.To)
	j.key(`,"cc":`)
	j.strs(e.Cc)
	if len(e.ReplyTo) > 0 {
		j.key(`,"reply_to":`)
		j.strs(e.ReplyTo)
	}
	j.key(`,"date":`)
	j.str(e.Date)
	j.key(`,"message_id":`)
	j.str(e.MessageID)
	j.key(`,"headers":`)
	j.headers(e.Headers)
	j.key(`,"raw_headers":`)
	jsonList(j, e.RawHeader, func(h *HeaderField) {
		j.key(`{"name":`)
		j.str(h.Name)
		j.key(`,"value":`)
		j.str(h.Value)
		j.b = append(j.b, '}')
	})
	j.optStr(`,"body_text":`, e.BodyText)
	j.optStr(`,"body_html":`, e.BodyHTML)
	if e.BodyOmitted {
		j.key(`,"body_omitted":true`)
	}
	j.key(`,"parts":`)
	jsonList(j, e.Parts, j.part)
	j.key(`,"attachments":`)
	jsonList(j, e.Attachments, j.attachment)
	j.key(`,"iocs":`)
	jsonList(j, e.IOCs, j.ioc)
	if len(e.YARA) > 0 {
		j.key(`,"yara":`)
		j.yara(e.YARA)
	}
	if len(e.Flags) > 0 {
		j.key(`,"flags":`)
		j.strs(e.Flags)
	}
	if len(e.Risks) > 0 {
		j.key(`,"risks":[`)
		for i := range e.Risks {
			if i > 0 {
				j.b = append(j.b, ',')
			}
			j.key(`{"code":`)
			j.str(e.Risks[i].Code)
			j.key(`,"evidence":`)
			j.str(e.Risks[i].Evidence)
			j.b = append(j.b, '}')
		}
		j.b = append(j.b, ']')
	}
	if len(e.Anomalies) > 0 {
		j.key(`,"anomalies":`)
		j.strs(e.Anomalies)
	}
	if len(e.Truncated) > 0 {
		j.key(`,"truncated":[`)
		for i, t := range e.Truncated {
			if i > 0 {
				j.b = append(j.b, ',')
			}
			j.key(`{"field":`)
			j.str(t.Field)
			j.key(`,"kept":`)
			j.int(t.Kept)
			j.key(`,"original":`)
			j.int(t.Original)
			j.b = append(j.b, '}')
		}
		j.b = append(j.b, ']')
	}
	j.key(`,"errors":`)
	j.strs(e.Errors)
	j.optStr(`,"source":`, e.Source)
	if e.NoSession {
		j.key(`,"no_session":true`)
	}
	j.b = append(j.b, '}')
}

func (j *jsonRec) session(s *SessionInfo) {
	j.key(`{"uid":`)
	j.str(s.UID)
	j.key(`,"source_ip":`)
	j.str(s.SourceIP)
	j.key(`,"source_port":`)
	j.int(int64(s.SourcePort))
	j.optStr(`,"dest_ip":`, s.DestIP)
	if s.DestPort != 0 {
		j.key(`,"dest_port":`)
		j.int(int64(s.DestPort))
	}
	j.optStr(`,"community_id":`, s.CommunityID)
	j.key(`,"time":`)
	// time.Time's own MarshalJSON, as encoding/json calls it (its
	// output is a quoted ASCII string: nothing to escape).
	t, err := s.Time.MarshalJSON()
	if err != nil && j.err == nil {
		j.err = &jsonTimeError{err}
	}
	j.b = append(j.b, t...)
	j.optStr(`,"time_source":`, s.TimeSource)
	j.optStr(`,"banner":`, s.Banner)
	j.key(`,"helo":`)
	j.str(s.Helo)
	j.key(`,"starttls":`)
	j.bool(s.StartTLS)
	j.key(`,"auth":`)
	j.bool(s.Auth)
	j.optStr(`,"auth_mechanism":`, s.AuthMech)
	j.optStr(`,"file":`, s.File)
	if len(s.Pcap) > 0 {
		j.key(`,"pcap":`)
		j.strs(s.Pcap)
	}
	if len(s.Anomalies) > 0 {
		j.key(`,"anomalies":`)
		j.strs(s.Anomalies)
	}
	j.b = append(j.b, '}')
}

// jsonTimeError is encoding/json's error for a time.Time it cannot
// marshal, with the same text.
type jsonTimeError struct{ err error }

func (e *jsonTimeError) Error() string {
	return "json: error calling MarshalJSON for type time.Time: " + e.err.Error()
}

func (e *jsonTimeError) Unwrap() error { return e.err }

func (j *jsonRec) envelope(v *Envelope) {
	j.key(`{"mail_from":`)
	j.str(v.MailFrom)
	j.optStr(`,"mail_from_raw":`, v.MailFromRaw)
	if len(v.MailParams) > 0 {
		j.key(`,"mail_params":`)
		j.strs(v.MailParams)
	}
	j.key(`,"rcpt_to":`)
	j.strs(v.RcptTo)
	if len(v.RcptToRaw) > 0 {
		j.key(`,"rcpt_to_raw":`)
		j.strs(v.RcptToRaw)
	}
	if len(v.RcptRejected) > 0 {
		j.key(`,"rcpt_rejected":`)
		j.strs(v.RcptRejected)
	}
	if len(v.RcptUnconfirmed) > 0 {
		j.key(`,"rcpt_unconfirmed":`)
		j.strs(v.RcptUnconfirmed)
	}
	j.b = append(j.b, '}')
}

// headers writes the map with its keys sorted (as encoding/json does).
func (j *jsonRec) headers(h map[string][]string) {
	if h == nil {
		j.b = append(j.b, "null"...)
		return
	}
	var buf [64]string
	keys := buf[:0]
	for k := range h {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	j.b = append(j.b, '{')
	for i, k := range keys {
		if i > 0 {
			j.b = append(j.b, ',')
		}
		j.str(k)
		j.b = append(j.b, ':')
		j.strs(h[k])
	}
	j.b = append(j.b, '}')
}

func (j *jsonRec) zeek(z *ZeekHashes) {
	if z.ZeekMD5 != "" {
		j.key(`,"zeek_md5":`)
		j.str(z.ZeekMD5)
	}
	if z.ZeekSHA1 != "" {
		j.key(`,"zeek_sha1":`)
		j.str(z.ZeekSHA1)
	}
	if z.ZeekSHA256 != "" {
		j.key(`,"zeek_sha256":`)
		j.str(z.ZeekSHA256)
	}
}

func (j *jsonRec) part(p *Part) {
	j.key(`{"part":`)
	j.str(p.Part)
	j.key(`,"content_type":`)
	j.str(p.ContentType)
	j.optStr(`,"charset":`, p.Charset)
	j.optStr(`,"encoding":`, p.Encoding)
	j.optStr(`,"disposition":`, p.Disposition)
	j.optStr(`,"filename":`, p.Filename)
	j.optStr(`,"filename_raw":`, p.FilenameRaw)
	j.optStr(`,"content_id":`, p.ContentID)
	j.key(`,"size":`)
	j.int(p.Size)
	j.key(`,"depth":`)
	j.int(int64(p.Depth))
	j.optStr(`,"parent":`, p.Parent)
	if len(p.Anomalies) > 0 {
		j.key(`,"anomalies":`)
		j.strs(p.Anomalies)
	}
	if p.MD5 != "" {
		j.key(`,"md5":`)
		j.str(p.MD5)
	}
	if p.SHA1 != "" {
		j.key(`,"sha1":`)
		j.str(p.SHA1)
	}
	if p.SHA256 != "" {
		j.key(`,"sha256":`)
		j.str(p.SHA256)
	}
	j.zeek(&p.ZeekHashes)
	j.b = append(j.b, '}')
}

func (j *jsonRec) attachment(a *Attachment) {
	j.key(`{"filename":`)
	j.str(a.Filename)
	j.optStr(`,"filename_raw":`, a.FilenameRaw)
	j.key(`,"content_type":`)
	j.str(a.ContentType)
	j.key(`,"detected_type":`)
	j.str(a.DetectedType)
	j.key(`,"size":`)
	j.int(a.Size)
	j.key(`,"md5":`)
	j.str(a.MD5)
	j.key(`,"sha1":`)
	j.str(a.SHA1)
	j.key(`,"sha256":`)
	j.str(a.SHA256)
	j.zeek(&a.ZeekHashes)
	j.optStr(`,"ssdeep":`, a.SSDeep)
	j.optStr(`,"tlsh":`, a.TLSH)
	j.key(`,"disposition":`)
	j.str(a.Disposition)
	j.optStr(`,"content_id":`, a.ContentID)
	j.key(`,"part":`)
	j.str(a.Part)
	j.key(`,"depth":`)
	j.int(int64(a.Depth))
	j.key(`,"parent":`)
	j.str(a.Parent)
	if a.Encrypted {
		j.key(`,"encrypted":true`)
	}
	if len(a.YARA) > 0 {
		j.key(`,"yara":`)
		j.yara(a.YARA)
	}
	if len(a.Errors) > 0 {
		j.key(`,"errors":`)
		j.strs(a.Errors)
	}
	j.b = append(j.b, '}')
}

func (j *jsonRec) ioc(c *IOC) {
	j.key(`{"type":`)
	j.str(c.Type)
	j.key(`,"value":`)
	j.str(c.Value)
	j.key(`,"source":`)
	j.str(c.Source)
	if len(c.Sources) > 0 {
		j.key(`,"sources":`)
		j.strs(c.Sources)
	}
	if c.Defanged {
		j.key(`,"defanged":true`)
	}
	j.b = append(j.b, '}')
}

func (j *jsonRec) yara(list []YaraMatch) {
	j.b = append(j.b, '[')
	for i := range list {
		m := &list[i]
		if i > 0 {
			j.b = append(j.b, ',')
		}
		j.key(`{"rule":`)
		j.str(m.Rule)
		j.key(`,"namespace":`)
		j.str(m.Namespace)
		if len(m.Tags) > 0 {
			j.key(`,"tags":`)
			j.strs(m.Tags)
		}
		if len(m.Meta) > 0 {
			j.key(`,"meta":{`)
			keys := make([]string, 0, len(m.Meta))
			for k := range m.Meta {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			for i, k := range keys {
				if i > 0 {
					j.b = append(j.b, ',')
				}
				j.str(k)
				j.b = append(j.b, ':')
				j.str(m.Meta[k])
			}
			j.b = append(j.b, '}')
		}
		if len(m.Strings) > 0 {
			j.key(`,"strings":[`)
			for i, s := range m.Strings {
				if i > 0 {
					j.b = append(j.b, ',')
				}
				j.key(`{"identifier":`)
				j.str(s.Identifier)
				j.key(`,"offset":`)
				j.b = strconv.AppendUint(j.b, s.Offset, 10)
				j.key(`,"data":`)
				j.str(s.Data)
				j.b = append(j.b, '}')
			}
			j.b = append(j.b, ']')
		}
		j.b = append(j.b, '}')
	}
	j.b = append(j.b, ']')
}

// appendJSONString appends s as a JSON string exactly as encoding/json
// (without HTML escaping) writes it and then safeJSONWriter escapes it:
// '"', '\\' and C0 controls escaped (\b \f \n \r \t short), invalid
// UTF-8 as \ufffd, U+2028 and U+2029 and the unsafeRune runes as \uXXXX.
// Runs of plain ASCII are skipped eight bytes at a time.
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		for i+8 <= len(s) && plainJSON8(load64(s, i)) {
			i += 8
		}
		if i >= len(s) {
			break
		}
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '\\', '"':
				dst = append(dst, '\\', c)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigit(rune(c)>>4), hexDigit(rune(c)))
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
		case r == '\u2028' || r == '\u2029' || unsafeRune(r):
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', hexDigit(r>>12), hexDigit(r>>8), hexDigit(r>>4), hexDigit(r))
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// load64 is the eight bytes of s at i (i+8 <= len(s)), little-endian.
func load64(s string, i int) uint64 {
	return binary.LittleEndian.Uint64(unsafe.Slice(unsafe.StringData(s[i:]), 8))
}

// plainJSON8 reports whether the eight bytes of x (little-endian) are all
// ASCII from 0x20 up, none '"' or '\\': bytes a JSON string holds as
// they are.
func plainJSON8(x uint64) bool {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	below := (x - ones*0x20) & ^x // a byte < 0x20 sets its high bit
	quote := x ^ (ones * '"')
	bslash := x ^ (ones * '\\')
	zero := (quote-ones)&^quote | (bslash-ones)&^bslash
	return (x|below|zero)&highs == 0
}
