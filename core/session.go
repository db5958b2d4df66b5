package core

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"math"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Session is one parsed SMTP session file: who talked, the transcript
// (without message bytes) and every message carried, with exact bytes.
type Session struct {
	Info     SessionInfo
	Events   []Event
	Messages []*Message
}

// Event is one line of the transcript. Message data lines are folded into
// a single EventData event per message.
type Event struct {
	Line  int       `json:"line"` // 1-based line in the session file
	Kind  EventKind `json:"kind"`
	Cmd   string    `json:"cmd,omitempty"`  // command (upper case) or the command a reply answers
	Arg   string    `json:"arg,omitempty"`  // command argument (AUTH credentials masked)
	Code  int       `json:"code,omitempty"` // reply code
	Text  string    `json:"text,omitempty"` // reply text, or a note
	Msg   int       `json:"msg"`            // index of the message this event belongs to, -1 if none
	Bytes int64     `json:"bytes,omitempty"`
}

// EventKind says who produced a transcript line.
type EventKind string

// Transcript event kinds.
const (
	EventClient  EventKind = "client"
	EventServer  EventKind = "server"
	EventData    EventKind = "data"
	EventAnomaly EventKind = "anomaly"
)

// Message is one message found in a session, before MIME analysis.
type Message struct {
	Index    int
	Data     []byte // exactly as the server received it (CRLF line ends)
	Envelope Envelope
	Reply    *Reply
	Partial  bool
	Flags    []string
	// Errors say what is wrong with the message as captured (e.g. BDAT
	// chunks the file does not carry).
	Errors []string
}

// Message flags.
const (
	FlagNo354      = "no_354"       // data seen with no 354 go-ahead (one-sided capture)
	FlagBDAT       = "bdat"         // delivered with BDAT (CHUNKING)
	FlagAborted    = "aborted"      // RSET or a new MAIL arrived before the message ended
	FlagTruncated  = "truncated"    // the session ended inside the message
	FlagGap        = "gap"          // the capture lost bytes inside the message
	FlagNoMailFrom = "no_mail_from" // the message had no MAIL FROM in its transaction
	FlagNoData     = "no_data"      // a BDAT chunk's bytes are not in the session file
)

// SessionError is a session file that cannot be parsed at all.
type SessionError struct {
	File string
	Line int
	Msg  string
}

func (e *SessionError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.File, e.Msg)
}

// ParseSessionFile parses the session file at path. The session uid is the
// file name unless the file says otherwise; with no header, the file's
// mtime is the session time.
func ParseSessionFile(path string) (*Session, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if st.IsDir() {
		return nil, &SessionError{File: path, Msg: "is a directory"}
	}
	s, err := parseSession(f, path, st.ModTime(), st.Size())
	if s != nil {
		s.Info.File = path
	}
	return s, err
}

// ParseSession parses a session file read from r. name is used in errors
// and, without an @uid line, as the uid (its base name); either is escaped
// by EscapeID. mtime is the time used when the file has no header.
func ParseSession(r io.Reader, name string, mtime time.Time) (*Session, error) {
	return parseSession(r, name, mtime, 0)
}

// ParseSessionSize is ParseSession for an input of size bytes (a hint:
// 0 for unknown). A large message is then collected in one buffer sized
// by what is left of the input instead of being assembled from blocks
// at the end, which would hold it twice.
func ParseSessionSize(r io.Reader, name string, mtime time.Time, size int64) (*Session, error) {
	return parseSession(r, name, mtime, max(size, 0))
}

// ParseSessionEnvelope is ParseSession keeping no message bytes: every
// Message.Data is nil (the sizes in events are counted all the same), so
// reading a session costs its protocol lines, not its messages. It is
// for what needs the session's commands, replies and envelopes alone
// (Attempted, TriedWithoutEmail) long after its emails were analysed.
func ParseSessionEnvelope(r io.Reader, name string, mtime time.Time) (*Session, error) {
	return parseSessionWith(r, name, mtime, 0, true)
}

// parseSession parses with the input's size, when known, as a hint for
// sizing message buffers.
func parseSession(r io.Reader, name string, mtime time.Time, size int64) (*Session, error) {
	return parseSessionWith(r, name, mtime, size, false)
}

// parseSessionWith parses; discard drops message bytes as they come.
func parseSessionWith(r io.Reader, name string, mtime time.Time, size int64, discard bool) (*Session, error) {
	// The 64 KiB readers are reused from file to file (allocating and
	// clearing one per file was 1 % of the CPU of parse); nothing read
	// from one outlives the parse (lines are copied where they are kept).
	br := sessionReaders.Get().(*bufio.Reader)
	br.Reset(r)
	defer func() {
		br.Reset(nil)
		sessionReaders.Put(br)
	}()
	p := &sessionParser{
		name:    name,
		br:      br,
		s:       &Session{},
		size:    size,
		discard: discard,
	}
	p.s.Info.UID = EscapeID(strings.TrimSuffix(filepath.Base(name), ".session"))
	if err := p.run(mtime); err != nil {
		return nil, err
	}
	in := &p.s.Info
	in.CommunityID = CommunityID(in.SourceIP, in.SourcePort, in.DestIP, in.DestPort)
	return p.s, nil
}

var sessionReaders = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 64<<10) }}

type rcptEntry struct {
	addr, raw string
	status    int // 0 unknown, 1 accepted, -1 rejected
}

