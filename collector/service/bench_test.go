package service

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/smtpscope/smtpscope/collector"
)

// genSession is a session file (ACE/Zeek format) with one email, or none
// (a session that only said EHLO and QUIT).
func genSession(n int, withEmail bool) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "192.0.2.%d:%d/tcp\n%d.25\n", n%250+1, 40000+n%20000, 1700000000+n)
	b.WriteString("< > 220 mx.corp.example ESMTP\n> EHLO sender.example\n< EHLO 250 mx.corp.example\n")
	if withEmail {
		fmt.Fprintf(&b, "> MAIL FROM:<s%d@sender.example>\n< MAIL 250 ok\n> RCPT TO:<u%d@corp.example>\n< RCPT 250 ok\n", n, n)
		b.WriteString("> DATA\n< DATA 354 go ahead\n")
		fmt.Fprintf(&b, "From: s%d@sender.example\nTo: u%d@corp.example\nSubject: batch %d invoice overdue\nMessage-ID: <m%d@sender.example>\n\n", n, n, n, n)
		fmt.Fprintf(&b, "Dear customer, please see http://evil%d.example/pay?id=%d and reply to billing%d@corp.example.\n", n, n, n)
		b.WriteString(strings.Repeat("Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor.\n", 20))
		b.WriteString("> . .\n< . 250 done\n")
	}
	b.WriteString("> QUIT\n< QUIT 221 bye\n")
	return []byte(b.String())
}

// spoolSessions writes sessions from..to-1 into spool (every fifth one
// without email).
func spoolSessions(t testing.TB, spool string, from, to int) {
	t.Helper()
	if err := os.MkdirAll(spool, 0o700); err != nil {
		t.Fatal(err)
	}
	for n := from; n < to; n++ {
		p := filepath.Join(spool, fmt.Sprintf("batch%05d", n))
		if err := os.WriteFile(p, genSession(n, n%5 != 0), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p+".ready", nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

func cpuSeconds() float64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// benchOnce runs `collect --once` in process with the index on and fsync
// off (so the index path dominates) over spool; it returns when every
// commit is indexed.
func benchOnce(b *testing.B, spool, data string) {
	f := false
	cfg := &collector.Config{Spool: spool, Data: data, Fsync: &f, Workers: 2}
	ix, err := OpenIndex(data)
	if err != nil {
		b.Fatal(err)
	}
	l, err := Open(cfg, Options{Index: ix})
	if err != nil {
		b.Fatal(err)
	}
	if err := l.RunOnce(context.Background(), 10*time.Minute); err != nil {
		b.Fatal(err)
	}
	if err := l.Close(); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkLiveIndex is the live path: the collector (2 workers) stores
// 2,000 sessions (1,600 emails) and the index keeps up after each commit;
// RunOnce returns with everything searchable. Reported: emails per second
// and per CPU-second of the whole process.
func BenchmarkLiveIndex(b *testing.B) {
	const sessions = 2000
	emails := sessions * 4 / 5
	var wall time.Duration
	var cpu float64
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		dir := b.TempDir()
		spool, data := filepath.Join(dir, "spool"), filepath.Join(dir, "data")
		spoolSessions(b, spool, 0, sessions)
		c0, t0 := cpuSeconds(), time.Now()
		b.StartTimer()
		benchOnce(b, spool, data)
		b.StopTimer()
		wall += time.Since(t0)
		cpu += cpuSeconds() - c0
	}
	b.ReportMetric(float64(emails*b.N)/wall.Seconds(), "emails/s")
	b.ReportMetric(float64(emails*b.N)/cpu, "emails/cpu-s")
}

// BenchmarkStartCatchUp is a collector start on a data dir of 25,000
// sessions (20,000 emails) with a current index: open, catch up, stop
// (`collect --once` with an empty spool). Reported: CPU-seconds per
// start.
func BenchmarkStartCatchUp(b *testing.B) {
	const sessions = 25000
	dir := b.TempDir()
	spool, data := filepath.Join(dir, "spool"), filepath.Join(dir, "data")
	spoolSessions(b, spool, 0, sessions)
	benchOnce(b, spool, data) // builds the store and its index
	benchOnce(b, spool, data) // the first start after a build may still catch up
	b.ResetTimer()
	c0 := cpuSeconds()
	for i := 0; i < b.N; i++ {
		benchOnce(b, spool, data)
	}
	b.ReportMetric((cpuSeconds()-c0)/float64(b.N), "cpu-s/start")
}
