package common

import (
	"charm.land/bubbles/v2/help"
	tea "charm.land/bubbletea/v2"
)

// Component is what every TUI component implements (as soft-serve's
// pkg/ui/common/component.go): the Bubble Tea life cycle, its own help —
// ShortHelp is the hint line drawn while it has the focus, FullHelp what
// `?` shows, both built from the keymap's bindings — and its size. The
// root model routes each key to the focused component. Components return
// their view as a string; only the root builds the tea.View.
type Component interface {
	Init() tea.Cmd
	Update(msg tea.Msg) (Component, tea.Cmd)
	View() string
	help.KeyMap
	SetSize(width, height int)
}
