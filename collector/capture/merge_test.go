package capture

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

var mergeT0 = time.Unix(1700000000, 0)

// mergeRec records what a merger passes on and frees.
type mergeRec struct {
	out   []int // the packets' numbers (their first 4 bytes), in order
	freed map[*liveBatch]int
}

func newMergeRec() *mergeRec { return &mergeRec{freed: map[*liveBatch]int{}} }

func (r *mergeRec) merger(n int, st *MergeStats) *merger {
	return newMerger(n, st, func(data []byte, ci gopacket.CaptureInfo, lt layers.LinkType) error {
		if got := int(binary.BigEndian.Uint32(data)); time.Duration(got)*time.Millisecond != ci.Timestamp.Sub(mergeT0) {
			return errMergeTest
		}
		r.out = append(r.out, int(binary.BigEndian.Uint32(data)))
		return nil
	}, func(b *liveBatch) { r.freed[b]++ })
}

var errMergeTest = context.DeadlineExceeded // any error: data and stamp disagree

// mbatch is a batch of source idx whose packets are numbered ms (each
// one's time is mergeT0 + ms milliseconds, its data the number).
func mbatch(idx int, ms ...int) *liveBatch {
	b := &liveBatch{idx: idx, lt: layers.LinkTypeEthernet, data: make([]byte, 0, 64)}
	for _, m := range ms {
		b.pkts = append(b.pkts, livePkt{off: len(b.data), n: 4, ci: gopacket.CaptureInfo{Timestamp: mergeT0.Add(time.Duration(m) * time.Millisecond)}})
		b.data = binary.BigEndian.AppendUint32(b.data, uint32(m))
	}
	return b
}

// idleOf is source idx's idle report: nothing older than mergeT0 + ms
// milliseconds will come.
func idleOf(idx, ms int) *liveBatch {
	return &liveBatch{idx: idx, idle: true, mark: mergeT0.Add(time.Duration(ms) * time.Millisecond)}
}

func addAll(t *testing.T, m *merger, bs ...*liveBatch) {
	t.Helper()
	for _, b := range bs {
		if err := m.add(b); err != nil {
			t.Fatal(err)
		}
	}
}

// TestMergeOrder: batches of three sources, each in time order but
// arriving in any order between sources, come out in time order, every
// packet once, every batch freed once after its last packet; a packet
// waits while another source has delivered nothing as late.
func TestMergeOrder(t *testing.T) {
	r := newMergeRec()
	var st MergeStats
	m := r.merger(3, &st)
	b := []*liveBatch{mbatch(0, 1, 4, 9), mbatch(1, 2, 3), mbatch(2, 5), mbatch(0, 10, 12), mbatch(1, 11), mbatch(2, 6, 7, 13)}
	addAll(t, m, b[0], b[1])
	if len(r.out) != 0 {
		t.Fatalf("passed on %v before source 2 delivered anything", r.out)
	}
	addAll(t, m, b[2]) // 5; 4 still waits: source 1 delivered up to 3 only
	if want := []int{1, 2, 3}; !slices.Equal(r.out, want) {
		t.Fatalf("after source 2's first batch: %v, want %v", r.out, want)
	}
	addAll(t, m, b[3], b[4], b[5])
	if err := m.flush(); err != nil {
		t.Fatal(err)
	}
	if want := []int{1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 12, 13}; !slices.Equal(r.out, want) {
		t.Fatalf("merged %v, want %v", r.out, want)
	}
	for _, x := range b {
		if r.freed[x] != 1 {
			t.Errorf("batch %v freed %d times", x.pkts, r.freed[x])
		}
	}
	if st.Forced != 0 || st.Late != 0 || st.PeakHeld != 7 || m.held != 0 || m.heldBytes != 0 {
		t.Errorf("stats %+v, held %d (%d bytes) at the end", st, m.held, m.heldBytes)
	}
}

// TestMergeLatest: a source whose last delivered packet is later than
// the oldest queued one does not hold it back, though its queue is
// empty (its next packets can only be later).
func TestMergeLatest(t *testing.T) {
	r := newMergeRec()
	var st MergeStats
	m := r.merger(2, &st)
	addAll(t, m, mbatch(1, 5), mbatch(0, 1, 2, 3)) // 5 waits for source 0; 1-3 go, 5 then waits again
	if want := []int{1, 2, 3}; !slices.Equal(r.out, want) {
		t.Fatalf("%v, want %v", r.out, want)
	}
	addAll(t, m, mbatch(0, 4))
	if want := []int{1, 2, 3, 4}; !slices.Equal(r.out, want) {
		t.Fatalf("%v, want %v: source 1 delivered 5, so 4 may go", r.out, want)
	}
	addAll(t, m, mbatch(0, 8))
	if want := []int{1, 2, 3, 4, 5}; !slices.Equal(r.out, want) {
		t.Fatalf("%v, want %v: 8 waits for source 1", r.out, want)
	}
}

