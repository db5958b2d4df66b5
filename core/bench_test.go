package core

import (
	"bytes"
	"fmt"
	"io"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jhillyerd/enmime/v2"
)

// benchCorpus is a generated set of session files (≥ 50 MB) with mixed
// message sizes: short text mails, HTML newsletters, mails with binary
// attachments, a few large ones, forwarded messages.
type benchCorpus struct {
	sessions [][]byte
	messages [][]byte // the same messages as raw bytes (for the bare enmime run)
	bytes    int64
	emails   int
}

var (
	benchOnce sync.Once
	benchData *benchCorpus
)

const pipelineWords = "the invoice payment account please review attached document meeting schedule update password verify urgent shipping delivery order confirm security notice report quarterly"

func genText(r *rand.Rand, n int) string {
	words := strings.Fields(pipelineWords)
	var b strings.Builder
	col := 0
	for b.Len() < n {
		w := words[r.Intn(len(words))]
		switch r.Intn(40) {
		case 0:
			w = fmt.Sprintf("https://host%d.example.com/p/%d?id=%x", r.Intn(500), r.Intn(1e6), r.Int63())
		case 1:
			w = fmt.Sprintf("10.%d.%d.%d", r.Intn(256), r.Intn(256), r.Intn(256))
		case 2:
			w = fmt.Sprintf("user%d@corp%d.example.org", r.Intn(1000), r.Intn(50))
		}
		b.WriteString(w)
		col += len(w) + 1
		if col > 70 {
			b.WriteString("\n")
			col = 0
		} else {
			b.WriteByte(' ')
		}
	}
	return b.String()
}

func genMessage(r *rand.Rand, i int) string {
	hdr := fmt.Sprintf("Received: from relay%d.example.net (relay%d.example.net [192.0.2.%d]) by mx.example.com\n"+
		"From: Sender %d <sender%d@example.net>\nTo: rcpt%d@example.com\nSubject: Message %d about the invoice\n"+
		"Date: Mon, 2 Mar 2026 10:%02d:00 +0000\nMessage-ID: <%d.%x@example.net>\nMIME-Version: 1.0\n",
		i%50, i%50, i%250, i, i%300, i%40, i, i%60, i, r.Int63())
	switch k := i % 10; {
	case k < 4: // short plain text
		return hdr + "Content-Type: text/plain; charset=utf-8\n\n" + genText(r, 500+r.Intn(4000)) + "\n"
	case k < 6: // HTML newsletter, alternative
		txt := genText(r, 2000+r.Intn(8000))
		return hdr + "Content-Type: multipart/alternative; boundary=\"alt\"\n\n--alt\nContent-Type: text/plain; charset=iso-8859-1\nContent-Transfer-Encoding: quoted-printable\n\n" +
			strings.ReplaceAll(txt, "e", "=E9") + "\n--alt\nContent-Type: text/html; charset=utf-8\n\n<html><body><p>" +
			strings.ReplaceAll(txt, "\n", "</p>\n<p>") + "</p></body></html>\n--alt--\n"
	case k < 9: // attachments (binary, base64), 20 KB – 600 KB
		n := 20<<10 + r.Intn(600<<10)
		if i%97 == 0 {
			n = 4 << 20 // a few large ones
		}
		blob := make([]byte, n)
		r.Read(blob)
		copy(blob, "%PDF-1.7\n")
		return hdr + "Content-Type: multipart/mixed; boundary=\"mix\"\n\n--mix\nContent-Type: text/plain\n\n" + genText(r, 800) +
			"\n--mix\nContent-Type: application/pdf; name=\"invoice" + fmt.Sprint(i) + ".pdf\"\nContent-Disposition: attachment; filename=\"invoice" + fmt.Sprint(i) + ".pdf\"\nContent-Transfer-Encoding: base64\n\n" +
			b64lines(blob) + "--mix--\n"
	default: // a forwarded message
		inner := "From: a@example.org\nSubject: fwd\nContent-Type: text/plain\n\n" + genText(r, 3000) + "\n"
		return hdr + "Content-Type: multipart/mixed; boundary=\"f\"\n\n--f\nContent-Type: text/plain\n\nsee below\n--f\nContent-Type: message/rfc822\n\n" + inner + "--f--\n"
	}
}

// sessionFor wraps messages in a session file (dot-unstuffed data lines).
func sessionFor(i int, msgs []string) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "198.51.100.%d:%d/tcp\n%d\n< > 220 mx.example.com ESMTP\n> EHLO client%d.example.net\n< EHLO 250 mx.example.com\n", i%250, 1024+i%60000, 1700000000+i, i)
	for _, m := range msgs {
		fmt.Fprintf(&b, "> MAIL FROM:<s%d@example.net>\n< MAIL 250 ok\n> RCPT TO:<r%d@example.com>\n< RCPT 250 ok\n> DATA \n< DATA 354 go\n", i, i)
		b.WriteString(m)
		b.WriteString("> . .\n< . 250 ok\n")
	}
	b.WriteString("> QUIT \n< QUIT 221 bye\n")
	return b.Bytes()
}

