package core

import (
	"path/filepath"
	"testing"
)

// TestAnomalyCorpus: known-malformed files of the shared corpus give the
// codes their bytes call for (each checked by hand against the raw file,
// noted below), and a well-formed one gives none.
func TestAnomalyCorpus(t *testing.T) {
	root := sharedDir(t, "corpus", "eml")
	cases := []struct {
		file, part, code string
	}{
		// The last line is "--2NqJR3m2cLnhEraiqXA4Q9hqnmihx7b7": no "--" after it.
		{"spamscope-mail-parser/mail_test_1", "0", AnomalyCloseBoundaryMissing},
		{"spamscope-mail-parser/mail_test_11", "0", AnomalyCloseBoundaryMissing},
		// Part 2 is "begin 644 REQUEST FOR QUOTE.zip" with lines stripped
		// of their trailing spaces.
		{"spamscope-mail-parser/mail_test_15", "2", AnomalyUUShortLines},
		// "ecO2dMOkIHZhYW4uCg== ignored": data after the padding, and
		// "ignored" is 7 characters with no padding.
		{"stalwart-mail-parser/thirdparty/002.eml", "2", AnomalyBase64Padding},
		// "?garbage": '?' is outside the alphabet.
		{"stalwart-mail-parser/thirdparty/002.eml", "3", AnomalyBase64Characters},
		// "... base64-encoded 8000 Hz single-channel": prose declared base64.
		{"stalwart-mail-parser/rfc/000.eml", "3.1", AnomalyBase64Characters},
		// Content-Transfer-Encoding "6bit", "7bits", "8 bit", "7-bit", "8-bit".
		{"stalwart-mail-parser/thirdparty/004.eml", "1", AnomalyEncodingUnknown},
		{"stalwart-mail-parser/thirdparty/004.eml", "5", AnomalyEncodingUnknown},
		// A multipart/alternative whose body has no delimiter line.
		{"mikel-mail/emails/error_emails/missing_body.eml", "0", AnomalyStartBoundaryMissing},
		// "Inval\xecd-Header: this is not valid." in the top header.
		{"james-mime4j/testmsgs/obsolete.msg", "", AnomalyHeader8Bit},
		{"james-mime4j/testmsgs/obsolete.msg", "", AnomalyHeaderInvalidName},
		// Subject "=?NONE?B?VEVTVA=?=".
		{"mikel-mail/emails/error_emails/bad_encoded_subject.eml", "", AnomalyCharsetUnknown},
	}
	a := NewAnalyzer(DefaultOptions())
	for _, c := range cases {
		e, err := a.AnalyzeFile(filepath.Join(root, filepath.FromSlash(c.file)))
		if err != nil {
			t.Fatal(err)
		}
		if got := anomaliesAt(t, e, c.part); !hasAnomaly(got, c.code) {
			t.Errorf("%s part %q: anomalies %q, want %s", c.file, c.part, got, c.code)
		}
	}
	e, err := a.AnalyzeFile(filepath.Join(root, "stalwart-mail-parser", "rfc", "001.eml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range e.Parts {
		if len(e.Anomalies)+len(p.Anomalies) > 0 {
			t.Errorf("well-formed rfc/001.eml: email %q, part %s %q", e.Anomalies, p.Part, p.Anomalies)
		}
	}
}
