package core

import (
	"bytes"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"
	"time"
)

func parseString(t *testing.T, s string) *Session {
	t.Helper()
	sess, err := ParseSession(strings.NewReader(s), "CTEST1", time.Unix(1600000000, 0))
	if err != nil {
		t.Fatalf("ParseSession: %v", err)
	}
	return sess
}

func lines(l ...string) string { return strings.Join(l, "\n") + "\n" }

func TestSessionPipelinedFixture(t *testing.T) {
	s, err := ParseSessionFile(filepath.Join("..", "testdata", "sessions", "pipelined.session"))
	if err != nil {
		t.Fatal(err)
	}
	if s.Info.UID != "pipelined" || s.Info.SourceIP != "192.0.2.10" || s.Info.SourcePort != 49152 {
		t.Errorf("info = %+v", s.Info)
	}
	if !s.Info.Time.Equal(time.Unix(1700000000, 0)) || s.Info.TimeSource != "header" {
		t.Errorf("time = %v (%s)", s.Info.Time, s.Info.TimeSource)
	}
	if s.Info.Helo != "client.example.org" || s.Info.Banner != "mx.example.com ESMTP Postfix" {
		t.Errorf("helo %q banner %q", s.Info.Helo, s.Info.Banner)
	}
	if len(s.Messages) != 2 {
		t.Fatalf("got %d messages, want 2", len(s.Messages))
	}
	m := s.Messages[0]
	want := "From: Alice <alice@example.org>\r\nTo: bob@example.com\r\nSubject: pipelined\r\n\r\nHello Bob,\r\n" +
		"> quoted reply line\r\n< not a reply\r\n.leading dot kept after unstuffing\r\n"
	if string(m.Data) != want {
		t.Errorf("data = %q\nwant   %q", m.Data, want)
	}
	env := m.Envelope
	if env.MailFrom != "Alice@example.org" || env.MailFromRaw != "<Alice@Example.ORG>" {
		t.Errorf("mail from %q raw %q", env.MailFrom, env.MailFromRaw)
	}
	if !reflect.DeepEqual(env.MailParams, []string{"SIZE=1234", "BODY=8BITMIME"}) {
		t.Errorf("params %v", env.MailParams)
	}
	if !reflect.DeepEqual(env.RcptTo, []string{"bob@example.com", "carol@example.com"}) {
		t.Errorf("rcpt %v", env.RcptTo)
	}
	if !reflect.DeepEqual(env.RcptRejected, []string{"nobody@example.com"}) {
		t.Errorf("rejected %v", env.RcptRejected)
	}
	if m.Reply == nil || m.Reply.Code != 250 || m.Partial {
		t.Errorf("reply %+v partial %v", m.Reply, m.Partial)
	}
	m2 := s.Messages[1]
	if m2.Envelope.MailFrom != "" || m2.Envelope.MailFromRaw != "<>" {
		t.Errorf("null sender: %+v", m2.Envelope)
	}
	if !reflect.DeepEqual(m2.Envelope.RcptTo, []string{"postmaster@example.com"}) {
		t.Errorf("recipients leaked into the second transaction: %v", m2.Envelope.RcptTo)
	}
	if m2.Reply == nil || m2.Reply.Code != 554 {
		t.Errorf("second reply %+v", m2.Reply)
	}
	if string(m2.Data) != "Subject: bounce\r\n\r\nsecond message\r\n" {
		t.Errorf("second data %q", m2.Data)
	}
}

func TestSessionHeaderForms(t *testing.T) {
	body := lines("> HELO x", "< HELO 250 ok")
	cases := []struct {
		name, in string
		ip       string
		port     int
		ts       time.Time
		src      string
	}{
		{"real", "10.1.2.3:1025/tcp\n1700000001\n" + body, "10.1.2.3", 1025, time.Unix(1700000001, 0), "header"},
		{"real-ipv6", "2001:db8::1:25000/tcp\n1700000002\n" + body, "2001:db8::1", 25000, time.Unix(1700000002, 0), "header"},
		{"bracket-ipv6", "[2001:db8::2]:25/tcp\n1700000003\n" + body, "2001:db8::2", 25, time.Unix(1700000003, 0), "header"},
		{"documented", "10.9.8.7\n2525\n1700000004\n\n" + body, "10.9.8.7", 2525, time.Unix(1700000004, 0), "header"},
		{"documented-v6", "::1\n587\n1700000005.5\n\n" + body, "::1", 587, time.Unix(1700000005, 500000000), "header"},
		{"no-header", body, "", 0, time.Unix(1600000000, 0), "mtime"},
		{"crlf-file", strings.ReplaceAll("10.1.2.3:1025/tcp\n1700000001\n"+body, "\n", "\r\n"), "10.1.2.3", 1025, time.Unix(1700000001, 0), "header"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := parseString(t, c.in)
			if s.Info.SourceIP != c.ip || s.Info.SourcePort != c.port || !s.Info.Time.Equal(c.ts) || s.Info.TimeSource != c.src {
				t.Errorf("got %s %d %v %s", s.Info.SourceIP, s.Info.SourcePort, s.Info.Time, s.Info.TimeSource)
			}
			if s.Info.Helo != "x" {
				t.Errorf("helo %q", s.Info.Helo)
			}
		})
	}
}

