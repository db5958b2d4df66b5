package core

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// uuEncode writes data as one uuencoded block the way uuencode(1) does
// (45 bytes a line, '`' for zero).
func uuEncode(name string, data []byte) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "begin 644 %s\n", name)
	for len(data) > 0 {
		n := min(45, len(data))
		b.Write(uuEncodeLine(data[:n]))
		b.WriteByte('\n')
		data = data[n:]
	}
	b.WriteString("`\nend\n")
	return b.Bytes()
}

func uuEncodeLine(line []byte) []byte {
	c := func(v byte) byte {
		if v&63 == 0 {
			return '`'
		}
		return v&63 + ' '
	}
	out := []byte{c(byte(len(line)))}
	for i := 0; i < len(line); i += 3 {
		var t [3]byte
		copy(t[:], line[i:])
		out = append(out, c(t[0]>>2), c(t[0]<<4|t[1]>>4), c(t[1]<<2|t[2]>>6), c(t[2]))
	}
	return out
}

// TestUUEncodeHelper pins the test encoder to Python's binascii.b2a_uu,
// so the round trips below are against the real format.
func TestUUEncodeHelper(t *testing.T) {
	for in, want := range map[string]string{
		"Cat":          "#0V%T",  // b2a_uu(b"Cat")
		"\x00\x00\x00": "#````",  // b2a_uu(b"\0\0\0", backtick=True)
		"ab":           "\"86(`", // b2a_uu(b"ab", backtick=True)
		"hello world!": ",:&5L;&\\@=V]R;&0A",
	} {
		if got := string(uuEncodeLine([]byte(in))); got != want {
			t.Errorf("encode %q = %q, want %q", in, got, want)
		}
	}
}

func TestUUDecodeRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	for _, n := range []int{0, 1, 2, 3, 44, 45, 46, 90, 1000, 65536} {
		data := make([]byte, n)
		rng.Read(data)
		for _, text := range []bool{false, true} {
			files, warn := FindUU(uuEncode("f.bin", data), text)
			if len(files) != 1 || warn != "" {
				t.Fatalf("n=%d text=%v: %d blocks, %q", n, text, len(files), warn)
			}
			f := files[0]
			if !bytes.Equal(f.Data, data) || f.Name != "f.bin" || f.Mode != "644" || len(f.Warnings) != 0 {
				t.Errorf("n=%d text=%v: got %d bytes name %q mode %q warnings %v", n, text, len(f.Data), f.Name, f.Mode, f.Warnings)
			}
		}
	}
}

// TestUUDecodeLenient: what Python's a2b_uu (with the uu module's
// workaround) accepts, decoded to the same bytes, each leniency noted.
func TestUUDecodeLenient(t *testing.T) {
	cases := []struct {
		name, body string
		want       string // a2b_uu result
		warn       string
	}{
		// a2b_uu(b"&0V%T") pads the missing characters with zeros.
		{"short line", "&0V%T\n`\nend\n", "Cat\x00\x00\x00", "short lines padded"},
		// a2b_uu(b"#0V%TXYZ") fails "Trailing garbage"; uu decodes b"#0V%T".
		{"checksum char", "#0V%TXYZ\n`\nend\n", "Cat", "after their declared length"},
		{"CRLF", "#0V%T\r\n`\r\nend\r\n", "Cat", ""},
		{"blank line", "#0V%T\n\n#0V%T\n`\nend\n", "CatCat", ""},
		{"no zero-length line", "#0V%T\nend\n", "Cat", ""},
		{"no end", "#0V%T\n", "Cat", "no end line: decoded to the end"},
		// a2b_uu fails ("Illegal char"); read modulo 64, 'v' (0x76) is
		// 22: "0v%T" -> 16 22 5 52 -> "Aat".
		{"outside alphabet", "#0v%T\nend\n", "Aat", "outside the uuencode alphabet"},
	}
	for _, c := range cases {
		files, _ := FindUU([]byte("begin 600 x.bin\n"+c.body), false)
		if len(files) != 1 {
			t.Fatalf("%s: %d blocks", c.name, len(files))
		}
		f := files[0]
		if string(f.Data) != c.want {
			t.Errorf("%s: got %q, want %q", c.name, f.Data, c.want)
		}
		got := strings.Join(f.Warnings, "; ")
		if c.warn == "" && got != "" || !strings.Contains(got, c.warn) {
			t.Errorf("%s: warnings %q, want %q", c.name, got, c.warn)
		}
	}
}

