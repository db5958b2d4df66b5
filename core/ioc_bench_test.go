package core

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"testing"
)

// benchWords is prose vocabulary for the synthetic bodies.
var benchWords = strings.Fields(`the of and to a in is you that it he was for on are as with his they
I at be this have from or one had by word but not what all were we when your can said there use an
each which she do how their if will up other about out many then them these so some her would make
like him into time has look two more write go see number no way could people my than first water
been call who oil its now find long down day did get come made may part invoice payment account
please review attached document regards thanks meeting schedule update password verify security
team customer order shipment delivery tracking report quarterly budget approval urgent request`)

// benchIOCs are the indicators sprinkled through the bodies.
var benchIOCs = []string{
	"https://www.example.com/login?session=8f14e45fceea167a5a36dedd4bea2543&user=alice",
	"http://test-site.org/blah/123/", "ftp://172.42.48.124/pub/file.bin", "portal.example.net",
	"mail.corp-example.co.uk", "192.0.2.55", "198.51.100.7", "alice@example.com", "bob.smith@mail.example.org",
	"2001:db8::8a2e:370:7334", "d41d8cd98f00b204e9800998ecf8427e",
	"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
	"hxxp://evil[.]example[.]com/payload", "report.pdf", "version 1.2.3.4.5", "at 12:30:45",
	"(see https://en.wikipedia.org/wiki/Foo_(bar)).", "cdn.example-assets.com",
}

// benchPlainText builds a ~size byte plain-text body: sentences of prose
// with roughly one indicator (or near miss) per 250 bytes, the density of a
// marketing or phishing mail.
func benchPlainText(size int) []byte {
	r := rand.New(rand.NewPCG(1, 2))
	var b strings.Builder
	for b.Len() < size {
		n := 5 + r.IntN(15)
		for i := 0; i < n; i++ {
			w := benchWords[r.IntN(len(benchWords))]
			if i == 0 {
				w = strings.ToUpper(w[:1]) + w[1:]
			}
			b.WriteString(w)
			if i < n-1 {
				b.WriteByte(' ')
			}
		}
		if r.IntN(3) == 0 {
			b.WriteString(", " + benchIOCs[r.IntN(len(benchIOCs))])
		}
		b.WriteString(". ")
		if r.IntN(6) == 0 {
			b.WriteString("\r\n")
		}
	}
	return []byte(b.String())
}

// benchHTML builds a ~size byte HTML body with styled markup and links.
func benchHTML(size int) []byte {
	r := rand.New(rand.NewPCG(3, 4))
	var b strings.Builder
	b.WriteString(`<html><head><style>body{font-family:Arial,sans-serif;color:#333333} .x{margin:0 auto}</style></head><body>`)
	for b.Len() < size {
		fmt.Fprintf(&b, `<p style="margin:0;font-size:14px;line-height:20px;color:#222222">`)
		n := 8 + r.IntN(20)
		for i := 0; i < n; i++ {
			b.WriteString(benchWords[r.IntN(len(benchWords))])
			b.WriteByte(' ')
		}
		switch r.IntN(4) {
		case 0:
			fmt.Fprintf(&b, `<a href="https://track.example.com/c/%d?u=https%%3A%%2F%%2Fshop.example.net%%2Fsale&amp;id=%x">click here</a>`, r.IntN(1e6), r.Uint64())
		case 1:
			fmt.Fprintf(&b, `<img src="https://cdn.example-assets.com/img/%x.png" width="600" height="80" alt="">`, r.Uint32())
		case 2:
			b.WriteString(benchIOCs[r.IntN(len(benchIOCs))])
		}
		b.WriteString("</p>\r\n")
	}
	b.WriteString("</body></html>")
	return []byte(b.String())
}

