package core

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf16"
)

// TNEF attribute ids as written (type in the high word).
const (
	tidVersion      = 0x00089006
	tidMessageClass = 0x00078008
	tidRenddata     = 0x00069002
	tidTitle        = 0x00018010
	tidData         = 0x0006800F
	tidAttachment   = 0x00069005
)

type tnefAttr struct {
	level byte
	id    uint32
	data  []byte
}

func le16(v uint16) []byte { return binary.LittleEndian.AppendUint16(nil, v) }
func le32(v uint32) []byte { return binary.LittleEndian.AppendUint32(nil, v) }

// tnefStream writes a TNEF stream: signature, key, attributes with their
// checksums.
func tnefStream(attrs ...tnefAttr) []byte {
	b := append(le32(tnefSignature), le16(0x0F33)...)
	for _, a := range attrs {
		b = append(b, a.level)
		b = append(b, le32(a.id)...)
		b = append(b, le32(uint32(len(a.data)))...)
		b = append(b, a.data...)
		b = append(b, le16(tnefChecksum(a.data))...)
	}
	return b
}

// tnefFile is the attributes of one attachment: title, data, properties.
func tnefFile(title string, data, props []byte) []tnefAttr {
	attrs := []tnefAttr{{2, tidRenddata, make([]byte, 14)}}
	if title != "" {
		attrs = append(attrs, tnefAttr{2, tidTitle, append([]byte(title), 0)})
	}
	if data != nil {
		attrs = append(attrs, tnefAttr{2, tidData, data})
	}
	if props != nil {
		attrs = append(attrs, tnefAttr{2, tidAttachment, props})
	}
	return attrs
}

func tnefMessage(files ...[]tnefAttr) []byte {
	attrs := []tnefAttr{{1, tidVersion, le32(0x00010000)}, {1, tidMessageClass, []byte("IPM.Microsoft Mail.Note\x00")}}
	for _, f := range files {
		attrs = append(attrs, f...)
	}
	return tnefStream(attrs...)
}

// mapiProps writes a MAPI property list; each property is already encoded
// (tag and value) by one of the helpers below.
func mapiProps(props ...[]byte) []byte {
	return append(le32(uint32(len(props))), bytes.Join(props, nil)...)
}

func pad(b []byte) []byte { return append(b, make([]byte, (4-len(b)%4)%4)...) }

// mapiVar is a variable-size property (string, binary, object): count 1,
// size, padded value.
func mapiVar(typ, id uint16, v []byte) []byte {
	b := append(le16(typ), le16(id)...)
	b = append(b, le32(1)...)
	b = append(b, le32(uint32(len(v)))...)
	return append(b, pad(v)...)
}

func mapiUnicode(id uint16, s string) []byte {
	var v []byte
	for _, c := range utf16.Encode([]rune(s + "\x00")) {
		v = append(v, le16(c)...)
	}
	return mapiVar(ptypUnicode, id, v)
}

// mapiNamedInt is a named property (GUID, kind 0, id) with an int32.
func mapiNamedInt(v uint32) []byte {
	b := append(le16(0x0003), le16(0x8005)...)
	b = append(b, make([]byte, 16)...)
	b = append(b, le32(0)...)
	b = append(b, le32(0x8233)...)
	return append(b, le32(v)...)
}