// TestUUTextBlocks: blocks inside prose are found, the prose around them
// is kept (with each begin line), and prose that merely starts with
// "begin" is not a block.
func TestUUTextBlocks(t *testing.T) {
	a, b := []byte("first file\n"), bytes.Repeat([]byte{0, 1, 2, 0xff}, 40)
	body := "Hello,\nbegin 644 the meeting at noon\nsee you\n" +
		string(uuEncode("a.txt", a)) + "between\n" + string(uuEncode("b.bin", b)) + "-- \nBob\n"
	files, warn := FindUU([]byte(body), true)
	if len(files) != 2 || warn != "" {
		t.Fatalf("%d blocks (%q), want 2", len(files), warn)
	}
	if files[0].Name != "a.txt" || !bytes.Equal(files[0].Data, a) || files[1].Name != "b.bin" || !bytes.Equal(files[1].Data, b) {
		t.Errorf("blocks %q %q", files[0].Name, files[1].Name)
	}
	want := "Hello,\nbegin 644 the meeting at noon\nsee you\nbegin 644 a.txt\nbetween\nbegin 644 b.bin\n-- \nBob\n"
	if got := string(StripUU([]byte(body), files)); got != want {
		t.Errorf("stripped body:\n%s\nwant:\n%s", got, want)
	}
}

// TestUUTextBlockWithoutEnd: in a body, a block without "end" stops at
// the first line that is not uuencoded, so the text after it stays.
func TestUUTextBlockWithoutEnd(t *testing.T) {
	enc := uuEncode("a.bin", []byte("0123456789"))
	enc = enc[:bytes.Index(enc, []byte("`\nend"))]
	body := append(enc, "Regards, Bob\n"...)
	files, _ := FindUU(body, true)
	if len(files) != 1 || string(files[0].Data) != "0123456789" {
		t.Fatalf("got %+v", files)
	}
	if !strings.Contains(strings.Join(files[0].Warnings, ";"), "no end line") {
		t.Errorf("warnings %v", files[0].Warnings)
	}
	if got := string(StripUU(body, files)); got != "begin 644 a.bin\nRegards, Bob\n" {
		t.Errorf("stripped %q", got)
	}
}

// TestUUBounded: zero padding cannot make the output outgrow the input,
// and the number of blocks is capped.
func TestUUBounded(t *testing.T) {
	in := []byte("begin 644 z\n" + strings.Repeat("M\n", 10000) + "end\n")
	files, _ := FindUU(in, false)
	if len(files) != 1 || len(files[0].Data) > len(in) {
		t.Fatalf("%d blocks, %d bytes from %d", len(files), len(files[0].Data), len(in))
	}
	if !strings.Contains(strings.Join(files[0].Warnings, ";"), "capped") {
		t.Errorf("warnings %v", files[0].Warnings)
	}
	many := bytes.Repeat(uuEncode("e", nil), maxUUBlocks+5)
	files, warn := FindUU(many, true)
	if len(files) != maxUUBlocks || !strings.Contains(warn, "not decoded") {
		t.Errorf("%d blocks, warning %q", len(files), warn)
	}
}

// TestUUBeginLine: the mode is octal, the name may be missing; prose
// that starts with "begin" is not a begin line.
func TestUUBeginLine(t *testing.T) {
	for line, want := range map[string]string{
		"begin 644 a b.zip ": "644|a b.zip", "begin 0755 x": "0755|x", "begin 644 ": "644|", "begin 644": "644|",
		"begin 8 x": "", "begin now": "", "begin  644 x": "", "Begin 644 x": "", "begin 1234567 x": "",
	} {
		mode, name, ok := parseUUBegin([]byte(line))
		if got := mode + "|" + name; ok != (want != "") || ok && got != want {
			t.Errorf("%q: %q %v, want %q", line, got, ok, want)
		}
	}
}

func TestUUDecodePartNoBegin(t *testing.T) {
	if _, _, _, err := UUDecodePart([]byte("M0V%T\n")); err == nil || !strings.Contains(err.Error(), "no begin line") {
		t.Errorf("err %v", err)
	}
}

// uuCorpusCase is one attachment the reference gives for a corpus file:
// Python 3.11's email package (get_payload(decode=True) for parts
// declared x-uuencode; binascii.a2b_uu with the uu module's workaround
// for blocks in bodies), checked against the original files the corpus
// ships (zbateson expected/files: redball/greenball/blueball.png,
// HasenundFrosche.txt) and MIME-tools' re-encoding (uu-junk-target.msg).
type uuCorpusCase struct {
	part, name string
	size       int64
	sha256     string
}

