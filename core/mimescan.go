package core

import (
	"bytes"
	"fmt"
	"io"
	"strings"
)

// scanLimits bound what the MIME parser is given: parts (delimiter
// lines), multipart nesting, and per header block the bytes of one field
// and the number of fields.
type scanLimits struct {
	parts, depth, value, fields int
}

// mimeScan is what scanMIME found: the message as the MIME parser should
// see it (segs), and where and why it was cut.
type mimeScan struct {
	segs  [][]byte
	parts int    // part delimiters before the cut
	cut   int    // raw[cut:] is left out (len(raw) when nothing is)
	why   string // the limit reached, "" when none
	// unclosed lists the boundaries the message never closes,
	// innermost first (the parser is given their close delimiters).
	unclosed []string
}

// reader returns the scanned message as one stream.
func (m mimeScan) reader() io.Reader {
	rs := make([]io.Reader, len(m.segs))
	for i, s := range m.segs {
		rs[i] = bytes.NewReader(s)
	}
	return io.MultiReader(rs...)
}

// scanMIME is a cheap linear pre-scan of a message's MIME structure,
// run before the MIME parser (whose cost grows faster than linearly with
// parts and nesting) sees it. It follows boundary delimiter lines
// (innermost open boundary first, as RFC 2046 nests them) and stops at
// the delimiter of the first part beyond lim.parts, or of the first part
// whose multipart would nest deeper than lim.depth: the parser gets the
// message up to there. Header blocks with a field longer than lim.value
// or more than lim.fields fields are given to the parser reduced to
// their Content-* and MIME-Version fields, each clipped (the record's own
// header fields come from parseRawHeader, not from the parser).
func scanMIME(raw []byte, lim scanLimits) mimeScan {
	s := &mimeScanner{raw: raw, lim: lim}
	pos, _ := s.header(0)
	for pos < len(raw) {
		line, next := lineAt(raw, pos)
		k, closing := s.delimiter(line)
		switch {
		case k < 0:
			pos = next
		case closing:
			s.open = s.open[:k]
			pos = next
		default:
			s.open = s.open[:k+1]
			if s.parts >= lim.parts {
				return s.cutAt(pos, fmt.Sprintf("more than %d MIME parts", lim.parts))
			}
			body, ok := s.header(next)
			if !ok {
				return s.cutAt(pos, fmt.Sprintf("multipart nesting deeper than %d", lim.depth))
			}
			s.parts++
			pos = body
		}
	}
	return s.cutAt(len(raw), "")
}

type mimeScanner struct {
	raw     []byte
	lim     scanLimits
	open    [][]byte // "--boundary" of the open multiparts, outermost first
	segs    [][]byte
	emitted int // raw[:emitted] is in segs
	parts   int
}

// delimiter reports which open boundary line is a delimiter of (k, -1
// for none) and whether it is a close delimiter.
func (s *mimeScanner) delimiter(line []byte) (k int, closing bool) {
	if len(line) < 2 || line[0] != '-' || line[1] != '-' {
		return -1, false
	}
	for k = len(s.open) - 1; k >= 0; k-- {
		rest, ok := bytes.CutPrefix(line, s.open[k])
		if !ok {
			continue
		}
		if bytes.HasPrefix(rest, []byte("--")) {
			return k, true
		}
		if len(rest) == 0 || rest[0] == ' ' || rest[0] == '\t' {
			return k, false
		}
	}
	return -1, false
}

// header reads the header block at pos: it opens a multipart (false when
// that would nest too deep) and reduces the block for the parser when it
// is oversized. It returns where the block's body starts.
func (s *mimeScanner) header(pos int) (int, bool) {
	block := s.raw[pos : pos+headerEnd(s.raw[pos:])]
	if b := multipartBoundary(block, s.lim.value); b != "" {
		if len(s.open) >= s.lim.depth {
			return pos, false
		}
		s.open = append(s.open, []byte("--"+b))
	}
	if red, ok := reduceHeader(block, s.lim); ok {
		s.segs = append(s.segs, s.raw[s.emitted:pos])
		s.segs = append(s.segs, red...)
		s.emitted = pos + len(block)
	}
	return pos + len(block), true
}