// mapiMultiInt is a multi-valued int32 property.
func mapiMultiInt(id uint16, vs ...uint32) []byte {
	b := append(le16(0x1003), le16(id)...)
	b = append(b, le32(uint32(len(vs)))...)
	for _, v := range vs {
		b = append(b, le32(v)...)
	}
	return b
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func TestTNEFAttachments(t *testing.T) {
	pdf := []byte("%PDF-1.4\n1 0 obj<<>>endobj\n%%EOF\n")
	bin := []byte{0xde, 0xad, 0xbe, 0xef, 0, 1, 2}
	stream := tnefMessage(
		tnefFile("REPORT~1.PDF", pdf, mapiProps(
			mapiUnicode(prAttachLongFilename, "Quarterly report é.pdf"),
			mapiVar(ptypString8, prAttachMimeTag, []byte("Application/PDF\x00")),
		)),
		// No attAttachData, no title: data and names from the properties
		// (a named property and a multi-valued one come first).
		tnefFile("", nil, mapiProps(
			mapiNamedInt(7), mapiMultiInt(0x3A00, 1, 2, 3),
			mapiVar(ptypString8, prAttachFilename, []byte("SHORT.BIN\x00")),
			mapiVar(ptypBinary, prAttachDataBin, bin),
		)),
		tnefFile("empty.txt", []byte{}, nil),
	)
	atts, warns, err := DecodeTNEF(stream)
	if err != nil || len(warns) != 0 || len(atts) != 3 {
		t.Fatalf("err %v warnings %v, %d attachments", err, warns, len(atts))
	}
	want := []struct{ name, mime, sha string }{
		{"Quarterly report é.pdf", "application/pdf", sha(pdf)},
		{"SHORT.BIN", "", sha(bin)},
		{"empty.txt", "", sha(nil)},
	}
	for i, w := range want {
		a := atts[i]
		if a.Name != w.name || a.MIMEType != w.mime || sha(a.Data) != w.sha || a.Err != "" {
			t.Errorf("attachment %d: %q %q %d bytes %q", i, a.Name, a.MIMEType, len(a.Data), a.Err)
		}
	}
}

// TestTNEFObjectData: PR_ATTACH_DATA_OBJ holds an interface id then the
// data (here an embedded TNEF message).
func TestTNEFObjectData(t *testing.T) {
	inner := tnefMessage(tnefFile("inner.txt", []byte("inner"), nil))
	obj := append(bytes.Repeat([]byte{0x0b}, 16), inner...)
	atts, _, _ := DecodeTNEF(tnefMessage(tnefFile("Embedded", nil, mapiProps(mapiVar(ptypObject, prAttachDataBin, obj)))))
	if len(atts) != 1 || !bytes.Equal(atts[0].Data, inner) {
		t.Fatalf("got %+v", atts)
	}
}

func TestTNEFMalformed(t *testing.T) {
	good := tnefMessage(tnefFile("a.txt", []byte("hello"), nil))
	badSum := bytes.Clone(good)
	badSum[len(badSum)-1] ^= 0xff
	hugeLen := tnefMessage(tnefFile("a.txt", nil, nil))
	hugeLen = append(hugeLen, 2)
	hugeLen = append(hugeLen, le32(tidData)...)
	hugeLen = append(hugeLen, le32(0xFFFFFFFF)...)
	hugeLen = append(hugeLen, "partial"...)
	badLevel := append(bytes.Clone(good), 7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
	hugeCount := tnefMessage(tnefFile("b.txt", []byte("x"), le32(0xFFFFFFFF)))
	unknownType := tnefMessage(tnefFile("c.txt", []byte("x"), mapiProps(append(le16(0x0777), le16(0x1234)...))))
	cases := []struct {
		name      string
		in        []byte
		atts      int
		warn, err string
		data      string
	}{
		{"not tnef", []byte("\x89PNG\r\n\x1a\n"), 0, "", "no signature", ""},
		{"bad checksum", badSum, 1, "bad checksum", "", "hello"},
		{"length beyond the end", hugeLen, 1, "but 7 bytes left", "", "partial"},
		{"bad level", badLevel, 1, "level 7", "", "hello"},
		{"huge property count", hugeCount, 1, "properties", "", "x"},
		{"unknown property type", unknownType, 1, "unknown property type 0x0777", "", "x"},
		{"garbage at end", append(bytes.Clone(good), 1, 2, 3), 1, "not an attribute", "", "hello"},
	}
	for _, c := range cases {
		atts, warns, err := DecodeTNEF(c.in)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%s: err %v", c.name, err)
			}
			continue
		}
		if err != nil || len(atts) != c.atts || !strings.Contains(strings.Join(warns, ";"), c.warn) {
			t.Errorf("%s: err %v, %d attachments, warnings %v", c.name, err, len(atts), warns)
			continue
		}
		if string(atts[len(atts)-1].Data) != c.data {
			t.Errorf("%s: data %q", c.name, atts[len(atts)-1].Data)
		}
	}
}

func TestTNEFAttachmentCap(t *testing.T) {
	var files [][]tnefAttr
	for range maxTNEFAttachments + 3 {
		files = append(files, tnefFile("", nil, nil))
	}
	atts, warns, _ := DecodeTNEF(tnefMessage(files...))
	if len(atts) != maxTNEFAttachments || !strings.Contains(strings.Join(warns, ";"), "not listed") {
		t.Errorf("%d attachments, warnings %v", len(atts), warns)
	}
}

