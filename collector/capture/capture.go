package capture

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"github.com/gopacket/gopacket/reassembly"
)

// DefaultPorts are the TCP ports treated as SMTP when Options.Ports is empty.
var DefaultPorts = []int{25, 587, 2525}

// Options control Process and WriteDir.
type Options struct {
	// Ports are the TCP ports treated as SMTP (either end of a
	// connection); empty means DefaultPorts.
	Ports []int
	// Progress receives a progress line (bytes read / total) now and then;
	// nil means quiet. ProgressFunc, when set, is called instead.
	Progress io.Writer
	// ProgressFunc, when not nil, is called with the bytes read so far and
	// the total size of all input files (for a progress bar).
	ProgressFunc func(read, total int64)
	// IdleTimeout closes a TCP session that saw no packet for this long in
	// capture time (default 5 minutes, Zeek's tcp_inactivity_timeout).
	IdleTimeout time.Duration
	// GapWait is how long, in capture time, out-of-order data waits for the
	// missing bytes before they are declared lost (default 30 s).
	GapWait time.Duration
	// MaxFlows caps the TCP connections open at once (default
	// DefaultMaxFlows). Beyond it the least recently active sixteenth are
	// closed: their sessions are written as they are (SessionFile.Cut
	// CutFlowLimit; an unfinished message is partial), counted in
	// Stats.FlowsEvicted.
	MaxFlows int
	// MaxHalfOpen caps the connections that have carried no payload yet
	// (a SYN, a handshake; default DefaultMaxHalfOpen). Beyond it the
	// oldest are dropped (they hold nothing to write; if one carries data
	// later it starts a new session), counted in Stats.HalfOpenEvicted.
	MaxHalfOpen int
	// MaxFlowBytes caps the bytes buffered for one session (both
	// directions, buffer capacity; default DefaultMaxFlowBytes). When
	// reached, the session so far is written (Cut CutFlowBytes, its
	// unfinished message partial); the rest of the connection is not kept,
	// its bytes are counted in Stats.CutBytes. Cuts are counted in
	// Stats.FlowBytesCuts.
	MaxFlowBytes int
	// MaxBufferedBytes caps the bytes buffered for all open sessions
	// (default DefaultMaxBufferedBytes). When reached, the largest
	// sessions are cut like at MaxFlowBytes (Cut CutTotalBytes) until a
	// quarter of it is free; counted in Stats.TotalBytesCuts.
	MaxBufferedBytes int64
	// FragTimeout discards an IP datagram whose fragments did not all
	// arrive within this long of its first one, in capture time (default
	// DefaultFragTimeout); counted in Stats.FragDiscarded.
	FragTimeout time.Duration
	// MaxFragBytes caps the bytes of IP fragments held for datagrams not
	// yet whole (default DefaultMaxFragBytes); beyond it the oldest
	// datagrams are discarded, counted in Stats.FragDiscarded.
	MaxFragBytes int64
	// Sync says how WriteDir makes session files durable before their
	// .ready markers appear (default SyncBatch; see SyncMode).
	Sync SyncMode
	// hooks replace the writer's system calls (tests).
	hooks syncHooks
	// MessageData fills SessionFile.Messages[].Data with each message's
	// bytes (for cross-checks); without it only sizes and flags are given.
	MessageData bool
	// recycle: fn does not keep SessionFile.Data (WriteDir), so its
	// buffer is reused after fn returns.
	recycle bool
	// place, when not nil, is called by the conversion workers with each
	// session file as soon as it is made, concurrently and in no
	// particular order (WriteDir writes the file there, so that files are
	// written on every core); fn still follows in emission order, for the
	// sessions place took (after an error too: what was written is
	// accounted for).
	place func(*SessionFile) error
	// Stats, when not nil, receives counters about the run.
	Stats *Stats
	// Evidence, when not nil, keeps the packets of a live capture as
	// rotated pcap files (evidence.go); files are not read this way.
	Evidence *Evidence
	// Direction: which packets of each interface a live capture keeps
	// (see Direction); files are not read this way.
	Direction Direction
}