// TestMergeIdle: an idle source (its ring empty for the poll timeout)
// holds back no packet older than its report's mark; a packet it
// delivers afterwards older than one already passed on still goes on
// (never dropped), counted Late; its later packets raise its watermark
// no further than they go.
func TestMergeIdle(t *testing.T) {
	r := newMergeRec()
	var st MergeStats
	m := r.merger(2, &st)
	addAll(t, m, mbatch(0, 10, 20))
	if len(r.out) != 0 {
		t.Fatalf("passed on %v while source 1 said nothing", r.out)
	}
	addAll(t, m, idleOf(1, 15))
	if want := []int{10}; !slices.Equal(r.out, want) {
		t.Fatalf("%v, want %v: source 1 is idle up to 15", r.out, want)
	}
	addAll(t, m, idleOf(1, 12)) // an older mark changes nothing
	addAll(t, m, idleOf(1, 25))
	if want := []int{10, 20}; !slices.Equal(r.out, want) {
		t.Fatalf("%v, want %v once source 1 is idle up to 25", r.out, want)
	}
	addAll(t, m, mbatch(1, 18)) // older than its mark: late, still passed on
	if want := []int{10, 20, 18}; !slices.Equal(r.out, want) || st.Late != 1 {
		t.Fatalf("%v, late %d; want %v, 1 late", r.out, st.Late, want)
	}
	addAll(t, m, mbatch(0, 30)) // source 1's watermark is 25: 30 waits
	if len(r.out) != 3 {
		t.Fatalf("%v: 30 went on past source 1's watermark", r.out)
	}
	if err := m.flush(); err != nil || len(r.out) != 4 {
		t.Fatalf("flush: %v, %v", err, r.out)
	}
}

// TestMergeCap: while one source says nothing, the merge holds at most
// MergeMaxPackets packets (and MergeMaxBytes of buffers): beyond, the
// oldest go on (counted Forced), in order, none lost.
func TestMergeCap(t *testing.T) {
	for _, byBytes := range []bool{false, true} {
		r := newMergeRec()
		var st MergeStats
		m := r.merger(2, &st)
		if byBytes {
			m.maxBytes = 10 * 64 // ten batches' buffers
		} else {
			m.maxPkts = 25
		}
		for i := 0; i < 100; i += 2 {
			addAll(t, m, mbatch(0, i, i+1))
			if !byBytes && m.held > 25 || byBytes && m.heldBytes > 10*64 {
				t.Fatalf("holding %d packets, %d bytes", m.held, m.heldBytes)
			}
		}
		if byBytes && (st.Forced != 80 || st.PeakHeldBytes != 11*64) || !byBytes && (st.Forced != 75 || st.PeakHeld != 27) {
			t.Errorf("bytes %v: %+v", byBytes, st)
		}
		if err := m.flush(); err != nil {
			t.Fatal(err)
		}
		if len(r.out) != 100 || !slices.IsSorted(r.out) || st.Late != 0 {
			t.Errorf("bytes %v: %d packets out, sorted %v, late %d", byBytes, len(r.out), slices.IsSorted(r.out), st.Late)
		}
	}
}

// TestMergeOutError: an error of the engine stops the merge and is
// returned.
func TestMergeOutError(t *testing.T) {
	var st MergeStats
	m := newMerger(2, &st, func([]byte, gopacket.CaptureInfo, layers.LinkType) error { return errMergeTest }, func(*liveBatch) {})
	if err := m.add(mbatch(0, 1)); err != nil {
		t.Fatal(err)
	}
	if err := m.add(idleOf(1, 5)); err != errMergeTest {
		t.Fatalf("got %v", err)
	}
}