// TestTNEFTestdata: the crafted streams in testdata/tnef decode to what
// the tnef(1) tool (Debian package tnef 1.4) extracts from them; see
// testdata/tnef/README.md.
func TestTNEFTestdata(t *testing.T) {
	type file struct {
		name string
		size int
		sha  string
	}
	want := map[string][]file{
		"report.tnef": {
			{"Quarterly report.pdf", 45, "5a838678058f6de375e8635b5f2fea47a4e5f07cb1a882a44b10f39abc6f34ff"},
			{"setup.exe", 49, "3606a0cff2c735b38d5f87fa2c7516fb1b1b4a56f3f338ef1eb6abcece0e36fc"},
		},
		"props-data.tnef": {
			{"notes from the meeting.txt", 54, "c81466bcedbd5adbd268d6082f37e7fd83082eb5105fc20487f0b87d30ed2fdd"},
		},
	}
	for name, files := range want {
		b, err := os.ReadFile(filepath.Join("testdata", "tnef", name))
		if err != nil {
			t.Fatal(err)
		}
		atts, warns, err := DecodeTNEF(b)
		if err != nil || len(warns) != 0 || len(atts) != len(files) {
			t.Fatalf("%s: err %v warnings %v, %d attachments", name, err, warns, len(atts))
		}
		for i, f := range files {
			if a := atts[i]; a.Name != f.name || len(a.Data) != f.size || sha(a.Data) != f.sha {
				t.Errorf("%s #%d: %q %d bytes %s, want %+v", name, i, a.Name, len(a.Data), sha(a.Data), f)
			}
		}
	}
}

// winmailMessage wraps a TNEF stream in a message as Outlook sends it.
func winmailMessage(stream []byte) []byte {
	return []byte("From: a@example.com\r\nSubject: tnef\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n" +
		"--b\r\nContent-Type: application/ms-tnef; name=\"winmail.dat\"\r\nContent-Transfer-Encoding: base64\r\n" +
		"Content-Disposition: attachment; filename=\"winmail.dat\"\r\n\r\n" +
		base64.StdEncoding.EncodeToString(stream) + "\r\n--b--\r\n")
}

// TestTNEFMembersAreAttachments: the attachments inside winmail.dat are
// listed as members "P!name" with depth and parent like zip members, and
// each is hashed, typed, scanned, archived; a zip inside is unzipped and
// a TNEF inside is opened in turn.
func TestTNEFMembersAreAttachments(t *testing.T) {
	js := []byte("WScript.Shell.Run('calc')")
	zipped := zipOf(t, map[string][]byte{"invoice.js": js})
	inner := tnefMessage(tnefFile("deep.txt", []byte("deep"), nil))
	stream := tnefMessage(
		tnefFile("invoice.zip", zipped, mapiProps(mapiVar(ptypString8, prAttachMimeTag, []byte("application/zip\x00")))),
		tnefFile("Forwarded", nil, mapiProps(mapiVar(ptypObject, prAttachDataBin, append(make([]byte, 16), inner...)))),
	)
	rec := &recordingScanner{seen: map[string]bool{}}
	archived := map[string]bool{}
	opts := DefaultOptions()
	opts.Yara = rec
	opts.OnAttachment = func(a *Attachment, _ []byte) { archived[a.Part] = true }
	e := NewAnalyzer(opts).AnalyzeBytes(winmailMessage(stream))

	want := []struct {
		part, parent string
		depth        int
		sha          string
	}{
		{"2!invoice.zip", "2", 1, sha(zipped)},
		{"2!invoice.zip!invoice.js", "2!invoice.zip", 2, sha(js)},
		{"2!Forwarded", "2", 1, sha(inner)},
		{"2!Forwarded!deep.txt", "2!Forwarded", 2, sha([]byte("deep"))},
	}
	for _, w := range want {
		at := findAttachment(e, w.part)
		if at == nil {
			t.Errorf("no attachment %s in %+v", w.part, e.Attachments)
			continue
		}
		if at.Parent != w.parent || at.Depth != w.depth || at.SHA256 != w.sha || !rec.seen[w.sha] || !archived[w.part] {
			t.Errorf("%s: parent %q depth %d sha %s scanned %v archived %v", w.part, at.Parent, at.Depth, at.SHA256, rec.seen[w.sha], archived[w.part])
		}
	}
	if at := findAttachment(e, "2!invoice.zip"); at == nil || at.ContentType != "application/zip" || at.DetectedType != "application/zip" || at.Disposition != "archive-member" {
		t.Errorf("zip member %+v", at)
	}
}

