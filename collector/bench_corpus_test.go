package collector_test

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/smtpscope/smtpscope/collector"
)

// emlCorpus is the shared .eml corpus (outside the repository).
const emlCorpus = "../../shared/corpus/eml"

// corpusSpool writes session files built from the shared .eml corpus
// into spool, about mb megabytes, as the peers' mkcorpus.py does (one to
// three emails per session, deterministic), and returns the number of
// emails. It skips the benchmark when the corpus is absent.
func corpusSpool(b *testing.B, spool string, mb int) int {
	b.Helper()
	var emls []string
	err := filepath.WalkDir(emlCorpus, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if d.Name() == "expected" {
				return filepath.SkipDir
			}
			return nil
		}
		n := d.Name()
		ext := strings.ToLower(filepath.Ext(n))
		if ext == ".eml" || ext == ".msg" || ext == ".txt" || ext == ".mime" || !strings.Contains(n, ".") {
			if fi, err := d.Info(); err == nil && fi.Size() > 200 && fi.Size() < 3_000_000 {
				emls = append(emls, p)
			}
		}
		return nil
	})
	if err != nil || len(emls) == 0 {
		b.Skipf("shared .eml corpus not found at %s (it lives outside the repository): %v", emlCorpus, err)
	}
	sort.Strings(emls)
	rnd := rand.New(rand.NewPCG(7, 7))
	if err := os.MkdirAll(spool, 0o755); err != nil {
		b.Fatal(err)
	}
	total, emails := 0, 0
	for s := 0; total < mb<<20; s++ {
		var buf bytes.Buffer
		fmt.Fprintf(&buf, "10.%d.%d.%d:%d/tcp\n%d\n< > 220 mx.example.test ESMTP\n> EHLO client%d.example.test\n< EHLO 250 mx.example.test\n",
			s%200, (s/200)%250, 1+s%250, 1024+s%60000, 1700000000+s*7, s)
		for k := range []int{1, 1, 2, 3}[rnd.IntN(4)] {
			raw, err := os.ReadFile(emls[rnd.IntN(len(emls))])
			if err != nil {
				b.Fatal(err)
			}
			fmt.Fprintf(&buf, "> MAIL FROM:<sender%d@example.test>\n< MAIL 250 2.1.0 Ok\n> RCPT TO:<rcpt%d@example.org>\n< RCPT 250 2.1.5 Ok\n> DATA \n< DATA 354 End data with <CR><LF>.<CR><LF>\n", s, k)
			raw = bytes.TrimSuffix(bytes.ReplaceAll(raw, []byte("\r\n"), []byte("\n")), []byte("\n"))
			buf.Write(raw)
			buf.WriteString("\n> . .\n< . 250 2.0.0 Ok: queued\n")
			emails++
		}
		buf.WriteString("> QUIT \n< QUIT 221 2.0.0 Bye\n")
		spoolWrite(b, spool, fmt.Sprintf("Cperf%07d", s), buf.Bytes(), time.Time{})
		total += buf.Len()
	}
	return emails
}

// cpuSeconds is this process's user + system time so far.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// BenchmarkCollectCorpus runs the collector (RunOnce: claim, parse,
// analysis, store, queue; no node group, no index) over a spool made
// from the shared .eml corpus (20 MB of session files per op), with
// fsync on and off, and reports emails/s and CPU-milliseconds per email
// (the whole test process: the spool's writing is outside the timer but
// not outside the CPU count, so compare cpu-ms/email between runs of this
// benchmark only). workers=0 is the default (GOMAXPROCS).
func BenchmarkCollectCorpus(b *testing.B) {
	for _, fsync := range []bool{true, false} {
		for _, workers := range []int{0, 1} {
			b.Run(fmt.Sprintf("fsync=%v/workers=%d", fsync, workers), func(b *testing.B) {
				var emails int
				var wall time.Duration
				var cpu float64
				for i := 0; i < b.N; i++ {
					b.StopTimer()
					tmp := b.TempDir()
					spool, data := filepath.Join(tmp, "spool"), filepath.Join(tmp, "data")
					n := corpusSpool(b, spool, 20)
					f := fsync
					col, err := collector.New(&collector.Config{Spool: spool, Data: data, Fsync: &f, Workers: workers}, collector.Options{})
					if err != nil {
						b.Fatal(err)
					}
					c0 := cpuSeconds()
					start := time.Now()
					b.StartTimer()
					if err := col.RunOnce(context.Background(), 10*time.Minute); err != nil {
						b.Fatal(err)
					}
					b.StopTimer()
					wall += time.Since(start)
					cpu += cpuSeconds() - c0
					emails += n
					if left, _ := os.ReadDir(spool); len(left) != 0 {
						b.Fatalf("%d spool entries left", len(left))
					}
				}
				b.ReportMetric(float64(emails)/wall.Seconds(), "emails/s")
				b.ReportMetric(cpu*1000/float64(emails), "cpu-ms/email")
			})
		}
	}
}
