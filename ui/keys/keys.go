// Package keys is the TUI's one keymap: every binding with its help text.
// Vim keys and arrows both work.
package keys

import (
	"charm.land/bubbles/v2/key"

	"github.com/smtpscope/smtpscope/collector/api"
)

// KeyMap holds every binding.
type KeyMap struct {
	Up, Down, PageUp, PageDown, Top, Bottom key.Binding
	Open, Back, Quit                        key.Binding
	Search, Facets, Sort, View              key.Binding
	Filters                                 [5]key.Binding
	ClearFilters                            key.Binding
	NextTab, PrevTab, Toggle                key.Binding
	Resubmit, Export, Copy, Pause, Theme    key.Binding
	Refresh, Help                           key.Binding
	HistoryPrev, HistoryNext                key.Binding
	Confirm, Cancel                         key.Binding
}

// QuickFilters are the query clauses keys 1..5 toggle (built from the
// query language's field table).
var QuickFilters = api.QuickFilters

// Default returns the default key map.
func Default() *KeyMap {
	b := func(keys []string, k, desc string) key.Binding {
		return key.NewBinding(key.WithKeys(keys...), key.WithHelp(k, desc))
	}
	km := &KeyMap{
		Up:           b([]string{"up", "k"}, "↑/k", "up"),
		Down:         b([]string{"down", "j"}, "↓/j", "down"),
		PageUp:       b([]string{"pgup", "ctrl+b", "ctrl+u"}, "pgup/^b", "page up"),
		PageDown:     b([]string{"pgdown", "ctrl+f", "ctrl+d", "space"}, "pgdn/^f", "page down"),
		Top:          b([]string{"home", "g"}, "g/home", "top"),
		Bottom:       b([]string{"end", "G"}, "G/end", "bottom"),
		Open:         b([]string{"enter"}, "enter", "open / select"),
		Back:         b([]string{"esc", "backspace"}, "esc", "back"),
		Quit:         b([]string{"q", "ctrl+c"}, "q", "quit"),
		Search:       b([]string{"/"}, "/", "search"),
		Facets:       b([]string{"f"}, "f", "facet panel"),
		Sort:         b([]string{"s"}, "s", "cycle sort"),
		View:         b([]string{"v"}, "v", "emails/sessions/review/all"),
		ClearFilters: b([]string{"0"}, "0", "clear query"),
		NextTab:      b([]string{"tab", "l", "right"}, "tab/l", "next tab"),
		PrevTab:      b([]string{"shift+tab", "h", "left"}, "S-tab/h", "previous tab"),
		Toggle:       b([]string{"z"}, "z", "fold/unfold, raw/decoded"),
		Resubmit:     b([]string{"r"}, "r", "resubmit"),
		Export:       b([]string{"e"}, "e", "export"),
		Copy:         b([]string{"y"}, "y", "copy (OSC 52)"),
		Pause:        b([]string{"p"}, "p", "pause/resume collector"),
		Theme:        b([]string{"T"}, "T", "dark/light"),
		Refresh:      b([]string{"ctrl+r"}, "^r", "refresh"),
		Help:         b([]string{"?"}, "?", "help"),
		HistoryPrev:  b([]string{"up", "ctrl+p"}, "↑", "older query"),
		HistoryNext:  b([]string{"down", "ctrl+n"}, "↓", "newer query"),
		Confirm:      b([]string{"enter", "y"}, "enter/y", "confirm"),
		Cancel:       b([]string{"esc", "n", "ctrl+c"}, "esc/n", "cancel"),
	}
	for i, f := range QuickFilters {
		k := string(rune('1' + i))
		km.Filters[i] = b([]string{k}, k, "toggle "+f)
	}
	return km
}

// ShortHelp is the one-line help of the list screen (help.KeyMap).
func (k *KeyMap) ShortHelp() []key.Binding {
	return []key.Binding{k.Search, k.Open, k.Facets, k.Resubmit, k.Export, k.Help, k.Quit}
}

// FullHelp is every binding, in columns (help.KeyMap).
func (k *KeyMap) FullHelp() [][]key.Binding {
	return [][]key.Binding{
		{k.Up, k.Down, k.PageUp, k.PageDown, k.Top, k.Bottom, k.Open, k.Back, k.Quit},
		{k.Search, k.HistoryPrev, k.Facets, k.Sort, k.View, k.Filters[0], k.Filters[1], k.Filters[2], k.Filters[3], k.Filters[4], k.ClearFilters},
		{k.NextTab, k.PrevTab, k.Toggle, k.Resubmit, k.Export, k.Copy, k.Pause, k.Theme, k.Refresh, k.Help},
	}
}
