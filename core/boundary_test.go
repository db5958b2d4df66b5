package core

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
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
