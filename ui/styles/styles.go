// Package styles is the one place the TUI's colours and text styles are
// defined, for dark and light terminals, plus a Plain set with no styling
// at all (used by tests that must see every byte the data contributes).
package styles

import (
	"image/color"

	"charm.land/lipgloss/v2"
)

// Styles are every style the screens use.
type Styles struct {
	Dark  bool
	Plain bool

	Title     lipgloss.Style // app name in the header
	Header    lipgloss.Style // header line
	Muted     lipgloss.Style
	Accent    lipgloss.Style
	Bold      lipgloss.Style
	Error     lipgloss.Style
	Warn      lipgloss.Style
	OK        lipgloss.Style
	Escaped   lipgloss.Style // unused by default: sanitized text stays plain
	Selected  lipgloss.Style // the selected row
	Match     lipgloss.Style // a match of the detail's find
	MatchCur  lipgloss.Style // the current match (n/N move it)
	ColHeader lipgloss.Style // table column headings
	Panel     lipgloss.Style // facet panel frame
	PanelHead lipgloss.Style
	Tab       lipgloss.Style
	TabActive lipgloss.Style
	Label     lipgloss.Style // "Subject:" in the summary
	Client    lipgloss.Style // transcript: client commands
	Server    lipgloss.Style // transcript: server replies
	Data      lipgloss.Style // transcript: message bytes
	Anomaly   lipgloss.Style
	StatusBar lipgloss.Style
	StatusKey lipgloss.Style
	HelpKey   lipgloss.Style
	HelpDesc  lipgloss.Style
	Dialog    lipgloss.Style
	Input     lipgloss.Style
	Cursor    lipgloss.Style

	Queued   lipgloss.Style
	Retrying lipgloss.Style
	Sent     lipgloss.Style
	Failed   lipgloss.Style
}

// New returns the styles for a dark or light background.
func New(dark bool) *Styles {
	ld := lipgloss.LightDark(dark)
	c := func(light, darkc string) color.Color { return ld(lipgloss.Color(light), lipgloss.Color(darkc)) }
	fg := c("#1f2328", "#d0d7de")
	muted := c("#6e7781", "#8b949e")
	accent := c("#0550ae", "#79c0ff")
	red := c("#cf222e", "#ff7b72")
	yellow := c("#9a6700", "#e3b341")
	green := c("#1a7f37", "#3fb950")
	selBG := c("#ddf4ff", "#1f3a5f")
	barBG := c("#eaeef2", "#30363d")
	s := &Styles{Dark: dark}
	n := lipgloss.NewStyle
	s.Title = n().Bold(true).Foreground(accent)
	s.Header = n().Foreground(fg)
	s.Muted = n().Foreground(muted)
	s.Accent = n().Foreground(accent)
	s.Bold = n().Bold(true)
	s.Error = n().Foreground(red).Bold(true)
	s.Warn = n().Foreground(yellow)
	s.OK = n().Foreground(green)
	s.Escaped = n()
	s.Selected = n().Background(selBG).Foreground(fg).Bold(true)
	s.Match = n().Background(c("#fff8c5", "#4d3b00")).Foreground(fg)
	s.MatchCur = n().Background(yellow).Foreground(c("#ffffff", "#0d1117")).Bold(true)
	s.ColHeader = n().Foreground(muted).Bold(true).Underline(true)
	s.Panel = n().Border(lipgloss.NormalBorder(), false, true, false, false).BorderForeground(muted).PaddingRight(1)
	s.PanelHead = n().Foreground(accent).Bold(true)
	s.Tab = n().Foreground(muted).Padding(0, 1)
	s.TabActive = n().Foreground(accent).Bold(true).Underline(true).Padding(0, 1)
	s.Label = n().Foreground(muted)
	s.Client = n().Foreground(red)
	s.Server = n().Foreground(accent)
	s.Data = n().Foreground(muted)
	s.Anomaly = n().Foreground(yellow).Italic(true)
	s.StatusBar = n().Background(barBG).Foreground(fg)
	s.StatusKey = n().Background(barBG).Foreground(accent).Bold(true)
	s.HelpKey = n().Foreground(accent).Bold(true)
	s.HelpDesc = n().Foreground(muted)
	s.Dialog = n().Border(lipgloss.RoundedBorder()).BorderForeground(accent).Padding(0, 1)
	s.Input = n().Foreground(fg)
	s.Cursor = n().Reverse(true)
	s.Queued = n().Foreground(muted)
	s.Retrying = n().Foreground(yellow)
	s.Sent = n().Foreground(green)
	s.Failed = n().Foreground(red).Bold(true)
	return s
}

// NewPlain returns styles with no colour or attribute at all: a rendered
// frame then holds no escape sequence of ours. Borders keep their shape.
func NewPlain() *Styles {
	n := lipgloss.NewStyle
	s := &Styles{Dark: true, Plain: true}
	for _, p := range []*lipgloss.Style{&s.Title, &s.Header, &s.Muted, &s.Accent, &s.Bold, &s.Error, &s.Warn, &s.OK, &s.Escaped,
		&s.Selected, &s.Match, &s.MatchCur, &s.ColHeader, &s.PanelHead, &s.Label, &s.Client, &s.Server, &s.Data, &s.Anomaly,
		&s.StatusBar, &s.StatusKey, &s.HelpKey, &s.HelpDesc, &s.Input, &s.Queued, &s.Retrying, &s.Sent, &s.Failed} {
		*p = n()
	}
	s.Panel = n().Border(lipgloss.NormalBorder(), false, true, false, false).PaddingRight(1)
	s.Tab = n().Padding(0, 1)
	s.TabActive = n().Padding(0, 1)
	s.Dialog = n().Border(lipgloss.RoundedBorder()).Padding(0, 1)
	s.Cursor = n()
	return s
}

// State returns the style of a submission state.
func (s *Styles) State(state string) lipgloss.Style {
	switch state {
	case "sent":
		return s.Sent
	case "retrying":
		return s.Retrying
	case "failed":
		return s.Failed
	}
	return s.Queued
}