// cutAt ends the scan at offset at. Multiparts still open are closed
// with synthesized close delimiters: the parser's (enmime's boundary
// reader's) cost for unclosed nested multiparts grows exponentially with
// their depth (20 levels: a second). Those the message leaves open are reported in unclosed.
func (s *mimeScanner) cutAt(at int, why string) mimeScan {
	s.segs = append(s.segs, s.raw[s.emitted:at])
	m := mimeScan{parts: s.parts, cut: at, why: why}
	if len(s.open) > 0 {
		var closing []byte
		if at > 0 && s.raw[at-1] != '\n' {
			closing = append(closing, "\r\n"...)
		}
		for k := len(s.open) - 1; k >= 0; k-- {
			closing = append(append(closing, s.open[k]...), "--\r\n"...)
			if why == "" {
				m.unclosed = append(m.unclosed, string(s.open[k][2:]))
			}
		}
		s.segs = append(s.segs, closing)
	}
	m.segs = s.segs
	return m
}

// eachField calls fn with every field of a header block: its name and
// its bytes as written (first line through its last continuation line,
// line ends included). Lines that are neither are skipped.
func eachField(block []byte, fn func(name, field []byte)) {
	start, pos := -1, 0
	var name []byte
	for pos < len(block) {
		line, next := lineAt(block, pos)
		if len(line) == 0 {
			break
		}
		if line[0] != ' ' && line[0] != '\t' {
			if start >= 0 {
				fn(name, block[start:pos])
				start = -1
			}
			if i := bytes.IndexByte(line, ':'); i > 0 {
				start, name = pos, bytes.TrimSpace(line[:i])
			}
		}
		pos = next
	}
	if start >= 0 {
		fn(name, block[start:pos])
	}
}

// multipartBoundary returns the boundary of a multipart header block ("" for
// any other), reading at most max bytes of its Content-Type.
func multipartBoundary(block []byte, max int) string {
	var ct *clipBuf
	eachField(block, func(name, field []byte) {
		if ct != nil || !bytes.EqualFold(name, []byte("Content-Type")) {
			return
		}
		ct = &clipBuf{}
		for pos := 0; pos < len(field) && !ct.full; {
			line, next := lineAt(field, pos)
			ct.write(bytes.TrimSpace(line), max)
			ct.write([]byte{' '}, max)
			pos = next
		}
	})
	if ct == nil || !containsFold(ct.buf, "multipart") {
		return "" // enmime's parser names a multipart only when the value does
	}
	_, v, _ := strings.Cut(string(ct.buf), ":")
	mtype, params, _, _ := parseMediaType(strings.TrimSpace(v))
	if !strings.HasPrefix(mtype, "multipart/") {
		return ""
	}
	return params["boundary"]
}

// reduceHeader returns the block as the parser should see it when it is
// oversized (a field longer than lim.value, or more than lim.fields
// fields): its Content-* and MIME-Version fields, at most lim.fields of
// them, each clipped to lim.value bytes.
func reduceHeader(block []byte, lim scanLimits) ([][]byte, bool) {
	n, long := 0, false
	eachField(block, func(_, field []byte) {
		n++
		long = long || len(field) > lim.value
	})
	if n <= lim.fields && !long {
		return nil, false
	}
	var out [][]byte
	eachField(block, func(name, field []byte) {
		if len(out) >= 2*lim.fields || !mimeField(name) {
			return
		}
		field = bytes.TrimRight(clipUTF8(field, lim.value), " \t\r\n")
		out = append(out, field, []byte("\r\n"))
	})
	return append(out, []byte("\r\n")), true
}

func mimeField(name []byte) bool {
	return len(name) >= 8 && bytes.EqualFold(name[:8], []byte("Content-")) ||
		bytes.EqualFold(name, []byte("MIME-Version"))
}

// containsFold reports whether b contains the lower-case ASCII word w in
// any case, without the media type parser's allocations: most parts are
// not multipart, and their Content-Type need not be parsed here (the
// parser lower-cases the type and invents "multipart/" for none but a
// type that names it).
func containsFold(b []byte, w string) bool {
	for i := 0; i+len(w) <= len(b); i++ {
		if b[i]|0x20 == w[0] && bytes.EqualFold(b[i:i+len(w)], []byte(w)) {
			return true
		}
	}
	return false
}
