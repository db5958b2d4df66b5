package core

import (
	"bufio"
	"bytes"
	"fmt"
	"hash/maphash"
	"io"
	"net/textproto"
	"strings"
	"sync/atomic"

	"github.com/jhillyerd/enmime/v2"
	"github.com/jhillyerd/enmime/v2/mediatype"
)

// maxSplitDepth bounds multipart nesting in splitMIME.
const maxSplitDepth = 100

// errorList collects header parsing problems (enmime.ErrorCollector).
type errorList struct{ errs []*enmime.Error }

func (l *errorList) AddError(name, format string, args ...any) {
	l.errs = append(l.errs, &enmime.Error{Name: name, Detail: fmt.Sprintf(format, args...), Severe: true})
}

func (l *errorList) AddWarning(name, format string, args ...any) {
	l.errs = append(l.errs, &enmime.Error{Name: name, Detail: fmt.Sprintf(format, args...)})
}

// splitMIME reads the MIME structure of every message: it builds the same
// kind of part tree as enmime's ReadParts with RawContent, but every
// leaf's Content is a subslice of raw: nothing is copied, and the peak
// memory of a large message is about 2x the message instead of enmime's
// 4x. Headers and media types are parsed with enmime's own functions.
// Callers must not modify a leaf's Content (it is the message).
// Oversized header blocks are reduced as scanMIME reduces them (lim).
//
// Where it differs from enmime's part reader (each time as RFC 2046 and
// Python's email package read the message; enmime.go lists the rest):
//   - a delimiter is "--boundary" at the start of a line; enmime also
//     cuts a part at "--boundary--" in the middle of a line;
//   - only multipart/* types are split; enmime splits any non-text part
//     with a boundary parameter (here it is a leaf, with an
//     ErrorDataHasBoundary warning);
//   - a multipart whose boundary never occurs keeps its body as one part
//     (enmime drops it), and a Content-Type that does not parse is a
//     warning on its part (enmime fails the whole message);
//   - the end of the message closes the multiparts left open, taking
//     the line end before it as a delimiter does.
func splitMIME(raw []byte, lim scanLimits) *enmime.Part {
	return splitEntity(raw, `text/plain; charset="us-ascii"`, 0, true, true, lim)
}

