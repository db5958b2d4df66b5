package core

// The TNEF decoder (MS-OXTNEF; winmail.dat, application/ms-tnef): lists
// the attachments an Outlook message carries inside its TNEF stream. The
// stream is hostile input: every length is checked against the bytes that
// are there, attachment data are slices of the input (nothing is copied,
// so decoding never allocates more than the input's size), at most
// maxTNEFAttachments attachments are listed, and what is wrong (bad
// checksum, truncated attribute, unknown property type) is reported while
// what came before it is kept.
//
// Stream: signature 0x223E9F78, legacy key (2 bytes), then attributes:
// level (1 message, 2 attachment), id (low word) and type (high word),
// length, data, checksum (sum of the data bytes mod 65536), all little
// endian. Attachment attributes: attAttachRenddata starts an attachment,
// attAttachTitle names it, attAttachData holds its bytes, attAttachment
// holds MAPI properties: PR_ATTACH_LONG_FILENAME (0x3707, preferred name),
// PR_ATTACH_FILENAME (0x3704), PR_ATTACH_MIME_TAG (0x370E),
// PR_ATTACH_DATA_BIN/OBJ (0x3701, used when attAttachData is absent; an
// object value starts with a 16-byte interface id, which is skipped).

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"golang.org/x/text/encoding/charmap"
)

const (
	tnefSignature      = 0x223E9F78
	maxTNEFAttachments = 1000

	tnefLevelMessage    = 1
	tnefLevelAttachment = 2

	attAttachData     = 0x800F
	attAttachTitle    = 0x8010
	attAttachRenddata = 0x9002
	attAttachment     = 0x9005

	prAttachDataBin      = 0x3701
	prAttachFilename     = 0x3704
	prAttachLongFilename = 0x3707
	prAttachMimeTag      = 0x370E

	ptypString8 = 0x001E
	ptypUnicode = 0x001F
	ptypBinary  = 0x0102
	ptypObject  = 0x000D
	ptypMulti   = 0x1000
)

// TNEFAttachment is one attachment inside a TNEF stream.
type TNEFAttachment struct {
	Name     string
	MIMEType string
	// Data aliases the decoded stream; nil when the stream holds none.
	Data []byte
	// Err says what was wrong with this attachment (data cut short).
	Err string

	title, shortName string
	fromProps        bool // Data came from PR_ATTACH_DATA_*, not attAttachData
}

// isTNEF reports whether b starts with the TNEF signature.
func isTNEF(b []byte) bool {
	return len(b) >= 4 && binary.LittleEndian.Uint32(b) == tnefSignature
}

// isTNEFType reports whether a declared content type is TNEF.
func isTNEFType(ct string) bool {
	return ct == "application/ms-tnef" || ct == "application/vnd.ms-tnef"
}

// DecodeTNEF lists the attachments of a TNEF stream. The error is set only
// when b is not TNEF at all; warnings say what was wrong further in.
func DecodeTNEF(b []byte) ([]TNEFAttachment, []string, error) {
	if !isTNEF(b) {
		return nil, nil, fmt.Errorf("tnef: no signature 0x%08X", tnefSignature)
	}
	d := &tnefDecoder{}
	pos := 6
	for pos < len(b) && d.stop == "" {
		pos = d.attribute(b, pos)
	}
	if d.stop != "" {
		d.warns = append(d.warns, d.stop)
	}
	if d.badSums > 0 {
		d.warns = append(d.warns, fmt.Sprintf("%d attributes with a bad checksum (kept)", d.badSums))
	}
	for i := range d.atts {
		d.atts[i].finish()
	}
	return d.atts, d.warns, nil
}

type tnefDecoder struct {
	atts    []TNEFAttachment
	warns   []string
	badSums int
	stop    string // why decoding stopped before the end
}

// attribute reads the attribute at pos and returns where the next starts.
func (d *tnefDecoder) attribute(b []byte, pos int) int {
	if len(b)-pos < 9 {
		d.stop = fmt.Sprintf("%d bytes at offset %d are not an attribute (ignored)", len(b)-pos, pos)
		return len(b)
	}
	level, id := b[pos], binary.LittleEndian.Uint32(b[pos+1:])
	n := uint64(binary.LittleEndian.Uint32(b[pos+5:]))
	start := pos + 9
	if level != tnefLevelMessage && level != tnefLevelAttachment {
		d.stop = fmt.Sprintf("attribute at offset %d: level %d is neither message nor attachment: rest ignored", pos, level)
		return len(b)
	}
	if n > uint64(len(b)-start) {
		d.stop = fmt.Sprintf("attribute 0x%08X at offset %d: length %d but %d bytes left: cut short", id, pos, n, len(b)-start)
		if level == tnefLevelAttachment {
			d.attach(uint16(id), b[start:], true)
		}
		return len(b)
	}
	data := b[start : start+int(n)]
	end := start + int(n)
	if len(b)-end < 2 {
		d.stop = fmt.Sprintf("attribute 0x%08X at offset %d: checksum missing", id, pos)
	} else if binary.LittleEndian.Uint16(b[end:]) != tnefChecksum(data) {
		d.badSums++
	}
	if level == tnefLevelAttachment {
		d.attach(uint16(id), data, false)
	}
	return end + 2
}

