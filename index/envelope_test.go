package index

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/smtpscope/smtpscope/core"
)

// indexSessionText parses a session file text and indexes what the
// collector would: its emails, or the session itself when it carried
// none (with the envelope it tried), each email with the envelope its
// session tried that no email carries.
func indexSessionText(t *testing.T, ix *Index, name, text string) {
	t.Helper()
	s, err := core.ParseSession(strings.NewReader(text), name, time.Unix(0, 0))
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Messages) == 0 {
		d := SessionDoc{Info: s.Info, Reason: "rejected"}
		d.MailFrom, d.Rcpt = s.Attempted()
		if err := ix.IndexSession(d); err != nil {
			t.Fatal(err)
		}
		return
	}
	var docs []EmailDoc
	mf, rcpt := s.TriedWithoutEmail()
	for _, e := range core.NewAnalyzer(core.DefaultOptions()).SessionEmails(s) {
		docs = append(docs, EmailDoc{Email: e, SessionMailFrom: mf, SessionRcpt: rcpt})
	}
	if err := ix.IndexEmails(docs); err != nil {
		t.Fatal(err)
	}
}

// TestRefusedEnvelopeAndNullSender: mailfrom: and rcpt: find sessions the
// server refused (a refused RCPT, a refused MAIL) by the envelope they
// tried, and mailfrom:<> finds the null sender — not an email that had no
// MAIL FROM at all.
func TestRefusedEnvelopeAndNullSender(t *testing.T) {
	ix := openTest(t)
	indexSessionText(t, ix, "rcpt-refused", "203.0.113.200:41000/tcp\n1763818000\n< > 220 mx\n> HELO spambot\n< HELO 250 mx\n"+
		"> MAIL FROM:<winner@lottery.example.net>\n< MAIL 250 ok\n"+
		"> RCPT TO:<nobody@corp.example.com>\n< RCPT 550 5.1.1 rejected\n> QUIT\n< QUIT 221 bye\n")
	indexSessionText(t, ix, "mail-refused", "203.0.113.201:41001/tcp\n1763818100\n< > 220 mx\n> EHLO bot\n< EHLO 250 mx\n"+
		"> MAIL FROM:<spam@Bulk.Example>\n< MAIL 554 5.7.1 blocked\n"+
		"> RCPT TO:<ceo@corp.example.com>\n< RCPT 503 5.5.1 need MAIL\n> QUIT\n< QUIT 221 bye\n")
	indexSessionText(t, ix, "bounce-refused", "203.0.113.202:41002/tcp\n1763818200\n< > 220 mx\n> EHLO mta\n< EHLO 250 mx\n"+
		"> MAIL FROM:<>\n< MAIL 250 ok\n"+
		"> RCPT TO:<gone@corp.example.com>\n< RCPT 550 5.1.1 no such user\n> QUIT\n< QUIT 221 bye\n")
	indexSessionText(t, ix, "bounce", "192.0.2.10:49152/tcp\n1763818300\n< > 220 mx\n> EHLO mta\n< EHLO 250 mx\n"+
		"> MAIL FROM:<>\n< MAIL 250 ok\n> RCPT TO:<postmaster@corp.example.com>\n< RCPT 250 ok\n"+
		"> DATA\n< DATA 354 go\nSubject: bounce\n\nreturned\n> . .\n< . 250 queued\n> QUIT\n< QUIT 221 bye\n")
	// An email read from a file: no envelope, not a bounce.
	if err := ix.IndexEmails([]EmailDoc{{Email: &core.Email{ID: "eml-1", Subject: "from a file", From: "x@y.example", Source: "/cases/a.eml"}}}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		q    string
		want []string
	}{
		{"rcpt:nobody@corp.example.com", []string{"session/rcpt-refused"}},
		{"mailfrom:winner@lottery.example.net", []string{"session/rcpt-refused"}},
		{"mailfrom:spam@bulk.example", []string{"session/mail-refused"}},
		{"mailfrom:bulk.example", []string{"session/mail-refused"}},
		{"rcpt:ceo@corp.example.com", []string{"session/mail-refused"}},
		{"rcpt:gone", []string{"session/bounce-refused"}},
		{"mailfrom:<>", []string{"bounce.0", "session/bounce-refused"}},
		{"mailfrom:<> kind:email", []string{"bounce.0"}},
		{"-mailfrom:<> kind:email", []string{"eml-1"}},
		{"domain:lottery.example.net", []string{"session/rcpt-refused"}},
	} {
		got := ids(t, ix, c.q)
		slices.Sort(got)
		if !slices.Equal(got, c.want) {
			t.Errorf("%s: %v, want %v", c.q, got, c.want)
		}
	}
	// The file email's row says it had no session and where it came from.
	res, err := ix.Search(context.Background(), "id:eml-1", SearchOptions{})
	if err != nil || len(res.Hits) != 1 {
		t.Fatalf("id:eml-1: %v %v", res, err)
	}
	if r := res.Hits[0].Row; !r.NoSession || r.Source != "/cases/a.eml" || r.MailFrom != "" {
		t.Errorf("row of a file email: %+v", r)
	}
	res, _ = ix.Search(context.Background(), "id:bounce.0", SearchOptions{})
	if len(res.Hits) != 1 || res.Hits[0].NoSession {
		t.Errorf("row of the bounce: %+v", res.Hits)
	}
}

