package core

// Workarounds for behaviour of enmime (v2), the MIME parser, that would
// lose or misplace bytes of broken or hostile mail. Where each one is
// applied:
//
//   - enmime fails the whole message when a Content-Type does not parse
//     (Part.setupHeaders returns mediatype's error, and with
//     SkipMalformedParts(false) ReadParts returns no tree), whichever part
//     holds it: walker.message (analyze.go) then splits the message with
//     splitMIME (bigmime.go), which records the error on that part and
//     keeps every other part.
//   - enmime stores nothing of a multipart whose boundary never occurs: it
//     leaves the multipart childless and its body dropped.
//     childlessMultipart detects that tree; splitMIME keeps the body as
//     one leaf (as Python's email does).
//   - In an unclosed multipart whose last line is its own delimiter,
//     enmime's boundary reader leaves that line in the last leaf's
//     content: endUnclosed cuts it off.
//   - enmime's cost for nested unclosed multiparts grows exponentially
//     with their depth: scanMIME (mimescan.go) gives it their close
//     delimiters.
//   - enmime's part reader holds every part's content twice while reading
//     it: messages of BigMessage bytes or more are split by splitMIME
//     without copying (bigmime.go).
//   - enmime.DecodeRFC2047 quotes whatever follows an "=" in the decoded
//     text: decodeHeader (analyze.go) tries Go's word decoder first.
//   - enmime gives a part without Content-Type in a multipart/digest no
//     type (RFC 2046 5.1.5 makes it message/rfc822): walker.message sets it.

import (
	"net/textproto"
	"strings"

	"github.com/jhillyerd/enmime/v2"
)

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

func hasError(p *enmime.Part, name string) bool {
	for _, e := range p.Errors {
		if e.Name == name {
			return true
		}
	}
	return false
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
