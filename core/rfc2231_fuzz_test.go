package core

import (
	"net/textproto"
	"strings"
	"testing"

	"github.com/jhillyerd/enmime/v2"
)

// FuzzHeaderParam: the parameter reader never panics, and a plain
// token-safe value written as filename*0*=utf-8”A; filename*1*=B in any
// order of segments reads back as A+B.
func FuzzHeaderParam(f *testing.F) {
	f.Add(`attachment; filename*0*=ISO-8859-1''Fran%E7ois_; filename*1*=rapport%20final.txt`, "ab", "cd")
	f.Add(`attachment; filename="C:\TEMP\nsmailEG.png"`, "x", "y")
	f.Add(`attachment; filename*="iso-8859-1''a%F6.txt"; filename*1=".txt"`, "", "z")
	f.Add("image/png; name*1*=%E0.txt;\r\n name*0*=iso-8859-1'fr'd%E9j; name=\"=?utf-8?q?x?=\"", "1", "2")
	f.Add(`a; filename*00=x; filename*-1=y; filename*+1=z; filename*99999999999999999999=w; filename="\"`, "a", "b")
	f.Fuzz(func(t *testing.T, v, a, b string) {
		_ = headerParam(v, "filename")
		_ = headerParam(v, "name")
		_, _ = partFilename(&enmime.Part{Header: textproto.MIMEHeader{"Content-Disposition": {v}, "Content-Type": {v}}})
		_ = decodeHeader(v)
		if a == "" || b == "" || strings.ContainsAny(a+b, "%;\"'\\ \t\r\n=*") || strings.IndexFunc(a+b, func(r rune) bool { return r <= 0x20 || r >= 0x7f }) >= 0 {
			return
		}
		v = "attachment; filename*1*=" + b + "; filename*0*=utf-8''" + a
		if got := headerParam(v, "filename"); got != a+b {
			t.Errorf("headerParam(%q) = %q, want %q", v, got, a+b)
		}
	})
}
