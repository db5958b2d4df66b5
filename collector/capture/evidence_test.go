package capture

import (
	"bytes"
	"context"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// withoutPcap drops the @pcap lines of a session file.
func withoutPcap(b []byte) ([]byte, []string) {
	var out []byte
	var paths []string
	for _, l := range bytes.SplitAfter(b, []byte("\n")) {
		if p, ok := bytes.CutPrefix(l, []byte("@pcap ")); ok {
			paths = append(paths, strings.TrimSpace(string(p)))
			continue
		}
		out = append(out, l...)
	}
	return out, paths
}

// liveEvidence runs the live path over a fake interface (two sessions)
// with evidence pcaps in dir: the second a second after the first.
func liveEvidence(t *testing.T, ev Evidence) (map[string][]byte, time.Time) {
	t.Helper()
	t0 := time.Date(2026, 12, 7, 16, 4, 5, 0, time.UTC)
	a := synthSession(synthOpts{cport: 40001}, smtpSession(testMsgs))
	b := synthSession(synthOpts{cport: 40002, v6: true}, smtpSession(testMsgs[:1]))
	// One interface: packets in time order (two interfaces are read
	// concurrently, their order in the files is then the engine's).
	f := newFakeSource("a0", append(a, b...), t0)
	for i := len(a); i < len(f.ts); i++ {
		f.ts[i] = f.ts[i].Add(time.Second)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-f.done
		cancel()
	}()
	out := t.TempDir()
	n, err := writeLive(ctx, []liveSource{f}, Options{Sync: SyncNone, Evidence: &ev}, out, nil)
	if err != nil || n != 2 {
		t.Fatalf("writeLive: %d sessions, %v", n, err)
	}
	return readDir(t, out), t0
}

// TestEvidencePcaps: with Evidence, a live capture keeps its packets as
// pcaps rotated by size, named after their first packet's UTC time; each
// session file names (@pcap) the files holding its packets, and the pcap
// path over those files alone writes the same session file.
func TestEvidencePcaps(t *testing.T) {
	dir := t.TempDir()
	files, t0 := liveEvidence(t, Evidence{Dir: dir, MaxSize: 2000})
	names, err := EvidenceFiles(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(names) < 3 {
		t.Fatalf("%d evidence files, want several (rotation at 2000 bytes): %v", len(names), names)
	}
	re := regexp.MustCompile(`^smtp-\d{8}T\d{6}Z(-\d+)?\.pcap$`)
	for _, n := range names {
		if !re.MatchString(n) {
			t.Errorf("evidence file name %q", n)
		}
		st, err := os.Stat(filepath.Join(dir, n))
		if err != nil {
			t.Fatal(err)
		}
		if st.Size() > 2000+1<<16 {
			t.Errorf("%s: %d bytes, beyond the size bound and one packet", n, st.Size())
		}
	}
	if names[0] != "smtp-20261207T160405Z.pcap" {
		t.Errorf("first file %q, want smtp-20261207T160405Z.pcap (its first packet's time)", names[0])
	}
	_ = t0
	// Every file together: the same session files, without @pcap.
	var all []string
	for _, n := range names {
		all = append(all, filepath.Join(dir, n))
	}
	again := t.TempDir()
	if _, err := WriteDir(context.Background(), all, Options{Sync: SyncNone}, again); err != nil {
		t.Fatal(err)
	}
	fromPcap := readDir(t, again)
	if len(fromPcap) != len(files) {
		t.Fatalf("pcap path over the evidence wrote %d sessions, live %d", len(fromPcap), len(files))
	}
	multi := 0
	for uid, data := range files {
		body, paths := withoutPcap(data)
		if !bytes.Equal(body, fromPcap[uid]) {
			t.Errorf("%s: the evidence gives a different session file:\nlive:\n%s\nevidence:\n%s", uid, body, fromPcap[uid])
		}
		if len(paths) == 0 {
			t.Fatalf("%s names no evidence pcap:\n%s", uid, data)
		}
		if len(paths) > 1 {
			multi++
		}
		// The named files alone hold the whole session.
		only := t.TempDir()
		if _, err := WriteDir(context.Background(), paths, Options{Sync: SyncNone}, only); err != nil {
			t.Fatal(err)
		}
		if got := readDir(t, only)[uid]; !bytes.Equal(got, body) {
			t.Errorf("%s: its @pcap files %v alone give:\n%s\nwant:\n%s", uid, paths, got, body)
		}
	}
	if multi == 0 {
		t.Errorf("no session spans several evidence files; the test wants one that does")
	}
}

// TestEvidenceKeep: beyond Keep files the oldest are removed: the two
// newest of those an unbounded run writes are kept.
func TestEvidenceKeep(t *testing.T) {
	all, keep := t.TempDir(), t.TempDir()
	liveEvidence(t, Evidence{Dir: all, MaxSize: 2000})
	liveEvidence(t, Evidence{Dir: keep, MaxSize: 2000, Keep: 2})
	want, err := EvidenceFiles(all)
	if err != nil {
		t.Fatal(err)
	}
	got, err := EvidenceFiles(keep)
	if err != nil {
		t.Fatal(err)
	}
	if len(want) < 3 || strings.Join(got, " ") != strings.Join(want[len(want)-2:], " ") {
		t.Fatalf("kept %v of %v, want the last two", got, want)
	}
}

// TestEvidenceAge: a file is closed once a packet comes MaxAge after its
// first one.
func TestEvidenceAge(t *testing.T) {
	dir := t.TempDir()
	liveEvidence(t, Evidence{Dir: dir, MaxAge: 500 * time.Millisecond})
	names, err := EvidenceFiles(dir)
	if err != nil {
		t.Fatal(err)
	}
	// The second session's packets start a second after the first's.
	if len(names) < 2 {
		t.Fatalf("%d evidence files, want 2 or more (max age 0.5 s over 1 s of packets): %v", len(names), names)
	}
}

// TestExtractFlow: ExtractFlow cuts exactly one connection's packets, in
// order and with their times, out of evidence files holding it and two
// others (one between the same addresses); the pcap path over the cut
// writes that connection's session file.
func TestExtractFlow(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 16, 4, 5, 0, time.UTC)
	a := synthSession(synthOpts{cport: 40001}, smtpSession(testMsgs))
	b := synthSession(synthOpts{cport: 40002}, smtpSession(testMsgs[:1]))
	c := synthSession(synthOpts{cport: 40001, v6: true}, smtpSession(testMsgs[:1]))
	// Interleaved: a, b, c, a, b, c, …; split over two files.
	var all []pkt
	var ts, aTS []time.Time
	var aData [][]byte
	for i := 0; i < max(len(a), len(b), len(c)); i++ {
		for k, s := range [][]pkt{a, b, c} {
			if i < len(s) {
				at := t0.Add(time.Duration(len(all)) * time.Microsecond)
				all, ts = append(all, s[i]), append(ts, at)
				if k == 0 {
					aData, aTS = append(aData, s[i].data), append(aTS, at)
				}
			}
		}
	}
	dir := t.TempDir()
	half := len(all) / 2
	f1, f2 := filepath.Join(dir, "smtp-1.pcap"), filepath.Join(dir, "smtp-2.pcap")
	writeTimed(t, f1, all[:half], ts[:half])
	writeTimed(t, f2, all[half:], ts[half:])
	out := filepath.Join(dir, "flow.pcap")
	fh, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	n, err := ExtractFlow([]string{f1, f2}, Flow{ClientIP: "10.0.0.1", ClientPort: 40001, ServerIP: "10.0.0.2", ServerPort: 25}, fh)
	if cerr := fh.Close(); err != nil || cerr != nil {
		t.Fatal(err, cerr)
	}
	if n != len(a) {
		t.Fatalf("%d packets extracted, the connection has %d", n, len(a))
	}
	rf, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer rf.Close()
	r, err := pcapgo.NewReader(rf)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; ; i++ {
		data, ci, err := r.ReadPacketData()
		if err == io.EOF {
			if i != len(a) {
				t.Fatalf("re-read %d packets, want %d", i, len(a))
			}
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if i >= len(a) || !bytes.Equal(data, aData[i]) || !ci.Timestamp.Equal(aTS[i]) {
			t.Fatalf("packet %d differs from the connection's (%v vs %v)", i, ci.Timestamp, aTS[i])
		}
	}
	// The pcap path: the cut gives a's session file, as the whole does.
	whole, cut := t.TempDir(), t.TempDir()
	if _, err := WriteDir(context.Background(), []string{f1, f2}, Options{Sync: SyncNone}, whole); err != nil {
		t.Fatal(err)
	}
	if _, err := WriteDir(context.Background(), []string{out}, Options{Sync: SyncNone}, cut); err != nil {
		t.Fatal(err)
	}
	got := readDir(t, cut)
	if len(got) != 1 {
		t.Fatalf("the cut holds %d sessions, want 1", len(got))
	}
	for uid, data := range got {
		if !bytes.Equal(readDir(t, whole)[uid], data) || !bytes.Contains(data, []byte("10.0.0.1:40001/tcp")) {
			t.Errorf("%s from the cut:\n%s", uid, data)
		}
	}
	// Errors name what is wrong.
	if _, err := ExtractFlow([]string{f1}, Flow{ClientIP: "10.0.0.1", ServerIP: "10.0.0.2", ServerPort: 25}, io.Discard); err == nil {
		t.Error("no client port: no error")
	}
	bad := filepath.Join(dir, "bad.pcap")
	_ = os.WriteFile(bad, []byte("not a pcap at all, just text"), 0o600)
	if _, err := ExtractFlow([]string{bad}, Flow{ClientIP: "10.0.0.1", ClientPort: 1, ServerIP: "10.0.0.2", ServerPort: 25}, io.Discard); err == nil || !strings.Contains(err.Error(), bad) {
		t.Errorf("bad file: %v", err)
	}
}

// FuzzInFlow: ExtractFlow's packet matching never panics on hostile
// packets (Ethernet and raw IP).
func FuzzInFlow(f *testing.F) {
	for _, p := range synthSession(synthOpts{cport: 40001, vlans: 1}, smtpSession(testMsgs[:1]))[:3] {
		f.Add(p.data)
	}
	f.Add([]byte{0x45, 0, 0, 20})
	a, b := net.ParseIP("10.0.0.1"), net.ParseIP("10.0.0.2")
	f.Fuzz(func(t *testing.T, data []byte) {
		inFlow(data, layers.LinkTypeEthernet, a, b, 40001, 25)
		inFlow(data, layers.LinkTypeRaw, a, b, 40001, 25)
	})
}

// TestEvidenceFlushedWhileRunning: the open evidence file holds the
// packets already read (flushed every second), before the capture stops.
func TestEvidenceFlushedWhileRunning(t *testing.T) {
	dir := t.TempDir()
	pk := synthSession(synthOpts{cport: 40001}, smtpSession(testMsgs[:1]))
	f := newFakeSource("a0", pk, time.Date(2026, 12, 7, 16, 4, 5, 0, time.UTC))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := writeLive(ctx, []liveSource{f}, Options{Sync: SyncNone, Evidence: &Evidence{Dir: dir}}, t.TempDir(), nil)
		done <- err
	}()
	<-f.done
	want := int64(24)
	for _, p := range pk {
		want += 16 + int64(len(p.data))
	}
	path := filepath.Join(dir, "smtp-20261207T160405Z.pcap")
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if st, err := os.Stat(path); err == nil && st.Size() == want {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s does not hold the %d packets read within 60 s of reading them", path, len(pk))
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestEvidenceEndsOnAPacket: the open evidence file on disk always ends
// with a whole packet, whatever the sizes written through its buffer, so
// ExtractFlow (show --pcap, the UI's export) reads it while the capture
// still writes it.
func TestEvidenceEndsOnAPacket(t *testing.T) {
	v, err := newEvidence(Evidence{Dir: t.TempDir()}, layers.LinkTypeEthernet)
	if err != nil {
		t.Fatal(err)
	}
	defer v.close()
	t0 := time.Date(2026, 12, 7, 16, 4, 5, 0, time.UTC)
	flushes := 0
	var last int64
	for i := range 200 {
		data := bytes.Repeat([]byte{byte(i)}, 1000+i*397%60000) // 1 KB to 61 KB: 6 MB in all
		if err := v.write(data, gopacket.CaptureInfo{Timestamp: t0.Add(time.Duration(i) * time.Millisecond), Length: len(data)}); err != nil {
			t.Fatal(err)
		}
		st, err := os.Stat(v.path())
		if err != nil {
			t.Fatal(err)
		}
		if st.Size() == last {
			continue
		}
		last = st.Size()
		flushes++
		fh, err := os.Open(v.path())
		if err != nil {
			t.Fatal(err)
		}
		r, err := pcapgo.NewReader(fh)
		if err != nil {
			t.Fatal(err)
		}
		for {
			if _, _, err = r.ReadPacketData(); err != nil {
				break
			}
		}
		fh.Close()
		if err != io.EOF {
			t.Fatalf("after packet %d the file on disk (%d bytes) does not end on a packet: %v", i, st.Size(), err)
		}
	}
	if flushes < 4 {
		t.Fatalf("the buffer reached the file %d times for 6 MB of packets", flushes)
	}
}
