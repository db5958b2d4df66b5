package capture

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/reassembly"
)

// CutShutdown is the Cut of a session still open when a live capture
// stopped (SIGTERM): written as it was, its unfinished message partial.
const CutShutdown = "shutdown"

// LiveStats are the counters of a live capture: those of the shared
// pipeline (Stats: gaps, limits hit, fragments) and the kernel's for each
// interface (TPACKET_V3 statistics: packets the socket received after the
// filter, and packets dropped because the ring was full).
type LiveStats struct {
	Stats
	Interfaces []IfaceStats
	// Merge counts the timestamp merge of several interfaces (merge.go).
	Merge MergeStats
}

// IfaceStats are one interface's kernel counters since the capture began.
type IfaceStats struct {
	Name          string
	KernelPackets uint64
	KernelDrops   uint64
	QueueFreezes  uint64
}

// Drops is the sum of the kernel drops of all interfaces.
func (s *LiveStats) Drops() uint64 {
	var n uint64
	for _, i := range s.Interfaces {
		n += i.KernelDrops
	}
	return n
}

// Direction says which packets of each interface a live capture keeps.
type Direction string

const (
	// DirectionAuto is DirectionIn with several interfaces (each packet
	// is received once somewhere), DirectionBoth with one (a host
	// capturing its own MTA's traffic needs what it sends).
	DirectionAuto Direction = ""
	// DirectionIn keeps the packets an interface receives: those it
	// sends are dropped in the kernel filter (their type is
	// PACKET_OUTGOING), so a router's forwarded packet, received on one
	// leg and sent on the other, is seen once.
	DirectionIn Direction = "in"
	// DirectionBoth keeps what an interface receives and what it sends
	// (on lo the outgoing copy is dropped all the same: every packet
	// there is also received).
	DirectionBoth Direction = "both"
)

// ParseDirection checks a Direction given by name ("" is DirectionAuto).
func ParseDirection(s string) (Direction, error) {
	switch d := Direction(s); d {
	case DirectionAuto, DirectionIn, DirectionBoth:
		return d, nil
	}
	return "", fmt.Errorf("capture: direction %q: want in or both", s)
}

// resolve is the direction a capture on n interfaces uses.
func (d Direction) resolve(n int) Direction {
	if d != DirectionAuto {
		return d
	}
	if n > 1 {
		return DirectionIn
	}
	return DirectionBoth
}

// liveSource is one capturing interface (afpacket on Linux; fakes in tests).
type liveSource interface {
	Name() string
	LinkType() layers.LinkType
	// ZeroCopyReadPacketData returns the next packet, errTimeout when none
	// came within the poll timeout.
	ZeroCopyReadPacketData() ([]byte, gopacket.CaptureInfo, error)
	// KernelStats returns the interface's counters so far.
	KernelStats() IfaceStats
	Close()
}

// errTimeout is a liveSource's "no packet yet".
var errTimeout = errors.New("capture: poll timeout")

// liveBatch is packets copied out of one source's ring.
type liveBatch struct {
	lt   layers.LinkType
	data []byte
	pkts []livePkt
	err  error // the source failed: the capture stops
	src  string
	idx  int // the source's index
	// idle: no packets, the source's ring stayed empty for its poll
	// timeout and it will deliver no packet older than mark.
	idle bool
	mark time.Time
}

type livePkt struct {
	off, n int
	ci     gopacket.CaptureInfo
}

const (
	liveBatchPkts  = 256
	liveBatchBytes = 1 << 20
	liveTick       = time.Second
	maxDrain       = 1 << 20 // packets read from a ring after the stop
	// A ring hands a block of packets over when it is full or
	// ringBlockTimeout after it was opened; a read waits ringPollTimeout
	// for one before it reports errTimeout.
	ringBlockTimeout = 64 * time.Millisecond
	ringPollTimeout  = 200 * time.Millisecond
	// idleMargin: a packet reaches the ring within this long of its
	// stamp (the block timeout, plus slack for a loaded machine).
	idleMargin = ringBlockTimeout + 100*time.Millisecond
)

