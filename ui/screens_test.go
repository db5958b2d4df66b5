package ui

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/charmbracelet/x/ansi"
	"github.com/charmbracelet/x/exp/teatest/v2"

	"github.com/smtpscope/smtpscope/core"
	"github.com/smtpscope/smtpscope/internal/fakebackend"
)

// themes are the two themes every changed screen is drawn in; a dark
// golden keeps the name it had before light frames were added.
var themes = []struct {
	name, suffix string
	dark         bool
}{{"dark", "", true}, {"light", "_light", false}}

// addSessionEmail parses the session text (as file name) and adds its
// one email to b with its session, as the collector would store it; it
// returns that email.
func addSessionEmail(t *testing.T, b *fakebackend.Memory, session, name string) *core.Email {
	t.Helper()
	s, err := core.ParseSession(strings.NewReader(session), name, fixedNow)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	es := core.NewAnalyzer(core.DefaultOptions()).SessionEmails(s)
	if len(es) != 1 {
		t.Fatalf("%s: %d emails", name, len(es))
	}
	b.AddEmail(es[0], s.Messages[0].Data, s, nil)
	return es[0]
}

// screenBackend is the fake backend with the demo samples, the phish
// whose links lie (riskLinksSession) and an email read from a file
// (fileEmail): every record the screens below open.
func screenBackend(t *testing.T) *fakebackend.Memory {
	t.Helper()
	b := memoryFixture(t)
	addSessionEmail(t, b, riskLinksSession, "links.session")
	e := core.NewAnalyzer(core.DefaultOptions()).AnalyzeBytes([]byte(fileEmail))
	e.Source = "/cases/2025/reset.eml"
	b.AddEmail(e, []byte(fileEmail), nil, nil)
	return b
}

// sensorBackend is the fake backend with the demo samples (sensor
// "memory") and two emails stored by a second sensor, "branch-7", as a
// hub holds them.
func sensorBackend(t *testing.T) *fakebackend.Memory {
	t.Helper()
	b := memoryFixture(t)
	for i, subj := range []string{"Quarterly report", "Shipping notice"} {
		e := &core.Email{ID: fmt.Sprintf("branch-%d.0", i), Sensor: "branch-7", Subject: subj, From: "ops@branch.example",
			Envelope: core.Envelope{MailFrom: "ops@branch.example", RcptTo: []string{"hq@corp.example.com"}},
			Session:  core.SessionInfo{UID: fmt.Sprintf("branch-%d", i), Time: fixedNow.Add(-time.Duration(i+1) * time.Minute), SourceIP: "198.51.100.70"}}
		b.AddEmail(e, []byte("Subject: "+subj+"\r\n\r\nbody\r\n"), nil, nil)
	}
	return b
}

// openOne searches for query, waits for its one result and opens it,
// then waits for the detail to show every string of want.
func openOne(t *testing.T, m *Model, tm *teatest.TestModel, query string, want ...string) {
	t.Helper()
	waitFor(t, m, "Weekly digest", "queue ")
	press(tm, "/")
	tm.Type(query)
	press(tm, "enter")
	waitFor(t, m, "1 results")
	press(tm, "enter")
	waitFor(t, m, append([]string{"Subject"}, want...)...)
}

// TestScreenGoldens draws the screens this round changed that had no
// sized frames — the Summary's "Why suspicious" block, the Body tab's
// links (the lying one marked), the Summary and Transcript of an email
// read from a file, the list while a query is typed (results before
// Enter), the help screen (keys and the command line) and the list of
// rows from two sensors (its SENSOR column) — at
// 80x24, 120x40 and 160x45, dark and light, against testdata/ui/screen_*.golden. The fake backend serves them: no
// collector runs, so no random port can reach the status bar.
func TestScreenGoldens(t *testing.T) {
	screens := []struct {
		name    string
		run     func(t *testing.T, m *Model, tm *teatest.TestModel)
		want    []string // in the frame, whatever its size
		backend func(t *testing.T) *fakebackend.Memory
	}{
		{"summary_risk", func(t *testing.T, m *Model, tm *teatest.TestModel) {
			openOne(t, m, tm, "subject:INV-2025-1187", "Why suspicious (2)", "MAIL FROM")
		}, []string{"Why suspicious (2)", "double_ext"}, nil},
		{"body_links", func(t *testing.T, m *Model, tm *teatest.TestModel) {
			openOne(t, m, tm, "subject:lie", "link_mismatch")
			press(tm, "4")
			waitFor(t, m, "Links (4)")
		}, []string{"Links (4)", "[1] ≠"}, nil},
		{"file_summary", func(t *testing.T, m *Model, tm *teatest.TestModel) {
			openOne(t, m, tm, "subject:reset", "read from reset.eml, no SMTP session", "SHA256")
		}, []string{"read from reset.eml, no SMTP session"}, nil},
		{"file_transcript", func(t *testing.T, m *Model, tm *teatest.TestModel) {
			openOne(t, m, tm, "subject:reset", "read from reset.eml, no SMTP session")
			press(tm, "2")
			waitFor(t, m, "no transcript: read from reset.eml, no SMTP session")
		}, []string{"no transcript: read from reset.eml"}, nil},
		{"typing", func(t *testing.T, m *Model, tm *teatest.TestModel) {
			waitFor(t, m, "Weekly digest", "9 results", "queue ")
			press(tm, "/")
			for _, r := range "invoi" {
				press(tm, string(r))
			}
			waitFor(t, m, "2 results", "Invoice INV-2025-1187")
			waitUntil(t, m, func(f string) bool { return !strings.Contains(f, "Weekly digest") })
		}, []string{"invoi", "2 results"}, nil},
		{"help", func(t *testing.T, m *Model, tm *teatest.TestModel) {
			waitFor(t, m, "Weekly digest", "queue ")
			press(tm, "?")
			waitFor(t, m, "smtpscope — keys", "command line")
		}, []string{"command line", "H  hunts and their matches"}, nil}, // "?  help" is below the first page at 80x24
		{"sensors", func(t *testing.T, m *Model, tm *teatest.TestModel) {
			waitFor(t, m, "Weekly digest", "Quarterly report", "9 results", "queue ")
		}, []string{"RSK SENSOR", "branch-7", "memory"}, sensorBackend},
	}
	for _, sc := range screens {
		for _, sz := range sizes {
			for _, th := range themes {
				name := fmt.Sprintf("screen_%s_%dx%d_%s", sc.name, sz.w, sz.h, th.name)
				t.Run(name, func(t *testing.T) {
					backend := screenBackend
					if sc.backend != nil {
						backend = sc.backend
					}
					m, tm := newSized(t, backend(t), sz.w, sz.h, th.dark, "fixture")
					sc.run(t, m, tm)
					_, f := frame(t, m, tm)
					goldenH(t, name, f, sz.h)
					plain := ansi.Strip(f)
					for _, w := range sc.want {
						if !strings.Contains(plain, w) {
							t.Errorf("frame lacks %q", w)
						}
					}
					for i, l := range strings.Split(plain, "\n") {
						if w := ansi.StringWidth(l); w > sz.w {
							t.Errorf("line %d is %d cells wide, more than %d: %q", i, w, sz.w, l)
						}
					}
				})
			}
		}
	}
}
