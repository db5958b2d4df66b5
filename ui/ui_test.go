package ui

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/colorprofile"
	"github.com/charmbracelet/x/ansi"
	"github.com/charmbracelet/x/exp/teatest/v2"

	"github.com/smtpscope/smtpscope/collector/api"
	"github.com/smtpscope/smtpscope/core"
)

// updating reports -update (the flag is defined by teatest's golden
// package): rewrite the golden files under testdata/ui.
func updating() bool {
	f := flag.Lookup("update")
	return f != nil && f.Value.String() == "true"
}

const (
	testW = 140
	testH = 36
)

func newTestModel(t *testing.T, b api.Backend, plain bool) (*Model, *teatest.TestModel) {
	return newTestModelIn(t, b, plain, t.TempDir())
}

func newTestModelIn(t *testing.T, b api.Backend, plain bool, exportDir string) (*Model, *teatest.TestModel) {
	t.Helper()
	dark := true
	m := New(Options{Backend: testClock{b}, Dark: &dark, Plain: plain, Now: func() time.Time { return fixedNow }, NoTick: true, ExportDir: exportDir, Title: "fixture"})
	t.Cleanup(m.Close)
	tm := teatest.NewTestModel(t, m,
		teatest.WithInitialTermSize(testW, testH),
		teatest.WithProgramOptions(tea.WithColorProfile(colorprofile.ANSI)))
	return m, tm
}

// testClock pins what the backend reads off the wall clock — how long a
// search took, when a submission was queued or updated, the day directory
// the store filed a session under — to the test's clock, so frames of the
// real service are the same on every run.
type testClock struct{ api.Backend }

func (c testClock) Email(ctx context.Context, id string) (*core.Email, error) {
	e, err := c.Backend.Email(ctx, id)
	if e != nil {
		cp := *e
		cp.Session.File = pinDay(cp.Session.File)
		e = &cp
	}
	return e, err
}

func (c testClock) Session(ctx context.Context, id string) (*core.Session, error) {
	s, err := c.Backend.Session(ctx, id)
	if s != nil {
		cp := *s
		cp.Info.File = pinDay(cp.Info.File)
		s = &cp
	}
	return s, err
}

// pinDay puts a stored session file (sessions/YYYY/MM/DD/name) under the
// test clock's day.
func pinDay(f string) string {
	if rest, ok := strings.CutPrefix(f, "sessions/"); ok && len(rest) > len("2006/01/02/") {
		return "sessions/" + fixedNow.Format("2006/01/02") + rest[len("2006/01/02"):]
	}
	return f
}

func (c testClock) Search(ctx context.Context, q string, o api.SearchOptions) (*api.SearchResult, error) {
	res, err := c.Backend.Search(ctx, q, o)
	if res != nil {
		res.Took = 0
	}
	return res, err
}

func (c testClock) Submissions(ctx context.Context, id string) ([]api.SubmissionStatus, error) {
	subs, err := c.Backend.Submissions(ctx, id)
	for i := range subs {
		for _, t := range []*time.Time{&subs[i].Queued, &subs[i].Updated, &subs[i].Sent} {
			if !t.IsZero() {
				*t = fixedNow
			}
		}
	}
	return subs, err
}