func loadBenchCorpus(tb testing.TB) *benchCorpus {
	benchOnce.Do(func() {
		r := rand.New(rand.NewSource(1))
		c := &benchCorpus{}
		for i := 0; c.bytes < 52<<20; i++ {
			n := 1 + i%3
			var msgs []string
			for j := 0; j < n; j++ {
				m := genMessage(r, i*3+j)
				msgs = append(msgs, m)
				c.messages = append(c.messages, []byte(strings.ReplaceAll(m, "\n", "\r\n")))
				c.emails++
			}
			s := sessionFor(i, msgs)
			c.sessions = append(c.sessions, s)
			c.bytes += int64(len(s))
		}
		benchData = c
	})
	return benchData
}

// BenchmarkSessionToRecords is the whole core pipeline on one core:
// session file → messages → MIME → hashes → attachments → IOCs.
// Target: ≥ 50 MB/s per core.
func BenchmarkSessionToRecords(b *testing.B) {
	c := loadBenchCorpus(b)
	a := NewAnalyzer(DefaultOptions())
	b.SetBytes(c.bytes)
	b.ResetTimer()
	cpu0 := cpuTime()
	for i := 0; i < b.N; i++ {
		for _, s := range c.sessions {
			sess, err := ParseSession(bytes.NewReader(s), "bench", time.Time{})
			if err != nil {
				b.Fatal(err)
			}
			a.SessionEmails(sess)
		}
	}
	b.ReportMetric(float64(c.emails*b.N)/b.Elapsed().Seconds(), "emails/s")
	reportCPU(b, cpu0, c.bytes)
}

// BenchmarkSessionToRecordsParallel runs the same pipeline on every core
// (GOMAXPROCS): compare its MB/s with the single-core one for scaling.
func BenchmarkSessionToRecordsParallel(b *testing.B) {
	c := loadBenchCorpus(b)
	a := NewAnalyzer(DefaultOptions())
	b.SetBytes(c.bytes)
	b.ResetTimer()
	cpu0 := cpuTime()
	for i := 0; i < b.N; i++ {
		var wg sync.WaitGroup
		next := make(chan []byte)
		for w := 0; w < 2*runtimeProcs(); w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for s := range next {
					sess, err := ParseSession(bytes.NewReader(s), "bench", time.Time{})
					if err == nil {
						a.SessionEmails(sess)
					}
				}
			}()
		}
		for _, s := range c.sessions {
			next <- s
		}
		close(next)
		wg.Wait()
	}
	b.ReportMetric(float64(c.emails*b.N)/b.Elapsed().Seconds(), "emails/s")
	reportCPU(b, cpu0, c.bytes)
}

// BenchmarkEnmimeBare parses the same messages with enmime's defaults
// (ReadEnvelope): the reference our pipeline's cost is compared with.
func BenchmarkEnmimeBare(b *testing.B) {
	benchMessages(b, func(m []byte) {
		if _, err := enmime.ReadEnvelope(bytes.NewReader(m)); err != nil {
			b.Fatal(err)
		}
	})
}

// benchMessages runs fn over every message of the corpus per op and
// reports MB/s and MB/cpu-s over the message bytes.
func benchMessages(b *testing.B, fn func([]byte)) {
	c := loadBenchCorpus(b)
	var total int64
	for _, m := range c.messages {
		total += int64(len(m))
	}
	b.SetBytes(total)
	b.ResetTimer()
	cpu0 := cpuTime()
	for i := 0; i < b.N; i++ {
		for _, m := range c.messages {
			fn(m)
		}
	}
	reportCPU(b, cpu0, total)
}

// BenchmarkAnalyzeOnly is our analysis without the session parser, over
// the same messages as BenchmarkEnmimeBare: the ratio of the two is the
// cost of our pipeline on top of enmime.
func BenchmarkAnalyzeOnly(b *testing.B) {
	a := NewAnalyzer(DefaultOptions())
	benchMessages(b, func(m []byte) { a.AnalyzeBytes(m) })
}

// BenchmarkLargeEmailRSS parses a session holding one 100 MB email in a
// child process and reports its peak RSS as a multiple of the email size.
// Target: ≤ ~3×.
func BenchmarkLargeEmailRSS(b *testing.B) {
	if testing.Short() {
		b.Skip("large email benchmark skipped in -short mode")
	}
	dir := b.TempDir()
	path := filepath.Join(dir, "Clarge")
	size := writeLargeSession(b, path, 100<<20)
	for i := 0; i < b.N; i++ {
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperLargeEmail$", "-test.v")
		cmd.Env = append(os.Environ(), "SMTPSCOPE_LARGE_EMAIL="+path)
		out, err := cmd.CombinedOutput()
		if err != nil || !bytes.Contains(out, []byte("large email ok")) {
			b.Fatalf("child failed: %v\n%s", err, out)
		}
		ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
		b.ReportMetric(float64(ru.Maxrss*1024)/float64(size), "peakRSS/size")
		b.ReportMetric(float64(ru.Maxrss)/1024, "peakRSS-MB")
	}
}

