package collector_test

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/smtpscope/smtpscope/collector"
	"github.com/smtpscope/smtpscope/core"
)

// benchEmails generates n distinct emails: a text body with a few IOCs
// (one defanged) and a zip attachment of three members (~24 KiB).
func benchEmails(b *testing.B, n int) [][]byte {
	b.Helper()
	rng := rand.New(rand.NewPCG(7, 7))
	noise := func(size int) []byte {
		p := make([]byte, size)
		for i := range p {
			p[i] = byte(rng.IntN(256))
		}
		return p
	}
	words := strings.Repeat("the quarterly figures are attached as discussed ", 40)
	out := make([][]byte, n)
	for i := range out {
		body := fmt.Sprintf("Hello,\r\n%s\r\nDetails at hxxps://portal-%d[.]com/login and http://cdn%d.example.net/x.js, server 203.0.113.%d.\r\n",
			words, i, i, i%250)
		z := zipOf(b, map[string][]byte{
			"invoice.exe": append([]byte("MZ\x90\x00"), noise(8<<10)...),
			"readme.txt":  []byte(strings.Repeat("open invoice.exe to view the invoice\n", 100)),
			"data.bin":    noise(12 << 10),
		})
		out[i] = rawEmail(fmt.Sprintf("bench %d", i), body, "invoice.zip", z)
	}
	return out
}

// yaraRules100 writes 100 rules (two text strings and a hex string each).
func yaraRules100(b *testing.B, dir string) string {
	b.Helper()
	var sb strings.Builder
	for i := 0; i < 100; i++ {
		fmt.Fprintf(&sb, "rule bench_%03d {\n  strings:\n    $a = \"marker-%03d\"\n    $b = \"payload%03d\" nocase\n    $c = { 4D 5A 90 00 %02X %02X }\n  condition:\n    any of them\n}\n", i, i, i, i, 255-i)
	}
	return writeFile(b, filepath.Join(dir, "bench.yar"), sb.String())
}

// BenchmarkAnalyzers measures emails/s through IngestRaw, called
// concurrently as the collector's workers do (analysis, store without
// fsync, queue commit) with the analyzers the configuration turns
// on: none (hash and mimetype only: always_dispatch=hash,mimetype, no
// IOCs) vs all (IOCs and unzip), all plus YARA with 100 rules (when
// compiled in: -tags yara), and all with the archivers and results on
// (attachments in the data dir's archive and in archive_dir, stoQ results
// in results_dir: eight more files per email, which the file system's
// mkdir/open/rename dominate).
func BenchmarkAnalyzers(b *testing.B) {
	off, on := false, true
	cases := []struct {
		name string
		a    func(tmp string) collector.AnalysisConfig
		yara bool
	}{
		{"none", func(string) collector.AnalysisConfig {
			return collector.AnalysisConfig{AlwaysDispatch: []string{"hash", "mimetype"}, ExtractIOCs: &off, ArchiveAttachments: &off}
		}, false},
		{"all", func(string) collector.AnalysisConfig {
			return collector.AnalysisConfig{ExtractIOCs: &on, ArchiveAttachments: &off}
		}, false},
		{"all+yara100", func(tmp string) collector.AnalysisConfig {
			return collector.AnalysisConfig{ExtractIOCs: &on, ArchiveAttachments: &off, YaraRules: []string{yaraRules100(b, tmp)}}
		}, true},
		{"all+archive+results", func(tmp string) collector.AnalysisConfig {
			return collector.AnalysisConfig{ExtractIOCs: &on, ArchiveAttachments: &on, ArchiveDir: filepath.Join(tmp, "archive"),
				ResultsDir: filepath.Join(tmp, "results"), ResultsFormat: collector.ResultsStoq}
		}, false},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			if tc.yara && !core.YaraAvailable() {
				b.Skip("YARA not compiled in (-tags yara)")
			}
			tmp := b.TempDir()
			emails := benchEmails(b, b.N)
			cfg := &collector.Config{Data: filepath.Join(tmp, "data"), Spool: filepath.Join(tmp, "spool"), Fsync: noFsync(), Analysis: tc.a(tmp)}
			col, err := collector.New(cfg, collector.Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer col.Close()
			var bytes int64
			for _, e := range emails {
				bytes += int64(len(e))
			}
			b.SetBytes(bytes / int64(len(emails)))
			var next atomic.Int64
			b.SetParallelism(2) // 2×GOMAXPROCS goroutines, as the collector's workers
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					i := next.Add(1) - 1
					if _, err := col.IngestRaw(emails[i], fmt.Sprintf("bench/%d.eml", i)); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "emails/s")
		})
	}
}