func TestSessionExtensions(t *testing.T) {
	s := parseString(t, lines("10.0.0.1:5000/tcp", "1700000000", "@resp 192.0.2.25:25/tcp", "@uid Cabc", "@ts 1700000000.25", "> QUIT ", "< QUIT 221 bye"))
	if s.Info.DestIP != "192.0.2.25" || s.Info.DestPort != 25 || s.Info.UID != "Cabc" {
		t.Errorf("info %+v", s.Info)
	}
	if !s.Info.Time.Equal(time.Unix(1700000000, 250000000)) {
		t.Errorf("time %v", s.Info.Time)
	}
}

// TestSessionPcapExtension: @pcap lines (capture --pcap-dir) name the
// evidence pcaps in the record, in order, and raise no anomaly.
func TestSessionPcapExtension(t *testing.T) {
	s := parseString(t, lines("10.0.0.1:5000/tcp", "1700000000", "@resp 192.0.2.25:25/tcp",
		"@pcap /var/lib/smtpscope/pcap/smtp-20261207T160405Z.pcap", "@pcap /var/lib/smtpscope/pcap/smtp 2.pcap",
		"> QUIT ", "< QUIT 221 bye"))
	want := []string{"/var/lib/smtpscope/pcap/smtp-20261207T160405Z.pcap", "/var/lib/smtpscope/pcap/smtp 2.pcap"}
	if !reflect.DeepEqual(s.Info.Pcap, want) {
		t.Errorf("pcap %q, want %q", s.Info.Pcap, want)
	}
	for _, a := range s.Info.Anomalies {
		if strings.Contains(a, "pcap") {
			t.Errorf("anomaly %q", a)
		}
	}
}

func TestSessionRSETAndNewMail(t *testing.T) {
	s := parseString(t, lines(
		"> MAIL FROM:<a@x.org>", "< MAIL 250 ok",
		"> RCPT TO:<r1@x.org>", "< RCPT 250 ok",
		"> RSET ", "< RSET 250 ok",
		"> MAIL FROM:<b@x.org>", "< MAIL 250 ok",
		"> RCPT TO:<r2@x.org>", "< RCPT 250 ok",
		"> DATA ", "< DATA 354 go", "Subject: one", "", "x", "> . .", "< . 250 ok",
		// A new MAIL after a finished message: no RCPT leaks.
		"> MAIL FROM:<c@x.org>", "< MAIL 250 ok",
		"> RCPT TO:<r3@x.org>", "< RCPT 250 ok",
		"> DATA ", "< DATA 354 go", "Subject: two", "", "y", "> . .", "< . 250 ok",
	))
	if len(s.Messages) != 2 {
		t.Fatalf("messages %d", len(s.Messages))
	}
	if got := s.Messages[0].Envelope; got.MailFrom != "b@x.org" || !reflect.DeepEqual(got.RcptTo, []string{"r2@x.org"}) {
		t.Errorf("first envelope %+v", got)
	}
	if got := s.Messages[1].Envelope; got.MailFrom != "c@x.org" || !reflect.DeepEqual(got.RcptTo, []string{"r3@x.org"}) {
		t.Errorf("second envelope %+v", got)
	}
}

func TestSessionFiveRecipientsOneMessage(t *testing.T) {
	in := []string{"> MAIL FROM:<a@x.org>", "< MAIL 250 ok"}
	for i := 0; i < 5; i++ {
		in = append(in, "> RCPT TO:<r"+string(rune('0'+i))+"@x.org>", "< RCPT 250 ok")
	}
	in = append(in, "> DATA ", "< DATA 354 go", "Subject: five", "", "hi", "> . .", "< . 250 ok")
	s := parseString(t, lines(in...))
	if len(s.Messages) != 1 || len(s.Messages[0].Envelope.RcptTo) != 5 {
		t.Fatalf("messages %d", len(s.Messages))
	}
}