// writeLargeSession writes a session file with one email carrying a
// base64 attachment, n bytes of message in all; it returns the message size.
func writeLargeSession(tb testing.TB, path string, n int) int64 {
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	hdr := "10.0.0.1:1234/tcp\n1700000000\n> MAIL FROM:<a@example.org>\n< MAIL 250 ok\n> RCPT TO:<b@example.com>\n< RCPT 250 ok\n> DATA \n< DATA 354 go\n"
	msgHdr := "Subject: big\nContent-Type: multipart/mixed; boundary=\"z\"\n\n--z\nContent-Type: text/plain\n\nsee attached\n--z\nContent-Type: application/octet-stream; name=\"big.bin\"\nContent-Transfer-Encoding: base64\n\n"
	f.WriteString(hdr + msgHdr)
	size := int64(len(msgHdr)) + 14
	r := rand.New(rand.NewSource(2))
	raw := make([]byte, 57)
	line := make([]byte, 0, 80)
	for size < int64(n) {
		r.Read(raw)
		line = line[:0]
		line = append(line, []byte(encodeB64(raw))...)
		line = append(line, '\n')
		f.Write(line)
		size += int64(len(line)) + 1
	}
	f.WriteString("--z--\n> . .\n< . 250 ok\n")
	return size + 7
}

func encodeB64(b []byte) string { return strings.TrimRight(b64lines(b), "\n") }

// TestHelperLargeEmail is the child side of BenchmarkLargeEmailRSS.
func TestHelperLargeEmail(t *testing.T) {
	path := os.Getenv("SMTPSCOPE_LARGE_EMAIL")
	if path == "" {
		t.Skip("helper for BenchmarkLargeEmailRSS")
	}
	s, err := ParseSessionFile(path)
	if err != nil {
		t.Fatal(err)
	}
	emails := NewAnalyzer(DefaultOptions()).SessionEmails(s)
	if len(emails) != 1 || len(emails[0].Attachments) != 1 {
		t.Fatalf("got %d emails", len(emails))
	}
	fmt.Println("large email ok", emails[0].Size, emails[0].Attachments[0].Size)
}

func runtimeProcs() int { return runtime.GOMAXPROCS(0) }

// cpuTime is the process's user+system CPU time so far. Benchmarks report
// MB per CPU-second besides MB/s: on a shared machine wall time says more
// about the neighbours than about the code.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPU adds the MB/cpu-s metric for n bytes processed per op.
func reportCPU(b *testing.B, start time.Duration, n int64) {
	used := (cpuTime() - start).Seconds()
	if used > 0 {
		b.ReportMetric(float64(n)*float64(b.N)/used/1e6, "MB/cpu-s")
	}
}

// BenchmarkSharedCorpus is `parse` on real mail, in one goroutine: every
// message file of the shared corpus (../shared/corpus/eml, 1 KB to 3 MB)
// wrapped in a session file as the performance corpus of the peers' tools
// wraps it, then session parsing, analysis and the JSON record written to
// io.Discard. MB/s and MB/cpu-s are over the session bytes.
func BenchmarkSharedCorpus(b *testing.B) {
	var sessions [][]byte
	var total int64
	for i, f := range corpusFiles(b) {
		raw, err := os.ReadFile(f)
		if err != nil {
			b.Fatal(err)
		}
		if len(raw) < 200 || len(raw) > 3_000_000 {
			continue
		}
		msg := strings.TrimSuffix(strings.ReplaceAll(string(raw), "\r\n", "\n"), "\n") + "\n"
		s := sessionFor(i, []string{msg})
		sessions = append(sessions, s)
		total += int64(len(s))
	}
	a := NewAnalyzer(DefaultOptions())
	enc := NewJSONEncoder(io.Discard)
	b.SetBytes(total)
	b.ResetTimer()
	cpu0 := cpuTime()
	for i := 0; i < b.N; i++ {
		for _, s := range sessions {
			sess, err := ParseSessionSize(bytes.NewReader(s), "bench", time.Time{}, int64(len(s))) // as ParseSessionFile
			if err != nil {
				b.Fatal(err)
			}
			for _, e := range a.SessionEmails(sess) {
				if err := enc.Encode(e); err != nil {
					b.Fatal(err)
				}
			}
		}
	}
	reportCPU(b, cpu0, total)
}
