package index

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"testing"
	"time"
)

// benchBinary is the smtpscope binary the whole-process benchmark runs:
// SMTPSCOPE_BIN, or one built from this tree into a temporary directory.
func benchBinary(b *testing.B) string {
	if p := os.Getenv("SMTPSCOPE_BIN"); p != "" {
		return p
	}
	out := filepath.Join(b.TempDir(), "smtpscope")
	cmd := exec.Command("go", "build", "-o", out, "github.com/smtpscope/smtpscope/cmd/smtpscope")
	if msg, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, msg)
	}
	return out
}

// BenchmarkSearchProcess: `smtpscope search --data D --limit 50 QUERY`
// as an analyst runs it, the whole process (start, index open, search,
// table, exit) on the index of benchDataDir (SMTPSCOPE_BENCH_EMAILS,
// SMTPSCOPE_BENCH_DIR; e.g. 220000 emails). Reports p50/p99 wall and the
// CPU time (user + system) per run.
func BenchmarkSearchProcess(b *testing.B) {
	data := benchDataDir(b)
	closeBenchIndex() // the process must get the index lock
	bin := benchBinary(b)
	for _, bq := range []int{0, 1, 3, 8} {
		q := benchQueries[bq]
		b.Run(q.name, func(b *testing.B) {
			lat := make([]time.Duration, 0, b.N)
			var cpu time.Duration
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				cmd := exec.Command(bin, "search", "--data", data, "--limit", "50", q.q)
				cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
				start := time.Now()
				if err := cmd.Run(); err != nil {
					b.Fatalf("search %q: %v", q.q, err)
				}
				lat = append(lat, time.Since(start))
				cpu += cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
			}
			b.StopTimer()
			sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
			pct := func(p float64) float64 {
				return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) / 1000
			}
			b.ReportMetric(pct(0.50), "p50-ms")
			b.ReportMetric(pct(0.99), "p99-ms")
			b.ReportMetric(float64(cpu.Microseconds())/1000/float64(b.N), "cpu-ms/op")
		})
	}
}
