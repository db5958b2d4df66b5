package core

import (
	"slices"
	"strings"
	"testing"
)

// anomalyCase is a crafted message and the anomaly code it must produce
// on the email (part "") or on one part.
type anomalyCase struct {
	name, msg, part, code string
}

func mp(boundary, body string) string {
	return "Content-Type: multipart/mixed; boundary=" + boundary + "\r\n\r\n" + body
}

var anomalyCases = []anomalyCase{
	{"mbox From_ line", "From a@b.example Mon Jan  1 00:00:00 2024\r\nSubject: x\r\n\r\nhi\r\n", "", AnomalyMboxFrom},
	{"From_ line inside the header", "Subject: x\r\nFrom a@b.example Mon Jan  1 00:00:00 2024\r\n\r\nhi\r\n", "", AnomalyMboxFromMisplaced},
	{"first header line a continuation", " X-Folded: 1\r\nSubject: x\r\n\r\nhi\r\n", "", AnomalyHeaderContinuationFirst},
	{"header line without colon", "Subject: x\r\nno colon on this line\r\nTo: a@b.example\r\n\r\nhi\r\n", "", AnomalyHeaderNoColon},
	{"part header line without colon", mp("b", "--b\r\nContent-Type: text/plain\r\nX-A: 1\r\nno colon\r\n\r\nhi\r\n--b--\r\n"), "1", AnomalyHeaderNoColon},
	{"invalid field name", "Subject: x\r\nX Bad: y\r\n\r\nhi\r\n", "", AnomalyHeaderInvalidName},
	{"part invalid field name", mp("b", "--b\r\nContent-Type: text/plain\r\nX\xffy: 1\r\n\r\nhi\r\n--b--\r\n"), "1", AnomalyHeaderInvalidName},
	{"NUL in header", "Subject: a\x00b\r\n\r\nhi\r\n", "", AnomalyHeaderNUL},
	{"NUL in part header", mp("b", "--b\r\nContent-Type: text/plain\r\nX-Nul: a\x00b\r\n\r\nhi\r\n--b--\r\n"), "1", AnomalyHeaderNUL},
	{"8-bit header", "Subject: caf\xe9\r\n\r\nhi\r\n", "", AnomalyHeader8Bit},
	{"8-bit part header", mp("b", "--b\r\nContent-Type: text/plain\r\nX-Name: caf\xe9\r\n\r\nhi\r\n--b--\r\n"), "1", AnomalyHeader8Bit},
	{"unknown charset in encoded word", "Subject: =?x-no-such-charset?B?aGk=?=\r\n\r\nhi\r\n", "", AnomalyCharsetUnknown},
	{"unknown charset in part header", mp("b", "--b\r\nContent-Type: application/pdf; name=\"=?x-nope?Q?a?=.pdf\"\r\n\r\nhi\r\n--b--\r\n"), "1", AnomalyCharsetUnknown},
	{"unknown body charset", "Content-Type: text/plain; charset=x-no-such-charset\r\n\r\nhi\r\n", "1", AnomalyCharsetUnknown},
	{"conflicting Content-Type", "Content-Type: text/plain\r\nContent-Type: text/html\r\n\r\nhi\r\n", "1", AnomalyContentTypeConflict},
	{"conflicting Content-Transfer-Encoding", "Content-Transfer-Encoding: base64\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\naGk=\r\n", "1", AnomalyEncodingConflict},
	{"unknown Content-Transfer-Encoding", "Content-Transfer-Encoding: x-rot13\r\n\r\nuv\r\n", "1", AnomalyEncodingUnknown},
	{"multipart without boundary", "Content-Type: multipart/mixed\r\n\r\n--b\r\n\r\nhi\r\n--b--\r\n", "0", AnomalyBoundaryMissing},
	{"nested multipart reuses the boundary", mp("b", "--b\r\nContent-Type: multipart/alternative; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nhi\r\n--b--\r\n--b--\r\n"), "1", AnomalyBoundaryReused},
	{"start boundary not found", mp("b", "no delimiter line at all\r\n"), "0", AnomalyStartBoundaryMissing},
	{"close boundary missing", mp("b", "--b\r\nContent-Type: text/plain\r\n\r\nhi\r\n"), "0", AnomalyCloseBoundaryMissing},
	{"nested close boundary missing", mp("o", "--o\r\nContent-Type: multipart/alternative; boundary=i\r\n\r\n--i\r\n\r\nhi\r\n--o--\r\n"), "1", AnomalyCloseBoundaryMissing},
	{"base64 padding missing", "Content-Transfer-Encoding: base64\r\n\r\nQUJDRA\r\n", "1", AnomalyBase64Padding},
	{"base64 padding inside", "Content-Transfer-Encoding: base64\r\n\r\nQQ==Qg==\r\n", "1", AnomalyBase64Padding},
	{"base64 superfluous padding", "Content-Transfer-Encoding: base64\r\n\r\nQUJD=\r\n", "1", AnomalyBase64Padding},
	{"base64 characters", "Content-Transfer-Encoding: base64\r\n\r\nQU*JD\r\n", "1", AnomalyBase64Characters},
	{"base64 length", "Content-Transfer-Encoding: base64\r\n\r\nQUJDR\r\n", "1", AnomalyBase64Length},
	{"NUL in text body", "Content-Type: text/plain\r\n\r\nhi\x00there\r\n", "1", AnomalyTextNUL},
	{"uuencode without begin", "Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: x-uuencode\r\n\r\n#0V%T\r\n", "1", AnomalyUUNoBegin},
	{"uuencode without end", "Content-Transfer-Encoding: x-uuencode\r\n\r\nbegin 644 c.bin\r\n#0V%T\r\n", "1", AnomalyUUNoEnd},
	{"uuencode short line", "Content-Transfer-Encoding: x-uuencode\r\n\r\nbegin 644 c.bin\r\n&0V%T\r\n`\r\nend\r\n", "1", AnomalyUUShortLines},
	{"uuencode extra characters", "Content-Transfer-Encoding: x-uuencode\r\n\r\nbegin 644 c.bin\r\n#0V%TXYZ\r\n`\r\nend\r\n", "1", AnomalyUUExtraChars},
	{"uuencode bad characters", "Content-Transfer-Encoding: x-uuencode\r\n\r\nbegin 644 c.bin\r\n#0v%T\r\nend\r\n", "1", AnomalyUUBadChars},
	{"uuencode in a text body without end", "Content-Type: text/plain\r\n\r\nsee\r\nbegin 644 c.bin\r\n#0V%T\r\nmore prose\r\n", "1", AnomalyUUNoEnd},
}

