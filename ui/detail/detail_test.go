package detail

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/smtpscope/smtpscope/collector/api"
	"github.com/smtpscope/smtpscope/core"
	"github.com/smtpscope/smtpscope/ui/common"
	"github.com/smtpscope/smtpscope/ui/keys"
	"github.com/smtpscope/smtpscope/ui/styles"
)

func testCtx() *common.Context {
	return &common.Context{Styles: styles.New(true), Keys: keys.Default(), Loc: time.UTC, Now: time.Now, Width: 80, Height: 24}
}

func testEmail() *core.Email {
	return &core.Email{
		ID: "e1", Subject: "Invoice", Size: 2048,
		BodyText: "first line\nsecond Line with line\nthird\n",
		Attachments: []core.Attachment{
			{Filename: "a.zip", ContentType: "application/zip", DetectedType: "application/zip", Size: 221, Part: "2"},
			{Filename: "invoice-with-a-rather-long-name.pdf.exe", DetectedType: "application/vnd.microsoft.portable-executable", Size: 334, Part: "2!invoice.pdf.exe", Depth: 1},
		},
	}
}

func loaded(ctx *common.Context, w, h int) *Model {
	m := New(ctx, api.Row{ID: "e1", Kind: api.KindEmail})
	m.SetSize(w, h)
	m.Loaded(LoadedMsg{ID: "e1", Email: testEmail()})
	return m
}

// TestTabsFit: every tab of an email is on the tab bar, whatever the
// width from 80 columns up: full names when they fit, short ones else.
func TestTabsFit(t *testing.T) {
	for _, w := range []int{80, 96, 120, 160} {
		m := loaded(testCtx(), w, 20)
		bar := ansi.Strip(strings.Split(m.View(), "\n")[0])
		for i := range emailTabs {
			if !strings.Contains(bar, string(rune('1'+i))+" ") {
				t.Errorf("at %d columns tab %d is not on the bar %q", w, i+1, bar)
			}
		}
		_, spans := m.tabBar(w)
		if end := spans[len(spans)-1][1]; end > w {
			t.Errorf("at %d columns the bar is %d cells wide", w, end)
		}
		full := strings.Contains(bar, "8 Submissions")
		if w >= 120 && !full || w == 80 && full {
			t.Errorf("at %d columns: %q", w, bar)
		}
	}
	// Very narrow: numbers, the current tab named.
	m := loaded(testCtx(), 40, 20)
	bar := ansi.Strip(strings.Split(m.View(), "\n")[0])
	if !strings.Contains(bar, "1 Sum") || !strings.Contains(bar, " 8 ") {
		t.Errorf("at 40 columns: %q", bar)
	}
}

// TestTabAt: a click on a tab's label selects that tab.
func TestTabAt(t *testing.T) {
	for _, w := range []int{80, 160} {
		m := loaded(testCtx(), w, 20)
		bar := ansi.Strip(strings.Split(m.View(), "\n")[0])
		for i := range emailTabs {
			x := strings.Index(bar, string(rune('1'+i))+" ")
			x = ansi.StringWidth(bar[:x])
			if got := m.TabAt(x); got != i {
				t.Errorf("at %d columns, column %d: tab %d, want %d", w, x, got, i)
			}
		}
		if got := m.TabAt(w + 5); got != -1 {
			t.Errorf("past the bar: tab %d", got)
		}
	}
}

// TestAttachmentColumns: the table's columns are as wide as their
// content (no 28-cell type column cutting a long type while the filename
// column is mostly blank), and fit the width, the widest giving way.
func TestAttachmentColumns(t *testing.T) {
	m := loaded(testCtx(), 160, 30)
	m.SetTab(TabAttachments)
	v := ansi.Strip(m.View())
	for _, want := range []string{"application/vnd.microsoft.portable-executable", "  invoice-with-a-rather-long-name.pdf.exe", "2!invoice.pdf.exe"} {
		if !strings.Contains(v, want) {
			t.Errorf("at 160 columns the table lacks %q:\n%s", want, v)
		}
	}
	var head string
	for _, l := range strings.Split(v, "\n") {
		if strings.HasPrefix(l, "FILENAME") {
			head = l
		}
	}
	// FILENAME is as wide as the longest (indented) name + 1 separator.
	if i := strings.Index(head, "DETECTED TYPE"); i != len("  invoice-with-a-rather-long-name.pdf.exe")+1 {
		t.Errorf("DETECTED TYPE at column %d: %q", i, head)
	}
	// Narrow: the filename gives way first, every line fits.
	m.SetSize(80, 30)
	v = ansi.Strip(m.View())
	for _, l := range strings.Split(v, "\n") {
		if w := ansi.StringWidth(l); w > 80 {
			t.Errorf("line of %d cells at 80 columns: %q", w, l)
		}
	}
	// The widest columns gave way first: filename and type end up as wide
	// (the part, narrower, is whole).
	if !strings.Contains(v, "\n  invoice-with-a-rather-… application/vnd.microsof… 334 B 2!invoice.pdf.exe") {
		t.Errorf("at 80 columns the widest columns did not give way first:\n%s", v)
	}
}