func TestSessionCaseAndSpaces(t *testing.T) {
	cases := map[string][3]string{
		"mail from:<X@Y.ORG>":   {"<X@Y.ORG>", "X@y.org", ""},
		"FROM: <a@b.c> SIZE=10": {"<a@b.c>", "a@b.c", "SIZE=10"},
		"FROM:<>":               {"<>", "", ""},
		"FROM:<@relay.example,@b.example:u@D.ORG>":    {"<@relay.example,@b.example:u@D.ORG>", "u@d.org", ""},
		`FROM:<"odd>name"@Example.com> BODY=8BITMIME`: {`<"odd>name"@Example.com>`, `"odd>name"@example.com`, "BODY=8BITMIME"},
		"FROM:bare@Host.Example":                      {"bare@Host.Example", "bare@host.example", ""},
	}
	for arg, w := range cases {
		raw, addr, params := parsePath(strings.TrimPrefix(arg, "mail "), "FROM")
		if raw != w[0] || addr != w[1] || strings.Join(params, " ") != w[2] {
			t.Errorf("parsePath(%q) = %q %q %v; want %q %q %q", arg, raw, addr, params, w[0], w[1], w[2])
		}
	}
	// Lower-case commands in the file.
	s := parseString(t, lines("> mail FROM:<a@B.org>", "< MAIL 250 ok", "> rcpt to: <c@D.org>", "< RCPT 250 ok", "> data ", "< DATA 354 go", "x", "> . .", "< . 250 ok"))
	if len(s.Messages) != 1 || s.Messages[0].Envelope.MailFrom != "a@b.org" || s.Messages[0].Envelope.RcptTo[0] != "c@d.org" {
		t.Fatalf("got %+v", s.Messages)
	}
}

func TestSessionOneSided(t *testing.T) {
	s := parseString(t, lines("> EHLO c", "> MAIL FROM:<a@x.org>", "> RCPT TO:<b@x.org>", "> DATA ", "Subject: no server", "", "body", "> . .",
		"> MAIL FROM:<a@x.org>", "> RCPT TO:<c@x.org>", "> DATA ", "Subject: second", "", "b2", "> . .", "> QUIT "))
	if len(s.Messages) != 2 {
		t.Fatalf("messages %d", len(s.Messages))
	}
	m := s.Messages[0]
	if !hasFlag(m.Flags, FlagNo354) || m.Reply != nil || m.Partial {
		t.Errorf("flags %v reply %v partial %v", m.Flags, m.Reply, m.Partial)
	}
	if !reflect.DeepEqual(m.Envelope.RcptTo, []string{"b@x.org"}) || !reflect.DeepEqual(m.Envelope.RcptUnconfirmed, []string{"b@x.org"}) {
		t.Errorf("envelope %+v", m.Envelope)
	}
	if string(m.Data) != "Subject: no server\r\n\r\nbody\r\n" {
		t.Errorf("data %q", m.Data)
	}
	if got := s.Messages[1].Envelope.RcptTo; !reflect.DeepEqual(got, []string{"c@x.org"}) {
		t.Errorf("second rcpt %v", got)
	}
}

func TestSessionPartialAndBytes(t *testing.T) {
	in := "10.0.0.1:1/tcp\n1700000000\n> MAIL FROM:<a@x.org>\n< MAIL 250 ok\n> RCPT TO:<b@x.org>\n< RCPT 250 ok\n> DATA \n< DATA 354 go\n" +
		"Subject: caf\xe9 \xff\xfe\n\nbin\x00ary \x80\x81\n"
	s := parseString(t, in)
	if len(s.Messages) != 1 {
		t.Fatalf("messages %d", len(s.Messages))
	}
	m := s.Messages[0]
	if !m.Partial || !hasFlag(m.Flags, FlagTruncated) {
		t.Errorf("want partial, got %v %v", m.Partial, m.Flags)
	}
	if want := "Subject: caf\xe9 \xff\xfe\r\n\r\nbin\x00ary \x80\x81\r\n"; string(m.Data) != want {
		t.Errorf("bytes changed: %q", m.Data)
	}
}

