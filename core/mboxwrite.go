package core

import (
	"bytes"
	"io"
	"time"
)

// MboxWriter writes messages as one mboxrd file that MboxReader reads back
// byte for byte: each message gets a From_ line, every line of it that
// starts with "From " (even the obsolete header "From :", for other
// readers) or with ">"s then "From " gets one more ">", and a
// blank line (with the message's own line end) follows it. A message that
// does not end with a line end is the one case mbox cannot keep exactly:
// it gains "\n" (Write says so).
type MboxWriter struct {
	w   io.Writer
	err error
}

// NewMboxWriter writes an mbox to w.
func NewMboxWriter(w io.Writer) *MboxWriter { return &MboxWriter{w: w} }

// mboxDate is the asctime form of From_ lines.
const mboxDate = "Mon Jan _2 15:04:05 2006"

// Write appends one message: sender (the envelope sender, "" for the null
// sender) and t go on its From_ line. exact is false when the message
// gained a line end.
func (m *MboxWriter) Write(sender string, t time.Time, msg []byte) (exact bool, err error) {
	if m.err != nil {
		return false, m.err
	}
	if t.IsZero() {
		t = time.Unix(0, 0)
	}
	var b bytes.Buffer
	b.Grow(len(msg) + len(msg)/64 + 80)
	b.WriteString("From ")
	b.WriteString(mboxSender(sender))
	b.WriteByte(' ')
	b.WriteString(t.UTC().Format(mboxDate))
	b.WriteByte('\n')
	for rest := msg; len(rest) > 0; {
		line := rest
		if i := bytes.IndexByte(rest, '\n'); i >= 0 {
			line = rest[:i+1]
		}
		rest = rest[len(line):]
		if bytes.HasPrefix(line, fromPrefix) || isQuotedFrom(line) {
			b.WriteByte('>')
		}
		b.Write(line)
	}
	exact = true
	switch {
	case bytes.HasSuffix(msg, []byte("\r\n")):
		b.WriteString("\r\n")
	case bytes.HasSuffix(msg, []byte("\n")):
		b.WriteByte('\n')
	default:
		exact = false
		b.WriteString("\n\n")
	}
	if _, m.err = m.w.Write(b.Bytes()); m.err != nil {
		return false, m.err
	}
	return exact, nil
}

// mboxSender is the sender word of a From_ line: printable ASCII without
// spaces (anything else becomes '_'), MAILER-DAEMON for the null sender.
func mboxSender(s string) string {
	if s == "" {
		return "MAILER-DAEMON"
	}
	if len(s) > 256 {
		s = s[:256]
	}
	b := []byte(s)
	for i, c := range b {
		if c <= ' ' || c >= 0x7f {
			b[i] = '_'
		}
	}
	if b[0] == ':' {
		b[0] = '_'
	}
	return string(b)
}
