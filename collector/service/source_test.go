package service

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/smtpscope/smtpscope/collector"
	"github.com/smtpscope/smtpscope/index"
)

// TestStoreSourceWalk: the documents are loaded in parallel, but Walk
// hands them on in the store's listing order (emails, then sessions
// without email), each once, skipping a broken record; want filters;
// fn's error stops the walk and is returned.
func TestStoreSourceWalk(t *testing.T) {
	dir := t.TempDir()
	spool, data := filepath.Join(dir, "spool"), filepath.Join(dir, "data")
	if err := os.MkdirAll(spool, 0o700); err != nil {
		t.Fatal(err)
	}
	const head = "192.0.2.9:40000/tcp\n1700000000\n< > 220 mx ESMTP\n> EHLO bot\n< EHLO 250 mx\n"
	email := func(n int) string {
		return fmt.Sprintf("> MAIL FROM:<s%d@example.org>\n< MAIL 250 ok\n> RCPT TO:<r@corp.example>\n< RCPT 250 ok\n"+
			"> DATA\n< DATA 354 go\nSubject: mail %d\n\nbody %d\n> . .\n< . 250 queued\n", n, n, n)
	}
	for i := range 60 {
		text := head + email(i)
		switch i % 5 {
		case 1: // two emails
			text += email(1000 + i)
		case 3: // no email
			text = head + "> MAIL FROM:<x@spam.example>\n< MAIL 554 no\n> QUIT\n< QUIT 221 bye\n"
		}
		p := filepath.Join(spool, fmt.Sprintf("walk%03d", i))
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p+".ready", nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	runOnce(t, spool, data, false)
	st, err := collector.OpenStore(data, collector.StoreOptions{NoFsync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()

	// What the listings give, in their order.
	var emails, sessions []string
	if err := st.ListEmails(func(m *collector.EmailMeta) bool { emails = append(emails, m.ID); return true }); err != nil {
		t.Fatal(err)
	}
	err = st.ListSessions(func(m *collector.SessionMeta) bool {
		if len(m.Emails) == 0 {
			sessions = append(sessions, index.SessionDocID(m.UID))
		}
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(emails) != 60 || len(sessions) != 12 {
		t.Fatalf("store holds %d emails and %d sessions without email, want 60 and 12", len(emails), len(sessions))
	}
	broken := emails[7]
	m, err := st.Email(broken)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(st.Path(m.Record), []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	want := slices.Concat(slices.DeleteFunc(slices.Clone(emails), func(id string) bool { return id == broken }), sessions)

	src := &StoreSource{Store: st}
	walk := func(keep func(string) bool, stopAt int) ([]string, error) {
		var got []string
		err := src.Walk(keep, func(d index.Doc) error {
			if d.Email != nil && d.Email.Email.Subject == "" {
				t.Errorf("%s: email without its record", d.ID())
			}
			got = append(got, d.ID())
			if len(got) == stopAt {
				return errStop
			}
			return nil
		})
		return got, err
	}
	for round := range 3 { // the order never depends on which load finished first
		got, err := walk(nil, -1)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("round %d: Walk gave\n%v\nwant\n%v", round, got, want)
		}
	}

	odd := func(id string) bool { return slices.Index(want, id)%2 == 1 }
	got, err := walk(odd, -1)
	if err != nil {
		t.Fatal(err)
	}
	var wantOdd []string
	for i, id := range want {
		if i%2 == 1 {
			wantOdd = append(wantOdd, id)
		}
	}
	if !slices.Equal(got, wantOdd) {
		t.Errorf("with want: Walk gave\n%v\nwant\n%v", got, wantOdd)
	}

	got, err = walk(nil, 5)
	if !errors.Is(err, errStop) {
		t.Errorf("fn's error: Walk returned %v", err)
	}
	if !slices.Equal(got, want[:5]) {
		t.Errorf("after fn's error Walk went on: %v", got)
	}
}

var errStop = errors.New("stop here")
