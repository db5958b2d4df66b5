package core

import (
	"strings"
	"testing"
)

// TestMultipartWithoutItsBoundary: a multipart whose boundary never occurs
// keeps its body as one part with an error; enmime drops such a body, and
// an invalid Content-Type no longer loses the whole message.
func TestMultipartWithoutItsBoundary(t *testing.T) {
	var kept []string
	opts := DefaultOptions()
	opts.OnAttachment = func(at *Attachment, data []byte) { kept = append(kept, string(data)) }
	a := NewAnalyzer(opts)
	cases := []struct {
		name, msg, want string
	}{
		{"top", "Content-Type: multipart/alternative; boundary=\"b\"\r\n\r\nEVIL http://x.example/\r\n", "EVIL"},
		{"nested", "Content-Type: multipart/mixed; boundary=\"o\"\r\n\r\n--o\r\nContent-Type: text/plain\r\n\r\nFoo\r\n" +
			"--o\r\nContent-Type: multipart/alternative; boundary=\"i\"\r\n\r\nINNER\r\n--o--\r\n", "INNER"},
		{"close-only", "Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\nPREAMBLE\r\n--b--\r\nEPILOGUE\r\n", "PREAMBLE"},
	}
	for _, c := range cases {
		kept = nil
		e := a.AnalyzeBytes([]byte(c.msg))
		found := false
		for i, at := range e.Attachments {
			found = found || (strings.HasPrefix(at.ContentType, "multipart/") && i < len(kept) && strings.Contains(kept[i], c.want))
		}
		if !found {
			t.Errorf("%s: no part keeps the body %q: attachments %+v", c.name, c.want, e.Attachments)
		}
		if !strings.Contains(strings.Join(e.Errors, "\n"), "not found: the body is kept as one part") {
			t.Errorf("%s: errors %q do not say the boundary was not found", c.name, e.Errors)
		}
	}
	e := a.AnalyzeBytes([]byte("Content-Type: text/plain>\r\n\r\nkept text\r\n"))
	if !strings.Contains(e.BodyText, "kept text") {
		t.Errorf("invalid Content-Type: body %q, errors %q", e.BodyText, e.Errors)
	}
}