func tnefChecksum(data []byte) uint16 {
	var s uint16
	for _, c := range data {
		s += uint16(c)
	}
	return s
}

// attach applies one attachment-level attribute.
func (d *tnefDecoder) attach(id uint16, data []byte, cut bool) {
	if id == attAttachRenddata || len(d.atts) == 0 {
		if len(d.atts) == maxTNEFAttachments {
			d.stop = fmt.Sprintf("more than %d attachments: the rest are not listed", maxTNEFAttachments)
			return
		}
		d.atts = append(d.atts, TNEFAttachment{})
	}
	a := &d.atts[len(d.atts)-1]
	switch id {
	case attAttachTitle:
		a.title = tnefString8(data)
	case attAttachData:
		a.Data, a.fromProps = data, false
		if cut {
			a.Err = "data cut short (the stream ends inside it)"
		}
	case attAttachment:
		if err := tnefProps(data, a.prop); err != nil {
			d.warns = append(d.warns, fmt.Sprintf("attachment %d: properties: %v", len(d.atts), err))
		}
	}
}

// prop applies one MAPI property (its first value) to the attachment.
func (a *TNEFAttachment) prop(id, typ uint16, v []byte) {
	switch id {
	case prAttachLongFilename:
		a.Name = tnefPropString(typ, v)
	case prAttachFilename:
		a.shortName = tnefPropString(typ, v)
	case prAttachMimeTag:
		a.MIMEType = strings.ToLower(tnefPropString(typ, v))
	case prAttachDataBin:
		if typ == ptypObject {
			v = v[min(16, len(v)):] // the interface id
		}
		if a.Data == nil || a.fromProps {
			a.Data, a.fromProps = v, true
		}
	}
}

// finish picks the name: the long file name, else the title, else the
// short file name.
func (a *TNEFAttachment) finish() {
	for _, n := range []string{a.title, a.shortName} {
		if a.Name == "" {
			a.Name = n
		}
	}
	a.title, a.shortName = "", ""
}

// tnefProps walks a MAPI property list (MS-OXTNEF 2.1.3.4) and calls fn
// with each property's first value.
func tnefProps(b []byte, fn func(id, typ uint16, v []byte)) error {
	r := tnefReader{b: b}
	count := r.u32()
	for i := uint32(0); i < count && r.err == nil; i++ {
		typ, id := r.u16(), r.u16()
		if id >= 0x8000 { // named property: GUID, kind, id or name
			r.skip(16)
			if kind := r.u32(); kind == 0 {
				r.skip(4)
			} else {
				r.skip(pad4(r.u32()))
			}
		}
		if v, ok := r.values(typ); ok {
			fn(id, typ&^ptypMulti, v)
		}
		if r.err != nil {
			return fmt.Errorf("property %d of %d (0x%04X): %w", i+1, count, id, r.err)
		}
	}
	return r.err
}

// tnefReader reads little-endian values and notes the first overrun.
type tnefReader struct {
	b   []byte
	pos int
	err error
}

func (r *tnefReader) take(n uint64) []byte {
	if r.err != nil {
		return nil
	}
	if n > uint64(len(r.b)-r.pos) {
		r.err = fmt.Errorf("needs %d bytes at offset %d, %d left", n, r.pos, len(r.b)-r.pos)
		return nil
	}
	v := r.b[r.pos : r.pos+int(n)]
	r.pos += int(n)
	return v
}

func (r *tnefReader) skip(n uint64) { r.take(n) }

func (r *tnefReader) u16() uint16 {
	if v := r.take(2); v != nil {
		return binary.LittleEndian.Uint16(v)
	}
	return 0
}

func (r *tnefReader) u32() uint32 {
	if v := r.take(4); v != nil {
		return binary.LittleEndian.Uint32(v)
	}
	return 0
}

func pad4(n uint32) uint64 { return (uint64(n) + 3) &^ 3 }

