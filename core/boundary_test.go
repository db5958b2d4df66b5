package core

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/jhillyerd/enmime/v2"
)

// TestUnclosedMultipartLastLineDelimiter: an unclosed multipart whose last
// line is a delimiter line (LF or CRLF, with or without a final line end,
// at any nesting level) ends its last part there: the delimiter is never
// content.
func TestUnclosedMultipartLastLineDelimiter(t *testing.T) {
	part := "--b\nContent-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n\nQUJD\n"
	nested := "Content-Type: multipart/mixed; boundary=outer\n\n--outer\nContent-Type: multipart/mixed; boundary=b\n\n" + part
	msgs := []string{
		"Content-Type: multipart/mixed; boundary=b\n\n" + part + "--b\n",
		"Content-Type: multipart/mixed; boundary=b\n\n" + part + "--b",
		"Content-Type: multipart/mixed; boundary=b\n\n" + part + "--b \t\n",
		strings.ReplaceAll("Content-Type: multipart/mixed; boundary=b\n\n"+part+"--b\n", "\n", "\r\n"),
		strings.ReplaceAll("Content-Type: multipart/mixed; boundary=b\n\n"+part+"--b", "\n", "\r\n"),
		nested + "--b\n",
		nested + "--outer\n",
		nested + "--outer",
	}
	for _, m := range msgs {
		for i, e := range analyzeBoth(t, m) {
			if len(e.Attachments) != 1 || e.Attachments[0].Size != 3 || e.Attachments[0].SHA256 != sha256hex([]byte("ABC")) {
				t.Errorf("path %d: %q\n attachments %+v errors %v", i, m, e.Attachments, e.Errors)
			}
			for _, er := range e.Errors {
				if strings.Contains(er, "base64") {
					t.Errorf("path %d: %q: %s", i, m, er)
				}
			}
		}
	}
}

// TestCorpusUnclosedMultipart: the two SpamScope samples whose last line
// is a delimiter; Python decodes the zip to 8,932 bytes.
func TestCorpusUnclosedMultipart(t *testing.T) {
	root := sharedDir(t, "corpus", "eml", "spamscope-mail-parser")
	for _, name := range []string{"mail_test_1", "mail_test_11"} {
		raw, err := os.ReadFile(filepath.Join(root, name))
		if err != nil {
			t.Fatal(err)
		}
		for i, e := range analyzeBoth(t, string(raw)) {
			at := e.Attachments[0]
			if at.Size != 8932 || at.SHA256 != "05bc3630ab05c2f0368fcaba0a5ae32eb954232917aeda816d5371597a11e001" {
				t.Errorf("%s path %d: first attachment %d bytes sha256 %s", name, i, at.Size, at.SHA256)
			}
		}
	}
}

// TestUnclosedMultipartEnd: the end of the message closes the multiparts
// left open and, like a delimiter, takes the line end before it, once;
// a multipart closed by an enclosing delimiter loses only the line end
// that delimiter takes. The expected parts are what Python's email gives.
func TestUnclosedMultipartEnd(t *testing.T) {
	h := "Content-Type: multipart/mixed; boundary=a\r\n\r\n"
	in := "Content-Type: multipart/mixed; boundary=b\r\n\r\n"
	cases := []struct {
		msg  string
		want []string
	}{
		{h + "--a\r\n\r\nxx\r\n", []string{"xx"}},
		{h + "--a\r\n\r\nxx\r\n\r\n", []string{"xx\r\n"}},
		{h + "--a\r\n\r\nxx", []string{"xx"}},
		{h + "--a\r\n\r\nxx\n\n", []string{"xx\n"}},
		{h + "--a\r\n" + in + "--b\r\n\r\nxx\r\n\r\n", []string{"xx\r\n"}},
		{h + "--a\r\n" + in + "--b\r\n\r\nxx\r\n\r\n\r\n", []string{"xx\r\n\r\n"}},
		{h + "--a\r\n" + in + "--b\r\n\r\nxx\r\n\r\n--a--\r\n", []string{"xx\r\n"}},
		{h + "--a\r\n" + in + "--b\r\n\r\nxx\r\n--a--\r\n", []string{"xx"}},
		{h + "--a\r\n" + in + "--b\r\n\r\nxx\r\n--a\r\n\r\nyy\r\n--a--\r\n", []string{"xx", "yy"}},
		{h + "--a\r\n\r\nxx\r\n--a", []string{"xx", ""}},
		{h + "--a\r\n\r\nxx\r\n--a\r\n", []string{"xx", ""}},
		{h + "--a\r\n\r\nxx --a--\r\n", []string{"xx --a--"}}, // not a delimiter: mid-line
	}
	for _, c := range cases {
		var got []string
		var leaves func(p *enmime.Part)
		leaves = func(p *enmime.Part) {
			for ; p != nil; p = p.NextSibling {
				if p.FirstChild == nil {
					got = append(got, string(p.Content))
				}
				leaves(p.FirstChild)
			}
		}
		leaves(splitMIME([]byte(c.msg), scanLimits{parts: 100, depth: 10, value: 1 << 16, fields: 1000}).FirstChild)
		if !slices.Equal(got, c.want) {
			t.Errorf("%q:\n got %q\nwant %q", c.msg, got, c.want)
		}
	}
}

// TestSplitWarnings: an entity without a header block, an empty media
// type and a boundary on a non-multipart part are reported on the part.
func TestSplitWarnings(t *testing.T) {
	cases := []struct{ msg, want string }{
		{"Content-Type: multipart/mixed; boundary=a\r\n\r\n--a\r\nno header here\r\n--a--\r\n", "part 1: [W] Malformed Header: no header block"},
		{"Content-Type: ;\r\n\r\nx\r\n", "names no media type"},
		{"Content-Type: text/html; boundary=x\r\n\r\n--x\r\n<p>\r\n--x--\r\n", "part 1: [E] Data contains boundary marker: text/html is not multipart"},
	}
	for _, c := range cases {
		e := NewAnalyzer(DefaultOptions()).AnalyzeBytes([]byte(c.msg))
		if !strings.Contains(strings.Join(e.Errors, "\n"), c.want) {
			t.Errorf("%q: errors %q, want %q", c.msg, e.Errors, c.want)
		}
	}
}