// splitEntity reads one entity (header block and body). atEnd says that b
// ends where the message ends (the root, and the last part of a multipart
// the message leaves open at its end); lineEnd that the line end before
// the end of the message is not yet taken (by an enclosing multipart the
// end closes).
func splitEntity(b []byte, defaultCT string, depth int, atEnd, lineEnd bool, lim scanLimits) *enmime.Part {
	var errs errorList
	p := &enmime.Part{}
	hdrEnd := headerEnd(b)
	if hdrEnd == 0 && len(b) > 0 && b[0] != '\n' && b[0] != '\r' {
		line, _ := lineAt(b, 0)
		errs.AddWarning(enmime.ErrorMalformedHeader, "no header block: the first line %q is not a header field; the part is all body", clip(line, 60))
	}
	hdr := textproto.MIMEHeader{}
	if block := b[:hdrEnd]; len(bytes.TrimSpace(block)) > 0 {
		// The reader's buffer holds the whole block (no 4 KiB per part).
		var err error
		hdr, err = enmime.ReadHeader(bufio.NewReaderSize(headerReader(block, lim), len(block)+16), &errs)
		if err != nil {
			errs.AddWarning(enmime.ErrorMalformedHeader, "%v", err)
		}
	}
	p.Header = hdr
	body := b[hdrEnd:]
	ct := ""
	if hdr != nil {
		ct = hdr.Get("Content-Type")
	}
	if ct == "" {
		if defaultCT == "" {
			errs.AddWarning(enmime.ErrorMissingContentType, "MIME parts should have a Content-Type header")
		}
		ct = defaultCT
	}
	var params map[string]string
	if ct != "" {
		mtype, mparams, invalid, err := parseMediaType(ct)
		if len(ct) > maxMediaTypeValue {
			errs.AddWarning(enmime.ErrorMalformedHeader, "Content-Type of %d bytes: its first %d read", len(ct), maxMediaTypeValue)
		}
		if err != nil {
			errs.AddWarning(enmime.ErrorMalformedHeader, "Content-Type %q: %v", clipString(ct, 60), err)
		}
		for _, ip := range invalid {
			errs.AddWarning(enmime.ErrorMalformedHeader, "Content-Type header has malformed parameter %q", ip)
		}
		p.ContentType, params = mtype, mparams
		if mtype == "" && err == nil {
			errs.AddWarning(enmime.ErrorMissingContentType, "Content-Type %q names no media type", clipString(ct, 60))
		}
	}
	if params == nil {
		params = map[string]string{}
	}
	p.Charset = params["charset"]
	p.Boundary = params["boundary"]
	if hdr != nil {
		if disp := hdr.Get("Content-Disposition"); disp != "" {
			if d, dparams, _, err := parseMediaType(disp); err == nil {
				p.Disposition = d
				p.FileName = enmime.DecodeRFC2047(dparams["filename"])
			}
		}
		p.ContentID = strings.Trim(hdr.Get("Content-ID"), "<> \t")
	}
	if p.FileName == "" {
		p.FileName = enmime.DecodeRFC2047(params["name"])
	}
	if p.FileName == "" {
		p.FileName = enmime.DecodeRFC2047(params["file"])
	}
	p.Errors = errs.errs
	if !strings.HasPrefix(p.ContentType, "multipart/") {
		if p.Boundary != "" {
			p.Errors = append(p.Errors, &enmime.Error{Name: enmime.ErrorDataHasBoundary, Severe: true,
				Detail: fmt.Sprintf("%s is not multipart but has a boundary parameter: read as one part", clipString(p.ContentType, 60))})
		}
	} else if p.Boundary != "" && depth < maxSplitDepth {
		parts, closed := splitParts(body, p.Boundary)
		if len(parts) == 0 && len(bytes.TrimSpace(body)) > 0 {
			// The boundary never occurs: the body is one part, never dropped.
			p.Errors = append(p.Errors, &enmime.Error{Name: enmime.ErrorMissingBoundary,
				Detail: fmt.Sprintf("boundary %q not found: the body is kept as one part", clipString(p.Boundary, 80))})
			p.Content = body
			return p
		}
		switch {
		case !closed && atEnd:
			// The end of the message closes the multipart (scanMIME
			// reports it): like a delimiter, it takes the line end
			// before it, once for all the multiparts it closes.
			if lineEnd && len(parts) > 0 {
				last := bytes.TrimSuffix(parts[len(parts)-1], []byte{'\n'})
				parts[len(parts)-1] = bytes.TrimSuffix(last, []byte{'\r'})
			}
		case !closed:
			// A delimiter of an enclosing multipart closes it.
			p.Errors = append(p.Errors, &enmime.Error{Name: enmime.ErrorMissingBoundary,
				Detail: fmt.Sprintf("Boundary %q was not closed correctly", clipString(p.Boundary, 80))})
		}
		for i, part := range parts {
			p.AddChild(splitEntity(part, "", depth+1, atEnd && !closed && i == len(parts)-1, false, lim))
		}
		return p
	}
	p.Content = body
	return p
}

// maxMediaTypeValue bounds the bytes of a Content-Type or
// Content-Disposition value given to enmime's media type parser, whose
// cost grows with the square of the number of parameters (it joins them
// one by one): 20,000 parameters in 64 KiB cost a second. Real values
// are far shorter (RFC 2231 splits long names into 78-byte lines).
const maxMediaTypeValue = 8 << 10

// parseMediaType is enmime's tolerant media type parser over at most
// maxMediaTypeValue bytes of v. The map and slice it returns may be
// shared with other callers: they are read, never written.
//
// Short values are remembered (mediaTypes): mail repeats a few
// Content-Type and Content-Disposition values, and each is parsed twice
// (by scanMIME and by splitEntity); the parser took 4 % of the CPU of
// parse on the peers' corpus.
func parseMediaType(v string) (string, map[string]string, []string, error) {
	if len(v) > maxMediaTypeValue {
		v = string(clipUTF8([]byte(v), maxMediaTypeValue))
	}
	if len(v) > maxCachedMediaType {
		return mediatype.Parse(v)
	}
	slot := &mediaTypes[maphash.String(mediaTypeSeed, v)%uint64(len(mediaTypes))]
	if r := slot.Load(); r != nil && r.v == v {
		return r.mtype, r.params, r.invalid, r.err
	}
	mtype, params, invalid, err := mediatype.Parse(v)
	slot.Store(&mediaTypeResult{v: strings.Clone(v), mtype: mtype, params: params, invalid: invalid, err: err})
	return mtype, params, invalid, err
}