// runLive reads the sources until ctx ends (or one fails) and drives the
// engine from one goroutine, as process does for files: the same
// decode, reassembly, SMTP model and emission. Every liveTick the engine
// is advanced to the wall clock (idle timeouts and gap waits run without
// packets) and report, when not nil, gets the counters (also once at the start, every source open). When ctx ends
// every open session is written with Cut CutShutdown.
func runLive(ctx context.Context, srcs []liveSource, opts *Options, st *Stats, report func(LiveStats), fn func(*SessionFile) error) error {
	e := newEngine(opts, st, fn)
	if opts.Evidence != nil {
		lt := srcs[0].LinkType()
		for _, s := range srcs[1:] {
			if s.LinkType() != lt {
				for _, s := range srcs {
					s.Close()
				}
				return fmt.Errorf("capture: evidence pcaps: interfaces %s (%s) and %s (%s) have different link types; one pcap file holds one: capture them in separate processes", srcs[0].Name(), lt, s.Name(), s.LinkType())
			}
		}
		ev, err := newEvidence(*opts.Evidence, lt)
		if err != nil {
			for _, s := range srcs {
				s.Close()
			}
			return err
		}
		e.ev = ev
	}
	// packet keeps a packet as evidence, then gives it to the engine.
	packet := func(data []byte, ci gopacket.CaptureInfo, lt layers.LinkType) error {
		if e.ev != nil {
			if err := e.ev.write(data, ci); err != nil {
				return err
			}
		}
		e.packet(data, ci, lt)
		return nil
	}
	batches := make(chan *liveBatch, 4*len(srcs))
	free := make(chan *liveBatch, 8*len(srcs))
	recycle := func(b *liveBatch) {
		select {
		case free <- b:
		default:
		}
	}
	// One source: its batches go to the engine as they come. Several:
	// through the timestamp merge, fed small batches (mergeSpan).
	var mg *merger
	var ms MergeStats
	span := time.Duration(0)
	if len(srcs) > 1 {
		mg, span = newMerger(len(srcs), &ms, packet, recycle), mergeSpan
	}
	batch := func(b *liveBatch) error {
		if mg != nil {
			return mg.add(b)
		}
		for _, p := range b.pkts {
			if err := packet(b.data[p.off:p.off+p.n], p.ci, b.lt); err != nil {
				return err
			}
		}
		recycle(b)
		return nil
	}
	readCtx, stopRead := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for i, s := range srcs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			readLive(readCtx, s, i, span, batches, free)
		}()
	}
	var ifaces []IfaceStats // the kernel's counters once the sources are closed
	snapshot := func() LiveStats {
		ls := LiveStats{Stats: e.statsCopy(), Interfaces: ifaces, Merge: ms}
		if ifaces == nil {
			for _, s := range srcs {
				ls.Interfaces = append(ls.Interfaces, s.KernelStats())
			}
		}
		return ls
	}
	if report != nil {
		report(snapshot()) // the sockets are open: capturing
	}
	tick := time.NewTicker(liveTick)
	defer tick.Stop()
	var runErr error
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case b := <-batches:
			if b.err != nil {
				runErr = b.err
				break loop
			}
			if runErr = batch(b); runErr != nil || e.failed() {
				break loop
			}
		case now := <-tick.C:
			if e.ev != nil {
				if runErr = e.ev.flush(); runErr != nil {
					break loop
				}
			}
			e.tick(now)
			if report != nil {
				report(snapshot())
			}
		}
	}
	// The readers hand over what they hold, then the channel closes:
	// every packet read from a ring is processed (unless the run failed).
	stopRead()
	go func() {
		wg.Wait()
		close(batches)
	}()
	for b := range batches {
		if runErr != nil || e.failed() || b.err != nil {
			continue
		}
		runErr = batch(b)
	}
	if mg != nil && runErr == nil && !e.failed() {
		runErr = mg.flush() // no source delivers more
	}
	for _, s := range srcs {
		ifaces = append(ifaces, s.KernelStats())
		s.Close()
	}
	if e.asm != nil {
		e.flush(CutShutdown, func() { e.asm.FlushAll() })
	}
	e.recycle()
	e.stopWorkers()
	if e.ev != nil {
		runErr = errors.Join(runErr, e.ev.close()) // fsynced
	}
	if report != nil {
		report(snapshot())
	}
	return errors.Join(runErr, e.getErr())
}