// Stats are counters about one Process run.
type Stats struct {
	Files       int
	Bytes       int64 // bytes of capture files read
	Packets     int64
	TCPPackets  int64 // TCP packets on the SMTP ports
	Undecodable int64 // packets whose link/IP/TCP layers could not be decoded
	Sessions    int
	Messages    int
	PartialMsgs int
	GapBytes    int64 // bytes missing from reassembled streams
	// Limits (see Options): how often each one was hit.
	HalfOpenEvicted int64 // half-open flows dropped at MaxHalfOpen
	FlowsEvicted    int64 // sessions written early (partial) at MaxFlows
	FlowBytesCuts   int64 // sessions cut (written partial) at MaxFlowBytes
	TotalBytesCuts  int64 // sessions cut (written partial) at MaxBufferedBytes
	CutBytes        int64 // bytes of cut sessions received after the cut, not kept
	IdleClosed      int64 // sessions closed by IdleTimeout
	PeakFlows       int   // most TCP flows open at once
	PeakBuffered    int64 // most session bytes buffered at once
	BadTimestamps   int64 // packets whose time was implausible (replaced)
	// IP fragments (IPv4, IPv6) of TCP: fragments seen, datagrams made
	// whole, datagrams given up (FragTimeout, MaxFragBytes) and datagrams
	// whose fragments contradicted each other (overlaps, bad sizes:
	// dropped as receivers drop them; IPv4 only, ip6defrag drops silently).
	Fragments       int64
	FragReassembled int64
	FragDiscarded   int64
	FragInvalid     int64
	Warnings        []string
}

func (s *Stats) warn(format string, args ...any) {
	if len(s.Warnings) < 1000 {
		s.Warnings = append(s.Warnings, fmt.Sprintf(format, args...))
	}
}

// SessionFile is one SMTP TCP session converted to a session file.
type SessionFile struct {
	// name is the file name Options.place gave it (WriteDir).
	name  string
	UID   string
	Start time.Time
	// Data is the session file content (Zeek/ACE format with our
	// extensions), ready to be written as <dir>/<UID>.
	Data []byte
	// Cut is empty when the TCP connection ended (FIN or RST); otherwise
	// it says why the session was written before that (CutFlowLimit,
	// CutFlowBytes, CutTotalBytes, CutIdle, CutInputEnd).
	Cut string
	// Messages are the messages found in the session, computed directly
	// from the reassembled streams (bytes only with Options.MessageData).
	// They are what core's session parser must find again in Data (the
	// tests check the round trip).
	Messages []Message
}

// Message is one message of a session, from the direct path.
type Message struct {
	Index   int
	Size    int    // bytes of the message seen in the capture
	Data    []byte // with Options.MessageData
	BDAT    bool
	Partial bool // gap inside, or the session ended before the end of data
	Gap     bool // bytes of it were missing from the capture
}

func (o *Options) defaults() {
	if len(o.Ports) == 0 {
		o.Ports = DefaultPorts
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = 5 * time.Minute
	}
	if o.GapWait <= 0 {
		o.GapWait = 30 * time.Second
	}
	if o.MaxFlows <= 0 {
		o.MaxFlows = DefaultMaxFlows
	}
	if o.MaxHalfOpen <= 0 {
		o.MaxHalfOpen = DefaultMaxHalfOpen
	}
	if o.MaxFlowBytes <= 0 {
		o.MaxFlowBytes = DefaultMaxFlowBytes
	}
	if o.MaxBufferedBytes <= 0 {
		o.MaxBufferedBytes = DefaultMaxBufferedBytes
	}
	if o.FragTimeout <= 0 {
		o.FragTimeout = DefaultFragTimeout
	}
	if o.MaxFragBytes <= 0 {
		o.MaxFragBytes = DefaultMaxFragBytes
	}
}

// Process reads the capture files (pcap or pcapng, gzip-compressed or not,
// detected by their magic numbers) in the order given, as one capture when
// each file starts where the previous one ended in time (rotated captures),
// and calls fn for every TCP session on the SMTP ports that carried any
// payload, with its session file. Sessions come in completion order; the
// ones still open at the end come in start order. fn is called from one
// goroutine at a time (not the caller's: conversion runs in parallel with
// reading), never concurrently, and Process returns only after the last
// call. An error from fn stops the run and is returned.
func Process(ctx context.Context, files []string, opts Options, fn func(*SessionFile) error) error {
	opts.defaults()
	st := opts.Stats
	if st == nil {
		st = &Stats{}
	}
	var total int64
	inputs := make([]input, len(files))
	for i, f := range files {
		fi, err := os.Stat(f)
		if err != nil {
			return fmt.Errorf("capture: %w", err)
		}
		if fi.IsDir() {
			return fmt.Errorf("capture: %s is a directory, not a capture file", f)
		}
		total += fi.Size()
		inputs[i] = input{name: f, size: fi.Size(), open: func() (io.ReadCloser, error) { return os.Open(f) }}
	}
	return process(ctx, inputs, total, &opts, st, fn)
}

