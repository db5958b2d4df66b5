package ui

import (
	"strings"
	"testing"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"
)

// TestDetailRiskGolden: the Summary tab of the demo invoice (an .exe
// behind a .pdf name, in a zip) starts with the "Why suspicious" block,
// each reason with its evidence, and the list shows its risk count.
func TestDetailRiskGolden(t *testing.T) {
	m, tm := newTestModel(t, fixtureBackend(t), false)
	openEmail(t, m, tm, "subject:INV-2025-1187", "Invoice")
	waitFor(t, m, "Why suspicious (2)")
	_, f := frame(t, m, tm)
	golden(t, "detail_summary_risk", f)
	plain := ansi.Strip(f)
	for _, want := range []string{"double_ext", `.exe hidden behind .pdf`, "exe_in_archive",
		`"INV-2025-1187.pdf.exe" (application/vnd.microsoft.portable-executable) in part "2"`} {
		if !strings.Contains(plain, want) {
			t.Errorf("summary lacks %q", want)
		}
	}
	if why, subj := strings.Index(plain, "Why suspicious"), strings.Index(plain, "Subject"); why < 0 || why > subj {
		t.Errorf("the reasons are not at the top of the summary")
	}
}

// riskLinksSession is a phish whose HTML links show one host and go to
// another, next to an honest link and an image.
const riskLinksSession = "198.51.100.7:40000/tcp\n1763810000\n" +
	"> MAIL FROM:<notice@bank-alerts.example.net>\n< MAIL 250 ok\n" +
	"> RCPT TO:<alice@corp.example.com>\n< RCPT 250 ok\n> DATA\n< DATA 354 go\n" +
	"From: \"www.bank.example.com\" <notice@bank-alerts.example.net>\n" +
	"To: alice@corp.example.com\nSubject: Links that lie\nMIME-Version: 1.0\n" +
	"Content-Type: text/html; charset=utf-8\n\n" +
	"<p>Sign in at <a href=\"http://login.bank-alerts.example.net/s\">https://www.bank.example.com/signin</a>.</p>\n" +
	"<p><a href=\"https://www.bank.example.com/help\">www.bank.example.com</a> <a href=\"https://x.example.org/u\">Unsubscribe</a></p>\n" +
	"<img src=\"http://198.51.100.7/t.gif\">\n" +
	"> . .\n< . 250 2.0.0 Ok: queued\n"

// TestBodyLinksGolden: the Body tab lists each link as "text → href"
// and marks the one whose text shows another host.
func TestBodyLinksGolden(t *testing.T) {
	b := memoryFixture(t)
	addSessionEmail(t, b, riskLinksSession, "links.session")
	m, tm := newTestModel(t, b, false)
	openEmail(t, m, tm, "subject:lie", "Links")
	waitFor(t, m, "link_mismatch", "display_name_spoof")
	press(tm, "4")
	waitFor(t, m, "Links (4)")
	_, f := frame(t, m, tm)
	golden(t, "detail_body_links", f)
	plain := ansi.Strip(f)
	for _, want := range []string{
		"1 whose text shows another host (≠)",
		"[1] ≠ https://www.bank.example.com/signin → http://login.bank-alerts.example.net/s",
		"text shows www.bank.example.com, link goes to login.bank-alerts.example.net",
		"[2]   www.bank.example.com → https://www.bank.example.com/help",
		"[3]   Unsubscribe → https://x.example.org/u",
		"[4]   http://198.51.100.7/t.gif",
	} {
		if !strings.Contains(plain, want) {
			t.Errorf("body tab lacks %q", want)
		}
	}
	if strings.Count(plain, "≠") != 2 { // the heading and the one link
		t.Errorf("%d mismatch marks", strings.Count(plain, "≠"))
	}
}

// TestRiskColumnNarrow: on a narrow terminal the counters go, the risk
// count stays.
func TestRiskColumnNarrow(t *testing.T) {
	m, tm := newTestModel(t, fixtureBackend(t), false)
	waitFor(t, m, "Weekly digest")
	tm.Send(tea.WindowSizeMsg{Width: 64, Height: 20})
	waitUntil(t, m, func(f string) bool { return !strings.Contains(f, "FACETS") && !strings.Contains(f, "ATT") })
	_, f := frame(t, m, tm)
	plain := ansi.Strip(f)
	if !strings.Contains(plain, "TIME (UTC)▼         RSK MAIL FR") {
		t.Errorf("narrow list header lacks the risk column:\n%s", plain)
	}
	if !strings.Contains(plain, "2025-11-22 09:26:40   2 billing") { // the invoice: double_ext, exe_in_archive
		t.Errorf("narrow list lacks the invoice's risk count:\n%s", plain)
	}
}
