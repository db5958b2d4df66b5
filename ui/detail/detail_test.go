package detail

import (
	"strings"
	"testing"
	"time"

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
// column is mostly blank), and fit the width.
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
	// The filename went down to 12 cells before the type was cut.
	if !strings.Contains(v, "\n  invoice-w… application/vnd.microsoft.portable-ex… ") {
		t.Errorf("at 80 columns the filename did not give way first:\n%s", v)
	}
}
