package core

// Anomalies: what was malformed in a message, recorded as data (as
// Python's email package records "defects" per part). Each entry is a
// short stable code, optionally followed by ": " and a detail in words:
//
//	close_boundary_missing: boundary "b1"
//	header_no_colon: line 3 "bad line" (2 lines)
//
// Email.Anomalies holds the conditions of the email as a whole (its own
// header block, an mbox From_ line, a limit reached); Part.Anomalies those
// of one MIME entity (its Content-* fields, its boundaries, its body's
// encoding; for a message/rfc822 part also the header of the message it
// holds). The codes are AnomalyCodes; the README's table says what each
// means and which Python defect class it corresponds to. Detection rides
// on the passes the analysis makes anyway: header blocks are read line by
// line, bodies are checked while they are decoded.

import (
	"bytes"
	"fmt"
	"maps"
	"net/textproto"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/jhillyerd/enmime/v2"
	"golang.org/x/net/html/charset"
)

// Anomaly codes.
const (
	AnomalyMIMELimit               = FlagMIMELimit       // a MIME limit was reached
	AnomalyAnalysisTimeout         = FlagAnalysisTimeout // the per-email deadline passed
	AnomalyMboxFrom                = FlagMboxFrom        // the bytes start with an mbox From_ line
	AnomalyMboxFromMisplaced       = "mbox_from_misplaced"
	AnomalyHeaderContinuationFirst = "header_continuation_first"
	AnomalyHeaderNoColon           = "header_no_colon"
	AnomalyHeaderInvalidName       = "header_invalid_name"
	AnomalyHeaderNUL               = "header_nul"
	AnomalyHeader8Bit              = "header_8bit"
	AnomalyCharsetUnknown          = "charset_unknown"
	AnomalyContentTypeConflict     = "content_type_conflict"
	AnomalyEncodingConflict        = "encoding_conflict"
	AnomalyEncodingUnknown         = "encoding_unknown"
	AnomalyBoundaryMissing         = "boundary_missing"
	AnomalyBoundaryReused          = "boundary_reused"
	AnomalyStartBoundaryMissing    = "start_boundary_missing"
	AnomalyCloseBoundaryMissing    = "close_boundary_missing"
	AnomalyBase64Padding           = "base64_padding"
	AnomalyBase64Characters        = "base64_characters"
	AnomalyBase64Length            = "base64_length"
	AnomalyTextNUL                 = "text_nul"
	AnomalyUUNoBegin               = "uuencode_no_begin"
	AnomalyUUNoEnd                 = "uuencode_no_end"
	AnomalyUUShortLines            = "uuencode_short_lines"
	AnomalyUUExtraChars            = "uuencode_extra_chars"
	AnomalyUUBadChars              = "uuencode_bad_chars"
)

// AnomalyCodes is every code an anomaly entry may have.
var AnomalyCodes = []string{
	AnomalyMIMELimit, AnomalyAnalysisTimeout, AnomalyMboxFrom, AnomalyMboxFromMisplaced,
	AnomalyHeaderContinuationFirst, AnomalyHeaderNoColon, AnomalyHeaderInvalidName,
	AnomalyHeaderNUL, AnomalyHeader8Bit, AnomalyCharsetUnknown,
	AnomalyContentTypeConflict, AnomalyEncodingConflict, AnomalyEncodingUnknown,
	AnomalyBoundaryMissing, AnomalyBoundaryReused, AnomalyStartBoundaryMissing, AnomalyCloseBoundaryMissing,
	AnomalyBase64Padding, AnomalyBase64Characters, AnomalyBase64Length, AnomalyTextNUL,
	AnomalyUUNoBegin, AnomalyUUNoEnd, AnomalyUUShortLines, AnomalyUUExtraChars, AnomalyUUBadChars,
}

// AnomalyCode returns the code of an anomaly entry.
func AnomalyCode(entry string) string {
	code, _, _ := strings.Cut(entry, ":")
	return code
}

// maxAnomalies bounds the entries of one list (the email's, a part's).
const maxAnomalies = 50

// anomalyEntry formats one entry.
func anomalyEntry(code, format string, args ...any) string {
	if format == "" {
		return code
	}
	return code + ": " + fmt.Sprintf(format, args...)
}

// addAnomaly appends entry to list unless it is there or the list is full.
func addAnomaly(list []string, entry string) []string {
	if len(list) >= maxAnomalies {
		return list
	}
	return appendUnique(list, entry)
}