// input is one capture to read.
type input struct {
	name string
	size int64 // bytes in the file (sizes the read buffers)
	open func() (io.ReadCloser, error)
}

// readBufSize sizes the read buffers for a file of n bytes: 1 MiB for
// large files, less for small ones (small files are read many at a time
// by the tests and the fuzzer).
func readBufSize(n int64) int {
	return int(min(max(n, 4<<10), 1<<20))
}

func process(ctx context.Context, inputs []input, total int64, opts *Options, st *Stats, fn func(*SessionFile) error) error {
	e := newEngine(opts, st, fn)
	prog := &progress{opts: opts, total: total}
	var lastTS time.Time
	for _, in := range inputs {
		if err := ctx.Err(); err != nil {
			e.stopWorkers()
			return err
		}
		_, last, err := e.readInput(ctx, in, prog, lastTS)
		if err != nil {
			e.stopWorkers()
			return err
		}
		if err := e.getErr(); err != nil {
			e.stopWorkers()
			return err
		}
		if last.After(lastTS) {
			lastTS = last
		}
		st.Files++
	}
	e.finish()
	prog.done()
	return e.getErr()
}

// WriteDir runs Process and writes every session into dir as <uid> (temp
// name, hard link) and then <uid>.ready, so that a watcher never sees half
// a file; with SyncBatch and SyncEach a .ready appears only once its
// session file is durable (see SyncMode). It never replaces a file: a uid
// whose name is taken is written as <uid>-2, <uid>-3, … (see
// writeSession). When the run ends early (an error, ctx cancelled) the
// session files already written still get their .ready. It returns the
// number of sessions written.
func WriteDir(ctx context.Context, files []string, opts Options, dir string) (int, error) {
	w, err := newDirWriter(dir, opts.Sync, opts.hooks)
	if err != nil {
		return 0, err
	}
	n := 0
	opts.recycle = true
	opts.place = w.place
	err = Process(ctx, files, opts, func(sf *SessionFile) error {
		n++
		return w.placed(sf)
	})
	return n, errors.Join(err, w.close())
}

// progress reports bytes read / total.
type progress struct {
	opts  *Options
	total int64
	read  int64
	last  time.Time
}

func (p *progress) add(n int64) {
	p.read += n
	if p.opts.ProgressFunc == nil && p.opts.Progress == nil {
		return
	}
	now := time.Now()
	if now.Sub(p.last) < 200*time.Millisecond {
		return
	}
	p.last = now
	p.report()
}

func (p *progress) report() {
	if p.opts.ProgressFunc != nil {
		p.opts.ProgressFunc(p.read, p.total)
	} else if p.opts.Progress != nil {
		fmt.Fprintf(p.opts.Progress, "read %d of %d bytes\n", p.read, p.total)
	}
}

func (p *progress) done() {
	if p.opts.ProgressFunc != nil || p.opts.Progress != nil {
		p.report()
	}
}

// countingReader counts bytes for the progress report.
type countingReader struct {
	r io.Reader
	p *progress
}

func (c *countingReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.p.add(int64(n))
	return n, err
}

// packetSource is the part of pcapgo's readers we use.
type packetSource interface {
	ZeroCopyReadPacketData() ([]byte, gopacket.CaptureInfo, error)
}

// openCapture detects pcap/pcapng (and gzip) by magic and returns a packet
// source plus a function giving the link type of a packet.
func openCapture(name string, r io.Reader, bufSize int) (packetSource, func(ci gopacket.CaptureInfo) layers.LinkType, error) {
	br := bufio.NewReaderSize(r, bufSize)
	magic, err := br.Peek(4)
	if err != nil {
		return nil, nil, fmt.Errorf("capture: %s: too short to be a capture file", name)
	}
	if magic[0] == 0x1f && magic[1] == 0x8b {
		// pcapgo handles gzip itself; peek through it for the inner magic.
		return openGzip(name, br, bufSize)
	}
	return openByMagic(name, br, magic, bufSize)
}

