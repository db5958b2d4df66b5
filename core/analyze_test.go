package core

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"sort"
	"strings"
	"testing"
	"time"
)

func crlfText(s string) []byte { return []byte(strings.ReplaceAll(s, "\n", "\r\n")) }

func sha256hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// pngBytes is a tiny valid PNG header (enough for magic detection).
var pngBytes = []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89")

func b64lines(b []byte) string {
	s := base64.StdEncoding.EncodeToString(b)
	var out strings.Builder
	for len(s) > 76 {
		out.WriteString(s[:76] + "\n")
		s = s[76:]
	}
	out.WriteString(s + "\n")
	return out.String()
}

func nestedMessage(depth int) string {
	inner := "From: inner@example.org\nSubject: level " + string(rune('0'+depth)) + "\nContent-Type: multipart/mixed; boundary=\"b" + string(rune('0'+depth)) + "\"\n\n" +
		"--b" + string(rune('0'+depth)) + "\nContent-Type: text/plain\n\nbody at depth " + string(rune('0'+depth)) + " see http://level" + string(rune('0'+depth)) + ".example.com/x\n" +
		"--b" + string(rune('0'+depth)) + "\nContent-Type: application/octet-stream\nContent-Disposition: attachment; filename=\"payload" + string(rune('0'+depth)) + ".bin\"\nContent-Transfer-Encoding: base64\n\n" +
		b64lines([]byte("payload at depth "+string(rune('0'+depth)))) +
		"--b" + string(rune('0'+depth)) + "--\n"
	return inner
}

func TestAnalyzeNestedMessages(t *testing.T) {
	l2 := nestedMessage(2)
	l1 := "From: mid@example.org\nSubject: level 1\nContent-Type: multipart/mixed; boundary=\"m1\"\n\n--m1\nContent-Type: text/plain\n\nmid body\n--m1\n" +
		"Content-Type: message/rfc822\nContent-Disposition: attachment; filename=\"fwd.eml\"\n\n" + l2 + "\n--m1--\n"
	top := "From: top@example.org\nTo: a@example.org\nSubject: top\nContent-Type: multipart/mixed; boundary=\"t\"\n\n--t\nContent-Type: text/plain\n\ntop body\n--t\n" +
		"Content-Type: message/rfc822\n\n" + l1 + "\n--t--\n"
	e := NewAnalyzer(DefaultOptions()).AnalyzeBytes(crlfText(top))
	if e.BodyText != "top body" { // the CRLF before a boundary belongs to the boundary
		t.Errorf("body %q", e.BodyText)
	}
	type want struct {
		part, name, parent string
		depth              int
	}
	wants := []want{{"2", "", "", 0}, {"2.2", "fwd.eml", "2", 1}, {"2.2.2", "payload2.bin", "2.2", 2}}
	if len(e.Attachments) != len(wants) {
		for _, a := range e.Attachments {
			t.Logf("%+v", a)
		}
		t.Fatalf("got %d attachments, want %d", len(e.Attachments), len(wants))
	}
	for i, w := range wants {
		a := e.Attachments[i]
		if a.Part != w.part || a.Filename != w.name || a.Parent != w.parent || a.Depth != w.depth {
			t.Errorf("attachment %d = %s %q parent %q depth %d; want %+v", i, a.Part, a.Filename, a.Parent, a.Depth, w)
		}
	}
	// The attached message is hashed over its bytes.
	if got := e.Attachments[0]; got.ContentType != "message/rfc822" || got.Size == 0 {
		t.Errorf("attached message %+v", got)
	}
	if e.Attachments[2].SHA256 != sha256hex([]byte("payload at depth 2")) {
		t.Errorf("innermost attachment hash wrong")
	}
	// IOCs of attached messages' bodies are found, with where.
	found := false
	for _, ioc := range e.IOCs {
		if ioc.Type == IOCURL && ioc.Value == "http://level2.example.com/x" {
			found = strings.HasPrefix(ioc.Source, "body:")
		}
	}
	if !found {
		t.Errorf("IOC from the nested body missing: %+v", e.IOCs)
	}

	// Depth bound: with MaxDepth 1 the second level is not opened, and the
	// record says so.
	opts := DefaultOptions()
	opts.MaxDepth = 1
	e = NewAnalyzer(opts).AnalyzeBytes(crlfText(top))
	if !hasFlag(e.Flags, "depth_limit") || len(e.Attachments) != 2 {
		t.Errorf("depth limit: flags %v, %d attachments", e.Flags, len(e.Attachments))
	}
	if !strings.Contains(strings.Join(e.Errors, "\n"), "depth limit 1") {
		t.Errorf("depth limit not reported: %v", e.Errors)
	}
}

