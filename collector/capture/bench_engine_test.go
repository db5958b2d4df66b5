package capture

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

// engineBenchCapture is the capture of the in-process benchmarks:
// $SMTPSCOPE_BENCH_PCAP when set (the peers harness's capture, say), else
// manySessionsCapture of benchSize bytes in dir.
func engineBenchCapture(b *testing.B, dir string) (string, int64) {
	b.Helper()
	path := os.Getenv("SMTPSCOPE_BENCH_PCAP")
	if path == "" {
		path = filepath.Join(dir, "many.pcap")
		manySessionsCapture(b, path, benchSize())
	}
	st, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	return path, st.Size()
}

// BenchmarkProcess measures Process alone (read, decode, IP defrag, TCP
// reassembly, SMTP model; no file written) on a many-session capture:
// MB/s of capture, CPU-seconds per run (cpu-s/op: both cores' work) and
// allocations. Its CPU profile is the engine's share of `smtpscope pcap`.
func BenchmarkProcess(b *testing.B) {
	path, size := engineBenchCapture(b, b.TempDir())
	var sessions int
	b.SetBytes(size)
	b.ReportAllocs()
	cpu0 := cpuTime()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		var st Stats
		opts := Options{Stats: &st, recycle: true}
		err := Process(context.Background(), []string{path}, opts, func(sf *SessionFile) error { return nil })
		if err != nil {
			b.Fatal(err)
		}
		if st.Sessions == 0 || st.PartialMsgs != 0 {
			b.Fatalf("%d sessions, %d partial messages", st.Sessions, st.PartialMsgs)
		}
		sessions = st.Sessions
	}
	b.StopTimer()
	b.ReportMetric((cpuTime()-cpu0).Seconds()/float64(b.N), "cpu-s/op")
	b.ReportMetric(float64(sessions), "sessions")
}

// BenchmarkWriteDirTmpfs is BenchmarkProcess writing the session files
// (SyncNone) into a directory on tmpfs ($SMTPSCOPE_BENCH_TMPFS or
// /dev/shm): the whole of `smtpscope pcap` in-process.
func BenchmarkWriteDirTmpfs(b *testing.B) {
	path, size := engineBenchCapture(b, b.TempDir())
	tmpfs := os.Getenv("SMTPSCOPE_BENCH_TMPFS")
	if tmpfs == "" {
		tmpfs = "/dev/shm"
	}
	if fi, err := os.Stat(tmpfs); err != nil || !fi.IsDir() {
		b.Skipf("no tmpfs directory (%s): set SMTPSCOPE_BENCH_TMPFS", tmpfs)
	}
	b.SetBytes(size)
	b.ReportAllocs()
	var cpu float64
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		out, err := os.MkdirTemp(tmpfs, "smtpscope-bench-")
		if err != nil {
			b.Fatal(err)
		}
		cpu0 := cpuTime()
		b.StartTimer()
		n, err := WriteDir(context.Background(), []string{path}, Options{Sync: SyncNone}, out)
		b.StopTimer()
		cpu += (cpuTime() - cpu0).Seconds()
		os.RemoveAll(out)
		if err != nil || n == 0 {
			b.Fatalf("%d sessions: %v", n, err)
		}
		b.StartTimer()
	}
	b.ReportMetric(cpu/float64(b.N), "cpu-s/op")
}