var uuCorpus = map[string][]uuCorpusCase{
	"spamscope-mail-parser/mail_test_15": {
		{"2", "REQUEST FOR QUOTE.zip", 251141, "ca14eb36578710df5f903bc19bd364de2eb27cb64e08cdad5e6b8758f17067cd"},
	},
	"stalwart-mail-parser/legacy/017.eml": {
		{"2", "greenball.png", 1298, "258bcdd418e60b1f2dd911c83133e7aa07dd3d87ff09708384aba85e06f80e34"},
		{"3", "blueball.png", 1325, "68aa843030f8c6ad625450054732fe0f3a680496d98f957d578192fa4469cec2"},
	},
	"stalwart-mail-parser/legacy/026.eml": {
		{"2", "HasenundFr", 747, "d965dc2e4de4cfbd76ce9ab40ca99efb50360c76592826f922eecc4416a0c012"},
	},
	"stalwart-mail-parser/legacy/048.eml": {
		{"2", "redball.png", 1453, "63aa82493459d1a5ac267e20109d380ba995788f7fa13ed43021ebb37ead6fc5"},
		{"3", "greenball.png", 1298, "258bcdd418e60b1f2dd911c83133e7aa07dd3d87ff09708384aba85e06f80e34"},
		{"4", "blueball.png", 1325, "68aa843030f8c6ad625450054732fe0f3a680496d98f957d578192fa4469cec2"},
	},
	"zbateson-mail-mime-parser/m1014.txt": {
		{"2", "redball.png", 1453, "63aa82493459d1a5ac267e20109d380ba995788f7fa13ed43021ebb37ead6fc5"},
		{"3", "greenball.png", 1298, "258bcdd418e60b1f2dd911c83133e7aa07dd3d87ff09708384aba85e06f80e34"},
		{"4", "blueball.png", 1325, "68aa843030f8c6ad625450054732fe0f3a680496d98f957d578192fa4469cec2"},
	},
	"zbateson-mail-mime-parser/m2010.txt": {
		{"2", "greenball.png", 1298, "258bcdd418e60b1f2dd911c83133e7aa07dd3d87ff09708384aba85e06f80e34"},
		{"3", "blueball.png", 1325, "68aa843030f8c6ad625450054732fe0f3a680496d98f957d578192fa4469cec2"},
	},
	"zbateson-mail-mime-parser/m2013.txt": {
		{"2", "HasenundFr", 747, "d965dc2e4de4cfbd76ce9ab40ca99efb50360c76592826f922eecc4416a0c012"},
	},
	"zbateson-mail-mime-parser/m3007.txt": {
		{"2", "greenball.png", 1298, "258bcdd418e60b1f2dd911c83133e7aa07dd3d87ff09708384aba85e06f80e34"},
		{"3", "blueball.png", 1325, "68aa843030f8c6ad625450054732fe0f3a680496d98f957d578192fa4469cec2"},
		{"4", "HasenundFr", 747, "d965dc2e4de4cfbd76ce9ab40ca99efb50360c76592826f922eecc4416a0c012"},
	},
	"james-mime4j/mimetools-testmsgs/uu-zeegee.msg": {
		{"1!up.gif", "up.gif", 110, "3714b7bf6df15c3f650e224c76228db1ea642944af4301b78ff82d32b09749d1"},
		{"1!zeegee.gif", "zeegee.gif", 4834, "2ecf8cdc2d1a976d54a58ff697465db8296a36ec430e68db8513445a3704f844"},
	},
	"stalwart-mail-parser/legacy/049.eml": {
		{"1!blueball.png", "blueball.png", 1325, "68aa843030f8c6ad625450054732fe0f3a680496d98f957d578192fa4469cec2"},
		{"1!greenball.png", "greenball.png", 1298, "258bcdd418e60b1f2dd911c83133e7aa07dd3d87ff09708384aba85e06f80e34"},
		{"1!redball.png", "redball.png", 1453, "63aa82493459d1a5ac267e20109d380ba995788f7fa13ed43021ebb37ead6fc5"},
	},
	"zbateson-mail-mime-parser/m0018.txt": {
		{"1!blueball.png", "blueball.png", 1325, "68aa843030f8c6ad625450054732fe0f3a680496d98f957d578192fa4469cec2"},
		{"1!greenball.png", "greenball.png", 1298, "258bcdd418e60b1f2dd911c83133e7aa07dd3d87ff09708384aba85e06f80e34"},
		{"1!redball.png", "redball.png", 1453, "63aa82493459d1a5ac267e20109d380ba995788f7fa13ed43021ebb37ead6fc5"},
	},
	// The second block's begin line has no name ("begin 644 ").
	"james-mime4j/mimetools-testmsgs/sig-uu.msg": {
		{"1!.signature", ".signature", 276, "8d13ccb71881ee1744c62952c647f751452dc8abb45bd997c613b65ce7f5d32d"},
		{"1!uuencoded-2", "", 236, "025b56cc60fb9cd2f8cdcec0bf7c0dbb20f046b1b867e385e7cc0301f73475d0"},
	},
	"james-mime4j/mimetools-testmsgs/uu-junk.msg": {
		{"2!up.gif", "up.gif", 110, "3714b7bf6df15c3f650e224c76228db1ea642944af4301b78ff82d32b09749d1"},
		{"2!zeegee.gif", "zeegee.gif", 4834, "2ecf8cdc2d1a976d54a58ff697465db8296a36ec430e68db8513445a3704f844"},
	},
}