// Format names the capture format of a file beginning with magic: "pcap"
// (either byte order, microsecond or nanosecond times), "pcapng" (a
// section header block), or "" for neither (or fewer than 4 bytes).
func Format(magic []byte) string {
	if len(magic) < 4 {
		return ""
	}
	switch binary.BigEndian.Uint32(magic) {
	case 0x0a0d0d0a:
		return "pcapng"
	case 0xa1b2c3d4, 0xd4c3b2a1, 0xa1b23c4d, 0x4d3cb2a1:
		return "pcap"
	}
	return ""
}

func openByMagic(name string, br *bufio.Reader, magic []byte, bufSize int) (packetSource, func(ci gopacket.CaptureInfo) layers.LinkType, error) {
	switch Format(magic) {
	case "pcapng":
		ng, err := pcapgo.NewNgReader(br, pcapgo.NgReaderOptions{})
		if err != nil {
			return nil, nil, fmt.Errorf("capture: %s: bad pcapng file: %w", name, err)
		}
		def := ng.LinkType()
		lt := func(ci gopacket.CaptureInfo) layers.LinkType {
			if ci.InterfaceIndex > 0 {
				if ifc, err := ng.Interface(ci.InterfaceIndex); err == nil {
					return ifc.LinkType
				}
			}
			return def
		}
		return ng, lt, nil
	case "pcap":
		var hdr [24]byte
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			return nil, nil, fmt.Errorf("capture: %s: bad pcap file: truncated header", name)
		}
		pr, err := newPcapReader(br, hdr[:], bufSize)
		if err != nil {
			return nil, nil, fmt.Errorf("capture: %s: bad pcap file: %w", name, err)
		}
		l := pr.linkType
		return pr, func(gopacket.CaptureInfo) layers.LinkType { return l }, nil
	}
	return nil, nil, fmt.Errorf("capture: %s: not a pcap or pcapng file (magic %x)", name, magic)
}

func openGzip(name string, br *bufio.Reader, bufSize int) (packetSource, func(ci gopacket.CaptureInfo) layers.LinkType, error) {
	// Both pcapgo readers detect gzip; try pcap first, then pcapng, on a
	// fresh view of the stream each time (Peek keeps the bytes).
	gz, err := newGzipPeek(br, bufSize)
	if err != nil {
		return nil, nil, fmt.Errorf("capture: %s: bad gzip stream: %w", name, err)
	}
	magic, err := gz.Peek(4)
	if err != nil {
		return nil, nil, fmt.Errorf("capture: %s: gzip stream too short to be a capture", name)
	}
	return openByMagic(name, gz, magic, bufSize)
}

// readInput reads one capture into the engine.
func (e *engine) readInput(ctx context.Context, in input, prog *progress, prevLast time.Time) (first, last time.Time, err error) {
	name := in.name
	f, err := in.open()
	if err != nil {
		return first, last, fmt.Errorf("capture: %w", err)
	}
	defer f.Close()
	src, linkOf, err := openCapture(name, &countingReader{r: f, p: prog}, readBufSize(in.size))
	if err != nil {
		return first, last, err
	}
	n := 0
	for {
		data, ci, rerr := src.ZeroCopyReadPacketData()
		if rerr != nil {
			if rerr != io.EOF {
				e.st.warn("%s: packet %d: %v (rest of the file ignored)", name, n+1, rerr)
			}
			break
		}
		n++
		ci.Timestamp = e.plausible(ci.Timestamp, name, n)
		if n&0x3ff == 0 {
			if err := ctx.Err(); err != nil {
				return first, last, err
			}
		}
		if first.IsZero() {
			first = ci.Timestamp
			if !prevLast.IsZero() && first.Before(prevLast) {
				// Not a continuation of the previous file: finish
				// what is open so unrelated captures do not mix.
				e.flushAll()
			}
		}
		if ci.Timestamp.After(last) {
			last = ci.Timestamp
		}
		e.packet(data, ci, linkOf(ci))
		if e.failed() {
			return first, last, e.getErr()
		}
	}
	e.st.Bytes += prog.read - e.bytesSeen
	e.bytesSeen = prog.read
	return first, last, nil
}

