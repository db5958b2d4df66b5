package core

// Limits: what one email may cost. The stored message keeps every byte;
// the record keeps bounded copies and says what it cut (Email.Truncated,
// flag "record_truncated"). MIME structure beyond MaxParts/MaxMIMEDepth is
// not handed to the MIME parser (flag "mime_limit"), and analysis steps
// after the per-email deadline are skipped (flag "analysis_timeout");
// both are explained in Email.Anomalies. The email is always produced.

import (
	"time"
	"unicode/utf8"
	"unsafe"
)

// Defaults of the limits in Options.
const (
	DefaultMaxHeaderValue  = 64 << 10 // bytes kept of one header value
	DefaultMaxHeaderFields = 1000     // header fields kept in raw_headers/headers
	DefaultMaxBodyBytes    = 4 << 20  // bytes kept of body_text and of body_html
	DefaultMaxParts        = 1000     // MIME parts per email, attached messages included
	DefaultMaxMIMEDepth    = 20       // multipart nesting in one message
	DefaultAnalysisTimeout = 60 * time.Second
)

// Flags set by the limits.
const (
	FlagRecordTruncated = "record_truncated" // see Email.Truncated
	FlagMIMELimit       = "mime_limit"       // max_parts or max_mime_depth reached
	FlagAnalysisTimeout = "analysis_timeout" // the per-email deadline passed
)

// Truncation says that the record keeps only part of a value. Field is
// "header:<lower-case name>" (one entry per cut field), "raw_headers"
// (Kept and Original count header fields), "body_text" or "body_html"
// (bytes).
type Truncation struct {
	Field    string `json:"field"`
	Kept     int64  `json:"kept"`
	Original int64  `json:"original"`
}

// withLimitDefaults fills the limits left at zero (or below).
func withLimitDefaults(o Options) Options {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&o.MaxHeaderValue, DefaultMaxHeaderValue)
	def(&o.MaxHeaderFields, DefaultMaxHeaderFields)
	def(&o.MaxBodyBytes, DefaultMaxBodyBytes)
	def(&o.MaxParts, DefaultMaxParts)
	def(&o.MaxMIMEDepth, DefaultMaxMIMEDepth)
	if o.AnalysisTimeout <= 0 {
		o.AnalysisTimeout = DefaultAnalysisTimeout
	}
	return o
}

// clipUTF8 returns at most n bytes of b, cut before a rune that would not
// fit whole (when b is UTF-8 there).
func clipUTF8(b []byte, n int) []byte {
	if len(b) <= n {
		return b
	}
	end := n
	for end > 0 && end > n-utf8.UTFMax+1 && !utf8.RuneStart(b[end]) {
		end--
	}
	if _, size := utf8.DecodeRune(b[end:]); size > 1 && end+size > n {
		return b[:end]
	}
	return b[:n]
}

// clipBuf keeps at most max bytes of what is written to it and counts
// the whole. Once a write is cut nothing more is kept, so the kept bytes
// are always a prefix of the whole.
type clipBuf struct {
	buf  []byte
	orig int64
	full bool
}

func (c *clipBuf) write(p []byte, max int) {
	c.orig += int64(len(p))
	if c.full {
		return
	}
	if room := max - len(c.buf); len(p) > room {
		p = clipUTF8(p, room)
		c.full = true
	}
	c.buf = append(c.buf, p...)
}

// cut returns the Truncation of field when bytes were left out.
func (c *clipBuf) cut(field string) *Truncation {
	if int64(len(c.buf)) < c.orig {
		return &Truncation{Field: field, Kept: int64(len(c.buf)), Original: c.orig}
	}
	return nil
}

// bodyAcc builds one body of the record (body_text or body_html) from
// its inline parts, joined with "\n--\n" as enmime does.
type bodyAcc struct{ clipBuf }

func (b *bodyAcc) add(part []byte, max int) {
	if len(part) == 0 {
		return
	}
	if b.orig > 0 {
		b.write([]byte("\n--\n"), max)
	}
	b.write(part, max)
}

// truncated records a cut value in the record.
func (w *walker) truncated(t Truncation) {
	w.e.Truncated = append(w.e.Truncated, t)
	w.e.Flags = appendUnique(w.e.Flags, FlagRecordTruncated)
}

// anomaly records a limit reached: an anomaly of the email whose code is
// also its flag.
func (w *walker) anomaly(flag, format string, args ...any) {
	w.defect(-1, flag, format, args...)
	w.e.Flags = appendUnique(w.e.Flags, flag)
}

// expired reports whether the analysis deadline has passed; the first
// time it has, the record is flagged with where the analysis stopped.
func (w *walker) expired(where string) bool {
	if w.stopped {
		return true
	}
	if time.Now().Before(w.deadline) {
		return false
	}
	w.stopped = true
	w.anomaly(FlagAnalysisTimeout, "analysis stopped after %s at %s: later parts, attachments, IOCs and YARA scans were skipped",
		w.a.opts.AnalysisTimeout, where)
	return true
}

// result returns the body and, when cut, its Truncation.
func (b *bodyAcc) result(field string) (string, *Truncation) {
	return b.String(), b.cut(field)
}

// String is the body as accumulated. It shares the buffer's bytes
// (copying each body twice more, for the record and for the risk
// checks, was 2 % of the CPU of parse): the buffer is only ever
// appended to, never changed in place. A buffer with much room left (a
// large body of several parts, grown by doubling) is copied, so that the
// record does not keep the room alive.
func (b *bodyAcc) String() string {
	if cap(b.buf)-len(b.buf) > len(b.buf)/4+4096 {
		b.buf = append([]byte(nil), b.buf...)
	}
	return unsafe.String(unsafe.SliceData(b.buf), len(b.buf))
}