func TestAnalyzeHeadersAndNames(t *testing.T) {
	msg := "Received: from mail.evil.example (mail.evil.example [203.0.113.7]) by mx.example.com\n" +
		"From: =?UTF-8?B?SsO8cmdlbg==?= <jurgen@Example.COM>\n" +
		"To: \"Bob\" <bob@example.org>, carol@example.org\n" +
		"Cc: dave@example.org\n" +
		"Subject: =?ISO-8859-1?Q?Gr=FC=DFe?= from =?utf-8?q?M=C3=BCnchen?=\n" +
		"Date: Mon, 02 Jan 2006 15:04:05 -0700\n" +
		"Message-ID: <abc.123@example.com>\n" +
		"X-Originating-IP: [198.51.100.23]\n" +
		"Content-Type: multipart/mixed; boundary=\"x\"\n\n" +
		"--x\nContent-Type: text/plain; charset=iso-8859-1\nContent-Transfer-Encoding: quoted-printable\n\nCaf=E9 cr=E8me, visit hxxp://bad[.]example[.]net/login\n" +
		"--x\nContent-Type: text/plain; charset=iso-8859-1\nContent-Disposition: attachment; filename*=iso-8859-1''r%E9sum%E9.txt\n\n\xe9t\xe9\n" +
		"--x\nContent-Type: application/octet-stream; name=\"report.pdf\"\nContent-Transfer-Encoding: base64\n\n" + b64lines(pngBytes) +
		"--x\nContent-Type: image/png\nContent-ID: <img001@example>\nContent-Disposition: inline\nContent-Transfer-Encoding: base64\n\n" + b64lines(pngBytes) +
		"--x--\n"
	e := NewAnalyzer(DefaultOptions()).AnalyzeBytes(crlfText(msg))
	if e.Subject != "Grüße from München" {
		t.Errorf("subject %q", e.Subject)
	}
	if e.From != "Jürgen <jurgen@Example.COM>" {
		t.Errorf("from %q", e.From)
	}
	if strings.Join(e.To, "|") != "Bob <bob@example.org>|carol@example.org" || strings.Join(e.Cc, "|") != "dave@example.org" {
		t.Errorf("to %q cc %q", e.To, e.Cc)
	}
	if e.Date != "2006-01-02T15:04:05-07:00" || e.MessageID != "abc.123@example.com" {
		t.Errorf("date %q msgid %q", e.Date, e.MessageID)
	}
	if got := e.Headers["subject"]; len(got) != 1 || got[0] != "Grüße from München" {
		t.Errorf("decoded header %q", got)
	}
	if e.RawHeader[4].Name != "Subject" || !strings.Contains(e.RawHeader[4].Value, "=?ISO-8859-1?Q?") {
		t.Errorf("raw header %+v", e.RawHeader[4])
	}
	if e.BodyText != "Café crème, visit hxxp://bad[.]example[.]net/login" {
		t.Errorf("body %q", e.BodyText)
	}
	if len(e.Attachments) != 3 {
		t.Fatalf("attachments %+v", e.Attachments)
	}
	res := e.Attachments[0]
	if res.Filename != "résumé.txt" {
		t.Errorf("RFC 2231 name %q", res.Filename)
	}
	// Hashed over the transfer-decoded bytes, not a charset conversion.
	if res.SHA256 != sha256hex([]byte("\xe9t\xe9")) {
		t.Errorf("text attachment hashed after charset conversion")
	}
	pdf := e.Attachments[1]
	if pdf.Filename != "report.pdf" || pdf.ContentType != "application/octet-stream" || pdf.DetectedType != "image/png" {
		t.Errorf("detected type: %+v", pdf)
	}
	if pdf.SHA256 != sha256hex(pngBytes) || pdf.Size != int64(len(pngBytes)) {
		t.Errorf("attachment hash/size wrong")
	}
	if img := e.Attachments[2]; img.ContentID != "img001@example" || img.Disposition != "inline" {
		t.Errorf("inline image %+v", img)
	}
	iocs := map[string]string{}
	for _, i := range e.IOCs {
		iocs[i.Type+" "+i.Value] = i.Source
	}
	for k, src := range map[string]string{
		"ipv4 203.0.113.7":                 "header:received",
		"ipv4 198.51.100.23":               "header:x-originating-ip",
		"url http://bad.example.net/login": "body",
		"domain bad.example.net":           "body",
	} {
		if iocs[k] != src {
			t.Errorf("IOC %s: source %q, want %q (all: %v)", k, iocs[k], src, iocs)
		}
	}
	for k := range iocs {
		if strings.Contains(k, "report.pdf") || strings.Contains(k, "résumé") {
			t.Errorf("file name reported as IOC: %s", k)
		}
	}
}

