package core

import (
	"bytes"
	"strings"
)

// rawHeader is the top header block of a message as the record keeps it.
type rawHeader struct {
	fields []HeaderField
	body   int // offset where the body starts
	cuts   []Truncation
}

// parseRawHeader returns the header fields of a message as written
// (continuation lines unfolded), the offset where the body starts, and
// what was cut: at most maxFields fields are kept, each value (and name)
// to at most maxValue bytes. Time and memory are linear in the header.
func parseRawHeader(raw []byte, maxValue, maxFields int) rawHeader {
	p := headerParser{maxValue: maxValue, maxFields: maxFields}
	pos := 0
	for pos < len(raw) {
		line, next := lineAt(raw, pos)
		if len(line) == 0 {
			pos = next
			break
		}
		if (line[0] == ' ' || line[0] == '\t') && p.n > 0 {
			p.continued(line)
		} else if i := bytes.IndexByte(line, ':'); i > 0 {
			p.start(line[:i], line[i+1:])
		} else if p.n == 0 {
			break // not a header at all: the message has no header block
		}
		pos = next
	}
	p.flush()
	if p.n > maxFields {
		p.cuts = append(p.cuts, Truncation{Field: "raw_headers", Kept: int64(maxFields), Original: int64(p.n)})
	}
	return rawHeader{fields: p.fields, body: pos, cuts: p.cuts}
}

// lineAt returns the line at pos without its line end, and where the
// next line starts.
func lineAt(b []byte, pos int) (line []byte, next int) {
	if i := bytes.IndexByte(b[pos:], '\n'); i >= 0 {
		line, next = b[pos:pos+i], pos+i+1
	} else {
		line, next = b[pos:], len(b)
	}
	return bytes.TrimSuffix(line, []byte{'\r'}), next
}

// headerParser collects fields; the value being read grows in a clipBuf,
// never by string concatenation.
type headerParser struct {
	maxValue, maxFields int
	fields              []HeaderField
	cuts                []Truncation
	n                   int // fields seen
	name                string
	val                 clipBuf
}

func (p *headerParser) start(name, value []byte) {
	p.flush()
	p.n++
	if p.n > p.maxFields {
		return
	}
	p.name = string(clipUTF8(bytes.TrimSpace(name), p.maxValue))
	p.val = clipBuf{buf: p.val.buf[:0]}
	p.val.write(bytes.TrimSpace(value), p.maxValue)
}

func (p *headerParser) continued(line []byte) {
	if p.n > p.maxFields {
		return
	}
	p.val.write([]byte{' '}, p.maxValue)
	p.val.write(bytes.TrimSpace(line), p.maxValue)
}

// flush ends the field being read.
func (p *headerParser) flush() {
	if p.n == 0 || p.n > p.maxFields {
		return
	}
	p.fields = append(p.fields, HeaderField{Name: p.name, Value: string(p.val.buf)})
	if t := p.val.cut("header:" + strings.ToLower(p.name)); t != nil {
		p.cuts = append(p.cuts, *t)
	}
}
