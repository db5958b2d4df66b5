package index

import (
	"reflect"
	"testing"

	"github.com/smtpscope/smtpscope/core"
)

// TestFilenameRawIndexed: an attachment named with a path is found both by
// the name a client saves ("nsmailEG.png") and by the name as written.
func TestFilenameRawIndexed(t *testing.T) {
	a := core.NewAnalyzer(core.DefaultOptions())
	msg := "Subject: p\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n" +
		"Content-Type: image/png\r\nContent-Disposition: attachment; filename=\"C:\\\\TEMP\\\\nsmailEG.png\"\r\n\r\nPNG\r\n--b--\r\n"
	e := a.AnalyzeBytes([]byte(msg))
	e.ID = "path"
	if len(e.Attachments) != 1 || e.Attachments[0].Filename != "nsmailEG.png" || e.Attachments[0].FilenameRaw == "" {
		t.Fatalf("attachments %+v", e.Attachments)
	}
	ix := openTest(t)
	if err := ix.IndexEmails([]EmailDoc{{Email: e}}); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{`filename:nsmailEG.png`, `filename:"C:\\TEMP\\nsmailEG.png"`, `filename:*TEMP*`} {
		if got := ids(t, ix, q); !reflect.DeepEqual(got, []string{"path"}) {
			t.Errorf("%s: %v (raw name %q)", q, got, e.Attachments[0].FilenameRaw)
		}
	}
}
