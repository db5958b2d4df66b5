package capture

import (
	"bytes"
	"crypto/sha256"
	"encoding/base32"
	"encoding/binary"
	"fmt"
	"net"
	"strconv"
	"time"
)

// side is one direction of a reassembled session being parsed.
type side struct {
	buf   []byte
	pos   int
	marks []mark
	mi    int
	gaps  []gapMark
	gi    int
	done  bool // no more SMTP here (TLS, or nothing left)
}

func newSide(h *halfBuf) side {
	return side{buf: h.data, marks: h.marks, gaps: h.gaps}
}

// avail reports whether bytes or a gap remain.
func (s *side) avail() bool {
	return !s.done && (s.pos < len(s.buf) || s.gi < len(s.gaps))
}

// order is the arrival order (packet index) of the next byte.
func (s *side) order() int64 {
	for s.mi+1 < len(s.marks) && s.marks[s.mi+1].off <= s.pos {
		s.mi++
	}
	if s.mi < len(s.marks) {
		return s.marks[s.mi].seq
	}
	return 0
}

// gapHere consumes and returns the size of a gap at the current position.
func (s *side) gapHere() (int64, bool) {
	if s.gi < len(s.gaps) && s.gaps[s.gi].off <= s.pos {
		n := s.gaps[s.gi].n
		s.gi++
		return n, true
	}
	return 0, false
}

// end is where the bytes readable without crossing a gap end.
func (s *side) end() int {
	if s.gi < len(s.gaps) && s.gaps[s.gi].off < len(s.buf) {
		return s.gaps[s.gi].off
	}
	return len(s.buf)
}

// line returns the next line including its LF (or up to the next gap or
// the end of the data, then complete is false) and advances past it.
func (s *side) line() (l []byte, complete bool) {
	end := s.end()
	if i := bytes.IndexByte(s.buf[s.pos:end], '\n'); i >= 0 {
		l = s.buf[s.pos : s.pos+i+1]
		s.pos += i + 1
		return l, true
	}
	l = s.buf[s.pos:end]
	s.pos = end
	return l, false
}

// peekLine returns the next line without advancing.
func (s *side) peekLine() []byte {
	end := s.end()
	if i := bytes.IndexByte(s.buf[s.pos:end], '\n'); i >= 0 {
		return s.buf[s.pos : s.pos+i+1]
	}
	return s.buf[s.pos:end]
}

func (s *side) looksTLS() bool {
	end := s.end()
	return end-s.pos >= 2 && s.buf[s.pos] == 0x16 && s.buf[s.pos+1] == 0x03
}

func isDigits(b []byte) bool {
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return len(b) > 0
}

func trimEOL(l []byte) []byte {
	if n := len(l); n > 0 && l[n-1] == '\n' {
		l = l[:n-1]
	}
	if n := len(l); n > 0 && l[n-1] == '\r' {
		l = l[:n-1]
	}
	return l
}

// knownVerbs are the SMTP commands used to resynchronise after a gap and to
// end an AUTH exchange in one-sided captures.
var knownVerbs = map[string]bool{
	"HELO": true, "EHLO": true, "LHLO": true, "MAIL": true, "RCPT": true, "DATA": true, "BDAT": true,
	"RSET": true, "VRFY": true, "EXPN": true, "HELP": true, "NOOP": true, "QUIT": true, "STARTTLS": true,
	"AUTH": true, "ETRN": true, "TURN": true, "ATRN": true, "XCLIENT": true, "XFORWARD": true, "BURL": true,
}

// verbOf returns the upper-cased first word of a line.
func verbOf(l []byte) string {
	i := 0
	for i < len(l) && i < 16 && l[i] != ' ' && l[i] != '\r' && l[i] != '\n' {
		i++
	}
	return string(bytes.ToUpper(l[:i]))
}

func looksLikeCommand(l []byte) bool {
	v := verbOf(l)
	if !knownVerbs[v] {
		return false
	}
	if len(v) == len(l) {
		return true
	}
	c := l[len(v)]
	return c == ' ' || c == '\r' || c == '\n'
}

