package core

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
)

// mbox: the Unix mailbox format (mboxo and mboxrd). Every message starts
// with an envelope line "From sender date" (the From_ line); a line of a
// message that starts with "From " (mboxo), or with ">"s then "From "
// (mboxrd), was written with one more ">" in front. The blank line a
// writer adds before the next From_ line is not part of the message.
//
// A raw file (.eml, Maildir) that starts with a From_ line is a one-message
// mbox: the analysis reads the message after that line (unquoted), the
// record keeps the hashes and size of the file's bytes and says
// "mbox_from" in its flags.

// FlagMboxFrom marks an email whose bytes start with an mbox From_ line.
const FlagMboxFrom = "mbox_from"

// MaxMboxMessage bounds one message of an mbox file.
const MaxMboxMessage = 512 << 20

var fromPrefix = []byte("From ")

// isFromLine reports whether line is a From_ line: "From " and not the
// obsolete header form "From : address" (RFC 5322 4.5.3 allows white space
// before the colon).
func isFromLine(line []byte) bool {
	rest, ok := bytes.CutPrefix(line, fromPrefix)
	return ok && !bytes.HasPrefix(bytes.TrimLeft(rest, " \t"), []byte(":"))
}

// fromLineLen returns the length of a leading From_ line, with its line
// end; 0 when raw does not start with one.
func fromLineLen(raw []byte) int {
	if !isFromLine(raw) {
		return 0
	}
	if i := bytes.IndexByte(raw, '\n'); i >= 0 {
		return i + 1
	}
	return len(raw)
}

// isQuotedFrom reports whether line is ">From ", ">>From ", ...
func isQuotedFrom(line []byte) bool {
	i := 0
	for i < len(line) && line[i] == '>' {
		i++
	}
	return i > 0 && bytes.HasPrefix(line[i:], fromPrefix)
}

// unquoteFrom removes one ">" from every quoted From line of a message;
// msg itself is returned when it has none.
func unquoteFrom(msg []byte) []byte {
	if !bytes.Contains(msg, []byte(">From ")) {
		return msg
	}
	out := make([]byte, 0, len(msg))
	for len(msg) > 0 {
		line := msg
		if i := bytes.IndexByte(msg, '\n'); i >= 0 {
			line = msg[:i+1]
		}
		msg = msg[len(line):]
		if isQuotedFrom(line) {
			line = line[1:]
		}
		out = append(out, line...)
	}
	return out
}

// MboxReader splits an mbox stream into its messages, one at a time.
type MboxReader struct {
	br      *bufio.Reader
	max     int
	line    int  // lines read
	started bool // the first From_ line was read
	n       int  // messages returned
	done    bool
}

// NewMboxReader reads the mbox r; no message may be larger than max
// bytes (MaxMboxMessage when max <= 0).
func NewMboxReader(r io.Reader, max int) *MboxReader {
	if max <= 0 {
		max = MaxMboxMessage
	}
	return &MboxReader{br: bufio.NewReaderSize(r, 64<<10), max: max}
}

// Next returns the next message (From_ line removed, quoted From lines
// unquoted) and io.EOF after the last one. Any other error ends the
// reading and names the message and line.
func (m *MboxReader) Next() ([]byte, error) {
	if m.done {
		return nil, io.EOF
	}
	if !m.started {
		if err := m.start(); err != nil {
			m.done = true
			return nil, err
		}
	}
	var msg []byte
	for {
		line, err := m.readLine()
		if isFromLine(line) {
			return m.emit(msg), nil
		}
		if isQuotedFrom(line) {
			line = line[1:]
		}
		if len(msg)+len(line) > m.max {
			m.done = true
			return nil, fmt.Errorf("mbox message %d (line %d): larger than %d bytes", m.n, m.line, m.max)
		}
		msg = append(msg, line...)
		if err == io.EOF {
			m.done = true
			return m.emit(msg), nil
		}
		if err != nil {
			m.done = true
			return nil, fmt.Errorf("mbox message %d (line %d): %w", m.n, m.line, err)
		}
	}
}

// start skips blank lines (and a UTF-8 byte order mark) before the first
// From_ line.
func (m *MboxReader) start() error {
	for {
		line, err := m.readLine()
		if m.line == 1 {
			line = bytes.TrimPrefix(line, []byte("\xef\xbb\xbf"))
		}
		if isFromLine(line) {
			m.started = true
			return nil
		}
		if len(bytes.TrimSpace(line)) > 0 {
			return fmt.Errorf("not an mbox: line %d is %q, not a \"From \" line", m.line, clip(line, 40))
		}
		if err == io.EOF {
			return errors.New("not an mbox: no \"From \" line")
		}
		if err != nil {
			return err
		}
	}
}

// emit drops the blank line that separates a message from the next From_
// line and counts the message.
func (m *MboxReader) emit(msg []byte) []byte {
	switch {
	case bytes.HasSuffix(msg, []byte("\r\n\r\n")):
		msg = msg[:len(msg)-2]
	case bytes.HasSuffix(msg, []byte("\n\n")):
		msg = msg[:len(msg)-1]
	}
	m.n++
	return msg
}

// readLine returns the next line with its line end (a copy, bounded by
// the message limit).
func (m *MboxReader) readLine() ([]byte, error) {
	var line []byte
	for {
		chunk, err := m.br.ReadSlice('\n')
		line = append(line, chunk...)
		if err == bufio.ErrBufferFull && len(line) <= m.max {
			continue
		}
		if len(chunk) > 0 || err == nil {
			m.line++
		}
		if err == bufio.ErrBufferFull {
			err = nil // over the limit: Next reports it
		}
		return line, err
	}
}

// skipFromLine returns the message after a leading From_ line (quoted
// From lines unquoted) and flags the record; raw itself when there is none.
func (w *walker) skipFromLine(raw []byte) []byte {
	n := fromLineLen(raw)
	if n == 0 {
		return raw
	}
	w.e.Flags = appendUnique(w.e.Flags, FlagMboxFrom)
	w.defect(-1, AnomalyMboxFrom, "%q", clip(bytes.TrimRight(raw[:n], "\r\n"), 80))
	return unquoteFrom(raw[n:])
}
