package core

import (
	"bytes"
	"strings"
	"testing"
)

// refParseRawHeader is the unbounded header parser as it was (string
// concatenation, quadratic): the oracle for inputs within the limits.
func refParseRawHeader(raw []byte) ([]HeaderField, int) {
	var out []HeaderField
	pos := 0
	for pos < len(raw) {
		line, next := lineAt(raw, pos)
		if len(line) == 0 {
			return out, next
		}
		if (line[0] == ' ' || line[0] == '\t') && len(out) > 0 {
			out[len(out)-1].Value += " " + strings.TrimSpace(string(line))
		} else if i := bytes.IndexByte(line, ':'); i > 0 {
			out = append(out, HeaderField{Name: strings.TrimSpace(string(line[:i])), Value: strings.TrimSpace(string(line[i+1:]))})
		} else if len(out) == 0 {
			return out, pos
		}
		pos = next
	}
	return out, pos
}

// FuzzParseRawHeader: with room to spare the result is the reference
// parser's; with small limits every kept value and the field count are
// within them, each kept value is a prefix of the whole, and every cut is
// listed.
func FuzzParseRawHeader(f *testing.F) {
	f.Add([]byte("Subject: a\r\n b\r\n\tc\r\nTo: x\r\n\r\nbody"), 4, 2)
	f.Add([]byte("no header\r\n\r\n"), 1, 1)
	f.Add([]byte(" lead\r\nA:\xe2\x80\xae\xe2\x80\xae\r\n"), 3, 1)
	f.Fuzz(func(t *testing.T, raw []byte, maxValue, maxFields int) {
		maxValue, maxFields = 1+abs(maxValue)%64, 1+abs(maxFields)%8
		want, wantBody := refParseRawHeader(raw)
		if h := parseRawHeader(raw, 1<<30, 1<<30); h.body != wantBody || len(h.cuts) != 0 || !sameFields(h.fields, want) {
			t.Fatalf("got %q body %d, want %q body %d", h.fields, h.body, want, wantBody)
		}
		h := parseRawHeader(raw, maxValue, maxFields)
		if h.body != wantBody || len(h.fields) > maxFields || len(h.fields) != min(len(want), maxFields) {
			t.Fatalf("%d fields, body %d", len(h.fields), h.body)
		}
		cuts := 0
		for i, fl := range h.fields {
			if len(fl.Value) > maxValue || len(fl.Name) > maxValue || !strings.HasPrefix(want[i].Value, fl.Value) {
				t.Fatalf("field %d %q, whole %q", i, fl, want[i])
			}
			if len(fl.Value) < len(want[i].Value) {
				cuts++
			}
		}
		if len(want) > maxFields {
			cuts++
		}
		if cuts != len(h.cuts) {
			t.Fatalf("%d values cut, %d listed: %v", cuts, len(h.cuts), h.cuts)
		}
	})
}

func sameFields(a, b []HeaderField) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

// FuzzScanMIME: the pre-scan never changes the message, stays within its
// limits, and hands the parser the message up to the cut (plus close
// delimiters) unless a header block was reduced.
func FuzzScanMIME(f *testing.F) {
	f.Add(wideMultipart(3), 2, 2)
	f.Add(nestedMultipart(4), 5, 2)
	f.Add([]byte("Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nX-Long: aaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\nx\r\n--b--\r\n"), 10, 10)
	f.Fuzz(func(t *testing.T, raw []byte, parts, depth int) {
		lim := scanLimits{parts: abs(parts) % 16, depth: 1 + abs(depth)%8, value: 16, fields: 3}
		orig := append([]byte(nil), raw...)
		m := scanMIME(raw, lim)
		if !bytes.Equal(raw, orig) {
			t.Fatal("scanMIME modified the message")
		}
		if m.cut < 0 || m.cut > len(raw) || m.parts > lim.parts || (m.why == "") != (m.cut == len(raw)) {
			t.Fatalf("cut %d of %d, %d parts, why %q", m.cut, len(raw), m.parts, m.why)
		}
		got := bytes.Join(m.segs, nil)
		if len(got) > m.cut+len(raw)+16*lim.depth+64 {
			t.Fatalf("%d bytes for the parser from a cut at %d", len(got), m.cut)
		}
		// Without header reduction the parser gets the message up to the
		// cut, then only close delimiters.
		lim.value, lim.fields = len(raw)+1, len(raw)+1
		m = scanMIME(raw, lim)
		got = bytes.Join(m.segs, nil)
		rest, ok := bytes.CutPrefix(got, raw[:m.cut])
		if !ok {
			t.Fatalf("parser input %q is not the message up to %d", got, m.cut)
		}
		for _, l := range strings.Split(strings.TrimSpace(string(rest)), "\r\n") {
			if l != "" && (!strings.HasPrefix(l, "--") || !strings.HasSuffix(l, "--")) {
				t.Fatalf("added %q", rest)
			}
		}
	})
}

// BenchmarkPathological analyses the shapes QA found expensive; each
// must stay linear (TestLinearCPU) and bounded in memory
// (TestPeakRSSBounded).
func BenchmarkPathological(b *testing.B) {
	an := NewAnalyzer(DefaultOptions())
	for _, c := range []struct {
		name string
		msg  []byte
	}{
		{"folded-400k-lines", foldedHeader(400000)},
		{"folded-part-header-40k", foldedPartHeader(40000)},
		{"folded-encoded-words-40k", foldedEncodedWords(40000)},
		{"nested-10k", nestedMultipart(10000)},
		{"wide-100k", wideMultipart(100000)},
		{"nul-subject-8MB", pathological("nul-subject", 8<<20)},
		{"many-headers-8MB", pathological("many-headers", 8<<20)},
		{"huge-body-8MB", pathological("huge-body", 8<<20)},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(c.msg)))
			cpu0 := cpuTime()
			for i := 0; i < b.N; i++ {
				an.AnalyzeBytes(c.msg)
			}
			reportCPU(b, cpu0, int64(len(c.msg)))
		})
	}
}
