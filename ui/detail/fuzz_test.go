package detail

import (
	"strings"
	"testing"

	"github.com/charmbracelet/x/ansi"

	"github.com/smtpscope/smtpscope/collector/api"
	"github.com/smtpscope/smtpscope/core"
)

// FuzzFind: whatever the body and whatever is typed or pasted in the find
// prompt (invalid UTF-8, escapes, regexp syntax), finding never panics,
// every match is inside its line, the count is consistent and the frame
// stays within the width.
func FuzzFind(f *testing.F) {
	f.Add("first line\nsecond Line\n", "line", 3)
	f.Add("a\x1b[31mb\u202e\nÉé", "é", 1)
	f.Add("x", "(?i)[", 0)
	f.Add("\xff\xfe", "\xff", 2)
	f.Fuzz(func(t *testing.T, body, query string, steps int) {
		m := New(testCtx(), api.Row{ID: "e1", Kind: api.KindEmail})
		m.SetSize(60, 10)
		m.Loaded(LoadedMsg{ID: "e1", Email: &core.Email{ID: "e1", BodyText: body}})
		m.SetTab(TabBody)
		m.Prepare()
		m.StartFind()
		m.setFind(query)
		m.find.editing = false
		for i := 0; i < steps%8; i++ {
			m.step(1)
		}
		for _, h := range m.find.hits {
			p := ansi.Strip(m.lines[h.line])
			if h.start < 0 || h.end > len(p) || h.start >= h.end {
				t.Fatalf("match %+v outside line %q", h, p)
			}
		}
		if st := m.FindStatus(); m.find.query != "" && st == "" {
			t.Fatal("no status for an active find")
		}
		for _, l := range strings.Split(m.View(), "\n") {
			if w := ansi.StringWidth(l); w > 60 {
				t.Fatalf("line of %d cells: %q", w, l)
			}
		}
	})
}
