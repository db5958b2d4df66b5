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