// readLive copies packets from s (source number idx) into batches until
// ctx ends, then reads what the ring still holds (until a poll finds
// nothing, at most maxDrain packets) and hands over the batch it holds:
// the packets the kernel took before the stop are processed. A batch
// goes when full, when the ring stayed empty for the poll timeout, and,
// when span is not 0 (a merged capture), once its packets span that much
// capture time; in a merged capture an empty ring is also reported (an
// idle batch), so the merge does not wait for this source: with the time
// before which no packet can still come, the start of the read that
// found nothing less idleMargin (a packet reaches the ring within the
// block timeout of its stamp). That start is known from below: the
// reader's start, the last packet's time, the end of the last empty
// read; no clock is read per packet.
func readLive(ctx context.Context, s liveSource, idx int, span time.Duration, out chan<- *liveBatch, free chan *liveBatch) {
	lt := s.LinkType()
	since := time.Now()
	var b *liveBatch
	send := func() {
		if b != nil && len(b.pkts) > 0 {
			out <- b // the engine reads until every reader returned
			b = nil
		}
	}
	defer send()
	drained := 0
	for drained < maxDrain {
		if ctx.Err() != nil {
			drained++
		}
		data, ci, err := s.ZeroCopyReadPacketData()
		if err == errTimeout {
			send()
			if ctx.Err() != nil {
				return
			}
			if span > 0 {
				out <- &liveBatch{idx: idx, idle: true, mark: since.Add(-idleMargin)}
				since = time.Now() // the next read starts after this
			}
			continue
		}
		if err != nil {
			send()
			out <- &liveBatch{err: err, src: s.Name(), idx: idx}
			return
		}
		if b == nil {
			b = newBatch(free, span)
			b.lt, b.idx = lt, idx
		}
		b.pkts = append(b.pkts, livePkt{off: len(b.data), n: len(data), ci: ci})
		b.data = append(b.data, data...)
		if span > 0 && ci.Timestamp.After(since) {
			since = ci.Timestamp
		}
		if len(b.pkts) >= liveBatchPkts || len(b.data) >= liveBatchBytes ||
			(span > 0 && ci.Timestamp.Sub(b.pkts[0].ci.Timestamp) >= span) {
			send()
		}
	}
}

// newBatch is an empty batch, recycled from free when one is there; a
// new one holds liveBatchBytes, or mergeBatchBytes in a merged capture
// (span not 0), where batches are small.
func newBatch(free chan *liveBatch, span time.Duration) *liveBatch {
	select {
	case b := <-free:
		b.data, b.pkts = b.data[:0], b.pkts[:0]
		return b
	default:
	}
	size := liveBatchBytes
	if span > 0 {
		size = mergeBatchBytes
	}
	return &liveBatch{data: make([]byte, 0, size), pkts: make([]livePkt, 0, liveBatchPkts)}
}

// tick advances the engine's clock to the wall clock when no packet did
// (a quiet link), and runs the idle and gap flushes that are due.
func (e *engine) tick(now time.Time) {
	if e.asm == nil {
		return
	}
	if now.After(e.now) {
		e.now = now
	}
	if e.nextFlush.IsZero() || e.now.After(e.nextFlush) {
		e.nextFlush = e.now.Add(5 * time.Second)
		e.flush(CutIdle, func() {
			e.asm.FlushWithOptions(reassembly.FlushOptions{
				T:  e.now.Add(-e.opts.GapWait),
				TC: e.now.Add(-e.opts.IdleTimeout),
			})
		})
	}
}

// writeLive runs runLive into a directory, each session file fsynced
// before its .ready (SyncEach unless opts says SyncNone: a live capture
// is not kept, so no batch can be read again after a crash).
func writeLive(ctx context.Context, srcs []liveSource, opts Options, dir string, report func(LiveStats)) (int, error) {
	if opts.Sync != SyncNone {
		opts.Sync = SyncEach
	}
	opts.defaults()
	w, err := newDirWriter(dir, opts.Sync, opts.hooks)
	if err != nil {
		for _, s := range srcs {
			s.Close()
		}
		return 0, err
	}
	opts.recycle = true
	st := opts.Stats
	if st == nil {
		st = &Stats{}
	}
	n := 0
	err = runLive(ctx, srcs, &opts, st, report, func(sf *SessionFile) error {
		if err := w.write(sf); err != nil {
			return err
		}
		n++
		return nil
	})
	return n, errors.Join(err, w.close())
}