// defect records an anomaly of the email (owner < 0) or of the part
// w.e.Parts[owner].
func (w *walker) defect(owner int, code, format string, args ...any) {
	w.note(owner, anomalyEntry(code, format, args...))
}

// note records entries made by anomalyEntry, as defect does.
func (w *walker) note(owner int, entries ...string) {
	for _, e := range entries {
		if owner < 0 {
			w.e.Anomalies = addAnomaly(w.e.Anomalies, e)
		} else {
			w.e.Parts[owner].Anomalies = addAnomaly(w.e.Parts[owner].Anomalies, e)
		}
	}
}

// entity is one MIME entity as the walker checks it.
type entity struct {
	p        *enmime.Part
	root     bool     // the root of a message: its header is the message's
	owner    int      // where the message's anomalies go (defect)
	unclosed []string // boundaries the message leaves open (scanMIME)
	bounds   []string // the boundaries of the multiparts around it
}

// entityDefects records the anomalies of one entity's header fields and
// multipart structure on its part.
func (w *walker) entityDefects(idx int, en entity) {
	p := en.p
	if en.root {
		// Its header lines were checked as written (headerDefects).
		eachValue(p.Header, func(_, v string) { w.wordCharsets(en.owner, v) })
	} else {
		w.partHeaderDefects(idx, p)
	}
	w.conflict(idx, AnomalyContentTypeConflict, p.Header.Values("Content-Type"))
	w.conflict(idx, AnomalyEncodingConflict, p.Header.Values("Content-Transfer-Encoding"))
	if enc := w.e.Parts[idx].Encoding; !knownEncoding(enc) {
		w.defect(idx, AnomalyEncodingUnknown, "%q", clipString(enc, 40))
	}
	if strings.HasPrefix(p.ContentType, "multipart/") {
		w.multipartDefects(idx, en)
	}
}

// conflict records code when a field is given several different values.
func (w *walker) conflict(idx int, code string, vals []string) {
	for _, v := range vals[min(1, len(vals)):] {
		if !strings.EqualFold(strings.TrimSpace(v), strings.TrimSpace(vals[0])) {
			w.defect(idx, code, "%q and %q", clipString(vals[0], 60), clipString(v, 60))
			return
		}
	}
}

func knownEncoding(enc string) bool {
	switch enc {
	case "", "7bit", "8bit", "binary", "base64", "quoted-printable":
		return true
	}
	return isUUEncoding(enc)
}

// multipartDefects checks a multipart's boundary: given, not one of its
// ancestors', found in its body, closed.
func (w *walker) multipartDefects(idx int, en entity) {
	p, b := en.p, en.p.Boundary
	switch {
	case b == "":
		w.defect(idx, AnomalyBoundaryMissing, "")
		return
	case slices.Contains(en.bounds, b):
		w.defect(idx, AnomalyBoundaryReused, "boundary %q of an enclosing multipart", clipString(b, 80))
	}
	if p.FirstChild == nil {
		w.defect(idx, AnomalyStartBoundaryMissing, "boundary %q", clipString(b, 80))
		return
	}
	if slices.Contains(en.unclosed, b) || hasError(p, enmime.ErrorMissingBoundary) {
		w.defect(idx, AnomalyCloseBoundaryMissing, "boundary %q", clipString(b, 80))
	}
}

// textDefects checks a body part's text (UTF-8, as decoded).
func (w *walker) textDefects(idx int, text []byte) {
	if bytes.IndexByte(text, 0) >= 0 {
		w.defect(idx, AnomalyTextNUL, "%d NUL bytes", bytes.Count(text, []byte{0}))
	}
}

// headerDefects checks a message's header block as written, line by line:
// one entry per code, naming the first line and how many there were.
func headerDefects(block []byte) []string {
	var c defectCounter
	for pos, n := 0, 1; pos < len(block); n++ {
		line, next := lineAt(block, pos)
		if len(line) == 0 {
			break
		}
		c.line(n, line)
		pos = next
	}
	return c.entries()
}

// defectCounter counts header line defects per code, keeping the first.
type defectCounter struct {
	codes []string
	first map[string]string
	count map[string]int
}

func (c *defectCounter) add(code string, n int, line []byte) {
	if c.count == nil {
		c.first, c.count = map[string]string{}, map[string]int{}
	}
	if c.count[code] == 0 {
		c.codes = append(c.codes, code)
		c.first[code] = fmt.Sprintf("line %d %q", n, clip(line, 60))
	}
	c.count[code]++
}