func TestSessionMultiLineReplies(t *testing.T) {
	// ACE form: code repeated, no continuation marker.
	s := parseString(t, lines("< > 220 hi", "> EHLO c", "< EHLO 250 mx", "< EHLO 250 PIPELINING", "< EHLO 250 CHUNKING",
		"> MAIL FROM:<a@x.org>", "> RCPT TO:<b@x.org>", "> RCPT TO:<c@x.org>", "> DATA ",
		"< MAIL 250 ok", "< RCPT 250 ok", "< RCPT 550 no", "< DATA 354 go", "x", "> . .", "< . 250 ok"))
	m := s.Messages[0]
	if !reflect.DeepEqual(m.Envelope.RcptTo, []string{"b@x.org"}) || !reflect.DeepEqual(m.Envelope.RcptRejected, []string{"c@x.org"}) {
		t.Errorf("envelope %+v", m.Envelope)
	}
	// Our form: continuation lines "code-text" keep a multi-line 550 to one RCPT.
	s = parseString(t, lines("> MAIL FROM:<a@x.org>", "> RCPT TO:<b@x.org>", "> RCPT TO:<c@x.org>", "> DATA ",
		"< MAIL 250 ok", "< RCPT 550-5.7.1 policy", "< RCPT 550 5.7.1 see http://x", "< RCPT 250 ok", "< DATA 354 go", "x", "> . .", "< . 250-queued", "< . 250 as ABC"))
	m = s.Messages[0]
	if !reflect.DeepEqual(m.Envelope.RcptTo, []string{"c@x.org"}) || !reflect.DeepEqual(m.Envelope.RcptRejected, []string{"b@x.org"}) {
		t.Errorf("envelope %+v", m.Envelope)
	}
	if m.Reply == nil || m.Reply.Text != "queued\nas ABC" {
		t.Errorf("reply %+v", m.Reply)
	}
}

func TestSessionAuthStartTLS(t *testing.T) {
	s := parseString(t, lines("> EHLO c", "< EHLO 250 ok", "> AUTH PLAIN AGFsaWNlAHNlY3JldA==", "< AUTH 235 ok", "> STARTTLS ", "< STARTTLS 220 go"))
	if !s.Info.Auth || s.Info.AuthMech != "PLAIN" || !s.Info.StartTLS {
		t.Errorf("info %+v", s.Info)
	}
	for _, e := range s.Events {
		if strings.Contains(e.Arg, "AGFsaWNl") {
			t.Errorf("credentials in transcript: %+v", e)
		}
	}
	s = parseString(t, lines("> AUTH LOGIN", "< AUTH 334 VXNlcm5hbWU6", "> YWxpY2U=", "< AUTH 334 UGFzc3dvcmQ6", "> c2VjcmV0", "< AUTH 235 ok", "> MAIL FROM:<a@x.org>", "< MAIL 250 ok"))
	for _, e := range s.Events {
		if strings.Contains(e.Arg, "c2VjcmV0") || strings.Contains(e.Cmd, "YWxpY2U") || strings.Contains(e.Cmd, "c2VjcmV0") {
			t.Errorf("credentials in transcript: %+v", e)
		}
	}
}

func TestSessionBDATRaw(t *testing.T) {
	chunk1 := "Subject: chunked\r\n\r\nbare\nLF"
	chunk2 := " and no final CRLF"
	n1, n2 := strconv.Itoa(len(chunk1)), strconv.Itoa(len(chunk2))
	in := lines("> EHLO c", "< EHLO 250 CHUNKING", "> MAIL FROM:<a@x.org>", "> RCPT TO:<b@x.org>", "> BDAT "+n1) +
		"@raw " + n1 + "\n" + chunk1 + "\n" + lines("> BDAT "+n2+" LAST") + "@raw " + n2 + "\n" + chunk2 + "\n" +
		lines("< MAIL 250 ok", "< RCPT 250 ok", "< BDAT 250 octets", "< BDAT 250 queued", "> QUIT ")
	s := parseString(t, in)
	if len(s.Messages) != 1 {
		t.Fatalf("messages %d", len(s.Messages))
	}
	m := s.Messages[0]
	if string(m.Data) != chunk1+chunk2 {
		t.Errorf("data %q", m.Data)
	}
	if !hasFlag(m.Flags, FlagBDAT) || m.Partial || m.Reply == nil || m.Reply.Text != "queued" {
		t.Errorf("flags %v partial %v reply %+v", m.Flags, m.Partial, m.Reply)
	}
	if !reflect.DeepEqual(m.Envelope.RcptTo, []string{"b@x.org"}) {
		t.Errorf("rcpt %v", m.Envelope.RcptTo)
	}
}

