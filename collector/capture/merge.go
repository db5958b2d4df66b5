package capture

import (
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// The reorder window of a capture on several interfaces (see merger).
const (
	// mergeSpan: in a merged capture a reader hands over its batch once
	// its packets span this much capture time (or it is full, or the ring
	// stayed empty for the poll timeout), so a quiet interface does not
	// hold back the others for long.
	mergeSpan = 10 * time.Millisecond
	// mergeBatchBytes is a merged capture's first buffer per batch
	// (batches are small there: they are handed over every mergeSpan).
	mergeBatchBytes = 64 << 10
	// MergeMaxPackets and MergeMaxBytes bound what the merge holds: the
	// packets waiting for the other interfaces, and the buffers (their
	// capacity) holding them. Beyond either the oldest packet goes on
	// without waiting (counted: MergeStats.Forced).
	MergeMaxPackets = 1 << 16
	MergeMaxBytes   = 64 << 20
)

// MergeStats are the counters of the timestamp merge of a capture on
// several interfaces (all zero with one interface: no merge).
type MergeStats struct {
	// Forced: packets passed on before every other interface had caught
	// up with them, because the window was full (MergeMaxPackets,
	// MergeMaxBytes).
	Forced uint64
	// Late: packets that reached the reassembly older than a packet
	// before them (an interface delivered them later than its idle
	// report promised, or after a forced release).
	Late uint64
	// PeakHeld and PeakHeldBytes: the most packets (and buffer bytes) the
	// merge held at once.
	PeakHeld      int
	PeakHeldBytes int
}

// merger puts the packets of several live sources in timestamp order
// before the engine: a k-way merge over per-source queues with a bounded
// reorder window. Each source has a watermark, the time before which it
// will deliver nothing more: the latest time of the packets it delivered
// (a source's packets come in time order), raised by its idle reports
// (liveBatch.mark: its ring stayed empty, see readLive). The oldest
// queued packet goes on once every other source has a packet queued or
// its watermark at or after the packet's time. Beyond maxPkts packets or
// maxBytes of batch buffers held, the oldest goes on anyway (Forced).
// Equal times go in source order.
type merger struct {
	q         []mergeQueue
	held      int // packets queued
	heldBytes int // capacity of the queued batches' buffers
	maxPkts   int
	maxBytes  int
	last      time.Time // the latest time passed on so far
	st        *MergeStats
	out       func(data []byte, ci gopacket.CaptureInfo, lt layers.LinkType) error
	free      func(*liveBatch) // a batch whose packets all went on
}

// mergeQueue is one source's packets not yet passed on.
type mergeQueue struct {
	batches []*liveBatch
	next    int       // index of the next packet in batches[0]
	wm      time.Time // watermark: no packet older will come (zero: none known)
}

func newMerger(n int, st *MergeStats, out func([]byte, gopacket.CaptureInfo, layers.LinkType) error, free func(*liveBatch)) *merger {
	return &merger{q: make([]mergeQueue, n), maxPkts: MergeMaxPackets, maxBytes: MergeMaxBytes, st: st, out: out, free: free}
}

// add takes a batch of source b.idx (or its idle report) and passes on
// what may go.
func (m *merger) add(b *liveBatch) error {
	q := &m.q[b.idx]
	if b.idle {
		if b.mark.After(q.wm) {
			q.wm = b.mark
		}
		return m.release(false)
	}
	if len(b.pkts) == 0 {
		m.free(b)
		return nil
	}
	q.batches = append(q.batches, b)
	for _, p := range b.pkts {
		if p.ci.Timestamp.After(q.wm) {
			q.wm = p.ci.Timestamp
		}
	}
	m.held += len(b.pkts)
	m.heldBytes += cap(b.data)
	m.st.PeakHeld = max(m.st.PeakHeld, m.held)
	m.st.PeakHeldBytes = max(m.st.PeakHeldBytes, m.heldBytes)
	return m.release(false)
}

// flush passes on every queued packet in time order (the end of the
// capture: no source delivers more).
func (m *merger) flush() error { return m.release(true) }

// release passes on the oldest queued packet while it may go (all:
// unconditionally).
func (m *merger) release(all bool) error {
	for {
		i := m.oldest()
		if i < 0 {
			return nil
		}
		q := &m.q[i]
		if !all && !m.caughtUp(i, q.head().ci.Timestamp) {
			if m.held <= m.maxPkts && m.heldBytes <= m.maxBytes {
				return nil
			}
			m.st.Forced++
		}
		if err := m.pass(q); err != nil {
			return err
		}
	}
}

// head is the source's next packet (its queue is not empty).
func (q *mergeQueue) head() *livePkt { return &q.batches[0].pkts[q.next] }

// pass gives the engine the next packet of q.
func (m *merger) pass(q *mergeQueue) error {
	b := q.batches[0]
	p := q.head()
	if p.ci.Timestamp.Before(m.last) {
		m.st.Late++
	} else {
		m.last = p.ci.Timestamp
	}
	q.next++
	m.held--
	done := q.next == len(b.pkts)
	if done {
		q.batches[0] = nil
		q.batches, q.next = q.batches[1:], 0
		m.heldBytes -= cap(b.data)
	}
	err := m.out(b.data[p.off:p.off+p.n], p.ci, b.lt)
	if done {
		m.free(b) // after out: the packet's bytes are in b
	}
	return err
}

// oldest is the source whose next packet is the oldest queued (-1: none).
func (m *merger) oldest() int {
	best := -1
	var bt time.Time
	for i := range m.q {
		q := &m.q[i]
		if len(q.batches) == 0 {
			continue
		}
		t := q.head().ci.Timestamp
		if best < 0 || t.Before(bt) {
			best, bt = i, t
		}
	}
	return best
}

// caughtUp says whether every source other than i has a packet queued
// or its watermark at or after t.
func (m *merger) caughtUp(i int, t time.Time) bool {
	for j := range m.q {
		q := &m.q[j]
		if j == i || len(q.batches) > 0 || !q.wm.Before(t) {
			continue
		}
		return false
	}
	return true
}
