package index

import (
	"reflect"
	"testing"

	"github.com/smtpscope/smtpscope/core"
)

// TestHasAnomaly: has:anomaly finds an email whose only anomaly is on a
// part (an unclosed multipart) or on the email itself (a header line
// without a colon), and not a well-formed one.
func TestHasAnomaly(t *testing.T) {
	a := core.NewAnalyzer(core.DefaultOptions())
	msgs := map[string]string{
		"unclosed": "Subject: a\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\nhi\r\n",
		"nocolon":  "Subject: b\r\nno colon here\r\n\r\nhi\r\n",
		"clean":    "Subject: c\r\n\r\nhi\r\n",
	}
	var docs []EmailDoc
	for id, m := range msgs {
		e := a.AnalyzeBytes([]byte(m))
		e.ID = id
		docs = append(docs, EmailDoc{Email: e})
	}
	ix := openTest(t)
	if err := ix.IndexEmails(docs); err != nil {
		t.Fatal(err)
	}
	got := ids(t, ix, "has:anomaly")
	if len(got) != 2 || !reflect.DeepEqual(map[string]bool{got[0]: true, got[1]: true}, map[string]bool{"unclosed": true, "nocolon": true}) {
		t.Errorf("has:anomaly: %v", got)
	}
	if got := ids(t, ix, "-has:anomaly"); !reflect.DeepEqual(got, []string{"clean"}) {
		t.Errorf("-has:anomaly: %v", got)
	}
}