// mediaTypes remembers the last value parsed in each of its slots (picked
// by the value's hash), with what the parser returned for it: at most
// 512 values of at most maxCachedMediaType bytes, safe for concurrent use
// (a slot's entry is never changed, only replaced).
var (
	mediaTypes    [512]atomic.Pointer[mediaTypeResult]
	mediaTypeSeed = maphash.MakeSeed()
)

const maxCachedMediaType = 256

type mediaTypeResult struct {
	v, mtype string
	params   map[string]string
	invalid  []string
	err      error
}

// headerEnd returns the offset where the body of an entity starts: after
// the empty line that ends the header block (0 when b starts with one, or
// when b has no header block at all).
func headerEnd(b []byte) int {
	pos := 0
	for pos < len(b) {
		nl := bytes.IndexByte(b[pos:], '\n')
		line := b[pos:]
		next := len(b)
		if nl >= 0 {
			line = b[pos : pos+nl]
			next = pos + nl + 1
		}
		line = bytes.TrimSuffix(line, []byte{'\r'})
		if len(line) == 0 {
			return next
		}
		if pos == 0 && line[0] != ' ' && line[0] != '\t' && bytes.IndexByte(line, ':') <= 0 {
			return 0 // not a header line: the entity is all body
		}
		pos = next
	}
	return len(b)
}

// splitParts cuts a multipart body at its boundary delimiter lines (lines
// that start with "--boundary" and white space; "--boundary--" closes). The
// CRLF before a delimiter belongs to the delimiter (RFC 2046); preamble
// and epilogue are dropped. closed reports whether the close delimiter
// ("--boundary--") was found.
func splitParts(body []byte, boundary string) (parts [][]byte, closed bool) {
	delim := []byte("--" + boundary)
	start := -1 // start of the current part's content
	pos := 0
	for pos <= len(body) {
		i := bytes.Index(body[pos:], delim)
		if i < 0 {
			break
		}
		at := pos + i
		lineStart := at == 0 || body[at-1] == '\n'
		after := at + len(delim)
		isClose := after+1 < len(body)+1 && bytes.HasPrefix(body[after:], []byte("--"))
		rest := after
		if isClose {
			rest += 2
		}
		// RFC 2046: "it is sufficient that the boundary appear in its
		// entirety following the CRLF"; the rest of the line is ignored.
		eol := len(body)
		if j := bytes.IndexByte(body[rest:], '\n'); j >= 0 {
			eol = rest + j + 1
		}
		// As enmime: "--boundary--" closes whatever follows it; otherwise
		// the boundary must be followed by white space (so "--boundary-1"
		// of a nested multipart is not a delimiter of "boundary").
		// A delimiter that is the last line may have no line end.
		isDelim := isClose || after == len(body) || body[after] == ' ' || body[after] == '\t' || body[after] == '\r' || body[after] == '\n'
		if !lineStart || !isDelim {
			pos = at + 1
			continue
		}
		if start >= 0 {
			end := at
			if end > start && body[end-1] == '\n' {
				end--
				if end > start && body[end-1] == '\r' {
					end--
				}
			}
			parts = append(parts, body[start:end])
		}
		if isClose {
			return parts, true
		}
		start = eol
		pos = eol
	}
	if start >= 0 && start <= len(body) {
		parts = append(parts, body[start:])
	}
	return parts, false
}

// headerReader returns a header block as the MIME parser should read it:
// reduced when oversized (reduceHeader).
func headerReader(block []byte, lim scanLimits) io.Reader {
	if red, ok := reduceHeader(block, lim); ok {
		return mimeScan{segs: red}.reader()
	}
	return bytes.NewReader(block)
}
