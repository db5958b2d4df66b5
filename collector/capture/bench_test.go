package capture

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
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
// file writing (WriteDir, without fsync) on a synthesised >= 200 MB capture
// (SMTPSCOPE_BENCH_MB overrides the size), in MB/s of capture file. When
// tcpdump is installed, every iteration is paired with a run of
// `tcpdump -r FILE -w /dev/null` on the same file, so that both see the
// same machine load (this machine is shared), and the benchmark reports:
// tcpdump-MB/s (wall clock), ratio (median over the pairs of our rate /
// tcpdump's rate, wall clock) and ratio-cpu (tcpdump's CPU seconds / ours:
// the same comparison in CPU time, which load disturbs less).
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
	mb := float64(st.Size()) / 1e6
	tp, _ := exec.LookPath("tcpdump")
	var ratios []float64
	var oursWall, oursCPU, tdWall, tdCPU time.Duration
	b.SetBytes(st.Size())
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		var tdw time.Duration
		if tp != "" {
			b.StopTimer()
			cmd := exec.Command(tp, "-r", path, "-w", "/dev/null")
			start := time.Now()
			if out, err := cmd.CombinedOutput(); err != nil {
				b.Logf("tcpdump -r: %v: %s", err, out)
				tp = ""
			} else {
				tdw = time.Since(start)
				tdWall += tdw
				tdCPU += cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
			}
			b.StartTimer()
		}
		out := filepath.Join(dir, fmt.Sprintf("out%d", i))
		var s Stats
		cpu0 := cpuTime()
		start := time.Now()
		n, err := WriteDir(context.Background(), []string{path}, Options{NoSync: true, Stats: &s}, out)
		d := time.Since(start)
		oursCPU += cpuTime() - cpu0
		oursWall += d
		if err != nil {
			b.Fatal(err)
		}
		if n == 0 || s.Messages != 2*n || s.PartialMsgs != 0 {
			b.Fatalf("%d sessions, %d messages (%d partial)", n, s.Messages, s.PartialMsgs)
		}
		if tdw > 0 {
			ratios = append(ratios, tdw.Seconds()/d.Seconds())
		}
		b.StopTimer()
		os.RemoveAll(out)
		b.StartTimer()
	}
	b.ReportMetric(mb*float64(b.N)/oursWall.Seconds(), "ours-MB/s")
	b.ReportMetric(mb*float64(b.N)/oursCPU.Seconds(), "ours-MB/cpu-s")
	if len(ratios) > 0 {
		sort.Float64s(ratios)
		b.ReportMetric(mb*float64(len(ratios))/tdWall.Seconds(), "tcpdump-MB/s")
		b.ReportMetric(ratios[len(ratios)/2], "ratio")
		b.ReportMetric(tdCPU.Seconds()/oursCPU.Seconds()*float64(b.N)/float64(len(ratios)), "ratio-cpu")
	}
}

// cpuTime is the CPU time (user + system) this process used so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
