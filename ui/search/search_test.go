package search

import (
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"
	"github.com/charmbracelet/x/exp/teatest/v2"

	"github.com/smtpscope/smtpscope/ui/common"
	"github.com/smtpscope/smtpscope/ui/keys"
	"github.com/smtpscope/smtpscope/ui/styles"
)

// harness runs the bar alone, as the root does: a run query is
// remembered and checked by check (message and 1-based column in
// characters); with refocus the bar is then emptied and edited again.
// The frame's last line counts the queries run (SubmitMsg arrives after
// the keys that follow enter).
type harness struct {
	bar     *Model
	check   func(q string) (string, int)
	refocus bool
	runs    int
	last    atomic.Pointer[string]
}

func (h *harness) Init() tea.Cmd { h.bar.Focus(); return nil }

func (h *harness) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case SubmitMsg:
		h.bar.Remember(msg.Query)
		h.bar.Err, h.bar.ErrCol = h.check(msg.Query)
		h.runs++
		if h.refocus {
			h.bar.SetValue("")
			h.bar.Focus()
		}
		return h, nil
	}
	_, cmd := h.bar.Update(msg)
	return h, cmd
}

func (h *harness) View() tea.View {
	v := h.bar.View() + "\nruns " + strconv.Itoa(h.runs)
	h.last.Store(&v)
	return tea.NewView(v)
}

func start(t *testing.T, check func(string) (string, int)) (*harness, *teatest.TestModel) {
	t.Helper()
	ctx := &common.Context{Styles: styles.NewPlain(), Keys: keys.Default(), Width: 80, Height: 10}
	h := &harness{bar: New(ctx), check: check}
	h.bar.SetSize(80, 1)
	if check == nil {
		h.check = func(string) (string, int) { return "", 0 }
	}
	tm := teatest.NewTestModel(t, h, teatest.WithInitialTermSize(80, 10))
	t.Cleanup(func() { _ = tm.Quit() })
	return h, tm
}

// waitLine waits until the first line of the bar is want after runs
// queries; it returns the bar's lines.
func waitLine(t *testing.T, h *harness, runs int, want string) []string {
	t.Helper()
	var lines []string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if p := h.last.Load(); p != nil {
			lines = strings.Split(ansi.Strip(*p), "\n")
			if lines[0] == want && lines[len(lines)-1] == "runs "+strconv.Itoa(runs) {
				return lines[:len(lines)-1]
			}
		}
	}
	t.Fatalf("bar never showed %q after %d queries; last: %q", want, runs, lines)
	return nil
}

// history quits and returns the bar's history.
func history(t *testing.T, tm *teatest.TestModel) []string {
	t.Helper()
	if err := tm.Quit(); err != nil {
		t.Fatal(err)
	}
	return tm.FinalModel(t, teatest.WithFinalTimeout(10*time.Second)).(*harness).bar.History()
}

func press(tm *teatest.TestModel, ks ...tea.KeyPressMsg) {
	for _, k := range ks {
		tm.Send(k)
	}
}

var (
	enter    = tea.KeyPressMsg{Code: tea.KeyEnter}
	up       = tea.KeyPressMsg{Code: tea.KeyUp}
	down     = tea.KeyPressMsg{Code: tea.KeyDown}
	home     = tea.KeyPressMsg{Code: 'a', Mod: tea.ModCtrl}
	end      = tea.KeyPressMsg{Code: tea.KeyEnd}
	wordLeft = tea.KeyPressMsg{Code: 'b', Mod: tea.ModAlt}
	delWord  = tea.KeyPressMsg{Code: 'w', Mod: tea.ModCtrl}
	ctrlX    = tea.KeyPressMsg{Code: 'x', Mod: tea.ModCtrl, Text: "x"}
)