// tnefFixedSize is the stored size of each fixed-size property type
// (16-bit values and booleans are padded to 4).
var tnefFixedSize = map[uint16]uint64{
	0x0002: 4, 0x0003: 4, 0x0004: 4, 0x0005: 8, 0x0006: 8, 0x0007: 8,
	0x000A: 4, 0x000B: 4, 0x0014: 8, 0x0040: 8, 0x0048: 16,
}

// values reads a property's values and returns the first.
func (r *tnefReader) values(typ uint16) ([]byte, bool) {
	base := typ &^ ptypMulti
	switch base {
	case ptypString8, ptypUnicode, ptypBinary, ptypObject:
		var first []byte
		n := r.u32()
		for j := uint32(0); j < n && r.err == nil; j++ {
			size := r.u32()
			v := r.take(pad4(size))
			if j == 0 && v != nil {
				first = v[:size]
			}
		}
		return first, r.err == nil && n > 0
	}
	size, ok := tnefFixedSize[base]
	if !ok {
		r.err = fmt.Errorf("unknown property type 0x%04X: the rest is skipped", typ)
		return nil, false
	}
	n := uint32(1)
	if typ&ptypMulti != 0 {
		n = r.u32()
	}
	if uint64(n)*size > uint64(len(r.b)-r.pos) {
		r.err = fmt.Errorf("%d values of %d bytes at offset %d, %d bytes left", n, size, r.pos, len(r.b)-r.pos)
		return nil, false
	}
	first := r.take(uint64(n) * size)
	return first[:min(len(first), int(size))], n > 0
}

// tnefPropString decodes a string property (UTF-16LE or 8-bit).
func tnefPropString(typ uint16, v []byte) string {
	if typ != ptypUnicode {
		return tnefString8(v)
	}
	u := make([]uint16, 0, len(v)/2)
	for i := 0; i+1 < len(v); i += 2 {
		c := binary.LittleEndian.Uint16(v[i:])
		if c == 0 {
			break
		}
		u = append(u, c)
	}
	return string(utf16.Decode(u))
}

// tnefString8 decodes an 8-bit string up to its NUL: UTF-8 when valid,
// else Windows-1252 (Outlook's usual code page).
func tnefString8(v []byte) string {
	if i := bytes.IndexByte(v, 0); i >= 0 {
		v = v[:i]
	}
	if utf8.Valid(v) {
		return string(v)
	}
	s, err := charmap.Windows1252.NewDecoder().Bytes(v)
	if err != nil {
		return strings.ToValidUTF8(string(v), "\uFFFD")
	}
	return string(s)
}

// tnef lists the attachments inside a TNEF attachment at part P as
// members "P!name" (depth +1, parent P), each analysed like any
// attachment (so a zip or TNEF inside is opened in turn).
func (w *walker) tnef(info Part, data []byte) {
	if !isTNEF(data) {
		if isTNEFType(info.ContentType) {
			w.errorf("part %s: declared %s but holds no TNEF stream (no signature): analysed as it is", info.Part, info.ContentType)
		}
		return
	}
	if info.Depth+1 > w.a.opts.MaxDepth {
		w.e.Flags = appendUnique(w.e.Flags, "depth_limit")
		w.errorf("part %s: TNEF not opened: depth limit %d reached", info.Part, w.a.opts.MaxDepth)
		return
	}
	atts, warns, _ := DecodeTNEF(data)
	for _, wn := range warns {
		w.errorf("part %s: tnef: %s", info.Part, wn)
	}
	for i, a := range atts {
		seg := a.Name
		if seg == "" {
			seg = fmt.Sprintf("tnef-%d", i+1)
		}
		m := Part{
			Part: info.Part + "!" + seg, ContentType: a.MIMEType, Disposition: "archive-member",
			Filename: a.Name, Size: int64(len(a.Data)), Depth: info.Depth + 1, Parent: info.Part,
		}
		w.tnefMember(m, a)
	}
}

// tnefMember records one TNEF attachment; one without data is listed
// without hashes, like a zip member that was not extracted.
func (w *walker) tnefMember(m Part, a TNEFAttachment) {
	if a.Data == nil {
		w.e.Attachments = append(w.e.Attachments, Attachment{
			Filename: m.Filename, ContentType: m.ContentType, Disposition: m.Disposition,
			Part: m.Part, Depth: m.Depth, Parent: m.Parent, Errors: []string{"tnef: no data"},
		})
		return
	}
	if a.Err != "" {
		w.errorf("part %s: tnef: %s", m.Part, a.Err)
	}
	w.attachment(m, a.Data, nil) // Zeek sees no member of a container
}
