package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/smtpscope/smtpscope/internal/backendtest"
)

// TestSearchRefusedAndNullSender runs the real binary on the demo
// samples: `search mailfrom:`/`rcpt:` find the session whose recipient
// the server refused (it carried no email) by the envelope it tried, and
// `search 'mailfrom:<>'` finds the bounce (MAIL FROM:<>) and nothing else.
func TestSearchRefusedAndNullSender(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test (builds the binary, runs the collector)")
	}
	dir := t.TempDir()
	bin := testBinary(t)
	spool, data := filepath.Join(dir, "spool"), filepath.Join(dir, "data")
	backendtest.WriteSpool(t, spool)
	run := func(args ...string) string {
		t.Helper()
		return runBin(t, bin, args...)
	}
	run("collect", "--spool", spool, "--data", data, "--once", "--once-timeout", "30s", "--no-fsync")
	rows := func(q string) []string {
		t.Helper()
		lines := strings.Split(strings.TrimSpace(run("search", "--data", data, "--limit", "0", q)), "\n")
		if len(lines) == 0 || !strings.HasPrefix(lines[0], "ID") {
			t.Fatalf("search %q: no table:\n%s", q, strings.Join(lines, "\n"))
		}
		return lines[1:]
	}
	for _, q := range []string{"rcpt:nobody@corp.example.com", "mailfrom:winner@lottery.example.net", "mailfrom:lottery.example.net rcpt:nobody"} {
		got := rows(q)
		if len(got) != 1 || !strings.Contains(got[0], "203.0.113.200") {
			t.Errorf("search %q: want the refused session from 203.0.113.200, got:\n%s", q, strings.Join(got, "\n"))
		}
	}
	got := rows("mailfrom:<>")
	if len(got) != 1 || !strings.Contains(got[0], "bounce") {
		t.Errorf("search 'mailfrom:<>': want the one bounce, got:\n%s", strings.Join(got, "\n"))
	}
}

// TestSearchRefusedBesideAnEmail runs the real binary on crafted sessions
// that carried an email after a refused transaction (a refused MAIL FROM
// then an accepted one; a refused RCPT in a first transaction; a
// pipelined transaction refused whole): `search mailfrom:`/`rcpt:` of the
// refused address lists the email, `show --transcript` of that email
// shows the address, and the same holds after `reindex` (the index
// rebuilt from the store).
func TestSearchRefusedBesideAnEmail(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test (builds the binary, runs the collector)")
	}
	dir := t.TempDir()
	bin := testBinary(t)
	spool, data := filepath.Join(dir, "spool"), filepath.Join(dir, "data")
	if err := os.MkdirAll(spool, 0o700); err != nil {
		t.Fatal(err)
	}
	const head = "%s:40000/tcp\n1763818000\n< > 220 mx ESMTP\n> EHLO bot\n< EHLO 250 mx\n"
	const data354 = "> DATA\n< DATA 354 go\nSubject: %s\n\nbody\n> . .\n< . 250 queued\n> QUIT\n< QUIT 221 bye\n"
	sessions := map[string]string{
		"CmailThen1": fmt.Sprintf(head, "198.51.100.11") +
			"> MAIL FROM:<blocked@spam.example>\n< MAIL 554 5.7.1 blocked\n> RSET\n< RSET 250 ok\n" +
			"> MAIL FROM:<alice@example.org>\n< MAIL 250 ok\n> RCPT TO:<bob@corp.example.com>\n< RCPT 250 ok\n" +
			fmt.Sprintf(data354, "after a refused sender"),
		"CrcptThen2": fmt.Sprintf(head, "198.51.100.12") +
			"> MAIL FROM:<carol@example.org>\n< MAIL 250 ok\n> RCPT TO:<ceo@corp.example.com>\n< RCPT 550 5.1.1 no\n> RSET\n< RSET 250 ok\n" +
			"> MAIL FROM:<carol@example.org>\n< MAIL 250 ok\n> RCPT TO:<hr@corp.example.com>\n< RCPT 250 ok\n" +
			fmt.Sprintf(data354, "after a refused recipient"),
		"Cpipelined3": fmt.Sprintf(head, "198.51.100.13") +
			"> MAIL FROM:<dsn@bounce.example>\n> RCPT TO:<gone@corp.example.com>\n> DATA\n" +
			"< MAIL 250 ok\n< RCPT 550 5.1.1 no such user\n< DATA 554 5.5.1 no valid recipients\n> RSET\n< RSET 250 ok\n" +
			"> MAIL FROM:<dave@example.org>\n> RCPT TO:<ops@corp.example.com>\n< MAIL 250 ok\n< RCPT 250 ok\n" +
			fmt.Sprintf(data354, "after a pipelined refusal"),
	}
	for name, text := range sessions {
		p := filepath.Join(spool, name)
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p+".ready", nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	run := func(args ...string) string {
		t.Helper()
		return runBin(t, bin, args...)
	}
	run("collect", "--spool", spool, "--data", data, "--once", "--once-timeout", "30s", "--no-fsync")
	cases := []struct{ q, subject, addr string }{
		{"mailfrom:blocked@spam.example", "after a refused sender", "blocked@spam.example"},
		{"mailfrom:spam.example", "after a refused sender", "blocked@spam.example"},
		{"rcpt:ceo@corp.example.com", "after a refused recipient", "ceo@corp.example.com"},
		{"rcpt:gone@corp.example.com", "after a pipelined refusal", "gone@corp.example.com"},
		{"mailfrom:dsn@bounce.example", "after a pipelined refusal", "dsn@bounce.example"},
	}
	check := func(when string) {
		t.Helper()
		for _, c := range cases {
			out := run("search", "--data", data, "--limit", "0", "--format", "json", c.q)
			type row struct {
				ID      string `json:"id"`
				Kind    string `json:"kind"`
				Subject string `json:"subject"`
			}
			var rows []row
			for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
				if l == "" {
					continue
				}
				var r row
				if err := json.Unmarshal([]byte(l), &r); err != nil {
					t.Fatalf("%s: search %q --format json: %v\n%s", when, c.q, err, out)
				}
				rows = append(rows, r)
			}
			if len(rows) != 1 || rows[0].Subject != c.subject || rows[0].Kind != "email" {
				t.Errorf("%s: search %q: want the one email %q, got %+v", when, c.q, c.subject, rows)
				continue
			}
			if tr := run("show", "--data", data, "--transcript", rows[0].ID); !strings.Contains(tr, c.addr) {
				t.Errorf("%s: show --transcript %s (found by %q) does not show %s:\n%s", when, rows[0].ID, c.q, c.addr, tr)
			}
		}
		// an email is still found by its own envelope, and only its own
		// session's emails by the refused one
		if got := run("search", "--data", data, "--limit", "0", "--format", "json", "mailfrom:alice@example.org"); strings.Count(got, `"subject"`) != 1 {
			t.Errorf("%s: mailfrom:alice@example.org: want one email, got %s", when, got)
		}
	}
	check("collected")
	run("reindex", "--data", data)
	check("reindexed")
}