// TestSearchBarTyping edits through textinput with the keymap's keys:
// typing, line start/end, word left, delete word; unbound ctrl chords and
// control characters insert nothing; enter runs the trimmed query.
func TestSearchBarTyping(t *testing.T) {
	h, tm := start(t, nil)
	tm.Type("subject:x")
	press(tm, home)
	tm.Type("from:a ")
	waitLine(t, h, 0, "/ from:a ▏subject:x")
	press(tm, end)
	tm.Type(" yy zz")
	press(tm, wordLeft, ctrlX)
	tm.Type("w")
	waitLine(t, h, 0, "/ from:a subject:x yy w▏zz")
	press(tm, delWord, delWord)
	waitLine(t, h, 0, "/ from:a subject:x ▏zz")
	tm.Send(tea.PasteMsg{Content: "a\x1b[31m\u0085b\r\nc"})
	waitLine(t, h, 0, "/ from:a subject:x a[31mb c▏zz")
	press(tm, enter)
	waitLine(t, h, 1, "/ from:a subject:x a[31mb czz")
	if got := history(t, tm); len(got) != 1 || got[0] != "from:a subject:x a[31mb czz" {
		t.Fatalf("history = %q", got)
	}
}

// TestSearchBarHistory: ↑ goes to older queries and stops at the oldest,
// ↓ comes back and ends on the text being typed before.
func TestSearchBarHistory(t *testing.T) {
	h, tm := start(t, nil)
	h.refocus = true
	for i, q := range []string{"q1", "q2", "q2", "  "} {
		tm.Type(q)
		press(tm, enter)
		waitLine(t, h, i+1, "/ ▏")
	}
	tm.Type("draft")
	waitLine(t, h, 4, "/ draft▏")
	press(tm, up)
	waitLine(t, h, 4, "/ q2▏")
	press(tm, up, up, up)
	waitLine(t, h, 4, "/ q1▏")
	press(tm, down)
	waitLine(t, h, 4, "/ q2▏")
	press(tm, down)
	waitLine(t, h, 4, "/ draft▏")
	if got := history(t, tm); len(got) != 2 {
		t.Fatalf("history = %q, want q1 q2 (no repeat, no blank)", got)
	}
}

// TestSearchBarErrorCaret: the caret stands under the character the
// parser's column names, whatever comes before it: wide characters (two
// cells) and characters the sanitizer spells out (\u202e, six cells).
func TestSearchBarErrorCaret(t *testing.T) {
	check := func(q string) (string, int) {
		i := strings.Index(q, "bogus:")
		if i < 0 {
			return "", 0
		}
		return `unknown field "bogus"`, len([]rune(q[:i])) + 1
	}
	h, tm := start(t, check)
	tm.Type("subject:日本 \u202ex bogus:1")
	press(tm, enter)
	lines := waitLine(t, h, 1, `/ subject:日本 \u202ex bogus:1`)
	if len(lines) != 3 || lines[2] != `✗ unknown field "bogus"` {
		t.Fatalf("error lines = %q", lines)
	}
	want := ansi.StringWidth(lines[0][:strings.Index(lines[0], "bogus")])
	if got := strings.Index(lines[1], "^"); got != want || strings.TrimSpace(lines[1]) != "^" {
		t.Fatalf("caret at %d, want %d (under bogus):\n%s\n%s", got, want, lines[0], lines[1])
	}
}

// TestSearchBarDeleteWordForward: alt+d deletes the spaces and the word
// after the cursor, also when that word ends the text (textinput's own
// deleteWordForward indexes past the end there and panics: bubbles
// v2.2.1), and does nothing at the end.
func TestSearchBarDeleteWordForward(t *testing.T) {
	for _, c := range []struct {
		value   string
		pos     int
		want    string
		wantPos int
	}{
		{"a", 0, "", 0},
		{"ab", 1, "a", 1},
		{"a b", 1, "a", 1},
		{"a  bc d", 1, "a d", 1},
		{"a ", 1, "a", 1},
		{"ab", 2, "ab", 2},
		{" ", 0, "", 0},
	} {
		ctx := &common.Context{Styles: styles.NewPlain(), Keys: keys.Default()}
		m := New(ctx)
		m.Focus()
		m.SetValue(c.value)
		m.input.SetCursor(c.pos)
		m.Update(tea.KeyPressMsg{Code: 'd', Mod: tea.ModAlt})
		if m.Value() != c.want || m.input.Position() != c.wantPos {
			t.Errorf("%q at %d: alt+d gave %q at %d, want %q at %d", c.value, c.pos, m.Value(), m.input.Position(), c.want, c.wantPos)
		}
	}
}
