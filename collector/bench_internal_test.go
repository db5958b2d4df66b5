package collector

import (
	"archive/zip"
	"bytes"
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/smtpscope/smtpscope/core"
)

// BenchmarkAnalyzeOptions measures core's analysis alone (no store) with
// the options analysisOptions produces from the configuration: none
// (always_dispatch=hash,mimetype, no IOCs), all (IOCs and unzip), and all
// plus YARA with 100 rules (when compiled in). Compare with
// BenchmarkAnalyzers, which adds the store and queue.
func BenchmarkAnalyzeOptions(b *testing.B) {
	email := benchZipEmail()
	off := false
	rulesDir := b.TempDir()
	var sb strings.Builder
	for i := 0; i < 100; i++ {
		fmt.Fprintf(&sb, "rule bench_%03d {\n  strings:\n    $a = \"marker-%03d\"\n    $b = \"payload%03d\" nocase\n    $c = { 4D 5A 90 00 %02X %02X }\n  condition:\n    any of them\n}\n", i, i, i, i, 255-i)
	}
	rules := filepath.Join(rulesDir, "bench.yar")
	if err := os.WriteFile(rules, []byte(sb.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	cases := []struct {
		name string
		cfg  AnalysisConfig
	}{
		{"none", AnalysisConfig{AlwaysDispatch: []string{"hash", "mimetype"}, ExtractIOCs: &off}},
		{"all", AnalysisConfig{}},
		{"all+yara100", AnalysisConfig{YaraRules: []string{rules}}},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			var y yaraSet
			if len(tc.cfg.YaraRules) > 0 {
				if !core.YaraAvailable() {
					b.Skip("YARA not compiled in (-tags yara)")
				}
				if err := y.load(tc.cfg.YaraRules); err != nil {
					b.Fatal(err)
				}
				defer y.close()
			}
			an := core.NewAnalyzer(analysisOptions(tc.cfg, &y, nil))
			b.SetBytes(int64(len(email)))
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if e := an.AnalyzeBytes(email); len(e.Attachments) == 0 {
					b.Fatal("no attachments")
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "emails/s")
		})
	}
}

// benchZipEmail is one email with IOCs in its body and a zip attachment
// of three members (the same shape as BenchmarkAnalyzers' emails).
func benchZipEmail() []byte {
	body := "Details at hxxps://portal[.]com/login and http://cdn.example.net/x.js, server 203.0.113.9.\r\n" +
		strings.Repeat("the quarterly figures are attached as discussed ", 40)
	z := benchZip()
	return []byte("From: a@evil.example\r\nTo: b@corp.example\r\nSubject: bench\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/mixed; boundary=\"zz\"\r\n\r\n--zz\r\nContent-Type: text/plain\r\n\r\n" + body +
		"\r\n--zz\r\nContent-Type: application/zip\r\nContent-Disposition: attachment; filename=\"invoice.zip\"\r\n" +
		"Content-Transfer-Encoding: base64\r\n\r\n" + z + "\r\n--zz--\r\n")
}

// benchZip is a base64 zip (76-column lines) of an executable-looking
// member, a text member and random bytes (~24 KiB).
func benchZip() string {
	rng := rand.New(rand.NewPCG(7, 7))
	noise := func(n int) []byte {
		p := make([]byte, n)
		for i := range p {
			p[i] = byte(rng.IntN(256))
		}
		return p
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, f := range []struct {
		name string
		data []byte
	}{
		{"invoice.exe", append([]byte("MZ\x90\x00"), noise(8<<10)...)},
		{"readme.txt", []byte(strings.Repeat("open invoice.exe to view the invoice\n", 100))},
		{"data.bin", noise(12 << 10)},
	} {
		w, _ := zw.Create(f.name)
		_, _ = w.Write(f.data)
	}
	_ = zw.Close()
	enc := base64.StdEncoding.EncodeToString(buf.Bytes())
	var sb strings.Builder
	for len(enc) > 76 {
		sb.WriteString(enc[:76] + "\r\n")
		enc = enc[76:]
	}
	sb.WriteString(enc)
	return sb.String()
}
