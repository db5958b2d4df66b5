package capture

import (
	"net"
	"sync"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/reassembly"
)

// mark gives the order of arrival of the bytes from off on: the index of
// the packet whose arrival made them available. Packet order, not capture
// time, orders the two directions: some captures carry equal or skewed
// timestamps per direction.
type mark struct {
	off int
	seq int64
}

// gapMark says n bytes are missing just before offset off.
type gapMark struct {
	off int
	n   int64
}

// halfBuf is one direction of a session, fully reassembled.
type halfBuf struct {
	data  []byte
	marks []mark
	gaps  []gapMark
}

// stream collects one TCP session for the reassembly.
type stream struct {
	e        *engine
	netFlow  gopacket.Flow
	tcpFlow  gopacket.Flow
	start    time.Time
	last     time.Time
	half     [2]halfBuf // indexed by reassembly direction (0: first packet's sender)
	synFrom  int        // direction that sent a SYN without ACK, -1 if none seen
	synAckBy int        // direction that sent SYN+ACK, -1 if none seen

	// Flow tracking for the limits (see limits.go).
	list       *flowList // the engine list it is on, nil once closed
	prev, next *stream
	nx         [2]reassembly.Sequence // next sequence number per direction, as the reassembly has it
	ended      [2]bool                // the half is closed
	reset      bool                   // a RST arrived in the last packet
	done       bool                   // ReassemblyComplete was called
	bytes      int                    // buffered (capacity of both halves)
	discard    bool                   // cut at a byte limit: the rest is only counted
	cutWhy     string                 // SessionFile.Cut
	// Evidence pcaps (live capture with Options.Evidence): the files of
	// the session's first and last packets, and their paths once it is
	// complete (the @pcap lines).
	pcapFirst, pcapLast int
	pcaps               []string
}

type factory struct{ e *engine }

func (f *factory) New(netFlow, tcpFlow gopacket.Flow, tcp *layers.TCP, ac reassembly.AssemblerContext) reassembly.Stream {
	ts := ac.GetCaptureInfo().Timestamp
	s := &stream{e: f.e, netFlow: netFlow, tcpFlow: tcpFlow, start: ts, last: ts, synFrom: -1, synAckBy: -1,
		nx: [2]reassembly.Sequence{invalidSeq, invalidSeq}}
	if f.e.ev != nil {
		s.pcapFirst = f.e.ev.seq()
		s.pcapLast = s.pcapFirst
	}
	f.e.track(s)
	return s
}

func dirIndex(d reassembly.TCPFlowDirection) int {
	if d == reassembly.TCPDirClientToServer {
		return 0
	}
	return 1
}

// Accept takes every segment and forces the stream to start without a SYN
// (captures begin mid-session; one-sided captures never see a SYN-ACK).
func (s *stream) Accept(tcp *layers.TCP, ci gopacket.CaptureInfo, dir reassembly.TCPFlowDirection, nextSeq reassembly.Sequence, start *bool, ac reassembly.AssemblerContext) bool {
	*start = true
	if s.e.ev != nil {
		s.pcapLast = s.e.ev.seq()
	}
	d := dirIndex(dir)
	switch {
	case nextSeq != invalidSeq:
		s.nx[d] = nextSeq
	case tcp.SYN:
		s.nx[d] = reassembly.Sequence(tcp.Seq).Add(1)
	default:
		s.nx[d] = reassembly.Sequence(tcp.Seq)
	}
	if s.e.injecting {
		return true
	}
	s.e.cur = s
	s.reset = tcp.RST
	if tcp.SYN {
		if tcp.ACK {
			if s.synAckBy < 0 {
				s.synAckBy = dirIndex(dir)
			}
		} else if s.synFrom < 0 {
			s.synFrom = dirIndex(dir)
		}
	}
	if ci.Timestamp.After(s.last) {
		s.last = ci.Timestamp
	}
	return true
}

func (s *stream) ReassembledSG(sg reassembly.ScatterGather, ac reassembly.AssemblerContext) {
	dir, _, end, skip := sg.Info()
	n, _ := sg.Lengths()
	d := dirIndex(dir)
	if skip > 0 {
		s.nx[d] = s.nx[d].Add(skip)
	}
	s.nx[d] = s.nx[d].Add(n)
	s.ended[d] = s.ended[d] || end
	if s.e.injecting && n == 0 {
		return
	}
	if s.discard {
		s.e.st.CutBytes += int64(n)
		return
	}
	h := &s.half[d]
	if skip > 0 {
		h.gaps = append(h.gaps, gapMark{off: len(h.data), n: int64(skip)})
		s.e.st.GapBytes += int64(skip)
	}
	if n == 0 {
		return
	}
	// The packet index travels in CaptureInfo.InterfaceIndex (set by the
	// engine), so bytes held back for a missing segment keep the order in
	// which they were captured, not the order in which they were released.
	if chunks := sg.Stats().Chunks; chunks <= 1 {
		h.addMark(len(h.data), int64(sg.CaptureInfo(0).InterfaceIndex))
	} else {
		step := 1024
		if n/step > 64 {
			step = n / 64
		}
		for off := 0; off < n; off += step {
			h.addMark(len(h.data)+off, int64(sg.CaptureInfo(off).InterfaceIndex))
		}
	}
	c := cap(h.data)
	h.data = appendGrow(h.data, sg.Fetch(n))
	s.e.grew(s, cap(h.data)-c)
}

