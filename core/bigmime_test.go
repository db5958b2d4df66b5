package core

import (
	"bytes"
	"encoding/json"
	"os"
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

// splitKnownDiffs are the corpus messages where the two paths differ, and
// why; in both the split path follows the RFC (and mime4j's expectation).
var splitKnownDiffs = map[string]string{
	"james-mime4j/testmsgs/misplaced-boundary.msg": "'--boundary' in the middle of a line is text, not a delimiter " +
		"(RFC 2046: delimiters start a line; mime4j: 'should not be parsed as multiple bodies'); enmime cuts the part there",
}

// TestSplitMIMEMatchesEnmime runs the whole shared corpus through both
// MIME paths — enmime's reader (small messages) and the zero-copy split
// (large ones) — and requires the same parts, attachments (by hash),
// bodies and IOCs for every well-formed message (no parse warnings).
func TestSplitMIMEMatchesEnmime(t *testing.T) {
	files := corpusFiles(t)
	viaEnmime := NewAnalyzer(DefaultOptions())
	viaSplit := NewAnalyzer(DefaultOptions())
	viaSplit.splitAt = 0
	same, checked := 0, 0
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		a := viaEnmime.AnalyzeBytes(raw)
		clean := true
		for _, er := range a.Errors {
			if strings.Contains(er, "[W]") || strings.Contains(er, "[E]") || strings.Contains(er, "mime") {
				clean = false
			}
		}
		b := viaSplit.AnalyzeBytes(append([]byte(nil), raw...))
		for _, er := range b.Errors {
			if strings.Contains(er, "internal error") {
				t.Errorf("%s: split path: %s", f, er)
			}
		}
		if !clean {
			continue
		}
		checked++
		known := ""
		for k, why := range splitKnownDiffs {
			if strings.HasSuffix(f, k) {
				known = why
			}
		}
		switch ca, cb := comparable(a), comparable(b); {
		case ca != cb && known == "":
			t.Errorf("%s: the two MIME paths disagree\nenmime: %.600s\nsplit:  %.600s", f, ca, cb)
		case ca == cb && known != "":
			t.Errorf("%s: listed as a known difference but the paths now agree", f)
		case ca == cb:
			same++
		}
	}
	if checked < 300 {
		t.Fatalf("only %d well-formed corpus messages compared", checked)
	}
	t.Logf("%d well-formed messages compared, %d identical", checked, same)
}

// TestSplitMIMELeavesMessageIntact: the split path must not decode into
// the message bytes (its parts are subslices of them).
func TestSplitMIMELeavesMessageIntact(t *testing.T) {
	big := bytes.Repeat([]byte("QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo=\r\n"), 1<<16)
	msg := append(crlfText("Subject: big\nContent-Type: multipart/mixed; boundary=\"b\"\n\n--b\nContent-Type: application/octet-stream; name=\"x.bin\"\nContent-Transfer-Encoding: base64\n\n"), big...)
	msg = append(msg, crlfText("--b--\n")...)
	orig := append([]byte(nil), msg...)
	a := NewAnalyzer(DefaultOptions())
	a.splitAt = 0
	e := a.AnalyzeBytes(msg)
	if !bytes.Equal(msg, orig) {
		t.Fatal("the message bytes were modified")
	}
	if len(e.Attachments) != 1 || e.Attachments[0].Filename != "x.bin" || e.SHA256 != sha256hex(orig) {
		t.Fatalf("record %+v", e.Attachments)
	}
}