// anomaliesAt returns the anomalies of the email (part "") or of a part.
func anomaliesAt(t *testing.T, e *Email, part string) []string {
	t.Helper()
	if part == "" {
		return e.Anomalies
	}
	for _, p := range e.Parts {
		if p.Part == part {
			return p.Anomalies
		}
	}
	t.Errorf("no part %q in %+v (errors %q)", part, e.Parts, e.Errors)
	return nil
}

func hasAnomaly(list []string, code string) bool {
	return slices.ContainsFunc(list, func(a string) bool { return AnomalyCode(a) == code })
}

// TestAnomalyCodes: every crafted defect gives its code where it belongs,
// through both MIME paths (enmime's reader and the zero-copy split), and
// every code of every record is a documented one.
func TestAnomalyCodes(t *testing.T) {
	seen := map[string]bool{}
	for _, split := range []bool{false, true} {
		a := NewAnalyzer(DefaultOptions())
		if !split {
			withEnmimeReader(a)
		}
		for _, c := range anomalyCases {
			e := a.AnalyzeBytes([]byte(c.msg))
			if got := anomaliesAt(t, e, c.part); !hasAnomaly(got, c.code) {
				t.Errorf("split=%v %s: part %q anomalies %q, want code %s (email: %q, errors %q)", split, c.name, c.part, got, c.code, e.Anomalies, e.Errors)
			}
			checkCodes(t, e)
			seen[c.code] = true
		}
	}
	for _, code := range AnomalyCodes {
		if !seen[code] && code != AnomalyMIMELimit && code != AnomalyAnalysisTimeout {
			t.Errorf("code %s has no crafted case", code)
		}
	}
}

