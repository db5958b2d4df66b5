package search

import (
	"strings"
	"testing"
	"unicode/utf8"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/smtpscope/smtpscope/ui/common"
	"github.com/smtpscope/smtpscope/ui/keys"
	"github.com/smtpscope/smtpscope/ui/styles"
)

// fuzzKeys are the presses ops bytes pick from (beside typing and paste).
var fuzzKeys = []tea.KeyPressMsg{
	{Code: tea.KeyLeft}, {Code: tea.KeyRight}, {Code: tea.KeyHome}, {Code: tea.KeyEnd},
	{Code: tea.KeyBackspace}, {Code: tea.KeyDelete}, {Code: 'w', Mod: tea.ModCtrl},
	{Code: 'd', Mod: tea.ModAlt}, {Code: 'b', Mod: tea.ModAlt}, {Code: 'f', Mod: tea.ModAlt},
	{Code: 'u', Mod: tea.ModCtrl}, {Code: 'k', Mod: tea.ModCtrl}, {Code: tea.KeyUp}, {Code: tea.KeyDown},
	{Code: tea.KeyEnter}, {Code: tea.KeyEscape}, {Code: 'z', Mod: tea.ModCtrl, Text: "z"},
}

// FuzzSearchBar edits the bar with any keys and pasted text (hostile
// input: escapes, bidi, invalid UTF-8), runs queries and shows errors at
// any column: the bar never panics, never draws a control character,
// never draws wider than its width, and draws at most one caret.
func FuzzSearchBar(f *testing.F) {
	f.Add([]byte{0, 1, 14, 2}, "subject:x bogus:1", 11, 80)
	f.Add([]byte{4, 4, 12, 13, 14, 12}, "\x1b]52;c;aGk=\x07\u202e日本\xff", 3, 10)
	f.Add([]byte{200, 6, 7, 255, 14}, "a\r\nb\tc\u0085", -5, 2)
	f.Add([]byte{200, 2, 7}, "a", 0, 80) // paste, home, alt+d: textinput's own panics
	f.Fuzz(func(t *testing.T, ops []byte, text string, col, width int) {
		ctx := &common.Context{Styles: styles.NewPlain(), Keys: keys.Default()}
		m := New(ctx)
		m.SetSize(min(max(width, 4), 300), 1)
		m.Focus()
		if len(ops) > 256 {
			ops = ops[:256] // each key costs O(query): keep executions short
		}
		for i, op := range ops {
			switch {
			case int(op) < len(fuzzKeys):
				m.Update(fuzzKeys[op])
			case op%2 == 0:
				m.Update(tea.PasteMsg{Content: text})
			default:
				r := []rune(text + "x")[i%(utf8.RuneCountInString(text)+1)]
				m.Update(tea.KeyPressMsg{Code: r, Text: string(r)})
			}
			if !m.Focused() {
				m.Remember(m.Value())
				m.Err, m.ErrCol = text, col
				m.Focus()
			}
			checkBar(t, m)
		}
		m.Blur()
		checkBar(t, m)
	})
}

func checkBar(t *testing.T, m *Model) {
	t.Helper()
	lines := m.Lines()
	if strings.Count(strings.Join(lines, "\n"), "^") > strings.Count(m.Value()+m.Err, "^")+1 {
		t.Fatalf("more than one caret: %q", lines)
	}
	for _, l := range lines {
		if !utf8.ValidString(l) || strings.ContainsFunc(l, func(r rune) bool { return r < 0x20 || (r >= 0x7f && r <= 0x9f) }) {
			t.Fatalf("control or invalid UTF-8 in %q", l)
		}
		if w := ansi.StringWidth(l); w > m.width {
			t.Fatalf("line %d cells wide in %d: %q", w, m.width, l)
		}
	}
}