// TestUUCorpus: uuencoded attachments of the shared corpus come out with
// the reference's names, sizes and sha256; embedded blocks are
// attachments "P!name" of their body part.
func TestUUCorpus(t *testing.T) {
	root := sharedDir(t, "corpus", "eml")
	a := NewAnalyzer(DefaultOptions())
	for file, want := range uuCorpus {
		e, err := a.AnalyzeFile(filepath.Join(root, file))
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range want {
			at := findAttachment(e, w.part)
			if at == nil {
				t.Errorf("%s: no attachment at part %s", file, w.part)
				continue
			}
			if !strings.HasPrefix(at.Filename, w.name) || at.Size != w.size || at.SHA256 != w.sha256 {
				t.Errorf("%s part %s: %q %d bytes %s, want %q %d bytes %s", file, w.part, at.Filename, at.Size, at.SHA256, w.name, w.size, w.sha256)
			}
		}
	}
}

func findAttachment(e *Email, part string) *Attachment {
	for i := range e.Attachments {
		if e.Attachments[i].Part == part {
			return &e.Attachments[i]
		}
	}
	return nil
}

// TestUUCorpusZipMembers: the uudecoded zip of mail_test_15 is a real zip
// attachment, so its member is listed (it was text/plain before).
func TestUUCorpusZipMembers(t *testing.T) {
	e, err := NewAnalyzer(DefaultOptions()).AnalyzeFile(sharedDir(t, "corpus", "eml", "spamscope-mail-parser", "mail_test_15"))
	if err != nil {
		t.Fatal(err)
	}
	zip, member := findAttachment(e, "2"), findAttachment(e, "2!REQUEST FOR QUOTE.exe")
	if zip == nil || zip.DetectedType != "application/zip" || member == nil || member.Parent != "2" {
		t.Fatalf("attachments %+v", e.Attachments)
	}
}

// recordingScanner is a Scanner that remembers the sha256 of what it saw.
type recordingScanner struct{ seen map[string]bool }

func (r *recordingScanner) Scan(data []byte, _ time.Duration) ([]YaraMatch, error) {
	s := sha256.Sum256(data)
	r.seen[hex.EncodeToString(s[:])] = true
	return nil, nil
}

// TestUUBodyBlocksAreAttachments: blocks in a text body become
// attachments "P!name" (hashed, typed, scanned, archived, unzipped), the
// body keeps its text without the encoded lines.
func TestUUBodyBlocksAreAttachments(t *testing.T) {
	script := []byte("#!/bin/sh\necho pwned\n")
	zipped := zipOf(t, map[string][]byte{"run.sh": script})
	msg := "From: a@example.com\r\nSubject: files\r\n\r\nSee the files below.\r\n\r\n" +
		strings.ReplaceAll(string(uuEncode("tools.zip", zipped)), "\n", "\r\n") + "\r\nThanks\r\n"
	rec := &recordingScanner{seen: map[string]bool{}}
	archived := map[string]int{}
	opts := DefaultOptions()
	opts.Yara = rec
	opts.OnAttachment = func(a *Attachment, data []byte) { archived[a.Part] = len(data) }
	e := NewAnalyzer(opts).AnalyzeBytes([]byte(msg))

	at := findAttachment(e, "1!tools.zip")
	sum := sha256.Sum256(zipped)
	if at == nil || at.SHA256 != hex.EncodeToString(sum[:]) || at.DetectedType != "application/zip" ||
		at.Parent != "1" || at.Disposition != "uuencoded" || at.Filename != "tools.zip" {
		t.Fatalf("attachments %+v", e.Attachments)
	}
	if m := findAttachment(e, "1!tools.zip!run.sh"); m == nil || m.Size != int64(len(script)) {
		t.Errorf("zip member not listed: %+v", e.Attachments)
	}
	if !rec.seen[at.SHA256] || archived["1!tools.zip"] != len(zipped) {
		t.Errorf("not scanned (%v) or not archived (%v)", rec.seen[at.SHA256], archived)
	}
	if strings.Contains(e.BodyText, "M4$L") || !strings.Contains(e.BodyText, "See the files below.") ||
		!strings.Contains(e.BodyText, "begin 644 tools.zip") || !strings.Contains(e.BodyText, "Thanks") {
		t.Errorf("body %q", e.BodyText)
	}
}