func (h *halfBuf) addMark(off int, seq int64) {
	if k := len(h.marks); k == 0 || h.marks[k-1].seq != seq {
		if h.marks == nil {
			// A mark per packet: a recycled slice of an earlier session
			// (growing one from 16 per session was 2 % of a pcap run's
			// CPU), else room for a short session's at once.
			h.marks = getMarks()
		}
		h.marks = append(h.marks, mark{off: off, seq: seq})
	}
}

func (s *stream) ReassemblyComplete(ac reassembly.AssemblerContext) bool {
	s.done = true
	s.ended = [2]bool{true, true}
	s.e.complete(s)
	return true
}

// endpoints returns the client and server directions and addresses.
func (s *stream) roles() (client int, cIP net.IP, cPort int, sIP net.IP, sPort int) {
	src, dst := s.netFlow.Endpoints()
	sp, dp := s.tcpFlow.Endpoints()
	ip0, ip1 := net.IP(src.Raw()), net.IP(dst.Raw())
	p0, p1 := int(portOf(sp)), int(portOf(dp))
	client = 0
	switch {
	case s.synFrom >= 0:
		client = s.synFrom
	case s.synAckBy >= 0:
		client = 1 - s.synAckBy
	case s.e.ports.has(uint16(p1)) && !s.e.ports.has(uint16(p0)):
		client = 0
	case s.e.ports.has(uint16(p0)) && !s.e.ports.has(uint16(p1)):
		client = 1
	}
	if client == 0 {
		return 0, ip0, p0, ip1, p1
	}
	return 1, ip1, p1, ip0, p0
}

func portOf(e gopacket.Endpoint) uint16 {
	b := e.Raw()
	if len(b) != 2 {
		return 0
	}
	return uint16(b[0])<<8 | uint16(b[1])
}

// appendGrow appends like append but grows the capacity geometrically
// (append grows large slices by only ~1.25x, copying a big session several
// times over), and recycles the outgrown buffer: nothing else refers to it
// once its bytes are copied.
func appendGrow(dst, src []byte) []byte {
	if need := len(dst) + len(src); need > cap(dst) {
		// Quadruple while small (fewer copies of a growing session; the
		// buffers are recycled), then double.
		nc := 2 * cap(dst)
		if cap(dst) < 16<<20 {
			nc = 4 * cap(dst)
		}
		if nc < need {
			nc = need
		}
		nd := getBuf(nc)
		nd = append(nd, dst...)
		putBuf(dst)
		dst = nd
	}
	return append(dst, src...)
}

// markPool recycles the marks slices of converted sessions (putMarks).
var markPool sync.Pool

// maxPooledMarks bounds the slices kept: a huge session's marks are left
// to the collector rather than held for every later session.
const maxPooledMarks = 4096

func getMarks() []mark {
	if m, ok := markPool.Get().(*[]mark); ok {
		return (*m)[:0]
	}
	return make([]mark, 0, 16)
}

// putMarks recycles a marks slice that nothing refers to any more.
func putMarks(m []mark) {
	if cap(m) == 0 || cap(m) > maxPooledMarks {
		return
	}
	m = m[:0]
	markPool.Put(&m)
}

// Buffers by size class (4 KiB << k), recycled between sessions.
const (
	minClass   = 12 // 4 KiB
	numClasses = 15 // up to 64 MiB
)

var bufPools [numClasses]sync.Pool

func sizeClass(n int) int {
	c := 0
	for (1 << (minClass + c)) < n {
		c++
	}
	return c
}

func getBuf(n int) []byte {
	c := sizeClass(n)
	if c >= numClasses {
		return make([]byte, 0, n)
	}
	if b, ok := bufPools[c].Get().(*[]byte); ok {
		return (*b)[:0]
	}
	return make([]byte, 0, 1<<(minClass+c))
}

// putBuf recycles a buffer that nothing refers to any more.
func putBuf(b []byte) {
	c := cap(b)
	if c < 1<<minClass || c&(c-1) != 0 {
		return // not one of ours
	}
	k := sizeClass(c)
	if k < numClasses {
		b = b[:0]
		bufPools[k].Put(&b)
	}
}
