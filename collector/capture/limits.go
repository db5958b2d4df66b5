package capture

import (
	"encoding/binary"
	"sort"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/reassembly"
)

// Default limits (see Options).
const (
	DefaultMaxFlows         = 100000
	DefaultMaxHalfOpen      = 10000
	DefaultMaxFlowBytes     = 256 << 20
	DefaultMaxBufferedBytes = 1 << 30
)

// Cut reasons (SessionFile.Cut): why a session was written before its TCP
// connection ended.
const (
	CutFlowLimit  = "max-flows"    // evicted, least recently active first, at MaxFlows
	CutFlowBytes  = "flow-bytes"   // the session reached MaxFlowBytes; the rest follows in another file
	CutTotalBytes = "total-bytes"  // all sessions together reached MaxBufferedBytes
	CutIdle       = "idle-timeout" // no packet for IdleTimeout of capture time
	CutInputEnd   = "end-of-input" // still open when the capture ended
	cutNone       = ""             // closed by FIN or RST
	invalidSeq    = reassembly.Sequence(-1)
)

// flowList is an intrusive doubly-linked list of open flows, least
// recently active first.
type flowList struct {
	head, tail *stream
	n          int
}

func (l *flowList) pushBack(s *stream) {
	s.list, s.prev, s.next = l, l.tail, nil
	if l.tail != nil {
		l.tail.next = s
	} else {
		l.head = s
	}
	l.tail = s
	l.n++
}

func (l *flowList) remove(s *stream) {
	if s.prev != nil {
		s.prev.next = s.next
	} else {
		l.head = s.next
	}
	if s.next != nil {
		s.next.prev = s.prev
	} else {
		l.tail = s.prev
	}
	s.list, s.prev, s.next = nil, nil, nil
	l.n--
}

// track puts a new flow on the half-open list.
func (e *engine) track(s *stream) {
	e.halfOpen.pushBack(s)
	if n := e.halfOpen.n + e.open.n; n > e.peakFlows {
		e.peakFlows = n
		e.st.PeakFlows = max(e.st.PeakFlows, n)
	}
}

// touch marks s as the most recently active flow; its first payload byte
// moves it from the half-open list to the open list.
func (e *engine) touch(s *stream, payload bool) {
	l := s.list
	if l == nil {
		return
	}
	l.remove(s)
	if payload {
		l = &e.open
	}
	l.pushBack(s)
}

func (e *engine) untrack(s *stream) {
	if s.list != nil {
		s.list.remove(s)
	}
	e.buffered -= int64(s.bytes)
	s.bytes = 0
}

// enforce applies the flow and byte limits after a packet.
func (e *engine) enforce() {
	for e.halfOpen.n > e.opts.MaxHalfOpen && e.halfOpen.head != nil {
		s := e.halfOpen.head
		e.st.HalfOpenEvicted++
		if !e.warnedHalfOpen {
			e.warnedHalfOpen = true
			e.st.warn("more than %d half-open connections (no payload yet): the oldest are dropped (see Stats.HalfOpenEvicted)", e.opts.MaxHalfOpen)
		}
		e.closeFlow(s)
		if s.list != nil { // not closed (data queued ahead): left to MaxFlows
			e.touch(s, true)
		}
	}
	if e.halfOpen.n+e.open.n > e.opts.MaxFlows {
		e.evictOldest()
	}
	if e.buffered > e.opts.MaxBufferedBytes {
		e.cutLargest()
	}
}

// evictOldest closes the least recently active sixteenth of the flows with
// the reassembly's own age-based flush (their pending out-of-order data is
// pushed as gaps), so that each eviction pays for many flows.
func (e *engine) evictOldest() {
	// The cut-off is the last packet time of the k-th least recently
	// active flow, the two lists merged.
	var cut time.Time
	a, b := e.halfOpen.head, e.open.head
	for k := e.opts.MaxFlows/16 + 1; k > 0 && (a != nil || b != nil); k-- {
		s := a
		if a == nil || b != nil && b.last.Before(a.last) {
			s, b = b, b.next
		} else {
			a = a.next
		}
		if s.last.After(cut) {
			cut = s.last
		}
	}
	if !e.warnedFlows {
		e.warnedFlows = true
		e.st.warn("more than %d connections open at once: the least recently active are written early, partial (see Stats.FlowsEvicted)", e.opts.MaxFlows)
	}
	cut = cut.Add(time.Nanosecond)
	e.flush(CutFlowLimit, func() { e.asm.FlushWithOptions(reassembly.FlushOptions{T: cut, TC: cut}) })
}

// cutLargest cuts the largest sessions until a quarter of
// MaxBufferedBytes is free.
func (e *engine) cutLargest() {
	var all []*stream
	for s := e.open.head; s != nil; s = s.next {
		all = append(all, s)
	}
	sort.Slice(all, func(i, j int) bool { return all[i].bytes > all[j].bytes })
	if !e.warnedBytes {
		e.warnedBytes = true
		e.st.warn("more than %d bytes of sessions buffered: the largest are written early, partial (see Stats.TotalBytesCuts)", e.opts.MaxBufferedBytes)
	}
	for _, s := range all {
		if s.discard {
			continue
		}
		if e.buffered <= e.opts.MaxBufferedBytes/4*3 {
			break
		}
		e.st.TotalBytesCuts++
		e.cut(s, CutTotalBytes)
	}
}

// cut emits what s holds now as its session file; the rest of the
// connection is not kept, only counted (Stats.CutBytes).
func (e *engine) cut(s *stream, reason string) {
	part := *s
	part.list, part.prev, part.next = nil, nil, nil
	part.cutWhy = reason
	e.untrack(s)
	e.open.pushBack(s)
	s.half = [2]halfBuf{}
	s.discard = true
	e.emit(&part)
}

// closeFlow ends a flow now: each half still open gets a RST at its next
// sequence number, which the reassembly accepts, so the connection
// completes (ReassemblyComplete) and leaves the pool. A half with pending
// out-of-order data ignores it; the flow then ends by flush or idle timeout.
func (e *engine) closeFlow(s *stream) {
	e.injecting = true
	defer func() { e.injecting = false }()
	for d := 0; d < 2 && !s.done; d++ {
		if !s.ended[d] {
			e.injectRST(s, d)
		}
	}
}

func (e *engine) injectRST(s *stream, d int) {
	netFlow, tcpFlow := s.netFlow, s.tcpFlow
	if d == 1 {
		netFlow, tcpFlow = netFlow.Reverse(), tcpFlow.Reverse()
	}
	sp, dp := tcpFlow.Endpoints()
	var hdr [20]byte
	binary.BigEndian.PutUint16(hdr[0:], portOf(sp))
	binary.BigEndian.PutUint16(hdr[2:], portOf(dp))
	seq := s.nx[d]
	if seq == invalidSeq {
		seq = 0 // the half never started: any sequence number starts it
	}
	binary.BigEndian.PutUint32(hdr[4:], uint32(seq))
	hdr[12] = 5 << 4
	hdr[13] = 0x04 // RST
	if err := e.rst.DecodeFromBytes(hdr[:], gopacket.NilDecodeFeedback); err != nil {
		return
	}
	e.asm.AssembleWithContext(netFlow, &e.rst, e.context(s.last, e.pktSeq))
}