func TestAnalyzeOmitBodyAndIOCKeys(t *testing.T) {
	msg := crlfText("Subject: x\nX-Sender-IP: 192.0.2.99\nContent-Type: text/html\n\n<a href=\"https://phish.example.com/a\">click</a>\n")
	opts := DefaultOptions()
	opts.OmitBody = true
	e := NewAnalyzer(opts).AnalyzeBytes(msg)
	if e.BodyHTML != "" || e.BodyText != "" || !e.BodyOmitted {
		t.Errorf("body not omitted")
	}
	if !hasIOC(e, IOCURL, "https://phish.example.com/a", "body_html") || !hasIOC(e, IOCIPv4, "192.0.2.99", "header:x-sender-ip") {
		t.Errorf("IOCs lost with omit_body: %+v", e.IOCs)
	}
	opts = DefaultOptions()
	opts.IOCKeys = []string{"body_html"}
	e = NewAnalyzer(opts).AnalyzeBytes(msg)
	if hasIOC(e, IOCIPv4, "192.0.2.99", "header:x-sender-ip") || !hasIOC(e, IOCURL, "https://phish.example.com/a", "body_html") {
		t.Errorf("ioc_keys not honoured: %+v", e.IOCs)
	}
	opts.ExtractIOCs = false
	if e = NewAnalyzer(opts).AnalyzeBytes(msg); len(e.IOCs) != 0 {
		t.Errorf("extract_iocs off still extracted %v", e.IOCs)
	}
}

func hasIOC(e *Email, typ, value, source string) bool {
	for _, i := range e.IOCs {
		if i.Type == typ && i.Value == value && i.Source == source {
			return true
		}
	}
	return false
}

func TestAnalyzeCharsets(t *testing.T) {
	cases := []struct {
		name, msg, want string
	}{
		{"declared latin1", "Content-Type: text/plain; charset=iso-8859-1\n\nna\xefve\n", "naïve\r\n"},
		{"quoted label", "Content-Type: text/plain; charset=\"charset=windows-1252\"\n\n\x93quoted\x94\n", "“quoted”\r\n"},
		{"base64 utf-8", "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: base64\n\n" + b64lines([]byte("Привет, мир")), "Привет, мир"},
		{"html meta", "Content-Type: text/html\n\n<html><head><meta charset=\"iso-8859-1\"></head><body>Gr\xfc\xdfe</body></html>\n", "<html><head><meta charset=\"iso-8859-1\"></head><body>Grüße</body></html>\r\n"},
		{"koi8-r", "Content-Type: text/plain; charset=koi8-r\n\n\xf0\xd2\xc9\xd7\xc5\xd4\n", "Привет\r\n"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := NewAnalyzer(DefaultOptions()).AnalyzeBytes(crlfText(c.msg))
			got := e.BodyText
			if strings.Contains(c.msg, "text/html") {
				got = e.BodyHTML
			}
			if got != c.want {
				t.Errorf("got %q want %q (errors %v)", got, c.want, e.Errors)
			}
		})
	}
}

