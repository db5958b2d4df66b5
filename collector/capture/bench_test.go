package capture

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// benchCapture synthesises a capture of at least size bytes: SMTP sessions
// (Ethernet, IPv4, 1448-byte segments, as on a real LAN), each a 1 MiB
// message sent with DATA and one with BDAT, interleaved with no other
// traffic. Synthesising is much faster than tcpdump over loopback and gives
// the same packet stream shape; see README (pcap benchmark).
func benchCapture(b *testing.B, dir string, size int64) string {
	b.Helper()
	path := filepath.Join(dir, "bench.pcap")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	pw := pcapgo.NewWriter(w)
	if err := pw.WriteFileHeader(262144, layers.LinkTypeEthernet); err != nil {
		b.Fatal(err)
	}
	line := []byte(strings.Repeat("QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo0NTY3ODkwYWJjZGVmZ2hpamtsbW5vcHFyc3R1dnd4", 1) + "\r\n")
	msg := []byte("From: bench@example.test\r\nTo: sink@example.test\r\nSubject: benchmark\r\n" +
		"Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n")
	for len(msg) < 1<<20 {
		msg = append(msg, line...)
		if len(msg)%503 == 0 { // now and then a line that needs dot-stuffing
			msg = append(msg, ".a dot line, stuffed on the wire\r\n"...)
		}
	}
	ts := time.Unix(1700000000, 0)
	var written int64 = 24
	for i := 0; written < size; i++ {
		o := synthOpts{cport: uint16(10000 + i%50000), start: ts}
		for _, p := range synthSession(o, smtpSession([][]byte{msg, msg})) {
			ci := gopacket.CaptureInfo{Timestamp: ts, CaptureLength: len(p.data), Length: len(p.data)}
			if err := pw.WritePacket(ci, p.data); err != nil {
				b.Fatal(err)
			}
			written += int64(16 + len(p.data))
			ts = ts.Add(20 * time.Microsecond)
		}
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
	return path
}

// BenchmarkPcap measures read + decode + reassembly + SMTP replay + session
// file writing (WriteDir, without fsync) on a synthesised >= 200 MB
// capture, in MB/s of capture file, and, when tcpdump is installed, the
// rate of `tcpdump -r FILE -w /dev/null` on the same file (metric
// tcpdump-MB/s, and our rate as a fraction of it: ratio).
func BenchmarkPcap(b *testing.B) {
	dir := b.TempDir()
	size := int64(200 << 20)
	if s := os.Getenv("SMTPSCOPE_BENCH_MB"); s != "" {
		var mb int64
		if _, err := fmt.Sscan(s, &mb); err == nil && mb > 0 {
			size = mb << 20
		}
	}
	path := benchCapture(b, dir, size)
	st, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	// The machine is shared: take the best of three tcpdump runs, and
	// report our best run too (ours-best-MB/s) beside the mean.
	var tcpdumpRate float64
	if tp, err := exec.LookPath("tcpdump"); err == nil {
		for i := 0; i < 3; i++ {
			start := time.Now()
			out, err := exec.Command(tp, "-r", path, "-w", "/dev/null").CombinedOutput()
			if err != nil {
				b.Logf("tcpdump -r: %v: %s", err, out)
				break
			}
			if r := float64(st.Size()) / time.Since(start).Seconds() / 1e6; r > tcpdumpRate {
				tcpdumpRate = r
			}
		}
	}
	b.SetBytes(st.Size())
	b.ResetTimer()
	var elapsed, best time.Duration
	for i := 0; i < b.N; i++ {
		out := filepath.Join(dir, fmt.Sprintf("out%d", i))
		var s Stats
		start := time.Now()
		n, err := WriteDir(context.Background(), []string{path}, Options{NoSync: true, Stats: &s}, out)
		d := time.Since(start)
		elapsed += d
		if best == 0 || d < best {
			best = d
		}
		if err != nil {
			b.Fatal(err)
		}
		if n == 0 || s.Messages != 2*n || s.PartialMsgs != 0 {
			b.Fatalf("%d sessions, %d messages (%d partial)", n, s.Messages, s.PartialMsgs)
		}
		b.StopTimer()
		os.RemoveAll(out)
		b.StartTimer()
	}
	ours := float64(st.Size()) * float64(b.N) / elapsed.Seconds() / 1e6
	oursBest := float64(st.Size()) / best.Seconds() / 1e6
	b.ReportMetric(ours, "ours-MB/s")
	b.ReportMetric(oursBest, "ours-best-MB/s")
	if tcpdumpRate > 0 {
		b.ReportMetric(tcpdumpRate, "tcpdump-best-MB/s")
		b.ReportMetric(oursBest/tcpdumpRate, "ratio-best")
	}
}
