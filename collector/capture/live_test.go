package capture

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/smtpscope/smtpscope/core"
)

// fakeSource hands out packets like an interface, then reports timeouts
// (a quiet link) until it is closed.
type fakeSource struct {
	name  string
	mu    sync.Mutex
	pkts  [][]byte
	ts    []time.Time
	drops uint64
	done  chan struct{} // closed when every packet was handed out
	once  sync.Once
}

func newFakeSource(name string, pk []pkt, t0 time.Time) *fakeSource {
	f := &fakeSource{name: name, done: make(chan struct{}), drops: 7}
	for i, p := range pk {
		f.pkts = append(f.pkts, p.data)
		f.ts = append(f.ts, t0.Add(time.Duration(i)*time.Millisecond))
	}
	return f
}

func (f *fakeSource) Name() string              { return f.name }
func (f *fakeSource) LinkType() layers.LinkType { return layers.LinkTypeEthernet }
func (f *fakeSource) Close()                    {}
func (f *fakeSource) KernelStats() IfaceStats {
	return IfaceStats{Name: f.name, KernelDrops: f.drops}
}

func (f *fakeSource) ZeroCopyReadPacketData() ([]byte, gopacket.CaptureInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.pkts) == 0 {
		f.once.Do(func() { close(f.done) })
		time.Sleep(time.Millisecond)
		return nil, gopacket.CaptureInfo{}, errTimeout
	}
	d, ts := f.pkts[0], f.ts[0]
	f.pkts, f.ts = f.pkts[1:], f.ts[1:]
	return d, gopacket.CaptureInfo{Timestamp: ts, CaptureLength: len(d), Length: len(d)}, nil
}

// readDir returns the session files of dir (those with a .ready).
func readDir(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for _, e := range ents {
		name, ok := strings.CutSuffix(e.Name(), ".ready")
		if !ok {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		out[name] = b
	}
	return out
}

// TestLiveSameAsPcap: the live path (two interfaces, one engine) writes
// exactly the session files the pcap path writes for the same packets,
// and reports the kernel drops of each interface.
func TestLiveSameAsPcap(t *testing.T) {
	t0 := time.Unix(1700000000, 0)
	a := synthSession(synthOpts{cport: 40001}, smtpSession(testMsgs))
	b := synthSession(synthOpts{cport: 40002, v6: true, vlans: 2}, smtpSession(testMsgs[:1]))
	// The pcap path over one file holding both, interface a first.
	var all []pkt
	all = append(all, a...)
	all = append(all, b...)
	pcapDir, liveDir := t.TempDir(), t.TempDir()
	path := filepath.Join(t.TempDir(), "both.pcap")
	ts := stamps(t0, len(a))
	ts = append(ts, stamps(t0.Add(time.Second), len(b))...)
	writeTimed(t, path, all, ts)
	if _, err := WriteDir(context.Background(), []string{path}, Options{Sync: SyncNone}, pcapDir); err != nil {
		t.Fatal(err)
	}
	fa, fb := newFakeSource("a0", a, t0), newFakeSource("b0", b, t0.Add(time.Second))
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-fa.done
		<-fb.done
		cancel()
	}()
	var last LiveStats
	n, err := writeLive(ctx, []liveSource{fa, fb}, Options{Sync: SyncNone}, liveDir, func(ls LiveStats) { last = ls })
	if err != nil {
		t.Fatal(err)
	}
	want, got := readDir(t, pcapDir), readDir(t, liveDir)
	if n != 2 || len(want) != 2 || len(got) != 2 {
		t.Fatalf("live wrote %d (%d files), pcap %d", n, len(got), len(want))
	}
	for name, w := range want {
		if !bytes.Equal(got[name], w) {
			t.Errorf("%s differs:\nlive:\n%s\npcap:\n%s", name, got[name], w)
		}
	}
	if last.Drops() != 14 || len(last.Interfaces) != 2 || last.Sessions != 2 {
		t.Errorf("final report: %d drops, %d interfaces, %d sessions", last.Drops(), len(last.Interfaces), last.Sessions)
	}
}

