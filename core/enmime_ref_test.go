package core

import (
	"bytes"
	"net/textproto"
	"strings"
	"testing"

	"github.com/jhillyerd/enmime/v2"
)

// The reference MIME reader for tests: enmime's part reader with the
// repairs smtpscope applied to it until splitMIME read every message
// (enmime.go lists enmime's behaviours). Tests compare the two paths
// (TestSplitMIMEMatchesEnmime, FuzzSplitMatchesEnmime, analyzeBoth).

var enmimeParser = enmime.NewParser(
	enmime.RawContent(true),
	enmime.SkipMalformedParts(false),
	enmime.MaxStoredPartErrors(50),
	enmime.MultipartWOBoundaryAsSinglePart(true),
)

// withEnmimeReader makes a read every message's structure with enmime's
// part reader (falling back to splitMIME where enmime fails the message
// or drops a body, as the analyzer did).
func withEnmimeReader(a *Analyzer) *Analyzer {
	a.readTree = enmimeTree
	return a
}

func enmimeTree(w *walker, raw []byte, scan mimeScan, prefix string) *enmime.Part {
	// scan.reader() closes the multiparts the message leaves open:
	// enmime's cost for nested unclosed multiparts grows exponentially
	// with their depth.
	root, err := enmimeParser.ReadParts(scan.reader())
	if err != nil {
		w.errorf("mime%s: %v", at(prefix), err)
	}
	if root == nil || childlessMultipart(root) {
		// enmime fails the whole message on a Content-Type that does
		// not parse, and drops the body of a multipart whose boundary
		// never occurs.
		return splitMIME(raw[:scan.cut], w.scanLimits())
	}
	endUnclosed(root)
	if b := midLineDelimiter(raw, root); b != "" {
		w.errorf("mime%s: reference: %q in the middle of a line (a documented difference: enmime cuts the part there)", at(prefix), clipString(b, 80))
	}
	return root
}

// midLineDelimiter returns a boundary of the tree whose delimiter occurs
// in raw other than at the start of a line ("" when none does).
func midLineDelimiter(raw []byte, p *enmime.Part) string {
	for ; p != nil; p = p.NextSibling {
		if p.Boundary != "" {
			d := []byte("--" + p.Boundary)
			for i := 0; ; {
				j := bytes.Index(raw[i:], d)
				if j < 0 {
					break
				}
				if i+j > 0 && raw[i+j-1] != '\n' {
					return p.Boundary
				}
				i += j + 1
			}
		}
		if b := midLineDelimiter(raw, p.FirstChild); b != "" {
			return b
		}
	}
	return ""
}

// childlessMultipart reports whether enmime left a multipart of the tree
// without parts (it then drops the multipart's body).
func childlessMultipart(p *enmime.Part) bool {
	for ; p != nil; p = p.NextSibling {
		if p.FirstChild == nil && strings.HasPrefix(p.ContentType, "multipart/") {
			return true
		}
		if childlessMultipart(p.FirstChild) {
			return true
		}
	}
	return false
}

// endUnclosed repairs the end of a tree read by enmime's part reader: in an
// unclosed multipart whose last line is a delimiter line of it (LF line
// ends, or no final line end), enmime leaves that line in the content of
// the last leaf. As in splitParts, the delimiter (with the line end before
// it) is cut off and opens an empty last part.
func endUnclosed(root *enmime.Part) {
	var chain []*enmime.Part // the multiparts from root to the last leaf
	leaf := root
	for leaf.FirstChild != nil {
		chain = append(chain, leaf)
		leaf = leaf.FirstChild
		for leaf.NextSibling != nil {
			leaf = leaf.NextSibling
		}
	}
	for i := len(chain) - 1; i >= 0; i-- {
		mp := chain[i]
		if !hasError(mp, enmime.ErrorMissingBoundary) {
			continue
		}
		if n := trailingDelimiter(leaf.Content, mp.Boundary); n >= 0 {
			leaf.Content = leaf.Content[:n]
			mp.AddChild(&enmime.Part{Header: textproto.MIMEHeader{}})
			return
		}
	}
}

// trailingDelimiter returns where the last line of b starts (before its
// preceding line end) when that line is "--boundary" followed by white
// space only; -1 otherwise.
func trailingDelimiter(b []byte, boundary string) int {
	end := len(b)
	for end > 0 && (b[end-1] == ' ' || b[end-1] == '\t' || b[end-1] == '\r' || b[end-1] == '\n') {
		end--
	}
	start := end - len(boundary) - 2
	if boundary == "" || start < 0 || string(b[start:end]) != "--"+boundary {
		return -1
	}
	if start == 0 {
		return 0
	}
	if b[start-1] != '\n' {
		return -1
	}
	start--
	if start > 0 && b[start-1] == '\r' {
		start--
	}
	return start
}

// TestPanicKeepsRecord: a bug that panics inside the analysis still gives
// the email's record (hashes, the error), never nil.
func TestPanicKeepsRecord(t *testing.T) {
	a := NewAnalyzer(DefaultOptions())
	a.readTree = func(*walker, []byte, mimeScan, string) *enmime.Part { panic("boom") }
	raw := []byte("Subject: x\r\n\r\nhi\r\n")
	e := a.AnalyzeBytes(raw)
	if e == nil {
		t.Fatal("no record")
	}
	if e.SHA256 != sha256hex(raw) || !strings.Contains(strings.Join(e.Errors, "\n"), "internal error: boom") {
		t.Fatalf("record %s %q", e.SHA256, e.Errors)
	}
}