// checkCodes fails when a record holds an anomaly code not in AnomalyCodes.
func checkCodes(t testing.TB, e *Email) {
	t.Helper()
	lists := [][]string{e.Anomalies}
	for _, p := range e.Parts {
		lists = append(lists, p.Anomalies)
	}
	for _, l := range lists {
		for _, a := range l {
			if !slices.Contains(AnomalyCodes, AnomalyCode(a)) {
				t.Fatalf("anomaly %q: code not in AnomalyCodes", a)
			}
		}
	}
}

// TestAnomalyCleanMessage: a well-formed message has no anomalies at all.
func TestAnomalyCleanMessage(t *testing.T) {
	msg := "From: a@b.example\r\nSubject: =?utf-8?Q?caf=C3=A9?=\r\nContent-Type: multipart/mixed; boundary=o\r\n\r\n" +
		"--o\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nhi\r\n" +
		"--o\r\nContent-Type: application/pdf; name=a.pdf\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n" +
		"--o\r\nContent-Type: multipart/alternative; boundary=i\r\n\r\n--i\r\nContent-Type: text/html\r\n\r\n<p>x</p>\r\n--i--\r\n" +
		"--o--\r\n"
	e := NewAnalyzer(DefaultOptions()).AnalyzeBytes([]byte(msg))
	if len(e.Anomalies) > 0 {
		t.Errorf("email anomalies %q", e.Anomalies)
	}
	for _, p := range e.Parts {
		if len(p.Anomalies) > 0 {
			t.Errorf("part %s anomalies %q", p.Part, p.Anomalies)
		}
	}
}

// TestAnomalyAttachedMessageHeader: the header defects of an attached
// message go on the message/rfc822 part that holds it.
func TestAnomalyAttachedMessageHeader(t *testing.T) {
	msg := mp("b", "--b\r\nContent-Type: message/rfc822\r\n\r\nSubject: inner\r\nno colon here\r\n\r\nhi\r\n--b--\r\n")
	e := NewAnalyzer(DefaultOptions()).AnalyzeBytes([]byte(msg))
	if got := anomaliesAt(t, e, "1"); !hasAnomaly(got, AnomalyHeaderNoColon) {
		t.Errorf("part 1 anomalies %q (email %q)", got, e.Anomalies)
	}
	if hasAnomaly(e.Anomalies, AnomalyHeaderNoColon) {
		t.Errorf("the attached message's defect is on the email: %q", e.Anomalies)
	}
}

// TestAnomalyBounded: a header of many bad lines gives one entry per code,
// with the count.
func TestAnomalyBounded(t *testing.T) {
	msg := "Subject: x\r\n" + strings.Repeat("no colon\r\n", 10000) + "\r\nhi\r\n"
	e := NewAnalyzer(DefaultOptions()).AnalyzeBytes([]byte(msg))
	if len(e.Anomalies) != 1 || !strings.Contains(e.Anomalies[0], "(10000 lines)") {
		t.Errorf("anomalies %q", e.Anomalies)
	}
}

// TestMultipartWithoutBoundaryKept: the body of a multipart without a
// boundary parameter is not dropped: it is the part's content (an
// attachment, hashed and scanned), on both MIME paths.
func TestMultipartWithoutBoundaryKept(t *testing.T) {
	for _, msg := range []string{
		"Content-Type: multipart/mixed\r\n\r\n--b\r\n\r\nhidden payload\r\n--b--\r\n",
		mp("o", "--o\r\nContent-Type: multipart/related\r\n\r\nhidden payload\r\n--o--\r\n"),
	} {
		for _, split := range []bool{false, true} {
			a := NewAnalyzer(DefaultOptions())
			if !split {
				withEnmimeReader(a)
			}
			e := a.AnalyzeBytes([]byte(msg))
			if len(e.Attachments) != 1 || e.Attachments[0].Size < int64(len("hidden payload")) {
				t.Errorf("split=%v %q: attachments %+v", split, msg, e.Attachments)
			}
		}
	}
}