func keyPress(s string) tea.KeyPressMsg {
	switch s {
	case "enter":
		return tea.KeyPressMsg{Code: tea.KeyEnter}
	case "esc":
		return tea.KeyPressMsg{Code: tea.KeyEscape}
	case "backspace":
		return tea.KeyPressMsg{Code: tea.KeyBackspace}
	}
	r := []rune(s)
	return tea.KeyPressMsg{Code: r[0], Text: s}
}

func typeKeys(m *Model, keys ...string) {
	for _, k := range keys {
		m.Update(keyPress(k))
		m.Prepare()
	}
}

func typeText(m *Model, s string) {
	for _, r := range s {
		typeKeys(m, string(r))
	}
}

// TestFind: `/` opens the prompt, typing finds (smartcase), the prompt
// line counts ("2/3"), n and N go round the matches, the current one is
// highlighted, enter keeps the matches and the back key clears them.
func TestFind(t *testing.T) {
	ctx := testCtx()
	m := loaded(ctx, 80, 20)
	m.SetTab(TabBody)
	typeKeys(m, "/")
	if !m.Finding() {
		t.Fatal("/ did not open the find prompt")
	}
	typeText(m, "line")
	if got := m.FindStatus(); got != "1/3" {
		t.Fatalf("find line: %q, want 1/3 (smartcase: Line matches)", got)
	}
	v := m.View()
	if !regexp.MustCompile(`\n/line +1/3 `).MatchString(ansi.Strip(v)) {
		t.Errorf("the prompt line lacks the count:\n%s", ansi.Strip(v))
	}
	if !strings.Contains(v, ctx.Styles.MatchCur.Render("line")) || !strings.Contains(v, ctx.Styles.Match.Render("Line")) {
		t.Errorf("matches not highlighted:\n%q", v)
	}
	// Keys typed in the prompt are text, not commands (n, q, ?).
	typeKeys(m, "backspace", "backspace", "backspace", "backspace")
	typeText(m, "Line")
	if got := m.FindStatus(); got != "1/1" {
		t.Fatalf("find Line: %q, want 1/1 (a capital makes it case-sensitive)", got)
	}
	typeKeys(m, "backspace", "backspace", "backspace", "backspace")
	typeText(m, "line")
	typeKeys(m, "enter")
	if m.Finding() {
		t.Fatal("enter left the prompt open")
	}
	for _, step := range []struct{ key, want string }{{"n", "2/3"}, {"n", "3/3"}, {"n", "1/3"}, {"N", "3/3"}} {
		typeKeys(m, step.key)
		if got := m.FindStatus(); got != step.want {
			t.Fatalf("after %s: %q, want %s", step.key, got, step.want)
		}
	}
	if !m.ClearFind() || m.FindStatus() != "" || m.ClearFind() {
		t.Fatal("ClearFind did not clear once")
	}
	if strings.Contains(m.View(), ctx.Styles.Match.Render("line")) {
		t.Error("highlights left after clearing")
	}
	// esc in the prompt stops finding.
	typeKeys(m, "/")
	typeText(m, "zzz")
	if got := m.FindStatus(); got != "no match" {
		t.Fatalf("find zzz: %q", got)
	}
	typeKeys(m, "esc")
	if m.Finding() || m.FindStatus() != "" {
		t.Fatal("esc did not stop finding")
	}
}

// TestFindScrolls: the current match is brought on screen.
func TestFindScrolls(t *testing.T) {
	ctx := testCtx()
	m := New(ctx, api.Row{ID: "e1", Kind: api.KindEmail})
	m.SetSize(80, 12)
	var b strings.Builder
	for i := 0; i < 200; i++ {
		fmt.Fprintf(&b, "line %03d\n", i)
	}
	b.WriteString("the needle\n")
	m.Loaded(LoadedMsg{ID: "e1", Email: &core.Email{ID: "e1", BodyText: b.String()}})
	m.SetTab(TabBody)
	typeKeys(m, "/")
	typeText(m, "needle")
	typeKeys(m, "enter")
	if v := ansi.Strip(m.View()); !strings.Contains(v, "the needle") {
		t.Fatalf("the match is not on screen:\n%s", v)
	}
	// A find carried to another email jumps to its first match once loaded.
	m2 := New(ctx, api.Row{ID: "e2", Kind: api.KindEmail})
	m2.SetSize(80, 12)
	m2.SetTab(TabBody)
	m2.CarryFind(m)
	m2.Prepare()
	m2.Loaded(LoadedMsg{ID: "e2", Email: &core.Email{ID: "e2", BodyText: b.String()}})
	m2.Prepare()
	if v := ansi.Strip(m2.View()); !strings.Contains(v, "the needle") || !strings.Contains(v, "/needle  1/1") {
		t.Fatalf("carried find did not jump:\n%s", v)
	}
}