func TestSessionRawInData(t *testing.T) {
	body := "line one\r\nbare\nLF\r\n> . .\r\n"
	in := lines("> DATA ", "< DATA 354 go") + "@raw " + strconv.Itoa(len(body)) + "\n" + body + "\n" + lines("> . .", "< . 250 ok")
	s := parseString(t, in)
	if len(s.Messages) != 1 || string(s.Messages[0].Data) != body {
		t.Fatalf("got %+v", s.Messages)
	}
}

func TestSessionBadInput(t *testing.T) {
	cases := map[string]string{
		"empty":            "",
		"binary":           "\x00\x01\x02PK\x03\x04garbage\n\xff\xfe\n",
		"truncated header": "10.0.0.1:25/tcp",
		"bad epoch":        "10.0.0.1:25/tcp\nnot-a-time\n",
		"text":             "hello world\nthis is not\na session file\n",
	}
	for name, in := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := ParseSession(strings.NewReader(in), "bad-"+strings.ReplaceAll(name, " ", "-"), time.Now())
			var se *SessionError
			if !errors.As(err, &se) {
				t.Fatalf("want SessionError, got %v", err)
			}
			if !strings.Contains(err.Error(), "bad-") {
				t.Errorf("error does not name the file: %v", err)
			}
		})
	}
}

func TestSessionLongLine(t *testing.T) {
	long := bytes.Repeat([]byte("A"), 300<<10)
	in := lines("> DATA ", "< DATA 354 go") + string(long) + "\n" + lines("> . .", "< . 250 ok")
	s := parseString(t, in)
	if len(s.Messages) != 1 || len(s.Messages[0].Data) != len(long)+2 {
		t.Fatalf("long line lost")
	}
}

func TestSessionSHA1MatchesGroundTruthRule(t *testing.T) {
	// The message bytes are the data lines joined with CRLF, dot-unstuffed,
	// final "." line dropped: sha1 over exactly that.
	s := parseString(t, lines("> DATA ", "< DATA 354 go", "a", ".b", "", "> . .", "< . 250 ok"))
	sum := sha1.Sum([]byte("a\r\n.b\r\n\r\n"))
	if got := sha1.Sum(s.Messages[0].Data); got != sum {
		t.Errorf("sha1 %s want %s", hex.EncodeToString(got[:]), hex.EncodeToString(sum[:]))
	}
}

func TestParseSessionFileMtime(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "CnoHeader")
	if err := os.WriteFile(p, []byte(lines("> HELO x", "< HELO 250 ok")), 0o644); err != nil {
		t.Fatal(err)
	}
	mt := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	if err := os.Chtimes(p, mt, mt); err != nil {
		t.Fatal(err)
	}
	s, err := ParseSessionFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if !s.Info.Time.Equal(mt) || s.Info.TimeSource != "mtime" || s.Info.UID != "CnoHeader" || s.Info.File != p {
		t.Errorf("info %+v", s.Info)
	}
}

func hasFlag(flags []string, f string) bool {
	for _, x := range flags {
		if x == f {
			return true
		}
	}
	return false
}

func TestSessionGap(t *testing.T) {
	// A gap inside DATA: what is there is kept, nothing invented, flagged.
	s := parseString(t, lines("> DATA ", "< DATA 354 go", "Subject: g", "", "before", "@gap 1000", "after", "> . .", "< . 250 ok"))
	m := s.Messages[0]
	if string(m.Data) != "Subject: g\r\n\r\nbefore\r\nafter\r\n" || !m.Partial || !hasFlag(m.Flags, FlagGap) {
		t.Errorf("data %q partial %v flags %v", m.Data, m.Partial, m.Flags)
	}
	// A gap inside a BDAT chunk.
	s = parseString(t, lines("> BDAT 10 LAST", "@gap 6")+"@raw 4\nabcd\n"+lines("< BDAT 250 ok"))
	m = s.Messages[0]
	if string(m.Data) != "abcd" || !m.Partial || !hasFlag(m.Flags, FlagGap) {
		t.Errorf("bdat data %q partial %v flags %v", m.Data, m.Partial, m.Flags)
	}
	// "@gap x" that is not a gap line is message text.
	s = parseString(t, lines("> DATA ", "< DATA 354 go", "@gap of the year", "> . .", "< . 250 ok"))
	if string(s.Messages[0].Data) != "@gap of the year\r\n" || s.Messages[0].Partial {
		t.Errorf("text line taken as gap: %q", s.Messages[0].Data)
	}
}