func (c *defectCounter) entries() []string {
	var out []string
	for _, code := range c.codes {
		e := code + ": " + c.first[code]
		if n := c.count[code]; n > 1 {
			e += fmt.Sprintf(" (%d lines)", n)
		}
		out = append(out, e)
	}
	return out
}

// line checks line n of a header block.
func (c *defectCounter) line(n int, line []byte) {
	if bytes.IndexByte(line, 0) >= 0 {
		c.add(AnomalyHeaderNUL, n, line)
	}
	if !utf8.Valid(line) {
		c.add(AnomalyHeader8Bit, n, line)
	}
	if line[0] == ' ' || line[0] == '\t' {
		if n == 1 {
			c.add(AnomalyHeaderContinuationFirst, n, line)
		}
		return
	}
	if isFromLine(line) {
		c.add(AnomalyMboxFromMisplaced, n, line)
		return
	}
	i := bytes.IndexByte(line, ':')
	if i < 0 {
		c.add(AnomalyHeaderNoColon, n, line)
		return
	}
	if !validFieldName(bytes.TrimRight(line[:i], " \t")) {
		c.add(AnomalyHeaderInvalidName, n, line)
	}
}

// validFieldName reports whether name is an RFC 5322 field name: one or
// more printable ASCII characters other than ':'. (White space before
// the colon is the obsolete syntax, allowed.)
func validFieldName(name []byte) bool {
	if len(name) == 0 {
		return false
	}
	for _, c := range name {
		if c <= ' ' || c > '~' {
			return false
		}
	}
	return true
}

// partHeaderDefects records the header line defects of a part's header
// block as the MIME parser reported them, and NUL, 8-bit and unknown
// charsets in its values.
func (w *walker) partHeaderDefects(owner int, p *enmime.Part) {
	for _, pe := range p.Errors {
		if pe.Name != enmime.ErrorMalformedHeader {
			continue
		}
		switch d := pe.Detail; {
		case strings.HasPrefix(d, "Continued line"):
			w.defect(owner, AnomalyHeaderNoColon, "%s", clipString(d, 80))
		case strings.Contains(d, "initial line"):
			w.defect(owner, AnomalyHeaderContinuationFirst, "%s", clipString(d, 80))
		case strings.HasPrefix(d, "Header name"), strings.HasPrefix(d, "Header line"):
			w.defect(owner, AnomalyHeaderInvalidName, "%s", clipString(d, 80))
		}
	}
	eachValue(p.Header, func(name, v string) { w.valueDefects(owner, name, v) })
}

// eachValue calls fn with every value of h, in the order of the names
// (the record is the same for the same input).
func eachValue(h textproto.MIMEHeader, fn func(name, v string)) {
	for _, name := range slices.Sorted(maps.Keys(h)) {
		for _, v := range h[name] {
			fn(name, v)
		}
	}
}

// valueDefects checks one header value (unfolded, as the parser gives it).
func (w *walker) valueDefects(owner int, name, v string) {
	if strings.IndexByte(v, 0) >= 0 {
		w.defect(owner, AnomalyHeaderNUL, "field %q", clipString(name, 60))
	}
	if !utf8.ValidString(v) {
		w.defect(owner, AnomalyHeader8Bit, "field %q", clipString(name, 60))
	}
	w.wordCharsets(owner, v)
}

// wordCharsets records the unknown charsets of a value's encoded words.
func (w *walker) wordCharsets(owner int, v string) {
	for _, cs := range unknownWordCharsets(v) {
		w.defect(owner, AnomalyCharsetUnknown, "encoded word in %q", cs)
	}
}

// unknownWordCharsets returns the charsets of the RFC 2047 encoded words
// of v ("=?charset?B|Q?text?=") that are not known.
func unknownWordCharsets(v string) []string {
	var out []string
	for {
		i := strings.Index(v, "=?")
		if i < 0 {
			return out
		}
		v = v[i+2:]
		cs, rest, ok := strings.Cut(v, "?")
		if !ok || len(rest) < 2 || rest[1] != '?' || !strings.ContainsRune("bBqQ", rune(rest[0])) {
			continue
		}
		label, _, _ := strings.Cut(cs, "*") // RFC 2231 language suffix
		if !knownCharset(label) {
			out = appendUnique(out, clipString(cs, 40))
		}
		v = rest[2:]
	}
}

func knownCharset(label string) bool {
	if label == "" || strings.ContainsAny(label, " \t") {
		return false
	}
	enc, _ := charset.Lookup(label)
	return enc != nil
}