func TestAnalyzeBrokenPartsNeverLoseTheEmail(t *testing.T) {
	msg := crlfText("Subject: broken\nContent-Type: multipart/mixed; boundary=\"q\"\n\n--q\nContent-Type: text/plain; charset=x-no-such-charset\n\nhello\n" +
		"--q\nContent-Type: application/zip; name=a.zip\nContent-Transfer-Encoding: base64\n\nUEsDBAo!!!AAAAAA%%%\n--q\nContent-Type: text/plain\nContent-Transfer-Encoding: x-unknown\n\nodd\n")
	e := NewAnalyzer(DefaultOptions()).AnalyzeBytes(msg)
	if e.Subject != "broken" || len(e.Attachments) != 1 || e.Attachments[0].Filename != "a.zip" {
		t.Fatalf("email lost or incomplete: %+v", e)
	}
	joined := strings.Join(e.Errors, "\n")
	for _, want := range []string{"base64", "x-no-such-charset", "was not closed"} {
		if !strings.Contains(joined, want) {
			t.Errorf("errors do not mention %q: %v", want, e.Errors)
		}
	}
}

func TestAnalyzeNotMIME(t *testing.T) {
	for _, in := range [][]byte{{}, []byte("\x00\x01\x02\x03"), []byte("no header at all\r\njust text http://x.example.com\r\n"), []byte("Subject: only header")} {
		e := NewAnalyzer(DefaultOptions()).AnalyzeBytes(in)
		if e.SHA256 != sha256hex(in) || e.Errors == nil || e.Attachments == nil || e.IOCs == nil {
			t.Errorf("%q: record incomplete: %+v", in, e)
		}
	}
}

func TestSessionEmailsRecords(t *testing.T) {
	s := parseString(t, lines("10.1.1.1:4000/tcp", "1700000000", "< > 220 mx", "> EHLO c.example", "< EHLO 250 ok",
		"> MAIL FROM:<a@x.example>", "< MAIL 250 ok", "> RCPT TO:<b@y.example>", "< RCPT 250 ok",
		"> DATA ", "< DATA 354 go", "Subject: s1", "", "hi", "> . .", "< . 554 5.7.1 virus",
		"> MAIL FROM:<a@x.example>", "< MAIL 250 ok", "> RCPT TO:<c@y.example>", "< RCPT 250 ok", "> DATA ", "< DATA 354 go", "Subject: s2", "", "cut"))
	emails := NewAnalyzer(DefaultOptions()).SessionEmails(s)
	if len(emails) != 2 {
		t.Fatalf("%d emails", len(emails))
	}
	e := emails[0]
	if e.ID != "CTEST1.0" || e.Index != 0 || e.Session.SourceIP != "10.1.1.1" || e.Session.Helo != "c.example" || !e.Session.Time.Equal(time.Unix(1700000000, 0)) {
		t.Errorf("record %+v", e)
	}
	if e.ServerReply == nil || e.ServerReply.Code != 554 || e.Subject != "s1" || e.Envelope.RcptTo[0] != "b@y.example" {
		t.Errorf("record %+v", e)
	}
	if e2 := emails[1]; e2.ID != "CTEST1.1" || !e2.Partial || e2.ServerReply != nil || e2.Subject != "s2" {
		t.Errorf("second record %+v", e2)
	}
}