func TestSessionOneSidedRaw(t *testing.T) {
	body := "Subject: one-sided\r\n\r\nbare LF here\nend\r\n"
	s := parseString(t, lines("> EHLO c", "> MAIL FROM:<a@x.org>", "> RCPT TO:<b@x.org>", "> DATA ")+
		"@raw "+strconv.Itoa(len(body))+"\n"+body+"\n"+lines("> . .", "> QUIT "))
	if len(s.Messages) != 1 {
		t.Fatalf("%d messages", len(s.Messages))
	}
	m := s.Messages[0]
	if string(m.Data) != body || !hasFlag(m.Flags, FlagNo354) || hasFlag(m.Flags, FlagBDAT) || m.Partial {
		t.Errorf("data %q flags %v partial %v", m.Data, m.Flags, m.Partial)
	}
}

func TestSessionNestedMailRefused(t *testing.T) {
	s := parseString(t, lines("> MAIL FROM:<alice@example.com>", "< MAIL 250 ok", "> RCPT TO:<bob@example.com>", "< RCPT 250 ok",
		"> MAIL FROM:<eve@example.com>", "> RCPT TO:<carol@example.com>", "> DATA ",
		"< MAIL 503 5.5.1 Error: nested MAIL command", "< RCPT 250 ok", "< DATA 354 go", "x", "> . .", "< . 250 ok"))
	if len(s.Messages) != 1 {
		t.Fatalf("%d messages", len(s.Messages))
	}
	env := s.Messages[0].Envelope
	if env.MailFrom != "alice@example.com" || !reflect.DeepEqual(env.RcptTo, []string{"bob@example.com", "carol@example.com"}) {
		t.Errorf("envelope %+v", env)
	}
	// A refused MAIL with nothing open stays refused (no resurrection).
	s = parseString(t, lines("> MAIL FROM:<x@example.com>", "< MAIL 553 no", "> RCPT TO:<y@example.com>", "< RCPT 503 no"))
	if len(s.Messages) != 0 {
		t.Errorf("messages from a refused transaction")
	}
}

func TestSessionMalformedBDAT(t *testing.T) {
	s := parseString(t, lines("> MAIL FROM:<a@x.org>", "< MAIL 250 ok", "> RCPT TO:<b@x.org>", "< RCPT 250 ok",
		"> BDAT -5 LAST", "< BDAT 501 bad", "> BDAT ten", "< BDAT 501 bad", "> QUIT ", "< QUIT 221 bye"))
	if len(s.Messages) != 0 {
		t.Errorf("malformed BDAT opened %d messages", len(s.Messages))
	}
}

// TestSessionLinesAcrossReads: lines longer than the reader's buffer,
// lines it holds whole (handed on without a copy) and @raw blocks (read
// from the same buffer) around each other keep their bytes.
func TestSessionLinesAcrossReads(t *testing.T) {
	long := strings.Repeat("L", 70<<10) + "end"
	in := lines("> BDAT 5", "@raw 5") + "abcde\n" + lines("< BDAT 250 ok", "> BDAT 4 LAST", "@raw 4") + "fghi\n" +
		lines("< BDAT 250 ok", "> DATA ", "< DATA 354 go", "short", long, "@raw x", "after", long+"2", "> . .", "< . 250 ok")
	want := [][]byte{[]byte("abcdefghi"), []byte("short\r\n" + long + "\r\n@raw x\r\nafter\r\n" + long + "2\r\n")}
	for name, r := range map[string]io.Reader{"whole": strings.NewReader(in), "byte by byte": iotest.OneByteReader(strings.NewReader(in))} {
		s, err := ParseSession(r, "t", time.Unix(0, 0))
		if err != nil {
			t.Fatal(err)
		}
		if len(s.Messages) != len(want) {
			t.Fatalf("%s: %d messages", name, len(s.Messages))
		}
		for i, m := range s.Messages {
			if !bytes.Equal(m.Data, want[i]) {
				t.Errorf("%s: message %d is %d bytes %.40q..., want %d bytes %.40q...", name, i, len(m.Data), m.Data, len(want[i]), want[i])
			}
		}
	}
}
