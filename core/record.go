package core

import (
	"strings"
	"time"
)

// Email is the one record type of smtpscope: everything known about one
// message, whether it came from an SMTP session (Zeek/ACE session file or a
// pcap) or from a raw RFC 822 file. Its JSON form is the contract shared by
// `smtpscope parse`, the collector's results, the index and the UI; the field
// names below are fixed.
type Email struct {
	// ID is stable for the same input: "<session uid>.<index>" for emails
	// from sessions, "eml-<first 24 hex of sha256>" for raw files.
	ID string `json:"id"`
	// Sensor names the collector that stored the email (its sensor
	// setting); "" from core's analysis alone. Across sensors an email is
	// known as "<sensor>/<id>" (GlobalID).
	Sensor  string      `json:"sensor,omitempty"`
	Session SessionInfo `json:"session"`
	// Index is the 0-based position of the message in its session.
	Index    int      `json:"index"`
	Partial  bool     `json:"partial"`
	Envelope Envelope `json:"envelope"`
	// SessionTried is the envelope the email's session tried that no
	// email of the session carries (Session.TriedWithoutEmail): senders
	// and recipients refused in another transaction, or sent in one that
	// carried no message. Set (maybe empty) for every email of a session;
	// nil for emails read from files and in records stored before it
	// existed.
	SessionTried *TriedEnvelope `json:"session_tried,omitempty"`
	// ServerReply is the reply to end-of-data (or to BDAT LAST); nil when
	// the capture holds no reply (one-sided capture, session cut short).
	ServerReply *Reply `json:"server_reply"`

	Size   int64  `json:"size"`
	MD5    string `json:"md5"`
	SHA1   string `json:"sha1"`
	SHA256 string `json:"sha256"`
	// SSDeep and TLSH are fuzzy hashes of the message bytes (see
	// FuzzyHashes and Options.FuzzyMaxBytes); "" when out of bounds.
	SSDeep string `json:"ssdeep,omitempty"`
	TLSH   string `json:"tlsh,omitempty"`

	Subject   string              `json:"subject"`
	From      string              `json:"from"`
	To        []string            `json:"to"`
	Cc        []string            `json:"cc"`
	ReplyTo   []string            `json:"reply_to,omitempty"`
	Date      string              `json:"date"` // RFC 3339 when the Date header parses, else the header as written
	MessageID string              `json:"message_id"`
	Headers   map[string][]string `json:"headers"`     // lower-cased name -> decoded values, in order
	RawHeader []HeaderField       `json:"raw_headers"` // every header field as written, in order

	BodyText string `json:"body_text,omitempty"`
	BodyHTML string `json:"body_html,omitempty"`
	// BodyOmitted is true when bodies were left out on purpose (omit_body).
	BodyOmitted bool `json:"body_omitted,omitempty"`

	Parts       []Part       `json:"parts"`
	Attachments []Attachment `json:"attachments"`
	IOCs        []IOC        `json:"iocs"`
	YARA        []YaraMatch  `json:"yara,omitempty"`

	// Flags name conditions an analyst should know about, e.g. "no_354"
	// (data seen without the server's go-ahead), "bdat", "depth_limit".
	Flags []string `json:"flags,omitempty"`
	// Risks are the reasons the email looks suspicious (risk.go), each
	// a stable code that is also in Flags and its evidence, in the
	// order of RiskCodes.
	Risks []Risk `json:"risks,omitempty"`
	// Anomalies are what was malformed or limited in the email as a
	// whole, each "code" or "code: detail" (anomaly.go): its header block
	// as written, an mbox From_ line, a limit reached ("mime_limit",
	// "analysis_timeout", also flags) and what was left unanalysed.
	// Defects of one MIME part are in that Part's Anomalies.
	Anomalies []string `json:"anomalies,omitempty"`
	// Truncated lists the values the record keeps only in part (flag
	// "record_truncated"); the stored message has every byte.
	Truncated []Truncation `json:"truncated,omitempty"`
	// Errors lists every per-part or per-step failure; an email is never
	// dropped because one of its parts is broken.
	Errors []string `json:"errors"`

	// Source names where the bytes came from when not from a session
	// (the path of an .eml or Maildir file).
	Source string `json:"source,omitempty"`
	// NoSession is true when the email was read from a file (.eml,
	// Maildir, mbox) and not carried in an SMTP session: it has no
	// envelope, no session info and no transcript (see HasSession).
	NoSession bool `json:"no_session,omitempty"`
}