// TestUUPartWithoutName: a part declared x-uuencode with no file name in
// its header is named by its begin line, and is an attachment even when
// declared text/plain inline.
func TestUUPartWithoutName(t *testing.T) {
	data := []byte("MZ\x90\x00 not really a PE")
	msg := "From: a@example.com\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n" +
		"--b\r\nContent-Type: text/plain\r\n\r\nhi\r\n" +
		"--b\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: x-uue\r\n\r\n" + string(uuEncode("payload.exe", data)) +
		"--b--\r\n"
	e := NewAnalyzer(DefaultOptions()).AnalyzeBytes([]byte(msg))
	at := findAttachment(e, "2")
	if at == nil || at.Filename != "payload.exe" || at.Size != int64(len(data)) || strings.Contains(e.BodyText, "payload") {
		t.Fatalf("attachments %+v body %q", e.Attachments, e.BodyText)
	}
}

// TestUUPartNamelessInline: a part declared x-uuencode is a file even
// when nothing names it and it is declared inline text.
func TestUUPartNamelessInline(t *testing.T) {
	data := []byte("MZ\x90\x00 still not a PE")
	msg := "From: a@example.com\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n" +
		"--b\r\nContent-Type: text/plain\r\n\r\nhi\r\n" +
		"--b\r\nContent-Type: text/plain\r\nContent-Disposition: inline\r\nContent-Transfer-Encoding: x-uuencode\r\n\r\n" +
		strings.Replace(string(uuEncode("x", data)), "begin 644 x", "begin 644 ", 1) + "--b--\r\n"
	e := NewAnalyzer(DefaultOptions()).AnalyzeBytes([]byte(msg))
	at := findAttachment(e, "2")
	if at == nil || at.SHA256 != sha(data) || strings.Contains(e.BodyText, "still not") || e.BodyText != "hi" {
		t.Fatalf("attachments %+v body %q", e.Attachments, e.BodyText)
	}
}

// FuzzUudecode: any input decodes without panic, blocks lie inside the
// input, their bytes never outgrow it, stripping only removes bytes, and
// encoding the input's bytes gives them back.
func FuzzUudecode(f *testing.F) {
	f.Add([]byte("begin 644 a\n#0V%T\n`\nend\n"))
	f.Add([]byte("text\nbegin 600 x y.zip\nM\n&0V%T\nend\nmore"))
	f.Add([]byte("begin 644 z\n" + strings.Repeat("M\n", 50)))
	for _, p := range []string{"james-mime4j/mimetools-testmsgs/uu-zeegee.msg", "zbateson-mail-mime-parser/m2013.txt"} {
		if b, err := os.ReadFile(filepath.Join("..", "..", "shared", "corpus", "eml", p)); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		for _, text := range []bool{false, true} {
			files, _ := FindUU(in, text)
			total, prev := 0, 0
			for _, u := range files {
				if u.DataStart < prev || u.End < u.DataStart || u.End > len(in) {
					t.Fatalf("block at %d..%d (previous ends %d, input %d)", u.DataStart, u.End, prev, len(in))
				}
				prev = u.End
				total += len(u.Data)
			}
			if total > len(in) || len(files) > maxUUBlocks {
				t.Fatalf("%d blocks, %d bytes from %d", len(files), total, len(in))
			}
			if s := StripUU(in, files); len(s) > len(in) {
				t.Fatalf("stripped text grew")
			}
		}
		files, _ := FindUU(uuEncode("f", in), true)
		if len(files) != 1 || !bytes.Equal(files[0].Data, in) {
			t.Fatalf("round trip of %d bytes failed", len(in))
		}
	})
}