type transaction struct {
	mailFrom, mailFromRaw string
	params                []string
	hasMail               bool
	mailRefused           bool
	rcpts                 []*rcptEntry
	// prev is the transaction that was open when this MAIL was sent: if
	// the server refuses this MAIL (503 nested MAIL), prev goes on.
	prev *transaction
}

type pendingReq struct {
	cmd  string
	tx   *transaction // MAIL: the transaction it opened
	rcpt *rcptEntry
	msg  *msgBuilder
	last bool // BDAT ... LAST
}

type msgBuilder struct {
	m     *Message
	tx    *transaction
	data  chunkBuffer
	done  bool
	event int // index of its EventData event
	// BDAT chunk bytes declared but not in the file, and their chunks
	missing, missingChunks int64
}

type sessionParser struct {
	name string
	br   *bufio.Reader
	s    *Session
	line int
	crlf bool
	buf  []byte

	tx       *transaction
	pending  []pendingReq
	lastRep  *replyState
	cur      *msgBuilder // message currently receiving data (data mode or BDAT)
	dataMode bool
	msgs     []*msgBuilder
	protocol int // protocol lines seen
	garbage  int // non-protocol lines outside data
	authMask bool
	size     int64 // input size when known (0: unknown)
	consumed int64 // bytes read so far
	bdatLast bool  // the last BDAT command had LAST: finish after its chunk
	// bdatWant is the size of the last BDAT chunk while its @raw block
	// has not been read (bdatMsg is its message).
	bdatWant int64
	bdatMsg  *msgBuilder
	discard  bool // keep no message bytes (ParseSessionEnvelope)
}

type replyState struct {
	cmd   string
	code  int
	open  bool // last line was a continuation ("code-text")
	reply *Reply
	ev    int
}

// readLine returns the next line without its LF (and without CR in a
// CRLF-terminated file). The slice is valid until the next call and
// until the next read from p.br (a line the reader's buffer holds whole
// is not copied).
func (p *sessionParser) readLine() ([]byte, bool, error) {
	p.buf = p.buf[:0]
	for {
		chunk, err := p.br.ReadSlice('\n')
		p.consumed += int64(len(chunk))
		l := chunk
		if err != nil || len(p.buf) > 0 {
			p.buf = append(p.buf, chunk...)
			l = p.buf
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err == io.EOF {
			if len(l) == 0 {
				return nil, false, io.EOF
			}
			p.line++
			return l, false, nil // last line without LF
		}
		if err != nil {
			return nil, false, err
		}
		p.line++
		l = l[:len(l)-1]
		if p.crlf && len(l) > 0 && l[len(l)-1] == '\r' {
			l = l[:len(l)-1]
		}
		return l, true, nil
	}
}

func (p *sessionParser) fail(line int, format string, args ...any) error {
	return &SessionError{File: p.name, Line: line, Msg: fmt.Sprintf(format, args...)}
}

func (p *sessionParser) anomaly(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if len(p.s.Info.Anomalies) < 100 {
		p.s.Info.Anomalies = append(p.s.Info.Anomalies, fmt.Sprintf("line %d: %s", p.line, msg))
	}
	p.s.Events = append(p.s.Events, Event{Line: p.line, Kind: EventAnomaly, Text: msg, Msg: -1})
}

func isProtoLine(l []byte) bool {
	return len(l) >= 2 && (l[0] == '>' || l[0] == '<') && l[1] == ' '
}

func (p *sessionParser) run(mtime time.Time) error {
	first, _, err := p.readLine()
	if err == io.EOF {
		return p.fail(0, "empty session file")
	}
	if err != nil {
		return p.fail(0, "read: %v", err)
	}
	if bytes.HasSuffix(first, []byte{'\r'}) {
		p.crlf = true
		first = first[:len(first)-1]
	}
	var pendingLine []byte
	switch {
	case isProtoLine(first):
		p.s.Info.Time = mtime.UTC()
		p.s.Info.TimeSource = "mtime"
		pendingLine = append([]byte(nil), first...)
	default:
		if err := p.header(first); err != nil {
			return err
		}
	}
	// Extension lines (@key value) directly after the header.
	for {
		var l []byte
		if pendingLine != nil {
			l, pendingLine = pendingLine, nil
		} else {
			var err error
			l, _, err = p.readLine()
			if err == io.EOF {
				return p.finish()
			}
			if err != nil {
				return p.fail(p.line, "read: %v", err)
			}
		}
		if len(l) > 0 && l[0] == '@' && p.protocol == 0 && !bytes.HasPrefix(l, []byte("@raw ")) && !bytes.HasPrefix(l, []byte("@gap ")) {
			p.extension(string(l[1:]))
			continue
		}
		if err := p.body(l); err != nil {
			return err
		}
		break
	}
	for {
		l, _, err := p.readLine()
		if err == io.EOF {
			break
		}
		if err != nil {
			return p.fail(p.line, "read: %v", err)
		}
		if err := p.body(l); err != nil {
			return err
		}
	}
	return p.finish()
}

// header parses the real form (ip:port/tcp, epoch) or the documented form
// (ip, port, epoch, empty line).
func (p *sessionParser) header(first []byte) error {
	if !printable(first) {
		return p.fail(1, "not a session file: line 1 is neither a header (ip:port/tcp) nor an SMTP line")
	}
	l1 := strings.TrimSpace(string(first))
	if ip, port, ok := splitHostPort(l1); ok {
		l2, _, err := p.readLine()
		if err != nil {
			return p.fail(1, "truncated header: no epoch line after %q", l1)
		}
		t, ok := parseEpoch(strings.TrimSpace(string(l2)))
		if !ok {
			return p.fail(2, "bad header: line 2 %q is not an epoch time", clip(l2, 40))
		}
		p.s.Info.SourceIP, p.s.Info.SourcePort = ip, port
		p.s.Info.Time, p.s.Info.TimeSource = t, "header"
		return nil
	}
	if a, err := netip.ParseAddr(strings.Trim(l1, "[]")); err == nil {
		l2, _, err := p.readLine()
		if err != nil {
			return p.fail(1, "truncated header: no port line after address %q", l1)
		}
		port, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(string(l2)), "/tcp")))
		if err != nil || port < 0 || port > 65535 {
			return p.fail(2, "bad header: line 2 %q is not a port", clip(l2, 40))
		}
		l3, _, err := p.readLine()
		if err != nil {
			return p.fail(2, "truncated header: no epoch line")
		}
		t, ok := parseEpoch(strings.TrimSpace(string(l3)))
		if !ok {
			return p.fail(3, "bad header: line 3 %q is not an epoch time", clip(l3, 40))
		}
		l4, _, err := p.readLine()
		if err == nil && len(bytes.TrimSpace(l4)) != 0 {
			// Tolerate a missing blank line: the line is already body.
			if err := p.body(append([]byte(nil), l4...)); err != nil {
				return err
			}
		}
		p.s.Info.SourceIP, p.s.Info.SourcePort = a.Unmap().String(), port
		p.s.Info.Time, p.s.Info.TimeSource = t, "header"
		return nil
	}
	return p.fail(1, "not a session file: line 1 %q is neither a header (ip:port/tcp) nor an SMTP line", clip(first, 60))
}

