package cmdline

import (
	"strings"
	"testing"
	"unicode/utf8"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/smtpscope/smtpscope/collector/api"
	"github.com/smtpscope/smtpscope/ui/common"
	"github.com/smtpscope/smtpscope/ui/keys"
	"github.com/smtpscope/smtpscope/ui/styles"
)

func TestParse(t *testing.T) {
	for in, want := range map[string]RunMsg{
		"sort size":           {Sort, "size"},
		":sort -time":         {Sort, "-time"},
		"  sort   -iocs  ":    {Sort, "-iocs"},
		"export /tmp/a b.eml": {Export, "/tmp/a b.eml"},
		"resubmit":            {Resubmit, ""},
		"resubmit default":    {Resubmit, "default"},
		"q":                   {Quit, ""},
		"quit":                {Quit, ""},
		"help":                {Help, ""},
	} {
		got, err := Parse(in)
		if err != nil || got != want {
			t.Errorf("Parse(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	for in, want := range map[string]string{
		"":            "no command",
		"bogus":       `unknown command "bogus"`,
		"sort":        "usage: sort [-]FIELD",
		"export":      "usage: export PATH",
		"quit now":    "quit takes no argument",
		"\x1b[31mred": `unknown command "\\x1b[31mred"`,
	} {
		if _, err := Parse(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Parse(%q): %v, want %q", in, err, want)
		}
	}
}

func newModel() *Model {
	return New(&common.Context{Styles: styles.NewPlain(), Keys: keys.Default(), Width: 80, Height: 24})
}

func typeKeys(m *Model, s string) tea.Cmd {
	var cmd tea.Cmd
	for _, r := range s {
		_, cmd = m.Update(tea.KeyPressMsg{Code: r, Text: string(r)})
	}
	return cmd
}

func press(m *Model, code rune) tea.Msg {
	_, cmd := m.Update(tea.KeyPressMsg{Code: code})
	if cmd == nil {
		return nil
	}
	return cmd()
}

func TestComplete(t *testing.T) {
	m := newModel()
	m.SetValues(Sort, api.SortFields)
	m.SetValues(Resubmit, []string{"default", "deep"})
	for _, c := range []struct{ typed, want, hint string }{
		{"so", "sort ", ""},
		{"q", "quit", ""},
		{"e", "export ", ""},
		{"x", "x", "no completion"},
		{"sort si", "sort size", ""},
		{"sort -a", "sort -attachments", ""},
		{"sort s", "sort s", "size  sender  status"},
		{"sort se", "sort sender", ""},
		{"resubmit d", "resubmit de", "default  deep"},
		{"bogus x", "bogus x", "no such command"},
	} {
		m.Open()
		typeKeys(m, c.typed)
		press(m, tea.KeyTab)
		if m.Value() != c.want || m.Hint != c.hint {
			t.Errorf("%q + tab = %q (hint %q), want %q (hint %q)", c.typed, m.Value(), m.Hint, c.want, c.hint)
		}
	}
}

func TestRunCancelAndEdit(t *testing.T) {
	m := newModel()
	m.Open()
	typeKeys(m, "sort -sizeX")
	press(m, tea.KeyBackspace)
	if msg := press(m, tea.KeyEnter); msg != (RunMsg{Sort, "-size"}) || m.Focused() {
		t.Fatalf("enter: %#v, focused %v", msg, m.Focused())
	}
	m.Open()
	typeKeys(m, "nope")
	if msg, ok := press(m, tea.KeyEnter).(ErrorMsg); !ok || !strings.Contains(msg.Err, `unknown command "nope"`) {
		t.Fatalf("unknown command: %#v", msg)
	}
	m.Open()
	typeKeys(m, "so")
	if _, ok := press(m, tea.KeyEscape).(CancelMsg); !ok || m.Focused() {
		t.Fatal("esc does not cancel")
	}
	// Backspace on an empty line leaves it, as in vim.
	m.Open()
	if _, ok := press(m, tea.KeyBackspace).(CancelMsg); !ok || m.Focused() {
		t.Fatal("backspace on an empty line does not leave")
	}
	// Ctrl chords type nothing; paste is one line.
	m.Open()
	m.Update(tea.KeyPressMsg{Code: 'x', Mod: tea.ModCtrl, Text: "x"})
	m.Update(tea.PasteMsg{Content: "export a\nb"})
	if m.Value() != "export a b" {
		t.Fatalf("value %q", m.Value())
	}
}

// Whatever is typed, the line drawn is one sanitized line no wider than
// the screen.
func FuzzCommandLine(f *testing.F) {
	for _, s := range []string{"sort -size", "export /tmp/x", "\x1b]52;c;AAAA\x07", "q", "resubmit \u202egroup"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m := newModel()
		m.SetValues(Sort, api.SortFields)
		m.Open()
		m.Update(tea.PasteMsg{Content: s})
		press(m, tea.KeyTab)
		v := m.View()
		if strings.ContainsAny(v, "\x1b\x07\n\u202e") || !utf8.ValidString(v) {
			t.Fatalf("line %q", v)
		}
		if ansi.StringWidth(v) > 80 {
			t.Fatalf("line wider than 80: %q", v)
		}
		_, _ = Parse(s)
	})
}
