package core

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// TestSessionAttempted: every MAIL FROM and RCPT TO the client sent is
// listed, refused or not, normalized, once; <> is NullSender; a MAIL with
// no path at all is not a null sender.
func TestSessionAttempted(t *testing.T) {
	const src = "203.0.113.200:41000/tcp\n1763818000\n" +
		"< > 220 mx ESMTP\n" +
		"> HELO spambot\n< HELO 250 mx\n" +
		"> MAIL FROM:<Winner@Lottery.Example.NET>\n< MAIL 550 5.7.1 go away\n" +
		"> MAIL FROM:<>\n< MAIL 250 ok\n" +
		"> RCPT TO:<nobody@Corp.Example.com>\n< RCPT 550 5.1.1 no such user\n" +
		"> RCPT TO:<nobody@corp.example.com>\n< RCPT 550 5.1.1 no such user\n" +
		"> RCPT TO: <postmaster@corp.example.com> NOTIFY=NEVER\n< RCPT 250 ok\n" +
		"> RSET\n< RSET 250 ok\n" +
		"> MAIL FROM:\n< MAIL 501 syntax\n" +
		"> QUIT\n< QUIT 221 bye\n"
	s, err := ParseSession(strings.NewReader(src), "t.session", time.Unix(0, 0))
	if err != nil {
		t.Fatal(err)
	}
	mf, rc := s.Attempted()
	if want := []string{"Winner@lottery.example.net", NullSender}; !slices.Equal(mf, want) {
		t.Errorf("mail from = %q, want %q", mf, want)
	}
	if want := []string{"nobody@corp.example.com", "postmaster@corp.example.com"}; !slices.Equal(rc, want) {
		t.Errorf("rcpt = %q, want %q", rc, want)
	}
}

// TestEnvelopeIsNullSender tells MAIL FROM:<> from no MAIL FROM at all.
func TestEnvelopeIsNullSender(t *testing.T) {
	for _, c := range []struct {
		env  Envelope
		want bool
	}{
		{Envelope{MailFromRaw: "<>"}, true},
		{Envelope{MailFromRaw: "< >"}, true},
		{Envelope{}, false},
		{Envelope{MailFrom: "a@b.example", MailFromRaw: "<a@b.example>"}, false},
	} {
		if got := c.env.IsNullSender(); got != c.want {
			t.Errorf("%+v: IsNullSender = %v, want %v", c.env, got, c.want)
		}
	}
}

// TestSessionTriedWithoutEmail: the addresses a session tried that no
// message of it carries — a refused MAIL before the accepted one, a
// refused RCPT of an earlier transaction, a pipelined transaction the
// server refused whole — and not a recipient refused in the message's own
// transaction (that one is the message's RcptRejected).
func TestSessionTriedWithoutEmail(t *testing.T) {
	const head = "198.51.100.7:40000/tcp\n1763818000\n< > 220 mx ESMTP\n> EHLO bot\n< EHLO 250 mx\n"
	const data = "> DATA\n< DATA 354 go\nSubject: hi\n\nbody\n> . .\n< . 250 queued\n"
	for _, c := range []struct {
		name     string
		src      string
		msgs     int
		mf, rcpt []string
	}{
		{"mail refused then accepted",
			"> MAIL FROM:<Spam@Bulk.Example>\n< MAIL 554 5.7.1 blocked\n> RSET\n< RSET 250 ok\n" +
				"> MAIL FROM:<alice@example.org>\n< MAIL 250 ok\n> RCPT TO:<bob@corp.example.com>\n< RCPT 250 ok\n" + data,
			1, []string{"Spam@bulk.example"}, nil},
		{"rcpt refused in an earlier transaction",
			"> MAIL FROM:<alice@example.org>\n< MAIL 250 ok\n> RCPT TO:<ceo@corp.example.com>\n< RCPT 550 5.1.1 no\n> RSET\n< RSET 250 ok\n" +
				"> MAIL FROM:<alice@example.org>\n< MAIL 250 ok\n> RCPT TO:<bob@corp.example.com>\n< RCPT 250 ok\n" + data,
			1, nil, []string{"ceo@corp.example.com"}},
		{"rcpt refused in the message's own transaction",
			"> MAIL FROM:<alice@example.org>\n< MAIL 250 ok\n> RCPT TO:<ceo@corp.example.com>\n< RCPT 550 5.1.1 no\n" +
				"> RCPT TO:<bob@corp.example.com>\n< RCPT 250 ok\n" + data,
			1, nil, nil},
		{"pipelined: a refused transaction, then one with a message",
			"> MAIL FROM:<>\n> RCPT TO:<gone@corp.example.com>\n> DATA\n" +
				"< MAIL 250 ok\n< RCPT 550 5.1.1 no such user\n< DATA 554 5.5.1 no valid recipients\n> RSET\n< RSET 250 ok\n" +
				"> MAIL FROM:<alice@example.org>\n> RCPT TO:<bob@corp.example.com>\n" +
				"< MAIL 250 ok\n< RCPT 250 ok\n" + data,
			1, []string{NullSender}, []string{"gone@corp.example.com"}},
		{"no message: all of Attempted",
			"> MAIL FROM:<x@y.example>\n< MAIL 250 ok\n> RCPT TO:<z@corp.example.com>\n< RCPT 550 no\n",
			0, []string{"x@y.example"}, []string{"z@corp.example.com"}},
	} {
		s, err := ParseSession(strings.NewReader(head+c.src+"> QUIT\n< QUIT 221 bye\n"), "t.session", time.Unix(0, 0))
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if len(s.Messages) != c.msgs {
			t.Fatalf("%s: %d messages, want %d", c.name, len(s.Messages), c.msgs)
		}
		mf, rc := s.TriedWithoutEmail()
		if !slices.Equal(mf, c.mf) || !slices.Equal(rc, c.rcpt) {
			t.Errorf("%s: TriedWithoutEmail = %q %q, want %q %q", c.name, mf, rc, c.mf, c.rcpt)
		}
		// every record of the session keeps it
		for _, e := range NewAnalyzer(DefaultOptions()).SessionEmails(s) {
			if e.SessionTried == nil || !slices.Equal(e.SessionTried.MailFrom, c.mf) || !slices.Equal(e.SessionTried.RcptTo, c.rcpt) {
				t.Errorf("%s: record %s: SessionTried = %+v, want %q %q", c.name, e.ID, e.SessionTried, c.mf, c.rcpt)
			}
		}
		// the same without keeping message bytes
		es, err := ParseSessionEnvelope(strings.NewReader(head+c.src+"> QUIT\n< QUIT 221 bye\n"), "t.session", time.Unix(0, 0))
		if err != nil {
			t.Fatalf("%s: ParseSessionEnvelope: %v", c.name, err)
		}
		emf, erc := es.TriedWithoutEmail()
		if !slices.Equal(emf, c.mf) || !slices.Equal(erc, c.rcpt) {
			t.Errorf("%s: ParseSessionEnvelope: TriedWithoutEmail = %q %q, want %q %q", c.name, emf, erc, c.mf, c.rcpt)
		}
		for _, m := range es.Messages {
			if m.Data != nil {
				t.Errorf("%s: ParseSessionEnvelope kept %d message bytes", c.name, len(m.Data))
			}
		}
	}
}