// TestTNEFDepthLimit: TNEF inside TNEF is opened only to MaxDepth.
func TestTNEFDepthLimit(t *testing.T) {
	stream := tnefMessage(tnefFile("x.txt", []byte("x"), nil))
	for range 5 {
		stream = tnefMessage(tnefFile("w.dat", stream, nil))
	}
	opts := DefaultOptions()
	opts.MaxDepth = 3
	e := NewAnalyzer(opts).AnalyzeBytes(winmailMessage(stream))
	deepest := 0
	for _, a := range e.Attachments {
		deepest = max(deepest, a.Depth)
	}
	if deepest != 3 || !strings.Contains(strings.Join(e.Flags, ","), "depth_limit") {
		t.Errorf("deepest %d, flags %v", deepest, e.Flags)
	}
}

// TestTNEFDeclaredButNot: zbateson's m4006 declares application/ms-tnef
// over a PNG (the same bytes as its expected files/winmail.dat): the
// attachment is kept as it is and the mismatch is an error.
func TestTNEFDeclaredButNot(t *testing.T) {
	root := sharedDir(t, "corpus", "eml")
	png, err := os.ReadFile(filepath.Join(root, "expected", "zbateson-mail-mime-parser", "files", "winmail.dat"))
	if err != nil {
		t.Skip(err)
	}
	e, err := NewAnalyzer(DefaultOptions()).AnalyzeFile(filepath.Join(root, "zbateson-mail-mime-parser", "m4006.txt"))
	if err != nil {
		t.Fatal(err)
	}
	at := findAttachment(e, "1")
	if at == nil || at.SHA256 != sha(png) || at.DetectedType != "image/png" || len(e.Attachments) != 1 {
		t.Fatalf("attachments %+v", e.Attachments)
	}
	if !strings.Contains(strings.Join(e.Errors, ";"), "part 1: declared application/ms-tnef but holds no TNEF stream") {
		t.Errorf("errors %v", e.Errors)
	}
}

// FuzzTNEF: any bytes decode without panic; every attachment's data lies
// inside the input (nothing is allocated for it), at most
// maxTNEFAttachments are listed; a stream built from the fuzzed bytes as
// a file's data gives them back.
func FuzzTNEF(f *testing.F) {
	f.Add(tnefMessage(tnefFile("a.txt", []byte("hello"), mapiProps(mapiUnicode(prAttachLongFilename, "long name.txt")))))
	f.Add(tnefMessage(tnefFile("", nil, mapiProps(mapiNamedInt(1), mapiMultiInt(1, 2), mapiVar(ptypBinary, prAttachDataBin, []byte("x"))))))
	f.Add(le32(tnefSignature))
	seeds, _ := filepath.Glob(filepath.Join("testdata", "tnef", "*.tnef"))
	for _, s := range seeds {
		if b, err := os.ReadFile(s); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		atts, _, err := DecodeTNEF(in)
		if err != nil && isTNEF(in) {
			t.Fatalf("error on a stream with the signature: %v", err)
		}
		if len(atts) > maxTNEFAttachments {
			t.Fatalf("%d attachments", len(atts))
		}
		for _, a := range atts {
			if len(a.Data) > 0 && !inside(in, a.Data) {
				t.Fatalf("attachment data is not a slice of the input")
			}
		}
		got, warns, _ := DecodeTNEF(tnefMessage(tnefFile("f", in, nil)))
		if len(got) != 1 || !bytes.Equal(got[0].Data, in) || len(warns) != 0 {
			t.Fatalf("round trip: %d attachments, warnings %v", len(got), warns)
		}
	})
}

// inside reports whether sub is a slice of b's memory (slices of b end
// their capacity where b does).
func inside(b, sub []byte) bool {
	return cap(sub) > 0 && cap(sub) <= cap(b) && &b[:cap(b)][cap(b)-cap(sub)] == &sub[:1][0]
}