// TestLiveShutdownFlushes: sessions still open when the capture stops
// are written, never dropped, with Cut CutShutdown, the unfinished
// message partial.
func TestLiveShutdownFlushes(t *testing.T) {
	t0 := time.Unix(1700000000, 0)
	pk := synthSession(synthOpts{mss: 30}, smtpSession(testMsgs[:1]))
	// Cut the session inside the message: no end of data, no FIN.
	var open []pkt
	for _, p := range pk {
		open = append(open, p)
		if bytes.Contains(p.data, []byte("Subject: one")) {
			break
		}
	}
	src := newFakeSource("x0", open, t0)
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-src.done; cancel() }()
	var sfs []*SessionFile
	var st Stats
	opts := Options{MessageData: true, Stats: &st}
	opts.defaults()
	err := runLive(ctx, []liveSource{src}, &opts, &st, nil, func(sf *SessionFile) error {
		sfs = append(sfs, sf)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(sfs) != 1 {
		t.Fatalf("%d sessions, want 1", len(sfs))
	}
	if sfs[0].Cut != CutShutdown || len(sfs[0].Messages) != 1 || !sfs[0].Messages[0].Partial {
		t.Errorf("cut %q, messages %+v", sfs[0].Cut, sfs[0].Messages)
	}
	s, err := core.ParseSession(bytes.NewReader(sfs[0].Data), sfs[0].UID, sfs[0].Start)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(sfs[0].Data, []byte("\n@cut shutdown\n")) || len(s.Info.Anomalies) != 1 ||
		!strings.Contains(s.Info.Anomalies[0], "capture cut: session written before its connection ended (shutdown)") {
		t.Errorf("the cut is not flagged: anomalies %q\n%s", s.Info.Anomalies, sfs[0].Data)
	}
}

// TestLiveTickIdle: on a quiet link the wall clock closes idle sessions
// (the engine is advanced without packets).
func TestLiveTickIdle(t *testing.T) {
	t0 := time.Unix(1700000000, 0)
	pk := synthSession(synthOpts{}, smtpSession(testMsgs[:1]))
	var sfs []*SessionFile
	st := &Stats{}
	opts := Options{IdleTimeout: time.Minute}
	opts.defaults()
	e := newEngine(&opts, st, func(sf *SessionFile) error { sfs = append(sfs, sf); return nil })
	for i, p := range pk[:len(pk)-3] { // no FINs
		e.packet(p.data, gopacket.CaptureInfo{Timestamp: t0.Add(time.Duration(i) * time.Millisecond)}, layers.LinkTypeEthernet)
	}
	e.tick(t0.Add(30 * time.Second))
	e.stopWorkers()
	if len(sfs) != 0 {
		t.Fatalf("closed before the idle timeout")
	}
	e.tick(t0.Add(2 * time.Minute))
	e.stopWorkers()
	if len(sfs) != 1 || sfs[0].Cut != CutIdle || st.IdleClosed != 1 {
		t.Fatalf("%d sessions (idle closed %d), want 1 closed by idle", len(sfs), st.IdleClosed)
	}
}

// TestLiveHalfOpenFlood: a flood of half-open connections (SYNs that
// never carry data) through the live path keeps the flows tracked within
// MaxHalfOpen, counts the evictions, and the one real session in the
// middle of the flood is still written whole.
func TestLiveHalfOpenFlood(t *testing.T) {
	t0 := time.Unix(1700000000, 0)
	var pk []pkt
	real := synthSession(synthOpts{cport: 65000}, smtpSession(testMsgs[:1]))
	const flood = 30000
	for i := 0; i < flood; i++ {
		o := synthOpts{cport: uint16(1024 + i%60000)}
		syn := synthSession(o, nil)[0] // the SYN only
		// vary the client address too, so every SYN is a new flow
		d := append([]byte(nil), syn.data...)
		d[14+12+2], d[14+12+3] = byte(i>>8), byte(i)
		pk = append(pk, pkt{client: true, data: d})
		if i == flood/2 {
			pk = append(pk, real...)
		}
	}
	src := newFakeSource("flood0", pk, t0)
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-src.done; cancel() }()
	var st Stats
	opts := Options{MaxHalfOpen: 1000, MessageData: true, Stats: &st}
	opts.defaults()
	var sfs []*SessionFile
	if err := runLive(ctx, []liveSource{src}, &opts, &st, nil, func(sf *SessionFile) error {
		sfs = append(sfs, sf)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if st.PeakFlows > 1000+2 {
		t.Errorf("peak %d flows with MaxHalfOpen 1000", st.PeakFlows)
	}
	if st.HalfOpenEvicted < flood-1000 {
		t.Errorf("%d half-open evictions, want at least %d", st.HalfOpenEvicted, flood-1000)
	}
	if len(sfs) != 1 {
		t.Fatalf("%d sessions, want the real one", len(sfs))
	}
	checkRoundTrip(t, sfs[0], testMsgs[:1])
}