func looksLikeReply(l []byte) bool {
	if len(l) < 3 || !isDigit(l[0]) || !isDigit(l[1]) || !isDigit(l[2]) {
		return false
	}
	return len(l) == 3 || l[3] == ' ' || l[3] == '-' || l[3] == '\r' || l[3] == '\n'
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

type cstate int

const (
	csCommand  cstate = iota
	csWaitData        // DATA sent, its reply not seen yet
	csData            // reading message data
	csWaitTLS         // STARTTLS sent, its reply not seen yet
	csAuth            // inside an AUTH exchange
	csDone            // nothing more from the client is SMTP
)

// conv replays both directions of a session into a session file.
type conv struct {
	c, s      side
	w         outBuf
	keepData  bool // fill Message.Data (Options.MessageData)
	st        cstate
	no354     bool // data mode entered without a 354 (server silent)
	authAllow int  // client lines allowed by 334 replies
	pending   []string
	greeted   bool
	anyCmd    bool
	lastLabel string
	// serverFromStart: the server's SYN-ACK was seen, so its first
	// reply is the greeting.
	serverFromStart bool
	msgs            []Message
	bdat            *msgBuild // open BDAT message
}

// msgBuild accumulates one message.
type msgBuild struct {
	keep bool // keep the bytes (else only count them)
	m    Message
	// A gap-free DATA payload found in one piece: the bytes as sent and
	// the offsets of the stuffed dots (see readData).
	fast    bool
	lines   bool // fast, and written as data lines already
	raw     []byte
	stuffed []int
	segs    [][]byte // byte runs between gaps
	gaps    []int64  // gaps[i] missing bytes after segs[i]
}

// add appends bytes of the stream to the message. The first run is kept
// as a sub-slice of the stream buffer (capped, so a later add copies
// instead of writing into the stream); the stream is never modified.
func (b *msgBuild) add(p []byte) {
	b.m.Size += len(p)
	if !b.keep {
		return
	}
	if len(b.segs) == 0 || len(b.segs) == len(b.gaps) {
		b.segs = append(b.segs, p[:len(p):len(p)])
		return
	}
	k := len(b.segs) - 1
	if len(b.segs[k]) == 0 {
		b.segs[k] = p[:len(p):len(p)]
		return
	}
	b.segs[k] = appendNoRecycle(b.segs[k], p)
}

// appendNoRecycle grows by doubling like appendGrow, without recycling dst
// (it may be a sub-slice of a stream buffer).
func appendNoRecycle(dst, src []byte) []byte {
	if need := len(dst) + len(src); need > cap(dst) {
		nc := 2 * cap(dst)
		if nc < need {
			nc = need
		}
		nd := make([]byte, len(dst), nc)
		copy(nd, dst)
		dst = nd
	}
	return append(dst, src...)
}

func (b *msgBuild) gap(n int64) {
	if len(b.segs) == len(b.gaps) {
		b.segs = append(b.segs, nil)
	}
	b.gaps = append(b.gaps, n)
	b.m.Gap, b.m.Partial = true, true
}

func (b *msgBuild) bytes() []byte {
	if len(b.segs) == 1 {
		return b.segs[0]
	}
	var n int
	for _, s := range b.segs {
		n += len(s)
	}
	out := make([]byte, 0, n)
	for _, s := range b.segs {
		out = append(out, s...)
	}
	return out
}

// convert turns a finished TCP session into its session file.
func (s *stream) convert(uid string, keepData bool) *SessionFile {
	client, cIP, cPort, sIP, sPort := s.roles()
	cv := &conv{c: newSide(&s.half[client]), s: newSide(&s.half[1-client]), keepData: keepData}
	cv.serverFromStart = s.synAckBy == 1-client && len(s.half[1-client].gaps) == 0 ||
		s.synAckBy == 1-client && s.half[1-client].gaps[0].off > 0
	// Lines gain at most a few bytes of prefix; replies are small.
	cv.w.Grow(len(cv.c.buf) + 2*len(cv.s.buf) + 4096)
	fmt.Fprintf(&cv.w, "%s:%d/tcp\n%d\n", ipString(cIP), cPort, s.start.Unix())
	fmt.Fprintf(&cv.w, "@resp %s:%d/tcp\n@uid %s\n@ts %d.%06d\n", ipString(sIP), sPort, uid, s.start.Unix(), s.start.Nanosecond()/1000)
	if s.cutWhy != cutNone {
		// Written before the connection ended: say why (core records it).
		fmt.Fprintf(&cv.w, "@cut %s\n", s.cutWhy)
	}
	for _, p := range s.pcaps {
		// The evidence pcap(s) holding the session's packets.
		fmt.Fprintf(&cv.w, "@pcap %s\n", p)
	}
	cv.run()
	// Messages may be sub-slices of the stream buffers: give them their
	// own memory, then recycle the stream buffers for the next sessions
	// (this keeps the reader, the bottleneck, off fresh allocations).
	for i := range cv.msgs {
		if keepData {
			cv.msgs[i].Data = bytes.Clone(cv.msgs[i].Data)
			if cv.msgs[i].Data == nil {
				cv.msgs[i].Data = []byte{}
			}
		} else {
			cv.msgs[i].Data = nil
		}
	}
	cv.c, cv.s = side{}, side{}
	for i := range s.half {
		putBuf(s.half[i].data)
		putMarks(s.half[i].marks)
		s.half[i] = halfBuf{}
	}
	return &SessionFile{UID: uid, Start: s.start, Data: cv.w.Bytes(), Messages: cv.msgs, Cut: s.cutWhy}
}

func ipString(ip net.IP) string {
	if v4 := ip.To4(); v4 != nil {
		return v4.String()
	}
	return ip.String()
}

var uidEnc = base32.StdEncoding.WithPadding(base32.NoPadding)

// uid derives a stable Zeek-like uid ("S" + 17 base32 characters) from the
// 5-tuple and the start time; a repeat among the recent uids gets a counter
// mixed in. Only two generations of uidGeneration uids are remembered, so
// that memory does not grow with the number of sessions; WriteDir never
// overwrites a file, whatever the uid (see writeSession).
func (e *engine) uid(cIP net.IP, cPort int, sIP net.IP, sPort int, start time.Time) string {
	for n := 0; ; n++ {
		// The hash of "tcp|cIP|cPort|sIP|sPort|start ns" (then n, 8
		// bytes big-endian, if n > 0), built in a stack buffer: through
		// fmt and a hash object it was 3 % of a pcap run's CPU.
		var in [128]byte
		b := append(in[:0], "tcp|"...)
		b = append(append(b, ipString(cIP)...), '|')
		b = append(strconv.AppendInt(b, int64(cPort), 10), '|')
		b = append(append(b, ipString(sIP)...), '|')
		b = append(strconv.AppendInt(b, int64(sPort), 10), '|')
		b = strconv.AppendInt(b, start.UnixNano(), 10)
		if n > 0 {
			b = binary.BigEndian.AppendUint64(b, uint64(n))
		}
		sum := sha256.Sum256(b)
		var enc [52]byte // uidEnc.EncodedLen(sha256.Size)
		uidEnc.Encode(enc[:], sum[:])
		u := "S" + string(enc[:17])
		if !e.uids[u] && !e.oldUIDs[u] {
			if len(e.uids) >= uidGeneration {
				e.oldUIDs, e.uids = e.uids, make(map[string]bool, uidGeneration)
			}
			e.uids[u] = true
			return u
		}
	}
}

const uidGeneration = 1 << 15

func (cv *conv) run() {
	c, s := &cv.c, &cv.s
	for {
		cOK := cv.st != csDone && c.avail()
		sOK := s.avail()
		if !cOK && !sOK {
			break
		}
		blocked := cv.st == csWaitData || cv.st == csWaitTLS || (cv.st == csAuth && cv.authAllow == 0)
		switch {
		case cOK && blocked:
			if sOK {
				cv.serverStep()
			} else {
				cv.resolve()
			}
		case !cOK:
			cv.serverStep()
		case !sOK:
			cv.clientStep()
		default:
			co, so := c.order(), s.order()
			if so < co || (so == co && !cv.greeted && !cv.anyCmd) || (!cv.greeted && cv.serverFromStart) {
				cv.serverStep()
			} else {
				cv.clientStep()
			}
		}
	}
	if cv.bdat != nil {
		cv.bdat.m.Partial = true
		cv.finishBDAT()
	}
}

// resolve unblocks the client when the server has nothing more to say
// (one-sided capture, or the capture ended): the client's own bytes decide.
func (cv *conv) resolve() {
	c := &cv.c
	switch cv.st {
	case csWaitData:
		cv.st, cv.no354 = csData, true
	case csWaitTLS:
		if c.looksTLS() {
			cv.st = csDone
		} else {
			cv.st = csCommand
		}
	case csAuth:
		if looksLikeCommand(c.peekLine()) {
			cv.st, cv.authAllow = csCommand, 0
		} else {
			cv.authAllow = 1
		}
	}
}

// serverStep reads one reply (all its lines) and writes it.
func (cv *conv) serverStep() {
	s := &cv.s
	if _, ok := s.gapHere(); ok {
		// Replies lost: resynchronise on the next reply line.
		for s.pos < s.end() && !looksLikeReply(s.peekLine()) {
			s.line()
		}
		return
	}
	if s.looksTLS() {
		s.done = true
		return
	}
	if s.pos >= len(s.buf) {
		s.done = true
		return
	}
	type rline struct {
		code []byte
		sep  byte
		text []byte
	}
	var lines []rline
	for s.pos < s.end() {
		l := s.peekLine()
		if !looksLikeReply(l) {
			if len(lines) == 0 {
				s.line() // not a reply line: skip it
				return
			}
			break
		}
		s.line()
		t := trimEOL(l)
		rl := rline{code: t[:3], sep: ' '}
		if len(t) > 3 {
			if t[3] == '-' {
				rl.sep = '-'
			}
			rl.text = t[4:]
		}
		lines = append(lines, rl)
		if rl.sep != '-' {
			break
		}
	}
	if len(lines) == 0 {
		return
	}
	last := lines[len(lines)-1]
	code, _ := strconv.Atoi(string(last.code))
	label := cv.lastLabel
	switch {
	case !cv.greeted && (cv.serverFromStart || !cv.anyCmd && len(cv.pending) == 0):
		// The server speaks first: the first reply of a server stream
		// seen from its start is the greeting, even when the client
		// pipelined its EHLO before it (PIPE_CONNECT).
		label = ">"
	case len(cv.pending) > 0:
		if code == 354 && cv.pending[0] != "DATA" {
			// Only DATA is answered by 354: replies to the commands
			// before it were lost or merged (seen in crafted captures).
			for k, p := range cv.pending {
				if p == "DATA" {
					cv.pending = cv.pending[k:]
					break
				}
			}
		}
		label = cv.pending[0]
		if label == "AUTH" && code == 334 {
			// An AUTH challenge: the client answers with credentials,
			// which are never written; the challenge is not written either.
			cv.authAllow++
			cv.greeted = true
			return
		}
		cv.pending = cv.pending[1:]
		cv.applyReply(label, code)
	case label == "":
		label = ">"
	}
	cv.greeted = true
	cv.lastLabel = label
	for _, rl := range lines {
		cv.w.WriteString("< ")
		cv.w.WriteString(label)
		cv.w.WriteByte(' ')
		cv.w.Write(rl.code)
		cv.w.WriteByte(rl.sep)
		cv.w.Write(rl.text)
		cv.w.WriteByte('\n')
	}
}

func (cv *conv) applyReply(cmd string, code int) {
	switch cmd {
	case "DATA":
		if cv.st == csWaitData {
			switch {
			case code == 354:
				cv.st = csData
			case code >= 400:
				cv.st = csCommand // refused: what follows is commands
			default:
				// DATA is never answered 2xx: replies are out of step
				// with commands (reordered or lost packets); the 354
				// was missed, so follow the client into the data.
				cv.st, cv.no354 = csData, true
			}
		}
	case "STARTTLS":
		if cv.st == csWaitTLS {
			if code == 220 && (cv.c.looksTLS() || !cv.c.avail()) {
				cv.st = csDone
			} else {
				// Refused, or a decrypted capture: SMTP goes on in clear.
				cv.st = csCommand
			}
		}
	case "AUTH":
		if cv.st == csAuth {
			cv.st, cv.authAllow = csCommand, 0
		}
	}
}

// clientStep consumes one client unit: a command, an AUTH line or a message.
func (cv *conv) clientStep() {
	c := &cv.c
	switch cv.st {
	case csData:
		cv.readData()
		return
	case csAuth:
		if _, ok := c.gapHere(); ok {
			return
		}
		c.line() // credentials: never written
		cv.authAllow--
		return
	}
	if n, ok := c.gapHere(); ok {
		fmt.Fprintf(&cv.w, "@gap %d\n", n)
		if cv.bdat != nil {
			cv.bdat.gap(n)
		}
		// The line the gap cut is lost; resynchronise on a command.
		for c.pos < c.end() && !looksLikeCommand(c.peekLine()) {
			c.line()
		}
		return
	}
	if c.looksTLS() {
		cv.st = csDone
		return
	}
	raw, _ := c.line()
	l := trimEOL(raw)
	if len(bytes.TrimSpace(l)) == 0 {
		return
	}
	cmd, arg := l, []byte(nil)
	if i := bytes.IndexByte(l, ' '); i >= 0 {
		cmd, arg = l[:i], bytes.TrimLeft(l[i+1:], " ")
	}
	verb := string(bytes.ToUpper(cmd))
	cv.anyCmd = true
	switch verb {
	case "AUTH":
		mech := arg
		if i := bytes.IndexByte(arg, ' '); i >= 0 {
			mech = arg[:i]
		}
		if len(bytes.TrimSpace(arg)) > len(mech) {
			cv.writeCmd(verb, append(append([]byte(nil), mech...), " ****"...))
		} else {
			cv.writeCmd(verb, mech)
		}
		cv.pending = append(cv.pending, verb)
		cv.st, cv.authAllow = csAuth, 0
		return
	case "DATA":
		cv.abortBDAT()
		cv.writeCmd(verb, arg)
		cv.pending = append(cv.pending, verb)
		cv.st = csWaitData
		return
	case "STARTTLS":
		cv.writeCmd(verb, arg)
		cv.pending = append(cv.pending, verb)
		cv.st = csWaitTLS
		return
	case "BDAT":
		cv.writeCmd(verb, arg)
		cv.pending = append(cv.pending, verb)
		cv.readChunk(arg)
		return
	case "MAIL", "RSET":
		cv.abortBDAT()
	}
	cv.writeCmd(verb, arg)
	cv.pending = append(cv.pending, verb)
}

func (cv *conv) writeCmd(verb string, arg []byte) {
	cv.w.WriteString("> ")
	cv.w.WriteString(verb)
	cv.w.WriteByte(' ')
	cv.w.Write(arg)
	cv.w.WriteByte('\n')
}

func (cv *conv) newMsg(bdat bool) *msgBuild {
	return &msgBuild{m: Message{Index: len(cv.msgs), BDAT: bdat}, keep: cv.keepData || !bdat}
}

// abortBDAT ends an unfinished BDAT message (RSET, MAIL, DATA before LAST).
func (cv *conv) abortBDAT() {
	if cv.bdat != nil {
		cv.bdat.m.Partial = true
		cv.finishBDAT()
	}
}

func (cv *conv) finishBDAT() {
	b := cv.bdat
	cv.bdat = nil
	b.m.Data = b.bytes()
	cv.msgs = append(cv.msgs, b.m)
}

// readChunk reads the chunk of a "BDAT size [LAST]" command and writes it
// as one @raw block (preceded by "@gap N" when bytes are missing).
func (cv *conv) readChunk(arg []byte) {
	f := bytes.Fields(arg)
	var size int64 = -1
	if len(f) > 0 {
		if n, err := strconv.ParseInt(string(f[0]), 10, 64); err == nil && n >= 0 && isDigits(f[0]) {
			size = n
		}
	}
	if size < 0 || len(f) > 2 || len(f) == 2 && !bytes.EqualFold(f[1], []byte("LAST")) {
		// Not "BDAT <size> [LAST]": servers refuse it (501) and read
		// no chunk, so what follows is commands.
		return
	}
	last := len(f) == 2
	if cv.bdat == nil {
		cv.bdat = cv.newMsg(true)
	}
	if size > 0 {
		c := &cv.c
		var have []byte // a sub-slice of the stream unless a gap splits the chunk
		var missing int64
		remaining := size
		for remaining > 0 {
			if c.gi < len(c.gaps) && c.gaps[c.gi].off <= c.pos {
				g := &c.gaps[c.gi]
				if g.n > remaining {
					g.n -= remaining // the rest of the gap is after the chunk
					missing += remaining
					remaining = 0
					break
				}
				missing += g.n
				remaining -= g.n
				c.gi++
				continue
			}
			end := c.end()
			if c.pos >= end {
				break // no more data
			}
			k := int64(end - c.pos)
			if k > remaining {
				k = remaining
			}
			if have == nil {
				have = c.buf[c.pos : c.pos+int(k) : c.pos+int(k)]
			} else {
				have = appendNoRecycle(have, c.buf[c.pos:c.pos+int(k)])
			}
			c.pos += int(k)
			remaining -= k
		}
		missing += remaining // the capture ended inside the chunk
		if missing > 0 {
			fmt.Fprintf(&cv.w, "@gap %d\n", missing)
			cv.bdat.gap(missing)
		}
		if len(have) > 0 {
			fmt.Fprintf(&cv.w, "@raw %d\n", len(have))
			cv.w.Write(have)
			cv.w.WriteByte('\n')
			cv.bdat.add(have)
		}
	}
	if last {
		cv.finishBDAT()
	}
}

// crlfDotCRLF finds line starts with a dot (a stuffed line or the end).
var crlfDotCRLF = []byte("\n.")

// readData reads a DATA payload up to the terminating "." line,
// dot-unstuffing it, and writes it as data lines (or @raw blocks when lines
// cannot carry it exactly), then "> . .".
func (cv *conv) readData() {
	c := &cv.c
	b := cv.newMsg(false)
	lineStart := true
	terminated := false
	if c.gi >= len(c.gaps) || c.gaps[c.gi].off > c.pos {
		// Fast path: the whole message lies before the next gap; its
		// lines are written as they are found.
		if raw, stuffed, n, lines, ok := cv.dataLines(c.buf[c.pos:c.end()]); ok {
			b.raw, b.stuffed, b.fast, b.lines = raw, stuffed, true, lines
			b.m.Size = len(raw) - len(stuffed)
			c.pos += n
			terminated = true
		}
	}
	for !terminated {
		if n, ok := c.gapHere(); ok {
			b.gap(n)
			lineStart = true // like Zeek: a new line begins after a gap
			continue
		}
		end := c.end()
		if c.pos >= end {
			if c.gi < len(c.gaps) {
				continue
			}
			break
		}
		if lineStart && c.buf[c.pos] == '.' {
			rest := c.buf[c.pos:end]
			if bytes.HasPrefix(rest, []byte(".\r\n")) {
				c.pos += 3
				terminated = true
				break
			}
			if bytes.HasPrefix(rest, []byte(".\n")) {
				c.pos += 2
				terminated = true
				break
			}
			if len(rest) <= 2 && end == len(c.buf) && (len(rest) == 1 || rest[1] == '\r') {
				// "." or ".\r" cut by the end of the capture: the
				// terminator, incomplete.
				c.pos = end
				break
			}
			c.pos++ // dot-stuffing
		}
		i := bytes.Index(c.buf[c.pos:end], crlfDotCRLF)
		if i < 0 {
			b.add(c.buf[c.pos:end])
			lineStart = c.buf[end-1] == '\n'
			c.pos = end
			continue
		}
		b.add(c.buf[c.pos : c.pos+i+1])
		c.pos += i + 1
		lineStart = true
	}
	if !terminated {
		b.m.Partial = true
	}
	if b.fast {
		// The payload is one run of the stream, its lines written
		// straight from it unless they cannot carry it: build the
		// unstuffed copy only when needed.
		if !b.lines {
			b.segs = [][]byte{unstuffed(b.raw, b.stuffed)}
			cv.writeMessage(b, false)
		}
		if cv.keepData {
			b.m.Data = unstuffed(b.raw, b.stuffed)
		}
	} else {
		b.m.Data = b.bytes()
		cv.writeMessage(b, true)
	}
	cv.msgs = append(cv.msgs, b.m)
	if terminated {
		cv.w.WriteString("> . .\n")
		cv.pending = append(cv.pending, ".")
		cv.st, cv.no354 = csCommand, false
	} else {
		cv.st = csDone
	}
}

// dataLines is readData's fast path, one pass over the lines of p (the
// client's bytes up to the next gap): it finds the end of a DATA payload
// (the line "."), returning the payload as sent (still dot-stuffed), the
// offsets in it of the dots that stuffing added, and the bytes consumed
// including the terminator; ok is false when p holds no terminator (then
// nothing was written). In the same pass, while data lines carry the
// unstuffed message exactly (the checks of canLines, made on the unstuffed
// lines), it writes them, dropping the stuffed dots and the CRs of CRLF;
// lines reports whether it wrote the whole message (when not, it wrote
// nothing).
func (cv *conv) dataLines(p []byte) (raw []byte, stuffed []int, n int, lines, ok bool) {
	out := cv.w.b
	mark := len(out)
	lines = true
	for off := 0; ; {
		start := off
		if off < len(p) && p[off] == '.' {
			if r := p[off:]; bytes.HasPrefix(r, []byte(".\r\n")) || bytes.HasPrefix(r, []byte(".\n")) {
				n = off + 2
				if p[off+1] == '\r' {
					n = off + 3
				}
				if !lines {
					out = out[:mark]
				}
				cv.w.b = out
				return p[:off], stuffed, n, lines, true
			}
			stuffed = append(stuffed, off)
			start++ // the stuffed dot (never a line's only byte: that is the end)
		}
		i := bytes.IndexByte(p[off:], '\n')
		if i < 0 {
			cv.w.b = cv.w.b[:mark] // no terminator: nothing written
			return nil, nil, 0, false, false
		}
		if lf := off + i; lines {
			if c := p[start]; lf > off+1 && p[lf-1] == '\r' && p[lf-2] != '\r' && c != '>' && c != '@' && c != '<' &&
				cap(out)-len(out) >= lf-start {
				// The common line, inline: CRLF-terminated, not ending
				// in CR, starting with none of the parser's markers.
				out = append(append(out, p[start:lf-1]...), '\n')
			} else if out, lines = cv.dataLine(out, p, off, start, lf); !lines {
				out = out[:mark]
			}
		}
		off += i + 1
	}
}

// dataLine appends the data line of p from start (its first byte, after
// a stuffed dot) to lf (its LF) to out, CR dropped, when a line carries it
// exactly; off is where the line begins in the payload.
func (cv *conv) dataLine(out, p []byte, off, start, lf int) ([]byte, bool) {
	if lf == off || p[lf-1] != '\r' {
		return out, false // a bare LF, or no CRLF at the end
	}
	cr := lf - 1
	if cr > off && p[cr-1] == '\r' {
		return out, false // a line ending in CR would lose it
	}
	switch p[start] {
	case '>', '@', '<':
		if off == 0 && cv.no354 {
			// With no 354 the parser enters data mode at the first
			// line that is not an SMTP line.
			return out, false
		}
		line := p[start : lf+1]
		if bytes.HasPrefix(line, []byte("> . .\r\n")) || bytes.HasPrefix(line, []byte("@raw ")) || bytes.HasPrefix(line, []byte("@gap ")) {
			return out, false
		}
	}
	if cap(out)-len(out) < cr-start+1 {
		cv.w.b = out
		cv.w.Grow(len(p) - start) // the lines are never longer than p
		out = cv.w.b
	}
	out = append(out, p[start:cr]...)
	return append(out, '\n'), true
}

// unstuffed returns raw without the stuffed dots (raw itself when none).
func unstuffed(raw []byte, stuffed []int) []byte {
	if len(stuffed) == 0 {
		return raw
	}
	msg := make([]byte, 0, len(raw)-len(stuffed))
	prev := 0
	for _, d := range stuffed {
		msg = append(msg, raw[prev:d]...)
		prev = d + 1
	}
	return append(msg, raw[prev:]...)
}

// writeMessage writes message data as lines when they carry it exactly,
// else as @raw blocks (with @gap lines for missing bytes).
func (cv *conv) writeMessage(b *msgBuild, tryLines bool) {
	data := b.m.Data
	if tryLines && len(b.gaps) == 0 && canLines(data, cv.no354) {
		for len(data) > 0 {
			i := bytes.IndexByte(data, '\n')
			cv.w.Write(data[:i-1]) // without CR
			cv.w.WriteByte('\n')
			data = data[i+1:]
		}
		return
	}
	for i, seg := range b.segs {
		if i == 0 && cv.no354 {
			// With no 354 the parser enters data mode at the first line
			// that is not an SMTP line: give it that line, when the
			// message starts with one it can carry, then raw blocks.
			if n := safeFirstLine(seg); n > 0 {
				cv.w.Write(seg[:n-2])
				cv.w.WriteByte('\n')
				seg = seg[n:]
			}
		}
		if len(seg) > 0 {
			fmt.Fprintf(&cv.w, "@raw %d\n", len(seg))
			cv.w.Write(seg)
			cv.w.WriteByte('\n')
		}
		if i < len(b.gaps) {
			fmt.Fprintf(&cv.w, "@gap %d\n", b.gaps[i])
		}
	}
}

// safeFirstLine returns the length (CRLF included) of the first line of p
// when a data line carries it exactly and the parser cannot take it for an
// SMTP or extension line; else 0.
func safeFirstLine(p []byte) int {
	i := bytes.IndexByte(p, '\n')
	if i < 1 || p[i-1] != '\r' || (i >= 2 && p[i-2] == '\r') {
		return 0
	}
	if i > 1 && (p[0] == '@' || p[0] == '>' || p[0] == '<') {
		return 0
	}
	return i + 1
}

// canLines reports whether data lines (LF-terminated, joined back with
// CRLF by the parser) reproduce msg exactly and unambiguously.
func canLines(msg []byte, no354 bool) bool {
	if len(msg) == 0 {
		return true
	}
	if !bytes.HasSuffix(msg, []byte("\r\n")) {
		return false
	}
	if bytes.Count(msg, []byte("\n")) != bytes.Count(msg, []byte("\r\n")) {
		return false // bare LF
	}
	if bytes.Contains(msg, []byte("\r\r\n")) {
		return false // a line ending in CR would lose it
	}
	for _, p := range [][]byte{[]byte("> . .\r\n"), []byte("@raw "), []byte("@gap ")} {
		if bytes.HasPrefix(msg, p) || bytes.Contains(msg, append([]byte("\n"), p...)) {
			return false
		}
	}
	if no354 {
		// With no 354 the parser enters data mode at the first line that
		// is not an SMTP line.
		if msg[0] == '@' || msg[0] == '>' || msg[0] == '<' {
			return false
		}
	}
	return true
}

// outBuf builds a session file in a recyclable buffer (see putBuf).
type outBuf struct{ b []byte }

func (o *outBuf) Grow(n int) {
	if cap(o.b)-len(o.b) < n {
		nb := getBuf(len(o.b) + n)
		nb = append(nb, o.b...)
		putBuf(o.b)
		o.b = nb
	}
}

func (o *outBuf) Write(p []byte) (int, error) {
	o.b = appendGrow(o.b, p)
	return len(p), nil
}

func (o *outBuf) WriteString(s string) {
	if cap(o.b)-len(o.b) < len(s) {
		o.Grow(len(s))
	}
	o.b = append(o.b, s...)
}

func (o *outBuf) WriteByte(c byte) error {
	if len(o.b) == cap(o.b) {
		o.Grow(1)
	}
	o.b = append(o.b, c)
	return nil
}

func (o *outBuf) Bytes() []byte { return o.b }