// maxCaptureTime bounds the packet times believed: session files carry
// epoch seconds from 0 to 1e11, as core's session parser accepts them.
var maxCaptureTime = time.Unix(1e11, 0)

// plausible replaces a packet time outside 1970..maxCaptureTime (a corrupt
// or hostile record) with the last plausible one, and counts it.
func (e *engine) plausible(ts time.Time, name string, n int) time.Time {
	if ts.Unix() >= 0 && ts.Before(maxCaptureTime) {
		e.lastTS = ts
		return ts
	}
	if e.st.BadTimestamps == 0 {
		e.st.warn("%s: packet %d: implausible time %d s, the previous packet's is used (see Stats.BadTimestamps)", name, n, ts.Unix())
	}
	e.st.BadTimestamps++
	if e.lastTS.IsZero() {
		return time.Unix(0, 0).UTC()
	}
	return e.lastTS
}

// engine decodes packets and drives the reassembly.
type engine struct {
	ev        *evidence // evidence pcaps (live capture), nil if none
	opts      *Options
	st        *Stats
	fn        func(*SessionFile) error
	ports     portSet
	dec       *decoder
	re        *reassembler
	asm       *reassembly.Assembler
	nextFlush time.Time
	now       time.Time
	held      []*stream
	uids      map[string]bool // uids given (the newer generation)
	oldUIDs   map[string]bool // the previous generation
	bytesSeen int64
	pktSeq    int64        // index of the packet being processed
	slab      []asmContext // contexts not yet given out (see context)
	lastTS    time.Time    // the last plausible packet time

	// Limits (limits.go).
	halfOpen, open flowList
	buffered       int64      // bytes held by open sessions
	peakFlows      int        // most flows open at once in this run
	cur            *stream    // the stream of the packet being assembled
	injecting      bool       // closeFlow is feeding a RST
	rst            layers.TCP // the RST it feeds
	sweep          string     // the cut reason of the flush under way
	warnedHalfOpen bool
	warnedFlows    bool
	warnedBytes    bool

	// Conversion workers (see emit).
	jobs    chan *job
	order   chan *job
	emitted chan struct{}
	wg      sync.WaitGroup
	errMu   sync.Mutex
	err     error
	hasErr  atomic.Bool
	emitMu  sync.Mutex // the emitter's counters in st (statsCopy)
}

func newEngine(opts *Options, st *Stats, fn func(*SessionFile) error) *engine {
	e := &engine{opts: opts, st: st, fn: fn, dec: newDecoder(), uids: map[string]bool{}}
	e.dec.frag = newDefragger(opts.FragTimeout, opts.MaxFragBytes, st)
	for _, p := range opts.Ports {
		if p > 0 && p < 65536 {
			e.ports.add(uint16(p))
		}
	}
	return e
}

// reassemble sets up the reassembly, on the first packet that needs it.
func (e *engine) reassemble() {
	r, _ := reassemblers.Get().(*reassembler)
	if r == nil {
		r = &reassembler{}
		r.pool = reassembly.NewStreamPool(&r.f)
		r.asm = reassembly.NewAssembler(r.pool)
		// Bound the memory spent waiting for missing segments: ~1900
		// bytes a page, so 8 MiB per connection and 256 MiB in all.
		r.asm.MaxBufferedPagesPerConnection = 4096
		r.asm.MaxBufferedPagesTotal = 1 << 17
	}
	r.f.e = e
	e.re, e.asm = r, r.asm
}

// reassembler is gopacket's stream pool and assembler. Creating them (a
// 1024-connection slab and a map for as many) cost more than a whole short
// run, so those of runs that stayed within that size are recycled.
type reassembler struct {
	f    factory
	pool *reassembly.StreamPool
	asm  *reassembly.Assembler
}

var reassemblers sync.Pool

// recycle returns the reassembler once every connection has left it.
func (e *engine) recycle() {
	if e.re == nil {
		return
	}
	if e.peakFlows <= 1024 && e.halfOpen.n+e.open.n == 0 {
		e.re.f.e = nil
		reassemblers.Put(e.re)
	}
	e.re = nil
}

