package capture

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
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