func (p *sessionParser) extension(kv string) {
	k, v, _ := strings.Cut(kv, " ")
	v = strings.TrimSpace(v)
	switch k {
	case "resp":
		if ip, port, ok := splitHostPort(v); ok {
			p.s.Info.DestIP, p.s.Info.DestPort = ip, port
		} else {
			p.anomaly("bad @resp value %q", v)
		}
	case "uid":
		if v != "" {
			p.s.Info.UID = EscapeID(v)
		}
	case "ts":
		if t, ok := parseEpoch(v); ok {
			p.s.Info.Time = t
			if p.s.Info.TimeSource == "" || p.s.Info.TimeSource == "mtime" {
				p.s.Info.TimeSource = "header"
			}
		} else {
			p.anomaly("bad @ts value %q", v)
		}
	case "pcap":
		// An evidence pcap holding the session's packets (capture
		// --pcap-dir), one line per file.
		if v != "" && len(p.s.Info.Pcap) < 1000 {
			p.s.Info.Pcap = append(p.s.Info.Pcap, v)
		}
	case "cut":
		// The capture wrote the session before its TCP connection
		// ended (a limit, an idle timeout, the end of the capture, a
		// stop): what follows may be unfinished.
		p.anomaly("capture cut: session written before its connection ended (%s)", v)
	default:
		// Unknown extensions are kept as anomalies so nothing is silent.
		p.anomaly("unknown extension @%s", k)
	}
}

// splitHostPort splits "ip:port/tcp" (or "[v6]:port") on the last colon.
func splitHostPort(s string) (string, int, bool) {
	s = strings.TrimSuffix(strings.TrimSuffix(s, "/tcp"), "/udp")
	i := strings.LastIndexByte(s, ':')
	if i <= 0 {
		return "", 0, false
	}
	host, ps := strings.Trim(s[:i], "[]"), s[i+1:]
	port, err := strconv.Atoi(ps)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, false
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return "", 0, false
	}
	return a.Unmap().String(), port, true
}

