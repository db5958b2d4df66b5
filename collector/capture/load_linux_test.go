//go:build linux

package capture

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestCaptureLoad is the live capture's load test (make bench-capture;
// root, tcpreplay and iproute2; skipped otherwise and unless
// SMTPSCOPE_BENCH_CAPTURE=1). It creates a veth pair with one end in a
// network namespace of its own, replays a synthetic capture of SMTP
// sessions into that end with tcpreplay at rising rates, captures the
// other end with CaptureDir, and reports for each rate the packets the
// kernel dropped and the sessions written whole; the highest rate with no
// loss is the figure the README gives. Everything it creates is removed.
func TestCaptureLoad(t *testing.T) {
	if os.Getenv("SMTPSCOPE_BENCH_CAPTURE") == "" {
		t.Skip("a load test: run with make bench-capture (SMTPSCOPE_BENCH_CAPTURE=1)")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root: network namespace, veth pair, AF_PACKET")
	}
	for _, tool := range []string{"tcpreplay", "ip"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed (tcpreplay: make apt-install)", tool)
		}
	}
	const sessions = 2000
	msg := bytes.Repeat([]byte("a line of a message body to give it some size, 64 bytes long.\r\n"), 300) // ~19 KB
	var pk []pkt
	for i := 0; i < sessions; i++ {
		s := synthSession(synthOpts{cport: uint16(10000 + i)}, smtpSession([][]byte{msg}))
		pk = append(pk, s...)
	}
	work := t.TempDir()
	file := filepath.Join(work, "load.pcap")
	f, err := os.Create(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := writePcap(f, synthOpts{}, pk, false); err != nil {
		t.Fatal(err)
	}
	f.Close()
	fi, _ := os.Stat(file)
	t.Logf("capture to replay: %d sessions, %d packets, %.1f MB", sessions, len(pk), float64(fi.Size())/1e6)

	ns, in, out := fmt.Sprintf("smtpscope-load-%d", os.Getpid()), fmt.Sprintf("sscap%d", os.Getpid()%10000), fmt.Sprintf("ssrep%d", os.Getpid()%10000)
	ip := func(args ...string) {
		t.Helper()
		if b, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, b)
		}
	}
	ip("netns", "add", ns)
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "delete", ns).Run() })
	ip("link", "add", in, "type", "veth", "peer", "name", out)
	t.Cleanup(func() { _ = exec.Command("ip", "link", "delete", in).Run() })
	ip("link", "set", out, "netns", ns)
	ip("link", "set", in, "up")
	ip("-n", ns, "link", "set", out, "up")

	type row struct {
		mbps, ring        int
		gotMbps, sessPerS float64
		drops, gap        uint64
		written, partial  int
	}
	var rows []row
	// Rising rates, then tcpreplay's top speed; then top speed again
	// with the smallest ring (2 blocks, 4 MiB) to show how loss is
	// counted when the reader falls behind.
	type run struct{ mbps, ring int }
	for _, rn := range []run{{100, 0}, {200, 0}, {400, 0}, {800, 0}, {0, 0}, {0, 4 << 20}} {
		rate := rn.mbps
		dir := filepath.Join(work, strconv.Itoa(rate))
		if err := os.MkdirAll(dir, 0o750); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		started := make(chan struct{})
		var last LiveStats
		done := make(chan error, 1)
		go func() {
			first := true
			_, err := CaptureDir(ctx, []string{in}, rn.ring, Options{Ports: []int{25}, Sync: SyncNone}, dir, func(ls LiveStats) {
				last = ls
				if first {
					first = false
					close(started)
				}
			})
			done <- err
		}()
		select {
		case <-started:
		case err := <-done:
			cancel()
			t.Fatalf("capture: %v", err)
		case <-time.After(60 * time.Second):
			cancel()
			t.Fatal("capture not started within 60 s")
		}
		begin := time.Now()
		speed := []string{"--mbps", strconv.Itoa(rate)}
		if rate == 0 {
			speed = []string{"--topspeed"}
		}
		b, err := exec.Command("ip", append(append([]string{"netns", "exec", ns, "tcpreplay", "-q", "-i", out}, speed...), file)...).CombinedOutput()
		took := time.Since(begin)
		if err != nil {
			cancel()
			t.Fatalf("tcpreplay: %v\n%s", err, b)
		}
		time.Sleep(2 * time.Second) // the last packets through the ring
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		r := row{mbps: rate, ring: rn.ring, gotMbps: float64(fi.Size()-24-16*int64(len(pk))) * 8 / took.Seconds() / 1e6,
			sessPerS: sessions / took.Seconds(), drops: uint64(last.Drops()), gap: uint64(last.GapBytes)}
		r.written, r.partial = last.Sessions-last.PartialMsgs, last.PartialMsgs
		rows = append(rows, r)
		t.Logf("--mbps %d (0: top speed), ring %d MiB (0: default): replayed in %.2fs (%.0f Mbit/s, %.0f sessions/s): kernel drops %d, gap bytes %d, sessions written %d (%d partial messages)",
			rate, rn.ring>>20, took.Seconds(), r.gotMbps, r.sessPerS, r.drops, r.gap, last.Sessions, last.PartialMsgs)
	}
	best := -1
	for i, r := range rows {
		if r.ring == 0 && r.drops == 0 && r.gap == 0 && r.partial == 0 && r.written == sessions && (best < 0 || r.gotMbps > rows[best].gotMbps) {
			best = i
		}
	}
	if best < 0 {
		t.Logf("no rate without loss")
		return
	}
	t.Logf("highest rate without loss: %.0f Mbit/s, %.0f sessions/s (asked %d, 0: top speed)", rows[best].gotMbps, rows[best].sessPerS, rows[best].mbps)
}