// benchNoise is random bytes (an attachment or garbage fed as text).
func benchNoise(size int) []byte {
	r := rand.New(rand.NewPCG(5, 6))
	b := make([]byte, size)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func BenchmarkExtractIOCs(b *testing.B) {
	cases := []struct {
		name string
		data []byte
	}{
		{"plain64K", benchPlainText(64 << 10)},
		{"html64K", benchHTML(64 << 10)},
		{"noise64K", benchNoise(64 << 10)},
		{"prose64K", benchPlainText(64 << 10)[:0]},
	}
	// prose64K: plain text without any indicator, the common case.
	{
		r := rand.New(rand.NewPCG(7, 8))
		var sb strings.Builder
		for sb.Len() < 64<<10 {
			sb.WriteString(benchWords[r.IntN(len(benchWords))])
			if r.IntN(12) == 0 {
				sb.WriteString(". ")
			} else {
				sb.WriteByte(' ')
			}
		}
		cases[3].data = []byte(sb.String())
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(c.data)))
			b.ReportAllocs()
			n := 0
			for b.Loop() {
				n = len(ExtractIOCs(c.data, "body"))
			}
			b.ReportMetric(float64(n), "iocs")
		})
	}
}

func BenchmarkRefang(b *testing.B) {
	inputs := []string{
		"hxxp://evil[.]example(.)com/path?q=1",
		"user[at]example[dot]com",
		"plain text without anything to refang, the common case for a query",
	}
	total := 0
	for _, s := range inputs {
		total += len(s)
	}
	b.SetBytes(int64(total))
	b.ReportAllocs()
	for b.Loop() {
		for _, s := range inputs {
			_ = Refang(s)
		}
	}
}

// hostileIOCInputs are pathological inputs of about a megabyte each: long
// runs of one kind of anchor, nesting, floods of near-candidates.
func hostileIOCInputs() map[string][]byte {
	return map[string][]byte{
		"long label run":      bytes.Repeat([]byte("a.a"), 200000),
		"nested urls":         bytes.Repeat([]byte("http://a.example.com/"), 50000),
		"nested urls parens":  append(bytes.Repeat([]byte("http://a.example.com/("), 20000), bytes.Repeat([]byte(")"), 20000)...),
		"bad hosts parens":    append(bytes.Repeat([]byte("http://("), 100000), ')'),
		"long url":            append([]byte("http://a.example.com/"), bytes.Repeat([]byte("x"), 1<<20)...),
		"scheme letters":      bytes.Repeat([]byte("hxxphxxp[://]"), 50000),
		"userinfo ats":        bytes.Repeat([]byte("http://a@b/"), 100000),
		"long token anchors":  bytes.Repeat([]byte("a.b(c.d,e.f)[g]{h}\\.i@j:k;"), 30000),
		"hex flood":           bytes.Repeat([]byte("0123456789abcdef"), 100000),
		"ats":                 bytes.Repeat([]byte("a@"), 300000),
		"brackets":            bytes.Repeat([]byte("[[[(.)]]]"), 100000),
		"colons":              bytes.Repeat([]byte("1:"), 300000),
		"dots":                bytes.Repeat([]byte("."), 600000),
		"bare dots":           bytes.Repeat([]byte("a dot "), 100000),
		"bare dots unjoined":  bytes.Repeat([]byte("a dot , "), 100000),
		"spaced defangs":      bytes.Repeat([]byte("a [.] "), 100000),
		"binary":              benchNoise(1 << 20),
		"many distinct hosts": manyHosts(20000),
	}
}

// BenchmarkExtractIOCsHostile keeps the worst cases in view: each must stay
// linear (MB/s in the same range as ordinary text, not collapsing).
func BenchmarkExtractIOCsHostile(b *testing.B) {
	inputs := hostileIOCInputs()
	names := make([]string, 0, len(inputs))
	for n := range inputs {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		data := inputs[n]
		b.Run(strings.ReplaceAll(n, " ", "_"), func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				ExtractIOCs(data, "body")
			}
		})
	}
}