// TestDetailResizeNoBlank: scrolled to the end, a taller window shows
// more lines from above rather than blank lines below.
func TestDetailResizeNoBlank(t *testing.T) {
	m := New(testCtx(), api.Row{ID: "e1", Kind: api.KindEmail})
	m.SetSize(80, 12)
	var b strings.Builder
	for i := 0; i < 40; i++ {
		fmt.Fprintf(&b, "line %03d\n", i)
	}
	m.Loaded(LoadedMsg{ID: "e1", Email: &core.Email{ID: "e1", BodyText: b.String()}})
	m.SetTab(TabBody)
	m.Prepare()
	typeKeys(m, "G")
	m.SetSize(80, 30)
	m.Prepare()
	// 42 lines (heading, 40, blank) in 28: lines 14… fill the screen.
	v := ansi.Strip(m.View())
	if n := strings.Count(v, "line 0"); n != 27 {
		t.Fatalf("%d lines of text on a 28-line body after growing:\n%s", n, v)
	}
}

// TestFindCap: matches are counted up to maxHits, then "N+".
func TestFindCap(t *testing.T) {
	m := New(testCtx(), api.Row{ID: "e1", Kind: api.KindEmail})
	m.SetSize(80, 12)
	m.Loaded(LoadedMsg{ID: "e1", Email: &core.Email{ID: "e1", BodyText: strings.Repeat("ab ab\n", maxHits)}})
	m.SetTab(TabBody)
	typeKeys(m, "/", "a")
	if got, want := m.FindStatus(), fmt.Sprintf("1/%d+", maxHits); got != want {
		t.Fatalf("status %q, want %q", got, want)
	}
}

// TestSummaryCommunityID: the Summary's Session block shows the session's
// Community ID when both ends are known (stored, or computed for a record
// stored before the field), and no such line when they are not.
func TestSummaryCommunityID(t *testing.T) {
	want := core.CommunityID("203.0.113.5", 40000, "192.0.2.25", 25)
	for _, tc := range []struct {
		si   core.SessionInfo
		want string
	}{
		{core.SessionInfo{UID: "s1", SourceIP: "203.0.113.5", SourcePort: 40000, DestIP: "192.0.2.25", DestPort: 25, CommunityID: want}, want},
		{core.SessionInfo{UID: "s1", SourceIP: "203.0.113.5", SourcePort: 40000, DestIP: "192.0.2.25", DestPort: 25}, want},
		{core.SessionInfo{UID: "s1", SourceIP: "203.0.113.5", SourcePort: 40000}, ""},
	} {
		m := New(testCtx(), api.Row{ID: "s1.0", Kind: api.KindEmail})
		m.SetSize(100, 80)
		e := testEmail()
		e.ID, e.Session = "s1.0", tc.si
		m.Loaded(LoadedMsg{ID: "s1.0", Email: e})
		view := ansi.Strip(m.View())
		if !strings.Contains(view, "Connection") {
			t.Fatalf("no Session block in the summary:\n%s", view)
		}
		if got := strings.Contains(view, "Community ID"); got != (tc.want != "") || (tc.want != "" && !strings.Contains(view, tc.want)) {
			t.Errorf("session %+v: community id line %v, want %q:\n%s", tc.si, got, tc.want, view)
		}
	}
}

// TestSummaryEvidencePcap: the Session block names the evidence pcaps of
// a live capture (session.pcap), sanitized, and has no such line without.
func TestSummaryEvidencePcap(t *testing.T) {
	for _, pcaps := range [][]string{{"/srv/pcap/smtp-20261207T160405Z.pcap", "/srv/pcap/\x1b[31mred.pcap"}, nil} {
		m := New(testCtx(), api.Row{ID: "s1.0", Kind: api.KindEmail})
		m.SetSize(120, 80)
		e := testEmail()
		e.ID, e.Session = "s1.0", core.SessionInfo{UID: "s1", SourceIP: "203.0.113.5", SourcePort: 40000, Pcap: pcaps}
		m.Loaded(LoadedMsg{ID: "s1.0", Email: e})
		raw := m.View()
		view := ansi.Strip(raw)
		if got := strings.Contains(view, "Evidence pcap"); got != (pcaps != nil) {
			t.Errorf("pcaps %q: Evidence pcap line %v:\n%s", pcaps, got, view)
		}
		if pcaps != nil && (!strings.Contains(view, "/srv/pcap/smtp-20261207T160405Z.pcap") || strings.Contains(raw, "\x1b[31mred")) {
			t.Errorf("evidence pcaps not shown, or not sanitized:\n%q", raw)
		}
	}
}
