package core

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// comparable is what both MIME paths must agree on.
func comparable(e *Email) string {
	type part struct {
		Part, ContentType, Filename, Disposition string
		Size                                     int64
	}
	type att struct{ Part, Filename, SHA256, DetectedType string }
	var v struct {
		Parts              []part
		Attachments        []att
		BodyText, BodyHTML string
		IOCs               []IOC
	}
	for _, p := range e.Parts {
		v.Parts = append(v.Parts, part{p.Part, p.ContentType, p.Filename, p.Disposition, p.Size})
	}
	for _, a := range e.Attachments {
		v.Attachments = append(v.Attachments, att{a.Part, a.Filename, a.SHA256, a.DetectedType})
	}
	v.BodyText, v.BodyHTML, v.IOCs = e.BodyText, e.BodyHTML, e.IOCs
	b, _ := json.Marshal(v)
	return string(b)
}

// cleanRecord reports whether the record shows no parse defect: no
// enmime warning or error, no MIME error of ours.
func cleanRecord(e *Email) bool {
	for _, er := range e.Errors {
		if strings.Contains(er, "[W]") || strings.Contains(er, "[E]") || strings.Contains(er, "mime") {
			return false
		}
	}
	return true
}

// comparePaths analyses raw through enmime's part reader (the reference)
// and through splitMIME. When both read it without a defect (the
// documented differences, enmime.go, are defects of the reference) the
// two must give the same parts, attachments, bodies and IOCs: it returns
// the two comparable forms and true. Neither path may panic or modify raw.
func comparePaths(t testing.TB, ref, split *Analyzer, raw []byte) (a, b string, checked bool) {
	orig := bytes.Clone(raw)
	er := ref.AnalyzeBytes(bytes.Clone(raw))
	es := split.AnalyzeBytes(raw)
	if !bytes.Equal(raw, orig) {
		t.Fatalf("the split path modified the message bytes")
	}
	for _, e := range []*Email{er, es} {
		for _, m := range e.Errors {
			if strings.Contains(m, "internal error") {
				t.Fatalf("panic inside analysis: %s", m)
			}
		}
	}
	if !cleanRecord(er) || !cleanRecord(es) {
		return "", "", false
	}
	return comparable(er), comparable(es), true
}

// TestSplitMIMEMatchesEnmime runs the whole shared corpus through both
// MIME readers — enmime's (the reference) and splitMIME (the analyzer's)
// — and requires the same parts, attachments (by hash), bodies and IOCs
// for every message both read without a defect.
func TestSplitMIMEMatchesEnmime(t *testing.T) {
	files := corpusFiles(t)
	ref := withEnmimeReader(NewAnalyzer(DefaultOptions()))
	split := NewAnalyzer(DefaultOptions())
	checked := 0
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		ca, cb, ok := comparePaths(t, ref, split, raw)
		if !ok {
			continue
		}
		checked++
		if ca != cb {
			t.Errorf("%s: the two MIME paths disagree\nenmime: %.600s\nsplit:  %.600s", f, ca, cb)
		}
	}
	if checked < 300 {
		t.Fatalf("only %d well-formed corpus messages compared", checked)
	}
	t.Logf("%d well-formed messages compared, all identical", checked)
}

// FuzzSplitMatchesEnmime: on any input both MIME readers read without a
// defect, they agree (comparePaths); neither panics nor modifies it.
func FuzzSplitMatchesEnmime(f *testing.F) {
	f.Add([]byte("Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nhi http://x.example/\r\n--b\r\nContent-Type: application/octet-stream; name=a.bin\r\nContent-Transfer-Encoding: base64\r\n\r\nQUJD\r\n--b--\r\n"))
	f.Add([]byte("Content-Type: multipart/alternative; boundary=\"x\"\n\npreamble\n--x\n\nplain\n--x\nContent-Type: text/html\n\n<p>html</p>\n--x--\nepilogue\n"))
	for _, c := range anomalyCases {
		f.Add([]byte(c.msg))
	}
	crafted, _ := filepath.Glob("testdata/crafted/*.eml")
	for _, name := range crafted {
		if b, err := os.ReadFile(name); err == nil {
			f.Add(b)
		}
	}
	ref := withEnmimeReader(NewAnalyzer(DefaultOptions()))
	split := NewAnalyzer(DefaultOptions())
	f.Fuzz(func(t *testing.T, in []byte) {
		if ca, cb, ok := comparePaths(t, ref, split, in); ok && ca != cb {
			t.Fatalf("the two MIME paths disagree on %q\nenmime: %.600s\nsplit:  %.600s", in, ca, cb)
		}
	})
}

// TestSplitMIMELeavesMessageIntact: the split path must not decode into
// the message bytes (its parts are subslices of them).
func TestSplitMIMELeavesMessageIntact(t *testing.T) {
	big := bytes.Repeat([]byte("QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo=\r\n"), 1<<16)
	msg := append(crlfText("Subject: big\nContent-Type: multipart/mixed; boundary=\"b\"\n\n--b\nContent-Type: application/octet-stream; name=\"x.bin\"\nContent-Transfer-Encoding: base64\n\n"), big...)
	msg = append(msg, crlfText("--b--\n")...)
	orig := append([]byte(nil), msg...)
	e := NewAnalyzer(DefaultOptions()).AnalyzeBytes(msg)
	if !bytes.Equal(msg, orig) {
		t.Fatal("the message bytes were modified")
	}
	if len(e.Attachments) != 1 || e.Attachments[0].Filename != "x.bin" || e.SHA256 != sha256hex(orig) {
		t.Fatalf("record %+v", e.Attachments)
	}
}