// portSet is a set of TCP ports (a bitmap: 8 KiB, not 64).
type portSet [1024]uint64

func (p *portSet) add(port uint16)      { p[port>>6] |= 1 << (port & 63) }
func (p *portSet) has(port uint16) bool { return p[port>>6]&(1<<(port&63)) != 0 }

// asmContext is the reassembly's context of one packet: its time and its
// index in the capture, all that the streams read back (GetCaptureInfo).
// The reassembly keeps the context of each segment it holds (out of order),
// so every packet needs its own; they are cut from slabs of asmSlab (one
// allocation per asmSlab packets instead of one each; a held segment keeps
// at most one slab, 512 bytes, alive).
type asmContext struct {
	ts  time.Time
	seq int64
}

func (a *asmContext) GetCaptureInfo() gopacket.CaptureInfo {
	return gopacket.CaptureInfo{Timestamp: a.ts, InterfaceIndex: int(a.seq)}
}

const asmSlab = 16

// context returns a new context for a packet of time ts and index seq.
func (e *engine) context(ts time.Time, seq int64) *asmContext {
	if len(e.slab) == 0 {
		e.slab = make([]asmContext, asmSlab)
	}
	a := &e.slab[0]
	e.slab = e.slab[1:]
	a.ts, a.seq = ts, seq
	return a
}

func (e *engine) packet(data []byte, ci gopacket.CaptureInfo, lt layers.LinkType) {
	e.st.Packets++
	e.pktSeq++
	tcp, netFlow, res := e.dec.decode(data, lt, ci.Timestamp)
	switch res {
	case undecodable:
		e.st.Undecodable++
		return
	case fragHeld:
		return
	}
	if !e.ports.has(uint16(tcp.SrcPort)) && !e.ports.has(uint16(tcp.DstPort)) {
		return
	}
	e.st.TCPPackets++
	payload := len(tcp.Payload) > 0
	if ci.Timestamp.After(e.now) {
		e.now = ci.Timestamp
	}
	// The reassembly keeps each segment's context: the packet index in
	// it orders the two directions by capture order.
	ac := e.context(ci.Timestamp, e.pktSeq)
	e.cur = nil
	if e.asm == nil {
		e.reassemble()
	}
	e.asm.AssembleWithContext(netFlow, tcp, ac)
	if s := e.cur; s != nil && !s.done {
		e.touch(s, payload)
		if s.reset && (s.ended[0] || s.ended[1]) {
			// A RST ended one direction: the connection is over.
			e.closeFlow(s)
		}
	}
	e.enforce()
	if e.nextFlush.IsZero() {
		e.nextFlush = e.now.Add(5 * time.Second)
	} else if e.now.After(e.nextFlush) {
		e.nextFlush = e.now.Add(5 * time.Second)
		e.flush(CutIdle, func() {
			e.asm.FlushWithOptions(reassembly.FlushOptions{
				T:  e.now.Add(-e.opts.GapWait),
				TC: e.now.Add(-e.opts.IdleTimeout),
			})
		})
	}
}

// grew accounts for n more bytes buffered by s and cuts it at MaxFlowBytes.
func (e *engine) grew(s *stream, n int) {
	s.bytes += n
	e.buffered += int64(n)
	if e.buffered > e.st.PeakBuffered {
		e.st.PeakBuffered = e.buffered
	}
	if s.bytes > e.opts.MaxFlowBytes {
		e.st.FlowBytesCuts++
		e.cut(s, CutFlowBytes)
	}
}

// flushAll completes every open session and emits them in start order.
func (e *engine) flushAll() {
	if e.asm == nil {
		return
	}
	e.flush(CutInputEnd, func() { e.asm.FlushAll() })
}

// flush runs one of the reassembly's flushes; the sessions it completes
// (in the order of a map) are emitted in start order, so that the output
// is deterministic.
func (e *engine) flush(why string, run func()) {
	e.sweep = why
	run()
	e.sweep = cutNone
	held := e.held
	e.held = nil
	sort.SliceStable(held, func(i, j int) bool { return held[i].start.Before(held[j].start) })
	for _, s := range held {
		e.emit(s)
	}
}

func (e *engine) finish() {
	e.flushAll()
	e.recycle()
	e.stopWorkers()
}

