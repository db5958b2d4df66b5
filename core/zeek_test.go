package core

import (
	"bytes"
	"strings"
	"testing"
)

func zeekMsg(enc, body string) []byte {
	m := "From: a@example.org\r\nSubject: z\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n" +
		"--b\r\nContent-Type: text/plain\r\n\r\nhi\r\n" +
		"--b\r\nContent-Type: text/plain; name=\"a.txt\"\r\nContent-Transfer-Encoding: " + enc + "\r\n\r\n" + body + "\r\n--b--\r\n"
	return []byte(m)
}

// TestZeekHashes: which attachments get Zeek's hash set, and what it is.
func TestZeekHashes(t *testing.T) {
	cases := []struct {
		name, enc, body string
		zeek            string // the bytes Zeek hashes; "" = same as ours
	}{
		{"qp: last line gets CRLF", "quoted-printable", "caf=E9 au lait\r\nsecond", "caf\xe9 au lait\r\nsecond\r\n"},
		{"qp: soft break at the end", "quoted-printable", "one\r\ntwo=", ""},
		{"qp: malformed escape kept", "quoted-printable", "a=ZZb", "a=ZZb\r\n"},
		{"base64", "base64", "aGVsbG8gd29ybGQ=", ""},
		{"7bit in a multipart", "7bit", "plain\r\ntext", ""},
	}
	for _, c := range cases {
		e := NewAnalyzer(DefaultOptions()).AnalyzeBytes(zeekMsg(c.enc, c.body))
		if len(e.Attachments) != 1 {
			t.Fatalf("%s: %d attachments", c.name, len(e.Attachments))
		}
		a := e.Attachments[0]
		var want ZeekHashes
		if c.zeek != "" {
			want.ZeekMD5, want.ZeekSHA1, want.ZeekSHA256 = hashes([]byte(c.zeek))
		}
		if a.ZeekHashes != want {
			t.Errorf("%s: zeek hashes %+v, want %+v (of %q)", c.name, a.ZeekHashes, want, c.zeek)
		}
		if p := e.Parts[1]; p.MD5 == "" || p.ZeekMD5 != "" {
			t.Errorf("%s: body part hashes %+v", c.name, p)
		}
	}
}

// TestZeekHashesOutsideMultipart: a single-part 7bit message keeps its
// last line break in Zeek's bytes and in ours; a missing one Zeek adds.
func TestZeekHashesOutsideMultipart(t *testing.T) {
	got := zeekContent([]byte("a\r\nb\r\n"), "7bit", false)
	if !bytes.Equal(got, []byte("a\r\nb\r\n")) {
		t.Errorf("got %q", got)
	}
	if got := zeekContent([]byte("a\nb"), "8bit", false); string(got) != "a\r\nb\r\n" {
		t.Errorf("got %q", got)
	}
}

// FuzzZeekContent: never panics; base64 is never different; the output
// holds no bare LF.
func FuzzZeekContent(f *testing.F) {
	f.Add([]byte("caf=E9\r\nx=\r\n"), "quoted-printable", true)
	f.Add([]byte("a\nb\r\n"), "7bit", false)
	f.Add([]byte("=\r\n= \t\r\n=4"), "quoted-printable", false)
	f.Fuzz(func(t *testing.T, raw []byte, enc string, multi bool) {
		out := zeekContent(raw, enc, multi)
		if enc == "base64" && out != nil {
			t.Fatal("base64 differs")
		}
		if strings.Count(string(out), "\n") != strings.Count(string(out), "\r\n") && enc != "quoted-printable" {
			t.Fatalf("bare LF in %q", out)
		}
	})
}

// TestHashesWith: hashing the shared prefix once gives the same hashes as
// hashing both byte strings in full.
func TestHashesWith(t *testing.T) {
	for _, c := range []struct{ data, zeek string }{
		{"body", ""}, {"body", "body"}, {"body", "body\r\n"}, {"", "\r\n"}, {"body", "other\r\n"}, {"body\r\n", "body"},
	} {
		var zeek []byte
		if c.zeek != "" {
			zeek = []byte(c.zeek)
		}
		m, s1, s2, z := hashesWith([]byte(c.data), zeek)
		wm, ws1, ws2 := hashes([]byte(c.data))
		if m != wm || s1 != ws1 || s2 != ws2 {
			t.Errorf("%q: data hashes differ", c.data)
		}
		var wz ZeekHashes
		if zeek != nil && c.zeek != c.data {
			wz.ZeekMD5, wz.ZeekSHA1, wz.ZeekSHA256 = hashes(zeek)
		}
		if z != wz {
			t.Errorf("%q/%q: zeek hashes %+v, want %+v", c.data, c.zeek, z, wz)
		}
	}
}