// FuzzMerge feeds a merger batches of two or three sources (each in time
// order; the fuzzer picks the times, the batch boundaries, the order in
// which sources deliver, idle reports with their marks and a small
// cap): every packet
// comes out once, every batch is freed once, the merge holds no more
// than the cap once a batch is taken, the output is in time order but
// for the packets counted late, and none is late unless a source
// reported idle or the cap forced a packet on.
func FuzzMerge(f *testing.F) {
	f.Add([]byte{0, 3, 1, 2, 2, 5, 0x80, 1, 4})
	f.Add([]byte{0x41, 1, 1, 1, 0xc2, 9, 9, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) < 1 {
			return
		}
		nsrc := 2 + int(in[0]&1)
		maxPkts := 4 + int(in[0]>>1)
		r := newMergeRec()
		var st MergeStats
		m := r.merger(nsrc, &st)
		m.maxPkts = maxPkts
		clock := make([]int, nsrc) // each source's last time
		var sent []*liveBatch
		total, idles := 0, 0
		for i := 1; i < len(in); {
			c := in[i]
			src := int(c&3) % nsrc
			i++
			if c&0x80 != 0 {
				idles++
				mark := clock[src]
				if i < len(in) {
					mark += int(in[i]) - 64 // before or after the source's next packets
					i++
				}
				addAll(t, m, idleOf(src, mark*4))
				continue
			}
			n := int(c>>2&7) + 1
			var ms []int
			for ; n > 0 && i < len(in); n-- {
				clock[src] += int(in[i]) + 1
				ms = append(ms, clock[src]*4+src) // distinct across sources
				i++
			}
			if len(ms) == 0 {
				break
			}
			b := mbatch(src, ms...)
			sent = append(sent, b)
			total += len(ms)
			addAll(t, m, b)
			if m.held > maxPkts {
				t.Fatalf("holding %d packets, cap %d", m.held, maxPkts)
			}
		}
		if err := m.flush(); err != nil {
			t.Fatal(err)
		}
		if len(r.out) != total {
			t.Fatalf("%d packets out of %d", len(r.out), total)
		}
		seen := map[int]bool{}
		for _, x := range r.out {
			if seen[x] {
				t.Fatalf("packet %d twice", x)
			}
			seen[x] = true
		}
		for _, b := range sent {
			if r.freed[b] != 1 {
				t.Fatalf("a batch freed %d times", r.freed[b])
			}
		}
		if st.Late == 0 && !slices.IsSorted(r.out) {
			t.Fatalf("out of order, none counted late: %v", r.out)
		}
		if st.Late != 0 && st.Forced == 0 && idles == 0 {
			t.Fatalf("%d late without an idle source or a forced packet: %v", st.Late, r.out)
		}
	})
}

// TestLiveMergeBreakoutTap: a breakout tap's two monitor ports, one per
// direction, through the live path (two fake interfaces, one reader
// each): the client's packets of two interleaved sessions come from one
// interface, the server's from the other. The merge gives exactly the
// session files `smtpscope pcap` writes for one capture of both
// directions in time order; the same packets in interface order (what
// the capture did before the merge) give other session files.
func TestLiveMergeBreakoutTap(t *testing.T) {
	a := synthSession(synthOpts{cport: 40001}, smtpSession(testMsgs))
	b := synthSession(synthOpts{cport: 40002, v6: true}, smtpSession(testMsgs[:1]))
	// Interleave the sessions in time: a's packets at even, b's at odd
	// 0.1 ms steps (b shorter); each packet keeps its time on its port.
	type timed struct {
		p  pkt
		ts time.Time
	}
	var all []timed
	for i, p := range a {
		all = append(all, timed{p, mergeT0.Add(time.Duration(2*i) * 100 * time.Microsecond)})
	}
	for i, p := range b {
		all = append(all, timed{p, mergeT0.Add(time.Duration(2*i+1) * 100 * time.Microsecond)})
	}
	slices.SortFunc(all, func(x, y timed) int { return x.ts.Compare(y.ts) })
	var sorted, byPort []pkt
	var sortedTS, byPortTS []time.Time
	toServer := &fakeSource{name: "mon0", done: make(chan struct{})}
	toClient := &fakeSource{name: "mon1", done: make(chan struct{})}
	for _, x := range all {
		sorted, sortedTS = append(sorted, x.p), append(sortedTS, x.ts)
		f := toClient
		if x.p.client {
			f = toServer
		}
		f.pkts, f.ts = append(f.pkts, x.p.data), append(f.ts, x.ts)
	}
	for _, f := range []*fakeSource{toServer, toClient} {
		byPort, byPortTS = append(byPort, pkts(f.pkts)...), append(byPortTS, f.ts...)
	}
	want := pcapSessions(t, sorted, sortedTS)
	if naive := pcapSessions(t, byPort, byPortTS); len(naive) == len(want) && sameFiles(naive, want) {
		t.Fatal("the packets in interface order give the same session files: the test proves nothing")
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-toServer.done
		<-toClient.done
		cancel()
	}()
	liveDir := t.TempDir()
	var last LiveStats
	if _, err := writeLive(ctx, []liveSource{toServer, toClient}, Options{Sync: SyncNone}, liveDir, func(ls LiveStats) { last = ls }); err != nil {
		t.Fatal(err)
	}
	got := readDir(t, liveDir)
	if len(want) != 2 || !sameFiles(got, want) {
		for name, w := range want {
			t.Errorf("%s:\nlive:\n%s\npcap:\n%s", name, got[name], w)
		}
		t.Fatalf("live wrote %d files, pcap %d", len(got), len(want))
	}
	if last.Merge.Forced != 0 || last.Merge.Late != 0 || last.Merge.PeakHeld == 0 {
		t.Errorf("merge counters %+v", last.Merge)
	}
}