func parseEpoch(s string) (time.Time, bool) {
	if s == "" {
		return time.Time{}, false
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f < 0 || f > 1e11 || math.IsNaN(f) {
		return time.Time{}, false
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(math.Round(frac*1e6))*1000).UTC(), true
}

func printable(b []byte) bool {
	for _, c := range b {
		if c < 0x20 && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

func clip(b []byte, n int) string {
	if len(b) > n {
		b = b[:n]
	}
	return string(b)
}

// body handles one line after the header.
func (p *sessionParser) body(l []byte) error {
	if p.dataMode {
		return p.dataLine(l)
	}
	if bytes.HasPrefix(l, []byte("@raw ")) || bytes.HasPrefix(l, []byte("@gap ")) {
		if p.cur == nil {
			if d := p.pendingData(); d >= 0 {
				// One-sided capture: the message after DATA, with no 354
				// seen, written as a raw block (or starting with a gap).
				p.startData(&p.pending[d], true)
				p.pending = append(p.pending[:d], p.pending[d+1:]...)
				return p.dataLine(l)
			}
		}
		if l[1] == 'r' {
			return p.rawBlock(l, false)
		}
		if p.gap(l) {
			return nil
		}
	}
	if isProtoLine(l) || (len(l) == 1 && (l[0] == '>' || l[0] == '<')) {
		p.protocol++
		p.chunkMissing(0)
		if p.bdatLast && p.cur != nil {
			p.finishBDAT() // BDAT LAST with no chunk bytes in the file
		}
		if l[0] == '>' {
			p.command(l)
		} else {
			p.reply(l)
		}
		return nil
	}
	// A non-protocol line outside data mode.
	if d := p.pendingData(); d >= 0 {
		// One-sided capture: data follows DATA with no 354 reply seen.
		p.startData(&p.pending[d], true)
		p.pending = append(p.pending[:d], p.pending[d+1:]...)
		return p.dataLine(l)
	}
	if len(bytes.TrimSpace(l)) == 0 {
		return nil
	}
	p.garbage++
	if p.protocol == 0 && p.garbage >= 3 {
		return p.fail(p.line, "not a session file: no SMTP command or reply lines (line %d is %q)", p.line, clip(l, 40))
	}
	if !printable(l) && p.protocol == 0 {
		return p.fail(p.line, "not a session file: binary data outside a message")
	}
	p.anomaly("unexpected line outside a message: %q", clip(l, 80))
	return nil
}

func (p *sessionParser) pendingData() int {
	for i, r := range p.pending {
		if r.cmd == "DATA" {
			return i
		}
	}
	return -1
}

// rawBlock reads an "@raw N" block: N bytes then LF.
func (p *sessionParser) rawBlock(l []byte, inData bool) error {
	n, err := strconv.ParseInt(strings.TrimSpace(string(l[5:])), 10, 64)
	if err != nil || n < 0 {
		if inData {
			return p.appendDataLine(l)
		}
		p.anomaly("bad @raw line %q", clip(l, 40))
		return nil
	}
	start := p.line
	mb := p.cur
	if mb == nil {
		// BDAT chunk (or raw data) with no BDAT seen: keep it anyway.
		mb = p.newMessage(nil)
		mb.m.Flags = append(mb.m.Flags, FlagBDAT)
		p.cur = mb
		p.anomaly("@raw block with no BDAT or DATA before it")
	}
	if p.size > 0 {
		mb.data.expect(n, p.size-p.consumed)
	}
	got, err := mb.data.ReadFrom(io.LimitReader(p.br, n))
	p.consumed += got
	if !inData {
		p.chunkMissing(got)
	}
	p.s.Events[mb.event].Bytes = int64(mb.data.Len())
	if err != nil || got < n {
		mb.m.Partial = true
		addFlag(mb.m, FlagTruncated)
		p.anomaly("@raw block at line %d truncated: %d of %d bytes", start, got, n)
		return nil
	}
	// Count lines inside the block so later line numbers stay right.
	// (The block's bytes are not line-structured; we just skip the LF.)
	c, err := p.br.ReadByte()
	if err == nil && c != '\n' {
		_ = p.br.UnreadByte()
		p.anomaly("@raw block at line %d not followed by a newline", start)
	}
	if !inData && p.bdatLast {
		p.finishBDAT()
	}
	return nil
}

func addFlag(m *Message, f string) {
	for _, x := range m.Flags {
		if x == f {
			return
		}
	}
	m.Flags = append(m.Flags, f)
}

func (p *sessionParser) dataLine(l []byte) error {
	if len(l) == 5 && string(l) == "> . ." {
		p.endData()
		return nil
	}
	if bytes.HasPrefix(l, []byte("@raw ")) {
		return p.rawBlock(l, true)
	}
	if bytes.HasPrefix(l, []byte("@gap ")) && p.gap(l) {
		return nil
	}
	return p.appendDataLine(l)
}

// gap handles "@gap N": the capture lost N bytes here. The message it cuts
// is flagged partial; no bytes are invented. It reports false when the line
// is not a well-formed gap line (in data mode it is then message text).
func (p *sessionParser) gap(l []byte) bool {
	n, err := strconv.ParseInt(strings.TrimSpace(string(l[5:])), 10, 64)
	if err != nil || n < 0 {
		return false
	}
	if p.cur != nil {
		p.cur.m.Partial = true
		addFlag(p.cur.m, FlagGap)
	}
	if !p.dataMode {
		p.bdatWant = max(p.bdatWant-n, 0) // lost, not missing from the file
	}
	p.anomaly("capture gap: %d bytes missing", n)
	return true
}

func (p *sessionParser) appendDataLine(l []byte) error {
	p.cur.data.Write(l)
	p.cur.data.Write(crlf)
	p.s.Events[p.cur.event].Bytes = int64(p.cur.data.Len())
	return nil
}

var crlf = []byte("\r\n")

func (p *sessionParser) newMessage(tx *transaction) *msgBuilder {
	if tx == nil {
		tx = p.tx
	}
	if tx == nil {
		tx = &transaction{}
		p.tx = tx
	}
	mb := &msgBuilder{m: &Message{Index: len(p.msgs)}, tx: tx}
	mb.data.discard = p.discard
	if p.size > 0 {
		// The rest of the file bounds the message: a large message then
		// grows in one buffer instead of being assembled from chunks.
		mb.data.hint = p.size - p.consumed
	}
	if !tx.hasMail {
		mb.m.Flags = append(mb.m.Flags, FlagNoMailFrom)
	}
	mb.event = len(p.s.Events)
	p.s.Events = append(p.s.Events, Event{Line: p.line + 1, Kind: EventData, Msg: mb.m.Index})
	p.msgs = append(p.msgs, mb)
	return mb
}

// startData enters data mode for a DATA request.
func (p *sessionParser) startData(r *pendingReq, no354 bool) {
	p.abortCurrent()
	mb := p.newMessage(nil)
	if no354 {
		mb.m.Flags = append(mb.m.Flags, FlagNo354)
		p.s.Events[mb.event].Line = p.line
	}
	p.cur = mb
	p.dataMode = true
}

func (p *sessionParser) endData() {
	mb := p.cur
	p.dataMode = false
	p.cur = nil
	mb.done = true
	p.s.Events = append(p.s.Events, Event{Line: p.line, Kind: EventClient, Cmd: ".", Arg: ".", Msg: mb.m.Index})
	p.pending = append(p.pending, pendingReq{cmd: ".", msg: mb})
	p.tx = nil // the transaction ends with the message
}

// abortCurrent closes a message that was cut short (RSET, new MAIL, a new
// DATA while one is open).
func (p *sessionParser) abortCurrent() {
	if p.cur == nil {
		return
	}
	p.cur.m.Partial = true
	addFlag(p.cur.m, FlagAborted)
	p.cur.done = true
	p.cur = nil
	p.dataMode = false
}

// splitProtoLine splits "> CMD rest" or "< CMD rest" into the upper-cased
// command and the rest.
func splitProtoLine(l []byte) (cmd, rest string) {
	if len(l) > 2 {
		rest = string(l[2:])
	}
	cmd, rest, _ = strings.Cut(rest, " ")
	return strings.ToUpper(cmd), rest
}

func (p *sessionParser) command(l []byte) {
	cmd, arg := splitProtoLine(l)
	ev := Event{Line: p.line, Kind: EventClient, Cmd: cmd, Arg: arg, Msg: -1}
	req := pendingReq{cmd: cmd}
	switch cmd {
	case "EHLO", "HELO", "LHLO":
		p.s.Info.Helo = strings.TrimSpace(arg)
	case "MAIL":
		raw, addr, params := parsePath(arg, "FROM")
		tx := &transaction{mailFrom: addr, mailFromRaw: raw, params: params, hasMail: true}
		if p.tx != nil && p.tx.hasMail && !p.tx.mailRefused && p.cur == nil {
			tx.prev = p.tx // maybe a nested MAIL; its reply decides
		}
		p.abortCurrent()
		p.tx = tx
		req.tx = tx
	case "RCPT":
		raw, addr, _ := parsePath(arg, "TO")
		if p.tx == nil {
			p.tx = &transaction{}
		}
		re := &rcptEntry{addr: addr, raw: raw}
		p.tx.rcpts = append(p.tx.rcpts, re)
		req.rcpt = re
	case "RSET":
		p.abortCurrent()
		p.tx = nil
	case "STARTTLS":
		p.s.Info.StartTLS = true
	case "AUTH":
		p.s.Info.Auth = true
		mech, _, _ := strings.Cut(strings.TrimSpace(arg), " ")
		p.s.Info.AuthMech = strings.ToUpper(mech)
		if strings.TrimSpace(arg) != mech {
			ev.Arg = mech + " ****"
		}
		p.authMask = true
	case "AUTH_ANSWER":
		ev.Arg = "****"
	case "BDAT":
		f := strings.Fields(arg)
		last := len(f) > 1 && strings.EqualFold(f[len(f)-1], "LAST")
		if !validBDAT(f) {
			// Not "BDAT <size> [LAST]": servers refuse it and read no
			// chunk, so it opens no message.
			p.anomaly("malformed BDAT %q", clip([]byte(arg), 40))
			break
		}
		if p.cur == nil {
			mb := p.newMessage(nil)
			mb.m.Flags = append(mb.m.Flags, FlagBDAT)
			p.cur = mb
		}
		ev.Msg = p.cur.m.Index
		req.msg = p.cur
		req.last = last
		p.s.Events = append(p.s.Events, ev)
		p.pending = append(p.pending, req)
		// The chunk bytes follow as an @raw block; the message is complete
		// once the LAST chunk is read (or at the next line if none follows).
		p.bdatLast = last
		n, _ := strconv.ParseInt(firstField(f), 10, 64)
		p.bdatWant, p.bdatMsg = n, p.cur
		if n == 0 && last {
			p.finishBDAT()
		}
		return
	case ".":
		// "> . ." outside data mode: a message with no data seen.
		if d := p.pendingData(); d >= 0 {
			p.startData(&p.pending[d], true)
			p.pending = append(p.pending[:d], p.pending[d+1:]...)
			p.endData()
			return
		}
		p.anomaly("end of data with no DATA command")
		return
	default:
		if p.authMask && !isKnownCommand(cmd) {
			// Base64 exchange lines after AUTH (credentials): mask.
			ev.Cmd, ev.Arg = "AUTH_ANSWER", "****"
		}
	}
	if cmd != "AUTH" && cmd != "AUTH_ANSWER" && isKnownCommand(cmd) {
		p.authMask = false
	}
	p.s.Events = append(p.s.Events, ev)
	p.pending = append(p.pending, req)
}

func validBDAT(f []string) bool {
	if len(f) == 0 || len(f) > 2 || len(f) == 2 && !strings.EqualFold(f[1], "LAST") {
		return false
	}
	for _, c := range f[0] {
		if c < '0' || c > '9' {
			return false
		}
	}
	_, err := strconv.ParseInt(f[0], 10, 64)
	return err == nil
}

func firstField(f []string) string {
	if len(f) == 0 {
		return ""
	}
	return f[0]
}

// chunkMissing is called when the last BDAT's chunk has been read (got
// bytes of it) or cannot follow any more (got 0): the bytes it lacks are
// counted against its message.
func (p *sessionParser) chunkMissing(got int64) {
	if p.bdatWant > got && p.bdatMsg != nil {
		p.bdatMsg.missing += p.bdatWant - got
		p.bdatMsg.missingChunks++
	}
	p.bdatWant, p.bdatMsg = 0, nil
}

// noData marks a message whose BDAT chunks the session file lacks (ACE's
// Zeek script cannot record BDAT data): partial, never a complete message
// that never existed.
func noData(mb *msgBuilder) {
	if mb.missing == 0 {
		return
	}
	mb.m.Partial = true
	addFlag(mb.m, FlagNoData)
	mb.m.Errors = append(mb.m.Errors, fmt.Sprintf("BDAT: %d bytes of %d chunk(s) are not in the session file "+
		"(the capture did not record the chunk data; ACE's Zeek script cannot)", mb.missing, mb.missingChunks))
}

// finishBDAT completes the message of a BDAT ... LAST.
func (p *sessionParser) finishBDAT() {
	p.bdatLast = false
	if p.cur == nil {
		return
	}
	p.cur.done = true
	p.cur = nil
	p.tx = nil
}

var knownCommands = map[string]bool{
	"HELO": true, "EHLO": true, "LHLO": true, "MAIL": true, "RCPT": true, "DATA": true, "BDAT": true,
	"RSET": true, "VRFY": true, "EXPN": true, "HELP": true, "NOOP": true, "QUIT": true, "STARTTLS": true,
	"AUTH": true, "ETRN": true, "TURN": true, "ATRN": true, "SIZE": true, "XCLIENT": true, "XFORWARD": true,
	"SEND": true, "SOML": true, "SAML": true, "BURL": true, "X-EXPS": true, "X-LINK2STATE": true,
}

func isKnownCommand(c string) bool { return knownCommands[c] }

// reply handles "< CMD code text" (or "code-text" for a continuation line).
func (p *sessionParser) reply(l []byte) {
	cmd, rest := splitProtoLine(l)
	codeStr, text, _ := strings.Cut(rest, " ")
	cont := false
	if i := strings.IndexByte(codeStr, '-'); i == 3 {
		// Our continuation form: "250-text".
		text = codeStr[4:] + joinSpace(text)
		codeStr = codeStr[:3]
		cont = true
	}
	code, err := strconv.Atoi(codeStr)
	if err != nil || code < 100 || code > 999 {
		p.anomaly("malformed reply %q", clip(l, 80))
		return
	}
	// Continuation of an open multi-line reply (our "code-" form).
	if lr := p.lastRep; lr != nil && lr.open && lr.cmd == cmd {
		p.continueReply(lr, text, cont)
		return
	}
	// Find the request this reply answers: the oldest pending with the
	// same command.
	k := -1
	for i, r := range p.pending {
		if r.cmd == cmd {
			k = i
			break
		}
	}
	if k < 0 {
		// Nothing pending for this command: in ACE's format a multi-line
		// reply repeats its code on every line.
		if lr := p.lastRep; lr != nil && lr.cmd == cmd && lr.code == code {
			p.continueReply(lr, text, cont)
			return
		}
		if cmd == ">" && p.s.Info.Banner == "" {
			p.s.Info.Banner = text
			p.newReply(cmd, code, text, cont, -1)
			return
		}
		if len(p.pending) > 0 && !isKnownCommand(cmd) && cmd != "." && cmd != ">" {
			// A reply labelled with an odd command: answer the oldest.
			k = 0
		} else {
			p.newReply(cmd, code, text, cont, -1)
			p.anomaly("reply %d to %s with no pending command", code, cmd)
			return
		}
	}
	// Replies come in order: requests before this one got no reply in
	// the capture (their status stays unknown).
	req := p.pending[k]
	p.pending = p.pending[k+1:]
	msgIdx := -1
	if req.msg != nil {
		msgIdx = req.msg.m.Index
	}
	rs := p.newReply(cmd, code, text, cont, msgIdx)
	p.apply(req, code, rs.reply)
}

func joinSpace(s string) string {
	if s == "" {
		return ""
	}
	return " " + s
}

func (p *sessionParser) newReply(cmd string, code int, text string, cont bool, msg int) *replyState {
	rs := &replyState{cmd: cmd, code: code, open: cont, reply: &Reply{Code: code, Text: text}, ev: len(p.s.Events)}
	p.s.Events = append(p.s.Events, Event{Line: p.line, Kind: EventServer, Cmd: cmd, Code: code, Text: text, Msg: msg})
	p.lastRep = rs
	return rs
}

func (p *sessionParser) continueReply(rs *replyState, text string, cont bool) {
	rs.reply.Text += "\n" + text
	rs.open = cont
	msg := p.s.Events[rs.ev].Msg
	p.s.Events = append(p.s.Events, Event{Line: p.line, Kind: EventServer, Cmd: rs.cmd, Code: rs.code, Text: text, Msg: msg})
	if rs.cmd == ">" && rs.ev >= 0 && p.s.Info.Banner != "" && rs.reply.Text != "" {
		p.s.Info.Banner = rs.reply.Text
	}
}

// apply gives a request's reply its meaning.
func (p *sessionParser) apply(req pendingReq, code int, r *Reply) {
	ok := code >= 200 && code < 300
	switch req.cmd {
	case "MAIL":
		if !ok {
			p.mailRefused(req.tx)
		}
	case "RCPT":
		if ok {
			req.rcpt.status = 1
		} else {
			req.rcpt.status = -1
		}
	case "DATA":
		if code == 354 {
			p.startData(&req, false)
		}
	case ".":
		req.msg.m.Reply = r
	case "BDAT":
		if req.msg == nil {
			return // a malformed BDAT opened no message
		}
		if req.last || !ok {
			if req.msg.m.Reply == nil || req.last {
				req.msg.m.Reply = r
			}
		}
	case "STARTTLS":
		// After a 220 the rest is TLS: nothing more is readable.
	}
}

// mailRefused handles a refused MAIL. When a transaction was already open
// (the server answers a nested MAIL with 503), that transaction goes on:
// recipients and messages pipelined after the refused MAIL belong to it.
func (p *sessionParser) mailRefused(tx *transaction) {
	tx.mailRefused = true
	prev := tx.prev
	if prev == nil || p.tx != tx {
		return
	}
	prev.rcpts = append(prev.rcpts, tx.rcpts...)
	for _, mb := range p.msgs {
		if mb.tx == tx {
			mb.tx = prev
			mb.m.Flags = removeFlag(mb.m.Flags, FlagNoMailFrom)
		}
	}
	p.tx = prev
}

func removeFlag(flags []string, f string) []string {
	out := flags[:0]
	for _, x := range flags {
		if x != f {
			out = append(out, x)
		}
	}
	return out
}

// finish closes what is open at the end of the file and builds envelopes.
func (p *sessionParser) finish() error {
	if p.protocol == 0 && p.garbage > 0 {
		return p.fail(0, "not a session file: no SMTP command or reply lines")
	}
	p.chunkMissing(0)
	if p.cur != nil && !p.cur.done {
		if p.bdatLast {
			p.finishBDAT()
		} else {
			p.cur.m.Partial = true
			addFlag(p.cur.m, FlagTruncated)
			p.cur.done = true
			p.cur = nil
		}
	}
	for _, mb := range p.msgs {
		m := mb.m
		m.Data = mb.data.Bytes()
		noData(mb)
		tx := mb.tx
		m.Envelope = Envelope{MailFrom: tx.mailFrom, MailFromRaw: tx.mailFromRaw, MailParams: tx.params, RcptTo: []string{}}
		for _, r := range tx.rcpts {
			switch r.status {
			case 1:
				m.Envelope.RcptTo = append(m.Envelope.RcptTo, r.addr)
				m.Envelope.RcptToRaw = append(m.Envelope.RcptToRaw, r.raw)
			case 0:
				m.Envelope.RcptTo = append(m.Envelope.RcptTo, r.addr)
				m.Envelope.RcptToRaw = append(m.Envelope.RcptToRaw, r.raw)
				m.Envelope.RcptUnconfirmed = append(m.Envelope.RcptUnconfirmed, r.addr)
			default:
				m.Envelope.RcptRejected = append(m.Envelope.RcptRejected, r.addr)
			}
		}
		p.s.Messages = append(p.s.Messages, m)
	}
	return nil
}

// Attempted returns every MAIL FROM and RCPT TO address the client sent
// in the session, whatever the server answered (refused ones too), in
// order and without repeats, normalized like the envelope (NormalizeAddress);
// the null sender is NullSender. It is how a session that carried no
// email is found by the envelope it tried.
func (s *Session) Attempted() (mailFrom, rcpt []string) {
	seen := map[string]bool{}
	for _, ev := range s.Events {
		if ev.Kind != EventClient || ev.Cmd != "MAIL" && ev.Cmd != "RCPT" {
			continue
		}
		kw := "FROM"
		if ev.Cmd == "RCPT" {
			kw = "TO"
		}
		raw, addr, _ := parsePath(ev.Arg, kw)
		if addr == "" {
			if ev.Cmd != "MAIL" || strings.TrimSpace(raw) == "" {
				continue
			}
			addr = NullSender
		}
		if seen[ev.Cmd+" "+addr] {
			continue
		}
		seen[ev.Cmd+" "+addr] = true
		if ev.Cmd == "MAIL" {
			mailFrom = append(mailFrom, addr)
		} else {
			rcpt = append(rcpt, addr)
		}
	}
	return mailFrom, rcpt
}

// TriedWithoutEmail returns the MAIL FROM and RCPT TO addresses the
// client tried in the session (Attempted) that are in no envelope of its
// messages: senders and recipients the server refused in a transaction
// other than a message's own, or sent in a transaction that carried no
// message (reset, cut short). A recipient a message's server refused is
// in that message's envelope (RcptRejected) and not listed here. It is
// how an email is found by the rest of the envelope its session tried.
func (s *Session) TriedWithoutEmail() (mailFrom, rcpt []string) {
	mf, rc := s.Attempted()
	if len(s.Messages) == 0 {
		return mf, rc
	}
	senders, rcpts := map[string]bool{}, map[string]bool{}
	for _, m := range s.Messages {
		env := &m.Envelope
		if env.IsNullSender() {
			senders[NullSender] = true
		} else if env.MailFrom != "" {
			senders[env.MailFrom] = true
		}
		for _, list := range [][]string{env.RcptTo, env.RcptRejected} {
			for _, a := range list {
				rcpts[a] = true
			}
		}
	}
	for _, a := range mf {
		if !senders[a] {
			mailFrom = append(mailFrom, a)
		}
	}
	for _, a := range rc {
		if !rcpts[a] {
			rcpt = append(rcpt, a)
		}
	}
	return mailFrom, rcpt
}

// parsePath parses the argument of MAIL ("FROM:<a> SIZE=1") or RCPT
// ("TO:<b> NOTIFY=NEVER"): keyword case-insensitive, a space after the colon
// allowed, quoted local parts and source routes handled, <> is the null
// sender. It returns the raw path, the normalized address and the ESMTP
// parameters.
func parsePath(arg, keyword string) (raw, addr string, params []string) {
	s := strings.TrimLeft(arg, " \t")
	if len(s) >= len(keyword) && strings.EqualFold(s[:len(keyword)], keyword) {
		s = strings.TrimLeft(s[len(keyword):], " \t")
		s = strings.TrimPrefix(s, ":")
	}
	s = strings.TrimLeft(s, " \t")
	var rest string
	if strings.HasPrefix(s, "<") {
		end := -1
		inQuote := false
		for i := 1; i < len(s); i++ {
			switch c := s[i]; {
			case c == '\\' && inQuote:
				i++
			case c == '"':
				inQuote = !inQuote
			case c == '>' && !inQuote:
				end = i
			}
			if end >= 0 {
				break
			}
		}
		if end < 0 {
			raw, rest = s, ""
		} else {
			raw, rest = s[:end+1], s[end+1:]
		}
	} else {
		raw, rest, _ = strings.Cut(s, " ")
	}
	params = strings.Fields(rest)
	return raw, NormalizeAddress(raw), params
}

// NormalizeAddress strips angle brackets and a source route and lower-cases
// the domain; the local part keeps its case (it may be case-sensitive).
func NormalizeAddress(raw string) string {
	a := strings.TrimSpace(raw)
	a = strings.TrimPrefix(a, "<")
	a = strings.TrimSuffix(a, ">")
	if strings.HasPrefix(a, "@") {
		// Source route: <@a,@b:user@d>.
		if i := strings.IndexByte(a, ':'); i >= 0 {
			a = a[i+1:]
		}
	}
	a = strings.TrimSpace(a)
	if i := strings.LastIndexByte(a, '@'); i >= 0 {
		a = a[:i+1] + strings.ToLower(a[i+1:])
	}
	return a
}

// chunkBuffer collects message bytes in fixed blocks so that growing a
// large message never copies it, then assembles it once.
type chunkBuffer struct {
	blocks  [][]byte
	n       int
	hint    int64 // at most this many bytes will come (0: unknown)
	discard bool  // count the bytes, keep none (Bytes is nil)
}

const chunkSize = 256 << 10

func (c *chunkBuffer) Len() int { return c.n }

func (c *chunkBuffer) Write(b []byte) {
	if c.discard {
		c.n += len(b)
		return
	}
	if len(c.blocks) > 1 && c.n+len(b) > bigMessage && c.hint > int64(c.n) && c.hint < 1<<31-1<<26 {
		// A large message: move to one buffer sized by what is left of the
		// input, so it is not assembled from chunks at the end (which
		// would hold it twice).
		// Data lines grow by one byte each (LF -> CRLF): leave room for
		// lines of 32 bytes on average (base64 has 76).
		one := make([]byte, 0, c.hint+c.hint/32)
		for _, blk := range c.blocks {
			one = append(one, blk...)
		}
		c.blocks = [][]byte{one}
		c.hint = 0
	}
	for len(b) > 0 {
		if len(c.blocks) == 0 || len(c.blocks[len(c.blocks)-1]) == cap(c.blocks[len(c.blocks)-1]) {
			c.blocks = append(c.blocks, make([]byte, 0, c.nextBlock(len(b))))
		}
		last := &c.blocks[len(c.blocks)-1]
		room := cap(*last) - len(*last)
		if room > len(b) {
			room = len(b)
		}
		*last = append(*last, b[:room]...)
		b = b[room:]
		c.n += room
	}
}

// nextBlock is the size of the next block: the first holds what the
// hint says may come when that is small (a message of a small file then
// needs one block and no assembly; data lines grow by one byte each,
// LF -> CRLF: room for lines of 8 bytes on average), else 4 KiB; each
// further block doubles, up to chunkSize. Small messages never get a
// 256 KiB block.
func (c *chunkBuffer) nextBlock(n int) int {
	if len(c.blocks) == 0 {
		if c.hint > 0 && c.hint < chunkSize {
			return max(int(c.hint+c.hint/8)+64, n)
		}
		return max(4096, min(n, chunkSize))
	}
	return min(2*cap(c.blocks[len(c.blocks)-1]), chunkSize)
}

// expect prepares for n bytes to come (an @raw block) when left bytes of
// the input remain: a large block that starts the message is read into
// one buffer of its exact size, so the message is never assembled from
// chunks (which would hold it twice). A block larger than what the input
// holds (a lying count) changes nothing.
func (c *chunkBuffer) expect(n, left int64) {
	if c.n == 0 && !c.discard && n > chunkSize && n <= left && n < 1<<31-1<<26 {
		c.blocks = [][]byte{make([]byte, 0, n)}
		c.hint = 0
	}
}

// bigMessage is the size from which a message moves to a single buffer.
const bigMessage = 4 << 20

// ReadFrom appends everything r yields.
func (c *chunkBuffer) ReadFrom(r io.Reader) (int64, error) {
	var total int64
	buf := make([]byte, 32<<10)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			c.Write(buf[:n])
			total += int64(n)
		}
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
}

// Bytes assembles the message (one allocation of the exact size).
func (c *chunkBuffer) Bytes() []byte {
	if c.discard {
		return nil
	}
	if len(c.blocks) == 1 {
		b := c.blocks[0]
		c.blocks = nil
		if cap(b)-len(b) > len(b)/4+chunkSize {
			// The hint was far off (several messages in the file): do
			// not keep the slack alive with the message.
			return append([]byte(nil), b...)
		}
		return b[:len(b):len(b)]
	}
	out := make([]byte, 0, c.n)
	for _, b := range c.blocks {
		out = append(out, b...)
	}
	c.blocks = nil
	return out
}
