package ui

import (
	"strings"
	"testing"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/smtpscope/smtpscope/core"
)

const fileEmail = "From: IT Support <it@corp-support.example>\r\nTo: alice@corp.example\r\n" +
	"Subject: Password reset from a file\r\nMessage-ID: <r1@corp-support.example>\r\n\r\n" +
	"reset your password at https://corp-support.example/reset\r\n"

// TestEmailReadFromFile: an email read from an .eml file (no SMTP
// session) is no bounce: the list and the summary say where it was read
// from and that there was no session, show no envelope nor session
// blocks, the transcript tab says so without an error, and mailfrom:<>
// does not find it.
func TestEmailReadFromFile(t *testing.T) {
	b := memoryFixture(t)
	e := core.NewAnalyzer(core.DefaultOptions()).AnalyzeBytes([]byte(fileEmail))
	e.Source = "/cases/2025/reset.eml"
	if e.HasSession() || !e.NoSession {
		t.Fatalf("an email read from a file has a session: %+v", e.Session)
	}
	b.AddEmail(e, []byte(fileEmail), nil, nil)

	m, tm := newTestModel(t, b, true)
	waitFor(t, m, "Password reset from a") // the subject column may cut the rest
	for _, l := range strings.Split(ansi.Strip(*m.last.Load()), "\n") {
		if strings.Contains(l, "Password reset from a") {
			if !strings.Contains(l, "no SMTP session") || !strings.Contains(l, "read from re") || strings.Contains(l, "<>") {
				t.Fatalf("list row of the file email: %q", l)
			}
		}
	}
	press(tm, "/")
	tm.Type("subject:reset")
	press(tm, "enter")
	waitFor(t, m, "1 results")
	press(tm, "enter")
	waitFor(t, m, "read from reset.eml, no SMTP session", "/cases/2025/reset.eml", "SHA256")
	f := ansi.Strip(*m.last.Load())
	for _, bad := range []string{"Envelope", "MAIL FROM", "<>", "End of data", "Source IP"} {
		if strings.Contains(f, bad) {
			t.Errorf("summary of a file email shows %q:\n%s", bad, f)
		}
	}
	press(tm, "2")
	waitFor(t, m, "no transcript: read from reset.eml, no SMTP session")
	if f := ansi.Strip(*m.last.Load()); strings.Contains(f, "not found") || strings.Contains(f, "✗") {
		t.Errorf("transcript tab of a file email shows an error:\n%s", f)
	}
	press(tm, "esc", "/")
	tm.Send(tea.KeyPressMsg{Code: 'u', Mod: tea.ModCtrl}) // clear the bar
	tm.Type("mailfrom:<>")
	press(tm, "enter")
	waitFor(t, m, "1 results", "bounce")
	if f := ansi.Strip(*m.last.Load()); strings.Contains(f, "Password reset") {
		t.Errorf("mailfrom:<> finds the file email:\n%s", f)
	}
	frame(t, m, tm)
}