func pkts(data [][]byte) []pkt {
	out := make([]pkt, len(data))
	for i, d := range data {
		out[i] = pkt{data: d}
	}
	return out
}

// pcapSessions writes the packets to a pcap and returns the session
// files WriteDir makes of it.
func pcapSessions(t *testing.T, p []pkt, ts []time.Time) map[string][]byte {
	t.Helper()
	path := filepath.Join(t.TempDir(), "c.pcap")
	writeTimed(t, path, p, ts)
	dir := t.TempDir()
	if _, err := WriteDir(context.Background(), []string{path}, Options{Sync: SyncNone}, dir); err != nil {
		t.Fatal(err)
	}
	return readDir(t, dir)
}

func sameFiles(a, b map[string][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for name, x := range a {
		if !bytes.Equal(b[name], x) {
			return false
		}
	}
	return true
}

// TestDirection: the names a capture's direction takes, and the default
// (in with several interfaces, both with one).
func TestDirection(t *testing.T) {
	for in, want := range map[string]Direction{"": DirectionAuto, "in": DirectionIn, "both": DirectionBoth} {
		if d, err := ParseDirection(in); err != nil || d != want {
			t.Errorf("%q: %q, %v", in, d, err)
		}
	}
	if _, err := ParseDirection("IN"); err == nil {
		t.Error("IN accepted")
	}
	if DirectionAuto.resolve(1) != DirectionBoth || DirectionAuto.resolve(2) != DirectionIn ||
		DirectionBoth.resolve(3) != DirectionBoth || DirectionIn.resolve(1) != DirectionIn {
		t.Error("resolve")
	}
}

// BenchmarkMerge is the merge alone: two sources' batches of 64
// packets, interleaved in time, through add; per op one packet.
func BenchmarkMerge(b *testing.B) {
	var st MergeStats
	var pool []*liveBatch
	n := 0
	m := newMerger(2, &st, func([]byte, gopacket.CaptureInfo, layers.LinkType) error { n++; return nil },
		func(x *liveBatch) { pool = append(pool, x) })
	batch := func(idx, first int) *liveBatch {
		var x *liveBatch
		if k := len(pool); k > 0 {
			x, pool = pool[k-1], pool[:k-1]
			x.data, x.pkts = x.data[:0], x.pkts[:0]
		} else {
			x = &liveBatch{data: make([]byte, 0, 64*4), pkts: make([]livePkt, 0, 64)}
		}
		x.idx = idx
		for i := 0; i < 64; i++ {
			ms := first + 2*i
			x.pkts = append(x.pkts, livePkt{off: len(x.data), n: 4, ci: gopacket.CaptureInfo{Timestamp: mergeT0.Add(time.Duration(ms) * time.Microsecond)}})
			x.data = binary.BigEndian.AppendUint32(x.data, uint32(ms))
		}
		return x
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; n < b.N; i++ {
		if err := m.add(batch(i&1, (i/2)*128+(i&1))); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLiveInterfaces runs the live path over 200 SMTP sessions
// (fake interfaces): all packets on one interface (no merge), or each
// direction on its own (a breakout tap: merged). Per op: the 200
// sessions.
func BenchmarkLiveInterfaces(b *testing.B) {
	var all []pkt
	var ts []time.Time
	for s := 0; s < 200; s++ {
		p := synthSession(synthOpts{cport: uint16(20000 + s)}, smtpSession(testMsgs))
		for i, x := range p {
			all = append(all, x)
			ts = append(ts, mergeT0.Add(time.Duration(s*len(p)+i)*50*time.Microsecond))
		}
	}
	for _, n := range []int{1, 2} {
		b.Run(fmt.Sprintf("%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for range b.N {
				srcs := make([]*fakeSource, n)
				for i := range srcs {
					srcs[i] = &fakeSource{name: fmt.Sprintf("if%d", i), done: make(chan struct{})}
				}
				for i, p := range all {
					f := srcs[0]
					if n == 2 && !p.client {
						f = srcs[1]
					}
					f.pkts, f.ts = append(f.pkts, p.data), append(f.ts, ts[i])
				}
				ctx, cancel := context.WithCancel(context.Background())
				ls := make([]liveSource, n)
				for i, f := range srcs {
					ls[i] = f
				}
				go func() {
					for _, f := range srcs {
						<-f.done
					}
					cancel()
				}()
				var st Stats
				opts := Options{}
				opts.defaults()
				sessions := 0
				if err := runLive(ctx, ls, &opts, &st, nil, func(*SessionFile) error { sessions++; return nil }); err != nil || sessions != 200 {
					b.Fatalf("%d sessions, %v", sessions, err)
				}
			}
		})
	}
}
