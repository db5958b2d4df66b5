package ui

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	tea "charm.land/bubbletea/v2"

	"github.com/smtpscope/smtpscope/ui/saved"
)

// The search history outlives the UI: a second UI on the same file
// browses the first one's queries with the history keys.
func TestHistoryKeptAcrossRestarts(t *testing.T) {
	b := fixtureBackend(t)
	file := filepath.Join(t.TempDir(), saved.File)
	m, tm := newSizedModel(t, b, 120, 40, Options{SearchesFile: file})
	waitFor(t, m, "Weekly digest")
	for _, q := range []string{"has:attachment", "subject:Invoice"} {
		press(tm, "/")
		tm.Send(tea.KeyPressMsg{Code: 'u', Mod: tea.ModCtrl}) // "/" edits the current query: clear it
		tm.Type(q)
		press(tm, "enter")
		waitFor(t, m, "/ "+q)
	}
	waitFor(t, m, "1 results")
	tm.Quit()
	tm.WaitFinished(t)
	// The write runs in a tea.Cmd: wait for the file to hold both.
	waitFile(t, file, `"subject:Invoice"`)

	m, tm = newSizedModel(t, b, 120, 40, Options{SearchesFile: file})
	waitFor(t, m, "Weekly digest")
	press(tm, "/", "up")
	waitFor(t, m, "/ subject:Invoice")
	press(tm, "up")
	waitFor(t, m, "/ has:attachment")
	press(tm, "enter")
	waitFor(t, m, "2 results")
	tm.Quit()
}

func waitFile(t *testing.T, path, sub string) {
	t.Helper()
	waitUntilTrue(t, func() bool {
		b, err := os.ReadFile(path)
		return err == nil && strings.Contains(string(b), sub)
	}, "file "+path+" never held "+sub)
}

// :save keeps the query and the sort under a name; :load in another UI
// runs it again; :forget deletes it. A hostile name is cleaned.
func TestSavedSearches(t *testing.T) {
	b := fixtureBackend(t)
	file := filepath.Join(t.TempDir(), saved.File)
	m, tm := newSizedModel(t, b, 120, 40, Options{SearchesFile: file})
	waitFor(t, m, "Weekly digest")
	press(tm, "/")
	tm.Type("has:ioc")
	press(tm, "enter")
	waitFor(t, m, "/ has:ioc")
	tm.Type(":sort -iocs")
	press(tm, "enter")
	waitFor(t, m, "by iocs ▼")
	tm.Type(":save iocs \x1b[2Jfirst\u202e")
	press(tm, "enter")
	waitFor(t, m, `saved search "iocs [2Jfirst"`)
	waitFile(t, file, `"sort": "-iocs"`)
	tm.Quit()

	m, tm = newSizedModel(t, b, 120, 40, Options{SearchesFile: file})
	waitFor(t, m, "Weekly digest", "newest first")
	tm.Type(":load io")
	press(tm, "tab")
	waitFor(t, m, ":load iocs [2Jfirst")
	press(tm, "enter")
	waitFor(t, m, "/ has:ioc", "by iocs ▼", `loaded search "iocs [2Jfirst"`)
	waitFirstRow(t, m, "Your account has been li")
	tm.Type(":load nothing")
	press(tm, "enter")
	waitFor(t, m, `no saved search "nothing"`)
	tm.Type(":forget iocs [2Jfirst")
	press(tm, "enter")
	waitFor(t, m, "forgot saved search")
	tm.Quit()
	waitUntilTrue(t, func() bool {
		st, err := saved.Load(file)
		return err == nil && len(st.Saved) == 0
	}, "the forgotten search is still in the file")
}

// A searches file that is not one is named in the status bar and left
// as it is.
func TestSavedBadFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), saved.File)
	if err := os.WriteFile(file, []byte("not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	m, tm := newSizedModel(t, fixtureBackend(t), 160, 45, Options{SearchesFile: file})
	waitFor(t, m, "Weekly digest", "not a searches file")
	press(tm, "/")
	tm.Type("has:ioc")
	press(tm, "enter")
	waitFor(t, m, "/ has:ioc")
	tm.Quit()
	tm.WaitFinished(t)
	if b, _ := os.ReadFile(file); string(b) != "not json" {
		t.Fatalf("the bad file was overwritten: %q", b)
	}
}

// The picker of saved searches (:load and tab) at each golden size, dark
// and light.
func TestSavedGolden(t *testing.T) {
	for _, sz := range goldenSizes {
		for _, th := range themes {
			t.Run(sizeName(sz.w, sz.h)+th.suffix, func(t *testing.T) {
				file := filepath.Join(t.TempDir(), saved.File)
				st, _ := saved.Open(file)
				for _, n := range []string{"phish campaign", "failed submissions", "phishing kits"} {
					st.Put(n, "has:ioc", "-time")
				}
				if err := st.Save(); err != nil {
					t.Fatal(err)
				}
				m, tm := newSizedModel(t, fixtureBackend(t), sz.w, sz.h, Options{SearchesFile: file, Dark: &th.dark})
				waitFor(t, m, "Weekly digest")
				tm.Type(":load ")
				press(tm, "tab")
				waitFor(t, m, "failed submissions  phish campaign  phishing kits")
				_, f := frameSized(t, m, tm)
				goldenH(t, "saved_picker_"+sizeName(sz.w, sz.h)+th.suffix, f, sz.h)
			})
		}
	}
}

// Hostile text pasted into the command line, an unknown command echoed
// in the status bar, a saved search's name in the picker: nothing of it
// reaches the frame raw.
func TestCommandLineHostileText(t *testing.T) {
	file := filepath.Join(t.TempDir(), saved.File)
	m, tm := newSizedModel(t, fixtureBackend(t), 120, 40, Options{SearchesFile: file, Plain: true})
	waitFor(t, m, "Weekly digest", "queue ")
	hostile := "\x1b]52;c;QUFB\x07\u202eevil\u200b\x9b31m"
	tm.Type(":")
	tm.Send(tea.PasteMsg{Content: hostile})
	// Controls are not typed; format characters show escaped.
	waitFor(t, m, `:]52;c;QUFB\u202eevil\u200b`)
	assertClean(t, "command line", *m.last.Load())
	press(tm, "enter")
	waitFor(t, m, "unknown command")
	assertClean(t, "unknown command", *m.last.Load())
	tm.Type(":save ")
	tm.Send(tea.PasteMsg{Content: hostile})
	press(tm, "enter")
	waitFor(t, m, "saved search")
	assertClean(t, "saved", *m.last.Load())
	tm.Type(":load ")
	press(tm, "tab")
	waitFor(t, m, ":load ]52;c;QUFBevil")
	assertClean(t, "load completion", *m.last.Load())
	tm.Quit()
}
