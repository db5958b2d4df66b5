package core

import (
	"crypto/sha256"
	"encoding/hex"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ZeekSMTP is one email as a line of Zeek's smtp.log in JSON (the `zeek`
// event-log and output format), field names and types as Zeek's SMTP::Info:
// ts (epoch seconds), uid and id.* of the connection, trans_depth (the
// message's 1-based position in its session), the envelope (helo,
// mailfrom, rcptto), the header fields as written (the last of a repeated
// field, as Zeek keeps it; to and cc split into addresses), last_reply,
// path, user_agent, tls, fuids (the files.log lines of its MIME leaves),
// is_webmail. Fields with no value are left out, as Zeek's JSON writer
// leaves out unset fields. ts is the session's start (Zeek's is the
// transaction's). An email read from a file has no connection: no id.*,
// uid is the email id.
type ZeekSMTP struct {
	TS             float64  `json:"ts"`
	UID            string   `json:"uid"`
	OrigH          string   `json:"id.orig_h,omitempty"`
	OrigP          int      `json:"id.orig_p,omitempty"`
	RespH          string   `json:"id.resp_h,omitempty"`
	RespP          int      `json:"id.resp_p,omitempty"`
	TransDepth     int      `json:"trans_depth"`
	Helo           string   `json:"helo,omitempty"`
	MailFrom       string   `json:"mailfrom,omitempty"`
	RcptTo         []string `json:"rcptto,omitempty"`
	Date           string   `json:"date,omitempty"`
	From           string   `json:"from,omitempty"`
	To             []string `json:"to,omitempty"`
	Cc             []string `json:"cc,omitempty"`
	ReplyTo        string   `json:"reply_to,omitempty"`
	MsgID          string   `json:"msg_id,omitempty"`
	InReplyTo      string   `json:"in_reply_to,omitempty"`
	Subject        string   `json:"subject,omitempty"`
	XOriginatingIP string   `json:"x_originating_ip,omitempty"`
	FirstReceived  string   `json:"first_received,omitempty"`
	SecondReceived string   `json:"second_received,omitempty"`
	LastReply      string   `json:"last_reply,omitempty"`
	Path           []string `json:"path,omitempty"`
	UserAgent      string   `json:"user_agent,omitempty"`
	TLS            bool     `json:"tls"`
	FUIDs          []string `json:"fuids,omitempty"`
	IsWebmail      bool     `json:"is_webmail"`
}

// ZeekFile is one MIME leaf of an email as a line of Zeek's files.log in
// JSON (Files::Info): source "SMTP", depth the MIME entity's 1-based
// position in the message, containers counted (as Zeek numbers them),
// is_orig true, the hashes Zeek gives the part (ZeekHashes where they
// differ from ours), mime_type as detected (else as declared), filename,
// seen_bytes the decoded size. Nothing is extracted to disk: no extracted.
type ZeekFile struct {
	TS            float64  `json:"ts"`
	FUID          string   `json:"fuid"`
	UID           string   `json:"uid"`
	OrigH         string   `json:"id.orig_h,omitempty"`
	OrigP         int      `json:"id.orig_p,omitempty"`
	RespH         string   `json:"id.resp_h,omitempty"`
	RespP         int      `json:"id.resp_p,omitempty"`
	Source        string   `json:"source"`
	Depth         int      `json:"depth"`
	Analyzers     []string `json:"analyzers"`
	MimeType      string   `json:"mime_type,omitempty"`
	Filename      string   `json:"filename,omitempty"`
	Duration      float64  `json:"duration"`
	IsOrig        bool     `json:"is_orig"`
	SeenBytes     int64    `json:"seen_bytes"`
	MissingBytes  int64    `json:"missing_bytes"`
	OverflowBytes int64    `json:"overflow_bytes"`
	TimedOut      bool     `json:"timedout"`
	MD5           string   `json:"md5,omitempty"`
	SHA1          string   `json:"sha1,omitempty"`
	SHA256        string   `json:"sha256,omitempty"`
}

// webmailRe is Zeek's policy/protocols/smtp/software.zeek webmail_user_agents.
// Compiled on first use, as ipCandRe.
var webmailRe = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^iPlanet Messenger|^Sun Java\(tm\) System Messenger Express|\(IMP\)|^SquirrelMail|^NeoMail|ZimbraWebClient`)
})

// Zeek returns the email's smtp.log line and its files.log lines.
func Zeek(e *Email) (*ZeekSMTP, []ZeekFile) {
	ts := e.Session.Time
	if ts.IsZero() {
		if t, err := time.Parse(time.RFC3339, e.Date); err == nil {
			ts = t
		}
	}
	var tsf float64
	if !ts.IsZero() {
		tsf = float64(ts.UnixMicro()) / 1e6
	}
	s := &ZeekSMTP{TS: tsf, UID: e.ID, TransDepth: e.Index + 1}
	hasSess := e.HasSession()
	if hasSess {
		si := &e.Session
		s.UID = si.UID
		s.OrigH, s.OrigP, s.RespH, s.RespP = si.SourceIP, si.SourcePort, si.DestIP, si.DestPort
		s.Helo = si.Helo
		s.MailFrom = e.Envelope.MailFrom
		s.RcptTo = e.Envelope.RcptTo
		s.TLS = si.StartTLS
		if r := e.ServerReply; r != nil {
			text := r.Text
			if i := strings.LastIndexByte(text, '\n'); i >= 0 {
				text = text[i+1:]
			}
			s.LastReply = strings.TrimSpace(strconv.Itoa(r.Code) + " " + text)
		}
		if si.DestIP != "" {
			s.Path = append(s.Path, si.DestIP)
		}
		if si.SourceIP != "" {
			s.Path = append(s.Path, si.SourceIP)
		}
	}
	var received []string
	for _, h := range e.RawHeader {
		v := strings.TrimSpace(h.Value)
		switch strings.ToLower(h.Name) {
		case "message-id":
			s.MsgID = v
		case "received":
			received = append(received, v)
			if ip := receivedIP(v); ip != "" && hasSess && (len(s.Path) == 0 || s.Path[len(s.Path)-1] != ip) {
				s.Path = append(s.Path, ip)
			}
		case "in-reply-to":
			s.InReplyTo = v
		case "subject":
			s.Subject = v
		case "from":
			s.From = v
		case "reply-to":
			s.ReplyTo = v
		case "date":
			s.Date = v
		case "to":
			s.To = appendSet(s.To, splitAddrList(v)...)
		case "cc":
			s.Cc = appendSet(s.Cc, splitAddrList(v)...)
		case "x-originating-ip":
			if ips := ipsIn(v, false); len(ips) > 0 {
				s.XOriginatingIP = ips[0]
			}
		case "x-mailer", "user-agent", "x-user-agent":
			s.UserAgent = v
		}
	}
	if n := len(received); n > 0 {
		s.FirstReceived = received[n-1]
		if n > 1 {
			s.SecondReceived = received[n-2]
		}
	}
	s.IsWebmail = webmailRe().MatchString(s.UserAgent)

	parent := map[string]bool{}
	for _, p := range e.Parts {
		if p.Parent != "" {
			parent[p.Parent] = true
		}
	}
	att := map[string]*Attachment{}
	for i := range e.Attachments {
		att[e.Attachments[i].Part] = &e.Attachments[i]
	}
	var files []ZeekFile
	for i, p := range e.Parts {
		if parent[p.Part] || strings.HasPrefix(strings.ToLower(p.ContentType), "multipart/") {
			continue
		}
		f := ZeekFile{TS: tsf, FUID: zeekFUID(e, p.Part), UID: s.UID, OrigH: s.OrigH, OrigP: s.OrigP, RespH: s.RespH, RespP: s.RespP,
			Source: "SMTP", Depth: i + 1, Analyzers: []string{}, MimeType: p.ContentType, Filename: p.Filename,
			IsOrig: true, SeenBytes: p.Size}
		md5, sha1, sha256 := pick(p.ZeekMD5, p.MD5), pick(p.ZeekSHA1, p.SHA1), pick(p.ZeekSHA256, p.SHA256)
		if a := att[p.Part]; a != nil {
			md5, sha1, sha256 = pick(a.ZeekMD5, a.MD5), pick(a.ZeekSHA1, a.SHA1), pick(a.ZeekSHA256, a.SHA256)
			f.MimeType = pick(a.DetectedType, a.ContentType)
		}
		f.MD5, f.SHA1, f.SHA256 = md5, sha1, sha256
		for _, h := range []struct{ name, v string }{{"MD5", md5}, {"SHA1", sha1}, {"SHA256", sha256}} {
			if h.v != "" {
				f.Analyzers = append(f.Analyzers, h.name)
			}
		}
		s.FUIDs = append(s.FUIDs, f.FUID)
		files = append(files, f)
	}
	return s, files
}

// zeekFUID is a stable file id for a part: "F" and 17 hex digits of the
// SHA-256 of the email's global id and the part's path.
func zeekFUID(e *Email, part string) string {
	sum := sha256.Sum256([]byte(GlobalID(e.Sensor, e.ID) + "\x00" + part))
	return "F" + hex.EncodeToString(sum[:])[:17]
}

// receivedIP is the address Zeek's find_address_in_smtp_header takes from
// a Received field: the second IP address in it when there are several,
// else the first.
func receivedIP(v string) string {
	ips := ipsIn(v, true)
	switch {
	case len(ips) > 1:
		return ips[1]
	case len(ips) == 1:
		return ips[0]
	}
	return ""
}

var ipCandRe = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`[0-9]{1,3}(?:\.[0-9]{1,3}){3}|[0-9A-Fa-f:]*::?[0-9A-Fa-f:.]+`)
})

// ipsIn lists the IPv4 and IPv6 addresses written in v, in order. With
// wrapped, as Zeek's extract_ip_addresses with check_wrapping: only those
// between matching brackets, braces, parentheses or spaces (or the whole
// value).
func ipsIn(v string, wrapped bool) []string {
	var out []string
	for _, loc := range ipCandRe().FindAllStringIndex(v, 64) {
		c := v[loc[0]:loc[1]]
		a, err := netip.ParseAddr(c)
		if err != nil || (a.Is6() && strings.Count(c, ":") < 2) {
			continue
		}
		if wrapped && !(loc[0] == 0 && loc[1] == len(v)) {
			if loc[0] == 0 || loc[1] == len(v) {
				continue
			}
			pair := string([]byte{v[loc[0]-1], v[loc[1]]})
			if pair != "[]" && pair != "()" && pair != "{}" && pair != "  " {
				continue
			}
		}
		out = append(out, a.Unmap().String())
	}
	return out
}

func appendSet(list []string, vs ...string) []string {
	for _, v := range vs {
		list = appendNew(list, v)
	}
	return list
}

func pick(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