// complete is called when the reassembly is done with a session.
func (e *engine) complete(s *stream) {
	e.untrack(s)
	if e.ev != nil {
		s.pcaps = e.ev.namesFrom(s.pcapFirst, s.pcapLast)
	}
	s.cutWhy = e.sweep
	if s.hasPayload() {
		switch s.cutWhy {
		case CutFlowLimit:
			e.st.FlowsEvicted++
		case CutIdle:
			e.st.IdleClosed++
		}
	}
	if e.sweep != cutNone {
		e.held = append(e.held, s)
		return
	}
	e.emit(s)
}

func (s *stream) hasPayload() bool {
	return len(s.half[0].data) != 0 || len(s.half[1].data) != 0 || len(s.half[0].gaps) != 0 || len(s.half[1].gaps) != 0
}

// job is one session being converted by a worker.
type job struct {
	s      *stream
	uid    string
	sf     *SessionFile
	placed bool  // Options.place took it
	err    error // from Options.place
	done   chan struct{}
}

// emit hands a finished session to the conversion workers. Conversions run
// in parallel; fn is called from one goroutine, in emission order.
func (e *engine) emit(s *stream) {
	if e.failed() {
		return
	}
	if !s.hasPayload() {
		return // no payload at all: a scan or an empty connection
	}
	e.startWorkers()
	_, cIP, cPort, sIP, sPort := s.roles()
	j := &job{s: s, uid: e.uid(cIP, cPort, sIP, sPort, s.start), done: make(chan struct{})}
	e.order <- j // bounded: back-pressure on the reader
	e.jobs <- j
}

func (e *engine) startWorkers() {
	if e.jobs != nil {
		return
	}
	n := runtime.GOMAXPROCS(0)
	if n > 8 {
		n = 8
	}
	e.jobs = make(chan *job, n)
	e.order = make(chan *job, 2*n)
	e.emitted = make(chan struct{})
	for i := 0; i < n; i++ {
		e.wg.Add(1)
		go func() {
			defer e.wg.Done()
			for j := range e.jobs {
				j.sf = j.s.convert(j.uid, e.opts.MessageData)
				j.s = nil
				if e.opts.place != nil && !e.failed() {
					j.err = e.opts.place(j.sf)
					j.placed = j.err == nil
				}
				close(j.done)
			}
		}()
	}
	go func() {
		defer close(e.emitted)
		for j := range e.order {
			<-j.done
			if j.err != nil {
				e.setErr(j.err)
			}
			if e.failed() && !j.placed {
				continue
			}
			sf := j.sf
			e.count(sf)
			if err := e.fn(sf); err != nil {
				e.setErr(err)
			}
			if e.opts.recycle {
				putBuf(sf.Data)
				sf.Data = nil
			}
		}
	}()
}

// count adds an emitted session to the counters (the emitter's
// goroutine; statsCopy reads them from the engine's).
func (e *engine) count(sf *SessionFile) {
	e.emitMu.Lock()
	defer e.emitMu.Unlock()
	e.st.Sessions++
	e.st.Messages += len(sf.Messages)
	for _, m := range sf.Messages {
		if m.Partial {
			e.st.PartialMsgs++
		}
	}
}

// statsCopy is a copy of the counters while the emitter may still be
// counting (the engine's goroutine writes the others).
func (e *engine) statsCopy() Stats {
	e.emitMu.Lock()
	defer e.emitMu.Unlock()
	c := *e.st
	c.Warnings = append([]string(nil), e.st.Warnings...)
	return c
}

// stopWorkers waits until every emitted session went through fn.
func (e *engine) stopWorkers() {
	if e.jobs == nil {
		return
	}
	close(e.jobs)
	close(e.order)
	e.wg.Wait()
	<-e.emitted
	e.jobs = nil
}

func (e *engine) failed() bool { return e.hasErr.Load() }

func (e *engine) setErr(err error) {
	e.errMu.Lock()
	defer e.errMu.Unlock()
	if e.err == nil {
		e.err = err
		e.hasErr.Store(true)
	}
}

func (e *engine) getErr() error {
	e.errMu.Lock()
	defer e.errMu.Unlock()
	return e.err
}

// ErrNoInput is returned by the command when no file is given.
var ErrNoInput = errors.New("capture: no capture file given")
