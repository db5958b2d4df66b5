package capture

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// Capture files are read in two stages, so that a run keeps two cores
// busy besides the conversion workers: a reader goroutine reads the files,
// decodes the link and IP layers, reassembles IP fragments and keeps the
// TCP segments on the ports, copied into batches; the engine's goroutine
// takes the batches in order and reassembles the segments. The engine
// sees the same segments, in the same order, with the same packet indexes
// as when it decoded them itself (the live capture still does), so the
// session files are the same.

// segment is one TCP segment on the ports, as the reader hands it over:
// its header and payload are data[off:end] of its batch.
type segment struct {
	seq      int64 // index of its packet in the capture
	ts       time.Time
	flow     gopacket.Flow // the network flow
	off, end int
}

// segBatch is a batch of segments handed from the reader to the engine.
type segBatch struct {
	// flush: complete every open session before these segments (the
	// capture file they start does not follow on from the previous one).
	flush bool
	segs  []segment
	data  []byte
}

// Bounds of a batch, and the batches in flight: a few MiB in all.
const (
	batchSegs  = 256
	batchData  = 512 << 10
	batchDepth = 4
)

// errStopped ends the reader when the engine stopped (its error is the
// run's).
var errStopped = errors.New("capture: stopped")

// reader is the first stage: it owns its decoder (and defragmenter) and
// the packet count; the engine owns the rest.
type reader struct {
	e         *engine
	room      int // bytes a new batch has room for (small captures, small batches)
	dec       *decoder
	seq       int64
	cur       *segBatch
	flushNext bool
	out       chan *segBatch // to the engine, closed when the reader ends
	free      chan *segBatch // from the engine, for reuse
	stop      chan struct{}  // closed by the engine when it stops early
}

func newReader(e *engine, total int64) *reader {
	r := &reader{e: e, dec: newDecoder(), room: int(min(max(total, 4<<10), batchData+64<<10)), out: make(chan *segBatch, batchDepth),
		free: make(chan *segBatch, batchDepth+2), stop: make(chan struct{})}
	r.dec.frag = newDefragger(e.opts.FragTimeout, e.opts.MaxFragBytes, e.st)
	return r
}

// run reads the inputs in order and returns why it stopped: nil at the
// end, the context's error, a file's error, or errStopped.
func (r *reader) run(ctx context.Context, inputs []input, prog *progress) error {
	defer close(r.out)
	var lastTS time.Time
	for _, in := range inputs {
		if err := ctx.Err(); err != nil {
			return err
		}
		_, last, err := r.readInput(ctx, in, prog, lastTS)
		if err != nil {
			return err
		}
		if last.After(lastTS) {
			lastTS = last
		}
		r.e.st.Files++
	}
	return r.send()
}

// readInput reads one capture file into batches.
func (r *reader) readInput(ctx context.Context, in input, prog *progress, prevLast time.Time) (first, last time.Time, err error) {
	e, name := r.e, in.name
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
				if err := r.flushAll(); err != nil {
					return first, last, err
				}
			}
		}
		if ci.Timestamp.After(last) {
			last = ci.Timestamp
		}
		if err := r.packet(data, ci, linkOf(ci)); err != nil {
			return first, last, err
		}
	}
	e.st.Bytes += prog.read - e.bytesSeen
	e.bytesSeen = prog.read
	return first, last, nil
}

// packet decodes one packet and keeps it when it is TCP on the ports.
func (r *reader) packet(data []byte, ci gopacket.CaptureInfo, lt layers.LinkType) error {
	st := r.e.st
	st.Packets++
	r.seq++
	tcp, flow, res := r.dec.decode(data, lt, ci.Timestamp)
	switch res {
	case undecodable:
		st.Undecodable++
		return nil
	case fragHeld:
		return nil
	}
	if !r.e.ports.has(uint16(tcp.SrcPort)) && !r.e.ports.has(uint16(tcp.DstPort)) {
		return nil
	}
	b := r.batch()
	off := len(b.data)
	b.data = append(append(b.data, tcp.Contents...), tcp.Payload...)
	b.segs = append(b.segs, segment{seq: r.seq, ts: ci.Timestamp, flow: flow, off: off, end: len(b.data)})
	if len(b.segs) >= batchSegs || len(b.data) >= batchData {
		return r.send()
	}
	return nil
}

// batch returns the batch being filled, starting one if needed.
func (r *reader) batch() *segBatch {
	if r.cur == nil {
		select {
		case r.cur = <-r.free:
		default:
			r.cur = &segBatch{data: make([]byte, 0, r.room)}
		}
		r.cur.flush, r.flushNext = r.flushNext, false
	}
	return r.cur
}

// flushAll has the engine complete every open session before the next
// segments.
func (r *reader) flushAll() error {
	if err := r.send(); err != nil {
		return err
	}
	r.flushNext = true
	return nil
}

// send hands the batch being filled to the engine.
func (r *reader) send() error {
	b := r.cur
	if b == nil {
		return nil
	}
	r.cur = nil
	select {
	case r.out <- b:
		return nil
	case <-r.stop:
		return errStopped
	}
}

// consume reassembles the reader's batches until it ends; when the run
// fails (fn's error) it stops the reader and drains what was sent.
func (e *engine) consume(r *reader) {
	stopped := false
	for b := range r.out {
		if !stopped {
			if b.flush {
				e.flushAll()
			}
			for i := range b.segs {
				e.segment(&b.segs[i], b.data)
			}
			if e.failed() {
				close(r.stop)
				stopped = true
			}
		}
		b.segs, b.data = b.segs[:0], b.data[:0]
		select {
		case r.free <- b:
		default:
		}
	}
}

// segment reassembles one segment from the reader.
func (e *engine) segment(s *segment, data []byte) {
	if e.tcp.DecodeFromBytes(data[s.off:s.end], gopacket.NilDecodeFeedback) != nil {
		return // decoded once by the reader: cannot fail
	}
	e.pktSeq = s.seq
	e.assemble(&e.tcp, s.flow, s.ts)
}
