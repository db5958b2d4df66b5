// Package cmdline is the `:` command line (k9s style): one line of text
// read after the command key, run with the run key, left with the cancel
// key, completed with the complete key (command names, then the values
// of the command's argument the root gives with SetValues). It only reads
// and parses: the root runs what RunMsg names. Commands is the one table
// of commands, the source of the help screen's list and of the README's.
// Every key comes from the keymap (keys.CommandKeys); the text is drawn
// through ui/sanitize.
package cmdline

import (
	"fmt"
	"slices"
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/smtpscope/smtpscope/ui/common"
	"github.com/smtpscope/smtpscope/ui/sanitize"
)

// Command is one command of the command line.
type Command struct {
	Name    string
	Aliases []string
	// Arg names the argument in the help ("" for none); Optional says
	// the command runs without it.
	Arg      string
	Optional bool
	Help     string
}

// Command names.
const (
	Sort     = "sort"
	Export   = "export"
	Resubmit = "resubmit"
	Save     = "save"
	Load     = "load"
	Forget   = "forget"
	Help     = "help"
	Quit     = "quit"
)

// Commands is every command, in the order the help lists them.
var Commands = []Command{
	{Name: Sort, Arg: "[-]FIELD", Help: "sort the list by time, size, sender, attachments, iocs or status ('-': descending)"},
	{Name: Export, Arg: "PATH", Help: "export the selected row to PATH (the export dialog asks what)"},
	{Name: Resubmit, Arg: "GROUP", Optional: true, Help: "resubmit the selected email, to node group GROUP (else asks)"},
	{Name: Save, Arg: "NAME", Help: "save the query and sort under NAME (kept across restarts)"},
	{Name: Load, Arg: "NAME", Help: "run the saved search NAME (tab lists them)"},
	{Name: Forget, Arg: "NAME", Help: "delete the saved search NAME"},
	{Name: Help, Help: "show the keys and these commands"},
	{Name: Quit, Aliases: []string{"q"}, Help: "quit"},
}

// HelpRows are the help screen's rows: ":usage" and what it does.
func HelpRows(prompt string) [][2]string {
	out := make([][2]string, len(Commands))
	for i, c := range Commands {
		out[i] = [2]string{prompt + c.Usage(), c.Help}
	}
	return out
}

// Lookup finds a command by name or alias.
func Lookup(name string) (Command, bool) {
	for _, c := range Commands {
		if c.Name == name || slices.Contains(c.Aliases, name) {
			return c, true
		}
	}
	return Command{}, false
}

// Usage is "name ARG" as the help shows it.
func (c Command) Usage() string {
	u := c.Name
	for _, a := range c.Aliases {
		u += "|" + a
	}
	if c.Arg != "" {
		if c.Optional {
			return u + " [" + c.Arg + "]"
		}
		return u + " " + c.Arg
	}
	return u
}

// maxLine bounds the text typed or pasted (characters).
const maxLine = 1024

// RunMsg asks the root to run a command; Arg is the rest of the line,
// trimmed (it may hold spaces: a path).
type RunMsg struct{ Name, Arg string }

// ErrorMsg is a line that names no command, or lacks an argument: the
// root shows Err in the status bar.
type ErrorMsg struct{ Err string }

// CancelMsg is sent when the user leaves the line without running it.
type CancelMsg struct{}

// Parse reads a command line (a leading ':' allowed).
func Parse(line string) (RunMsg, error) {
	line = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(line), ":"))
	name, arg, _ := strings.Cut(line, " ")
	arg = strings.TrimSpace(arg)
	if name == "" {
		return RunMsg{}, fmt.Errorf("no command (commands: %s)", names())
	}
	c, ok := Lookup(name)
	if !ok {
		return RunMsg{}, fmt.Errorf("unknown command %q (commands: %s)", sanitize.Line(name), names())
	}
	if c.Arg == "" && arg != "" {
		return RunMsg{}, fmt.Errorf("%s takes no argument", c.Name)
	}
	if c.Arg != "" && !c.Optional && arg == "" {
		return RunMsg{}, fmt.Errorf("usage: %s", c.Usage())
	}
	return RunMsg{Name: c.Name, Arg: arg}, nil
}

func names() string {
	out := make([]string, len(Commands))
	for i, c := range Commands {
		out[i] = c.Name
	}
	return strings.Join(out, ", ")
}

// Model is the command line.
type Model struct {
	ctx    *common.Context
	input  []rune
	active bool
	width  int
	values map[string][]string
	// Hint is what the last completion found when it was not one (the
	// candidates), drawn after the text.
	Hint string
}

// New returns a closed command line.
func New(ctx *common.Context) *Model { return &Model{ctx: ctx, values: map[string][]string{}} }

// Init does nothing.
func (m *Model) Init() tea.Cmd { return nil }

// SetSize sets the width (the line is one line).
func (m *Model) SetSize(w, _ int) { m.width = w }

