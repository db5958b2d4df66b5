package core

import (
	"strings"
	"testing"
)

// TestMultipartBoundary: the boundary of a multipart header block, in any
// case and folded; none for other types, even with a boundary parameter,
// nor for a block without Content-Type.
func TestMultipartBoundary(t *testing.T) {
	for block, want := range map[string]string{
		"Content-Type: multipart/mixed; boundary=abc\r\n\r\n":                   "abc",
		"content-type: MULTIPART/Alternative;\r\n\tboundary=\"x y\"\r\n\r\n":    "x y",
		"Subject: s\r\nContent-Type:\r\n multipart/related; boundary=q\r\n\r\n": "q",
		"Content-Type: text/plain; boundary=abc\r\n\r\n":                        "",
		"Content-Type: multi part/mixed; boundary=abc\r\n\r\n":                  "",
		"Subject: multipart/mixed; boundary=abc\r\n\r\n":                        "",
		"Content-Type: Multipart/Mixed; BOUNDARY=Z\r\n":                         "Z",
	} {
		if got := multipartBoundary([]byte(block), 8<<10); got != want {
			t.Errorf("%q: boundary %q, want %q", block, got, want)
		}
	}
}

// FuzzMultipartNeedsWord: the media type parser names a multipart only for
// a value that says "multipart" (in any case), so multipartBoundary may
// skip parsing every other Content-Type.
func FuzzMultipartNeedsWord(f *testing.F) {
	for _, s := range []string{"multipart/mixed; boundary=a", "MultiPart/x", "text/plain", "; boundary=b",
		"\"multipart/mixed\"", "multipart/; a=b", "multipart/mixed/extra", "boundary=a; multipart/mixed", "MULTI\x00PART/mixed"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		mtype, _, _, _ := parseMediaType(v)
		if strings.HasPrefix(mtype, "multipart/") && !containsFold([]byte(v), "multipart") {
			t.Fatalf("%q parses as %q", v, mtype)
		}
		if containsFold([]byte(v), "multipart") != strings.Contains(strings.ToLower(v), "multipart") {
			t.Fatalf("containsFold(%q) disagrees with strings.ToLower", v)
		}
	})
}