// TestRefusedEnvelopeBesideAnEmail: a session that carried an email is
// found by the rest of the envelope it tried — a refused MAIL FROM before
// the accepted one, a refused RCPT of an earlier transaction, a pipelined
// transaction refused whole — and each hit is an email whose transcript
// holds that address; an email is not found by the sender of another
// email of its session.
func TestRefusedEnvelopeBesideAnEmail(t *testing.T) {
	ix := openTest(t)
	const head = "198.51.100.7:40000/tcp\n1763818000\n< > 220 mx ESMTP\n> EHLO bot\n< EHLO 250 mx\n"
	const data = "> DATA\n< DATA 354 go\nSubject: hi\n\nbody\n> . .\n< . 250 queued\n"
	const quit = "> QUIT\n< QUIT 221 bye\n"
	sessions := map[string]string{
		"mail-then": head + "> MAIL FROM:<Blocked@Spam.Example>\n< MAIL 554 5.7.1 blocked\n> RSET\n< RSET 250 ok\n" +
			"> MAIL FROM:<alice@example.org>\n< MAIL 250 ok\n> RCPT TO:<bob@corp.example.com>\n< RCPT 250 ok\n" + data + quit,
		"rcpt-then": head + "> MAIL FROM:<carol@example.org>\n< MAIL 250 ok\n> RCPT TO:<ceo@corp.example.com>\n< RCPT 550 5.1.1 no\n> RSET\n< RSET 250 ok\n" +
			"> MAIL FROM:<carol@example.org>\n< MAIL 250 ok\n> RCPT TO:<hr@corp.example.com>\n< RCPT 250 ok\n" + data + quit,
		"pipelined": head + "> MAIL FROM:<>\n> RCPT TO:<gone@corp.example.com>\n> DATA\n" +
			"< MAIL 250 ok\n< RCPT 550 5.1.1 no such user\n< DATA 554 5.5.1 no valid recipients\n> RSET\n< RSET 250 ok\n" +
			"> MAIL FROM:<dave@example.org>\n> RCPT TO:<ops@corp.example.com>\n> RCPT TO:<nope@corp.example.com>\n" +
			"< MAIL 250 ok\n< RCPT 250 ok\n< RCPT 550 5.1.1 no\n" + data + quit,
		"two": head + "> MAIL FROM:<erin@example.org>\n< MAIL 250 ok\n> RCPT TO:<a@corp.example.com>\n< RCPT 250 ok\n" + data +
			"> MAIL FROM:<frank@example.org>\n< MAIL 250 ok\n> RCPT TO:<b@corp.example.com>\n< RCPT 250 ok\n" + data +
			"> MAIL FROM:<ghost@phish.example>\n< MAIL 550 5.7.1 no\n" + quit,
	}
	for name, text := range sessions {
		indexSessionText(t, ix, name, text)
	}
	for _, c := range []struct {
		q    string
		want []string
	}{
		{"mailfrom:blocked@spam.example", []string{"mail-then.0"}},
		{"mailfrom:spam.example", []string{"mail-then.0"}},
		{"mailfrom:blocked", []string{"mail-then.0"}},
		{"domain:spam.example", []string{"mail-then.0"}},
		{"blocked@spam.example", []string{"mail-then.0"}},
		{"mailfrom:alice@example.org", []string{"mail-then.0"}},
		{"rcpt:ceo@corp.example.com", []string{"rcpt-then.0"}},
		{"rcpt:hr@corp.example.com", []string{"rcpt-then.0"}},
		{"mailfrom:carol@example.org", []string{"rcpt-then.0"}},
		{"mailfrom:<>", []string{"pipelined.0"}},
		{"rcpt:gone@corp.example.com", []string{"pipelined.0"}},
		{"rcpt:nope@corp.example.com", []string{"pipelined.0"}},
		{"mailfrom:dave@example.org", []string{"pipelined.0"}},
		// each email of a two-email session by its own sender only
		{"mailfrom:erin@example.org", []string{"two.0"}},
		{"mailfrom:frank@example.org", []string{"two.1"}},
		{"rcpt:a@corp.example.com", []string{"two.0"}},
		// a refused sender after both: both emails' transcripts show it
		{"mailfrom:ghost@phish.example", []string{"two.0", "two.1"}},
		{"mailfrom:ghost@phish.example -mailfrom:frank@example.org", []string{"two.0"}},
		{"kind:session", nil},
	} {
		got := ids(t, ix, c.q)
		slices.Sort(got)
		if !slices.Equal(got, c.want) {
			t.Errorf("%s: %v, want %v", c.q, got, c.want)
		}
	}
	// The hit's row still shows the email's own envelope sender.
	res, err := ix.Search(context.Background(), "mailfrom:blocked@spam.example", SearchOptions{})
	if err != nil || len(res.Hits) != 1 {
		t.Fatalf("mailfrom:blocked@spam.example: %v %v", res, err)
	}
	if r := res.Hits[0].Row; r.MailFrom != "alice@example.org" {
		t.Errorf("row MAIL FROM = %q, want the accepted alice@example.org", r.MailFrom)
	}
}