// SetValues gives the values the argument of command name completes to.
func (m *Model) SetValues(name string, vals []string) { m.values[name] = vals }

// Open starts reading a line.
func (m *Model) Open() { m.active, m.input, m.Hint = true, nil, "" }

// Focused reports whether a line is being read.
func (m *Model) Focused() bool { return m.active }

// Value is the text typed.
func (m *Model) Value() string { return string(m.input) }

// ShortHelp is the hint line while reading.
func (m *Model) ShortHelp() []key.Binding {
	k := m.ctx.Keys.Command
	return []key.Binding{k.Run, k.Complete, k.Cancel}
}

// FullHelp is every key of the command line.
func (m *Model) FullHelp() [][]key.Binding {
	k := m.ctx.Keys.Command
	return [][]key.Binding{{k.Run, k.Complete, k.Cancel, k.Backspace, k.Clear}}
}

// Update edits, completes, runs or cancels.
func (m *Model) Update(msg tea.Msg) (common.Component, tea.Cmd) {
	k := m.ctx.Keys.Command
	switch msg := msg.(type) {
	case tea.PasteMsg:
		m.typeText(msg.Content)
	case tea.KeyPressMsg:
		switch {
		case key.Matches(msg, k.Run):
			m.active = false
			r, err := Parse(m.Value())
			if err != nil {
				e := err.Error()
				return m, func() tea.Msg { return ErrorMsg{Err: e} }
			}
			return m, func() tea.Msg { return r }
		case key.Matches(msg, k.Cancel):
			m.active = false
			return m, func() tea.Msg { return CancelMsg{} }
		case key.Matches(msg, k.Complete):
			m.complete()
		case key.Matches(msg, k.Backspace):
			if len(m.input) == 0 {
				m.active = false
				return m, func() tea.Msg { return CancelMsg{} }
			}
			m.input = m.input[:len(m.input)-1]
			m.Hint = ""
		case key.Matches(msg, k.Clear):
			m.input, m.Hint = nil, ""
		case msg.Mod&(tea.ModCtrl|tea.ModAlt) == 0:
			m.typeText(msg.Text)
		}
	}
	return m, nil
}

// typeText adds printable text (a pasted line break is a space).
func (m *Model) typeText(s string) {
	for _, r := range s {
		if r == '\n' || r == '\t' {
			r = ' '
		}
		if r >= 0x20 && r != 0x7f && len(m.input) < maxLine {
			m.input = append(m.input, r)
		}
	}
	m.Hint = ""
}

// complete completes the command name, or the argument from the values
// of its command: the one candidate with a space after a command name, or
// the longest common prefix of several (listed in Hint).
func (m *Model) complete() {
	line := strings.TrimLeft(m.Value(), " ")
	name, arg, hasArg := strings.Cut(line, " ")
	var cands []string
	prefix, word := "", name
	if !hasArg {
		for _, c := range Commands {
			if strings.HasPrefix(c.Name, name) {
				cands = append(cands, c.Name)
			}
		}
	} else {
		c, ok := Lookup(name)
		if !ok {
			m.Hint = "no such command"
			return
		}
		arg = strings.TrimLeft(arg, " ")
		prefix, word = c.Name+" ", arg
		if c.Name == Sort && strings.HasPrefix(arg, "-") {
			prefix, word = prefix+"-", arg[1:]
		}
		for _, v := range m.values[c.Name] {
			if strings.HasPrefix(v, word) {
				cands = append(cands, v)
			}
		}
	}
	switch len(cands) {
	case 0:
		m.Hint = "no completion"
	case 1:
		m.input = []rune(prefix + cands[0])
		if !hasArg {
			if c, _ := Lookup(cands[0]); c.Arg != "" {
				m.input = append(m.input, ' ')
			}
		}
		m.Hint = ""
	default:
		m.input = []rune(prefix + commonPrefix(cands))
		m.Hint = strings.Join(cands, "  ")
	}
}

func commonPrefix(ss []string) string {
	p := ss[0]
	for _, s := range ss[1:] {
		for !strings.HasPrefix(s, p) {
			p = p[:len(p)-1]
		}
	}
	return p
}

// View is the line: the command key, the text and its cursor, the
// completion hint.
func (m *Model) View() string {
	s := m.ctx.Styles
	text := sanitize.Line(m.Value())
	if s.Plain {
		text += "▏"
	} else {
		text += s.Cursor.Render(" ")
	}
	line := s.Accent.Render(m.ctx.Keys.List.Command.Help().Key) + text
	if m.Hint != "" {
		line += "  " + s.Muted.Render(common.Trunc(m.Hint, max(m.width-ansi.StringWidth(line)-2, 1)))
	}
	if ansi.StringWidth(line) > m.width {
		line = ansi.Truncate(line, max(m.width, 0), "…")
	}
	return line
}