// waitFor waits until the model's last frame contains every string.
func waitFor(t *testing.T, m *Model, subs ...string) {
	t.Helper()
	// A bound on liveness, not a speed check: generous, since the suite
	// runs every package at once on two cores.
	deadline := time.Now().Add(30 * time.Second)
	var f string
	for time.Now().Before(deadline) {
		if p := m.last.Load(); p != nil {
			f = ansi.Strip(*p)
			ok := true
			for _, x := range subs {
				if !strings.Contains(f, x) {
					ok = false
					break
				}
			}
			if ok {
				return
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("frame never showed %q; last frame:\n%s", subs, f)
}

// waitUntil waits until ok accepts the model's last frame (plain text).
func waitUntil(t *testing.T, m *Model, ok func(string) bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	var f string
	for time.Now().Before(deadline) {
		if p := m.last.Load(); p != nil {
			if f = ansi.Strip(*p); ok(f) {
				return
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("frame never reached the expected state; last frame:\n%s", f)
}

func keyMsg(s string) tea.KeyPressMsg {
	switch s {
	case "enter":
		return tea.KeyPressMsg{Code: tea.KeyEnter}
	case "esc":
		return tea.KeyPressMsg{Code: tea.KeyEscape}
	case "tab":
		return tea.KeyPressMsg{Code: tea.KeyTab}
	case "down":
		return tea.KeyPressMsg{Code: tea.KeyDown}
	case "up":
		return tea.KeyPressMsg{Code: tea.KeyUp}
	}
	r := []rune(s)
	return tea.KeyPressMsg{Code: r[0], Text: s}
}

func press(tm *teatest.TestModel, keys ...string) {
	for _, k := range keys {
		tm.Send(keyMsg(k))
	}
}

// frame quits the program and returns the final model's frame.
func frame(t *testing.T, m *Model, tm *teatest.TestModel) (*Model, string) {
	t.Helper()
	// The status bar loads on its own: wait for it so frames are stable.
	return frameAfter(t, m, tm, "queue ")
}

// frameAfter waits until the screen shows want and no facet count is
// loading, then quits the program and returns the final model and its
// frame.
func frameAfter(t *testing.T, m *Model, tm *teatest.TestModel, want string) (*Model, string) {
	t.Helper()
	waitFor(t, m, want)
	for deadline := time.Now().Add(10 * time.Second); m.pendingFacets.Load() > 0 && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	if err := tm.Quit(); err != nil {
		t.Fatal(err)
	}
	fm := tm.FinalModel(t, teatest.WithFinalTimeout(10*time.Second)).(*Model)
	return fm, fm.View().Content
}

// golden compares a frame, downsampled to 16 colours (a fixed profile),
// with testdata/ui/<name>.golden; -update rewrites it. A plain-text copy
// (<name>.txt) is kept beside it for reading diffs.
func golden(t *testing.T, name, frame string) {
	t.Helper()
	goldenH(t, name, frame, testH)
}

// goldenH is golden for a frame of h lines.
func goldenH(t *testing.T, name, frame string, h int) {
	t.Helper()
	var buf bytes.Buffer
	w := &colorprofile.Writer{Forward: &buf, Profile: colorprofile.ANSI}
	if _, err := w.WriteString(frame); err != nil {
		t.Fatal(err)
	}
	got := buf.Bytes()
	path := filepath.Join("..", "testdata", "ui", name+".golden")
	txt := filepath.Join("..", "testdata", "ui", name+".txt")
	if updating() {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(txt, []byte(ansi.Strip(frame)+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./ui -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		wantTxt, _ := os.ReadFile(txt)
		t.Fatalf("frame %s differs from %s\n--- got:\n%s\n--- want:\n%s", name, path, ansi.Strip(frame), wantTxt)
	}
	if l := strings.Count(frame, "\n") + 1; l != h {
		t.Fatalf("frame %s has %d lines, want %d", name, l, h)
	}
}

func TestListGolden(t *testing.T) {
	m, tm := newTestModel(t, fixtureBackend(t), false)
	waitFor(t, m, "Weekly digest", "Invoice INV-2025-1187")
	_, f := frame(t, m, tm)
	golden(t, "list", f)
	plain := ansi.Strip(f)
	for _, want := range []string{"TIME (UTC)", "MAIL FROM", "SUBJECT", "STATUS", "sender domain", "203.0.113.66", "queued"} {
		if !strings.Contains(plain, want) {
			t.Errorf("list frame lacks %q", want)
		}
	}
}

func TestSearchGolden(t *testing.T) {
	m, tm := newTestModel(t, fixtureBackend(t), false)
	waitFor(t, m, "Weekly digest")
	press(tm, "/")
	tm.Type("ioc:login.evil-payload.example.com")
	press(tm, "enter")
	waitFor(t, m, "1 results")
	fm, f := frame(t, m, tm)
	golden(t, "search", f)
	if fm.list.Len() != 1 || fm.list.Selected().Subject != "Your account has been limited - action required" {
		t.Fatalf("search for the planted IOC: %d rows", fm.list.Len())
	}
	if h := fm.search.History(); len(h) != 1 || h[0] != "ioc:login.evil-payload.example.com" {
		t.Fatalf("history = %q", h)
	}
}

func TestSearchError(t *testing.T) {
	m, tm := newTestModel(t, fixtureBackend(t), false)
	waitFor(t, m, "Weekly digest")
	press(tm, "/")
	tm.Type("subject:x bogus:1")
	press(tm, "enter")
	waitFor(t, m, `unknown field "bogus"`)
	fm, f := frame(t, m, tm)
	golden(t, "search_error", f)
	if fm.search.ErrCol != 11 {
		t.Fatalf("error column = %d, want 11", fm.search.ErrCol)
	}
}

// openEmail opens the email whose subject contains subj (searched).
func openEmail(t *testing.T, m *Model, tm *teatest.TestModel, query, subj string) {
	t.Helper()
	waitFor(t, m, "Weekly digest")
	press(tm, "/")
	tm.Type(query)
	press(tm, "enter")
	waitFor(t, m, "1 results")
	press(tm, "enter")
	waitFor(t, m, "1 Summary", "MAIL FROM")
}

func TestDetailTabsGolden(t *testing.T) {
	tabs := []struct{ name, key, want string }{
		{"summary", "1", "Envelope"},
		{"transcript", "2", "(folded)"},
		{"headers", "3", "decoded header values"},
		{"body", "4", "Links (3)"},
		{"mime", "5", "multipart/alternative"},
		{"attachments", "6", "(no attachments)"},
		{"iocs", "7", "evil-payload.example.com"},
		{"submissions", "8", "default"},
	}
	for _, tab := range tabs {
		t.Run(tab.name, func(t *testing.T) {
			m, tm := newTestModel(t, fixtureBackend(t), false)
			openEmail(t, m, tm, "ioc:login.evil-payload.example.com", "Your account")
			press(tm, tab.key)
			waitFor(t, m, tab.want)
			_, f := frame(t, m, tm)
			golden(t, "detail_"+tab.name, f)
		})
	}
}

func TestDetailAttachmentsGolden(t *testing.T) {
	m, tm := newTestModel(t, fixtureBackend(t), false)
	openEmail(t, m, tm, "subject:INV-2025-1187", "Invoice")
	press(tm, "6")
	waitFor(t, m, "Selected attachment")
	fm, f := frame(t, m, tm)
	golden(t, "detail_attachments_zip", f)
	if a := fm.detail.SelectedAttachment(); a == nil || a.Filename != "INV-2025-1187.zip" || a.DetectedType != "application/zip" {
		t.Fatalf("selected attachment = %+v", a)
	}
}

func TestTranscriptUnfold(t *testing.T) {
	m, tm := newTestModel(t, fixtureBackend(t), false)
	openEmail(t, m, tm, "ioc:login.evil-payload.example.com", "Your account")
	press(tm, "2", "z")
	waitFor(t, m, "Payment reference")
	_, f := frame(t, m, tm)
	golden(t, "detail_transcript_unfolded", f)
}

func TestHelpGolden(t *testing.T) {
	m, tm := newTestModel(t, fixtureBackend(t), false)
	waitFor(t, m, "Weekly digest")
	press(tm, "?")
	waitFor(t, m, "Search bar", "Query language")
	_, f := frame(t, m, tm)
	golden(t, "help", f)
	// The query-language examples come from the one field table.
	for _, ex := range api.Examples() {
		if !strings.Contains(ansi.Strip(f), ex) {
			t.Errorf("help lacks the example %q of the field table", ex)
		}
	}
}

func TestResubmitFlow(t *testing.T) {
	b := fixtureBackend(t)
	m, tm := newTestModel(t, b, false)
	waitFor(t, m, "Weekly digest")
	press(tm, "/")
	tm.Type("ioc:login.evil-payload.example.com")
	press(tm, "enter")
	waitFor(t, m, "1 results")
	// The node accepts: the collector delivers every email and the row
	// goes to "sent" live (the status bar keeps what it loaded first).
	waitFor(t, m, "default: 7 queued")
	b.Release()
	waitFor(t, m, "sent")
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if res, err := b.Search(t.Context(), "status:sent", api.SearchOptions{}); err == nil && res.Total == 7 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the node never accepted every email")
		}
	}
	press(tm, "r")
	waitFor(t, m, "Resubmit to which node group?")
	press(tm, "enter")
	waitFor(t, m, "Resubmit 1 email to node group default?")
	_, f := frame(t, m, tm)
	golden(t, "resubmit_confirm", f)

	// The node holds what comes next: the resubmissions stay queued.
	b.Hold()
	m, tm = newTestModel(t, b, false)
	waitFor(t, m, "Weekly digest")
	press(tm, "r", "2", "enter", "y")
	waitFor(t, m, "submissions queued", "default: 7 queued")
	// The live status events of the resubmission reach the rows.
	waitUntil(t, m, func(f string) bool { return !strings.Contains(f, "· sent") })
	fm, f := frame(t, m, tm)
	golden(t, "resubmit_done", f)
	if !strings.Contains(fm.msg, "resubmitted 7 emails: 7 submissions queued") {
		t.Fatalf("message = %q", fm.msg)
	}
	subs, _ := b.Submissions(t.Context(), "demo-phish.0")
	if len(subs) != 1 || subs[0].State != api.StateQueued {
		t.Fatalf("after resubmit: %+v", subs)
	}
}

func TestExportPrompt(t *testing.T) {
	b := fixtureBackend(t)
	dir := "exports"
	m, tm := newTestModelIn(t, b, false, dir)
	openEmail(t, m, tm, "subject:Hostile", "Hostile")
	press(tm, "6", "e")
	waitFor(t, m, "Export")
	press(tm, "enter")
	waitFor(t, m, "path:")
	fm, f := frame(t, m, tm)
	golden(t, "export_prompt", f)
	// The proposed name is sanitized: no directory parts, no bidi override.
	got := string(fm.dlg.input)
	want := filepath.Join(dir, "invoice_fdp.exe")
	if got != want {
		t.Fatalf("proposed path %q, want %q", got, want)
	}
}

func TestExportWrites(t *testing.T) {
	b := fixtureBackend(t)
	dir := t.TempDir()
	m, tm := newTestModelIn(t, b, false, dir)
	openEmail(t, m, tm, "subject:Hostile", "Hostile")
	// Attachments tab, export the selected attachment under its proposed
	// (sanitized) name.
	press(tm, "6", "e", "enter", "enter")
	want := filepath.Join(dir, "invoice_fdp.exe")
	waitFor(t, m, "wrote 17 bytes")
	got, err := os.ReadFile(want)
	if err != nil || string(got) != "not really a pdf\n" {
		t.Fatalf("exported attachment: %q, %v", got, err)
	}
	// The JSON record (choice 3 on this tab), then again: the second
	// write must not overwrite.
	press(tm, "e", "3", "enter")
	recPath := filepath.Join(dir, "demo-hostile.0.json")
	// Wait until the record is written whole (the file appears before
	// its last byte), so the second export meets a finished file.
	deadline := time.Now().Add(10 * time.Second)
	for {
		if b, err := os.ReadFile(recPath); (err == nil && json.Valid(b)) || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	press(tm, "e", "3", "enter")
	waitFor(t, m, "export: not overwritten")
	rec, err := os.ReadFile(recPath)
	if err != nil || !strings.Contains(string(rec), `"id": "demo-hostile.0"`) {
		t.Fatalf("exported record: %.200q, %v", rec, err)
	}
	tm.Quit()
}