func zipOf(t *testing.T, files map[string][]byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		f, err := zw.Create(n)
		if err != nil {
			t.Fatal(err)
		}
		f.Write(files[n])
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestAnalyzeZipMembers(t *testing.T) {
	inner := zipOf(t, map[string][]byte{"invoice.js": []byte("var x = 'http://dropper.example.com/a';")})
	outer := zipOf(t, map[string][]byte{"docs.zip": inner, "readme.txt": []byte("hello")})
	msg := "Subject: zip\nContent-Type: multipart/mixed; boundary=\"z\"\n\n--z\nContent-Type: text/plain\n\nsee zip\n--z\n" +
		"Content-Type: application/zip; name=\"a.zip\"\nContent-Transfer-Encoding: base64\n\n" + b64lines(outer) + "--z--\n"
	e := NewAnalyzer(DefaultOptions()).AnalyzeBytes(crlfText(msg))
	got := map[string]Attachment{}
	for _, a := range e.Attachments {
		got[a.Part] = a
	}
	js, ok := got["2!docs.zip!invoice.js"]
	if !ok {
		t.Fatalf("nested member missing: %+v", e.Attachments)
	}
	if js.Parent != "2!docs.zip" || js.Depth != 2 || js.SHA256 != sha256hex([]byte("var x = 'http://dropper.example.com/a';")) {
		t.Errorf("nested member %+v", js)
	}
	if rd := got["2!readme.txt"]; rd.Parent != "2" || rd.Depth != 1 || rd.Size != 5 {
		t.Errorf("member %+v", rd)
	}
	opts := DefaultOptions()
	opts.Unzip = false
	if e := NewAnalyzer(opts).AnalyzeBytes(crlfText(msg)); len(e.Attachments) != 1 {
		t.Errorf("unzip off still listed members: %d attachments", len(e.Attachments))
	}
}

func TestAnalyzeOddEncodings(t *testing.T) {
	// Padding in the middle: groups encoded separately and pasted together.
	msg := "Content-Type: multipart/mixed; boundary=\"q\"\n\n--q\nContent-Type: application/octet-stream; name=\"a.bin\"\nContent-Transfer-Encoding: base64\n\nNA=\n=Mg\n==\n--q--\n"
	e := NewAnalyzer(DefaultOptions()).AnalyzeBytes(crlfText(msg))
	if len(e.Attachments) != 1 || e.Attachments[0].SHA256 != sha256hex([]byte("42")) {
		t.Errorf("mid-padding base64: %+v", e.Attachments)
	}
	// message/rfc822 declaring base64 over a plain message: opened anyway.
	msg = "Content-Type: multipart/mixed; boundary=\"q\"\n\n--q\nContent-Type: message/rfc822\nContent-Transfer-Encoding: base64\n\n" +
		"Subject: inner\nContent-Type: multipart/mixed; boundary=\"r\"\n\n--r\nContent-Type: application/x-msdownload; name=\"malware.exe\"\n\nMZ\n--r--\n--q--\n"
	e = NewAnalyzer(DefaultOptions()).AnalyzeBytes(crlfText(msg))
	found := false
	for _, a := range e.Attachments {
		found = found || a.Filename == "malware.exe" && a.Depth == 1
	}
	if !found {
		t.Errorf("attachment inside a bogus-base64 message/rfc822 not found: %+v %v", e.Attachments, e.Errors)
	}
}

// detectCharset must give the same answer every time: chardet's own
// DetectBest picks among equally confident guesses by goroutine timing.
// The bytes are a part of the stalwart corpus (thirdparty/002.eml) that
// decoded two ways before.
func TestDetectCharsetDeterministic(t *testing.T) {
	for _, in := range [][]byte{{129, 170, 219, 106, 7}, {0xe4, 0xf6, 0xfc, 'a'}, {0xa4, 0xa2, 0xa4, 0xa4}} {
		_, first := detectCharset(in, false)
		for i := 0; i < 200; i++ {
			if _, name := detectCharset(in, false); name != first {
				t.Fatalf("detectCharset(%v): %q, then %q", in, first, name)
			}
		}
	}
}