// HasSession reports whether the email came from an SMTP session (a
// session file or a capture). An email read from a file has none (its
// Session and Envelope are empty, and its empty MAIL FROM is no null
// sender); records stored before NoSession existed are told by their
// empty session uid.
func (e *Email) HasSession() bool { return !e.NoSession && e.Session.UID != "" }

// SessionInfo describes the SMTP session a message was carried in. It is
// the zero value (empty uid) for emails read from raw files.
type SessionInfo struct {
	UID        string `json:"uid"`
	SourceIP   string `json:"source_ip"`
	SourcePort int    `json:"source_port"`
	DestIP     string `json:"dest_ip,omitempty"`
	DestPort   int    `json:"dest_port,omitempty"`
	// CommunityID is the Community ID v1 of the TCP connection
	// (communityid.go), set when both endpoints are known: sessions
	// written with an @resp line (our Zeek script, pcap input), not
	// ACE's files, not emails read from files.
	CommunityID string    `json:"community_id,omitempty"`
	Time        time.Time `json:"time"`
	// TimeSource is "header" when the time came from the session file's
	// header, "mtime" when the file had none and its mtime was used,
	// "capture" for pcap input.
	TimeSource string `json:"time_source,omitempty"`
	Banner     string `json:"banner,omitempty"`
	Helo       string `json:"helo"`
	StartTLS   bool   `json:"starttls"`
	Auth       bool   `json:"auth"`
	AuthMech   string `json:"auth_mechanism,omitempty"`
	File       string `json:"file,omitempty"`
	// Pcap lists the evidence pcaps holding the session's packets (the
	// session file's @pcap lines, written by a live capture with
	// --pcap-dir), by path on the capturing host.
	Pcap      []string `json:"pcap,omitempty"`
	Anomalies []string `json:"anomalies,omitempty"`
}

// Envelope is the SMTP envelope of one transaction.
type Envelope struct {
	MailFrom    string   `json:"mail_from"`               // normalized: no angle brackets, domain lower-cased; "" for <>
	MailFromRaw string   `json:"mail_from_raw,omitempty"` // the argument as sent
	MailParams  []string `json:"mail_params,omitempty"`   // ESMTP parameters (SIZE=, BODY=...)
	RcptTo      []string `json:"rcpt_to"`                 // accepted recipients (2xx, or no reply seen), normalized
	RcptToRaw   []string `json:"rcpt_to_raw,omitempty"`
	// RcptRejected lists recipients the server refused (non-2xx).
	RcptRejected []string `json:"rcpt_rejected,omitempty"`
	// RcptUnconfirmed lists accepted recipients whose reply was never seen.
	RcptUnconfirmed []string `json:"rcpt_unconfirmed,omitempty"`
}

// TriedEnvelope is what a session tried beside its emails' envelopes
// (Email.SessionTried), normalized as Envelope's addresses (NullSender
// for <>).
type TriedEnvelope struct {
	MailFrom []string `json:"mail_from,omitempty"`
	RcptTo   []string `json:"rcpt_to,omitempty"`
}

// NullSender is how the null reverse-path MAIL FROM:<> (bounces, DSNs) is
// written where an address is expected: by Session.Attempted and in the
// index (`mailfrom:<>`).
const NullSender = "<>"

// IsNullSender reports whether the transaction's MAIL FROM was the null
// sender <>: MailFrom is empty then, as it is when no MAIL FROM was seen,
// but MailFromRaw holds what was sent.
func (e *Envelope) IsNullSender() bool {
	return e.MailFrom == "" && strings.TrimSpace(e.MailFromRaw) != ""
}

// Reply is an SMTP server reply; multi-line replies are joined with "\n".
type Reply struct {
	Code int    `json:"code"`
	Text string `json:"text"`
}

// HeaderField is one header field exactly as written (unfolded value).
type HeaderField struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// Part is one node of the MIME tree, flattened in document order.
type Part struct {
	Part        string `json:"part"` // IMAP-style path: "1", "2.1", ...
	ContentType string `json:"content_type"`
	Charset     string `json:"charset,omitempty"`
	Encoding    string `json:"encoding,omitempty"`
	Disposition string `json:"disposition,omitempty"`
	Filename    string `json:"filename,omitempty"`
	// FilenameRaw is the file name as the header gives it (after RFC 2047
	// and RFC 2231 decoding), when Filename differs from it: Filename is
	// its last path component, as mail clients save the file.
	FilenameRaw string `json:"filename_raw,omitempty"`
	ContentID   string `json:"content_id,omitempty"`
	Size        int64  `json:"size"` // decoded size
	Depth       int    `json:"depth"`
	Parent      string `json:"parent,omitempty"`
	// Anomalies are what was malformed in this MIME entity, each "code"
	// or "code: detail" (anomaly.go): its Content-* fields, boundaries,
	// body encoding; for a message/rfc822 part also the header of the
	// message it holds.
	Anomalies []string `json:"anomalies,omitempty"`
	// Body leaves (inline text, not in attachments) carry the hashes of
	// their transfer-decoded bytes, and Zeek's when they differ (see
	// Attachment.ZeekMD5): Zeek logs body parts as files too.
	MD5    string `json:"md5,omitempty"`
	SHA1   string `json:"sha1,omitempty"`
	SHA256 string `json:"sha256,omitempty"`
	ZeekHashes
}

// ZeekHashes are the hashes Zeek's files.log gives a MIME part, when they
// differ from smtpscope's: Zeek's MIME analyzer ends every quoted-printable
// line it decodes with CRLF, the last one before the boundary too (unless
// it is a soft line break), and passes 7bit/8bit/binary lines through
// with CRLF line ends, keeping the last CRLF only outside a multipart.
// Base64 parts always agree.
type ZeekHashes struct {
	ZeekMD5    string `json:"zeek_md5,omitempty"`
	ZeekSHA1   string `json:"zeek_sha1,omitempty"`
	ZeekSHA256 string `json:"zeek_sha256,omitempty"`
}

// Attachment is every non-body part (inline parts with a Content-ID too),
// found recursively, including attached messages and their contents.
type Attachment struct {
	Filename     string `json:"filename"`
	FilenameRaw  string `json:"filename_raw,omitempty"` // as Part.FilenameRaw
	ContentType  string `json:"content_type"`
	DetectedType string `json:"detected_type"`
	Size         int64  `json:"size"`
	MD5          string `json:"md5"`
	SHA1         string `json:"sha1"`
	SHA256       string `json:"sha256"`
	ZeekHashes
	SSDeep      string      `json:"ssdeep,omitempty"` // as Email.SSDeep
	TLSH        string      `json:"tlsh,omitempty"`
	Disposition string      `json:"disposition"`
	ContentID   string      `json:"content_id,omitempty"`
	Part        string      `json:"part"`
	Depth       int         `json:"depth"`
	Parent      string      `json:"parent"`
	Encrypted   bool        `json:"encrypted,omitempty"` // encrypted archive member, or a password-protected office document
	YARA        []YaraMatch `json:"yara,omitempty"`
	Errors      []string    `json:"errors,omitempty"`
}

// IOC is one indicator of compromise, refanged, with where it was found.
type IOC struct {
	Type     string   `json:"type"` // url|domain|ipv4|ipv6|email|md5|sha1|sha256|sha512
	Value    string   `json:"value"`
	Source   string   `json:"source"`            // first place found: "body", "body_html", "header:received", ...
	Sources  []string `json:"sources,omitempty"` // every place, when more than one
	Defanged bool     `json:"defanged,omitempty"`
}

// YaraMatch is one YARA rule hit.
type YaraMatch struct {
	Rule      string            `json:"rule"`
	Namespace string            `json:"namespace"`
	Tags      []string          `json:"tags,omitempty"`
	Meta      map[string]string `json:"meta,omitempty"`
	Strings   []YaraString      `json:"strings,omitempty"`
}

// YaraString is one matched string of a YARA hit (data capped).
type YaraString struct {
	Identifier string `json:"identifier"`
	Offset     uint64 `json:"offset"`
	Data       string `json:"data"`
}

// IOC types.
const (
	IOCURL    = "url"
	IOCDomain = "domain"
	IOCIPv4   = "ipv4"
	IOCIPv6   = "ipv6"
	IOCEmail  = "email"
	IOCMD5    = "md5"
	IOCSHA1   = "sha1"
	IOCSHA256 = "sha256"
	IOCSHA512 = "sha512"
)
