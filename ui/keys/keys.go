// Package keys is the TUI's one keymap: every key of every view, each
// with its help text (gh-dash style: one group of bindings per view). No
// other package of ui/ names a key; components match key presses against
// these bindings and draw their hints from the bindings' Help(). Vim keys
// and arrows both work.
package keys

import (
	"charm.land/bubbles/v2/key"

	"github.com/smtpscope/smtpscope/collector/api"
)

// KeyMap holds the bindings of every view.
type KeyMap struct {
	Global GlobalKeys
	Nav    NavKeys
	List   ListKeys
	Facets FacetKeys
	Search SearchKeys
	// Command is the `:` command line's.
	Command CommandKeys
	Detail  DetailKeys
	Find    FindKeys
	Dialog  DialogKeys
	Help    HelpKeys
}

// GlobalKeys work in every view but the search bar and dialogs.
type GlobalKeys struct {
	Quit, Help, Theme, Pause, Refresh key.Binding
}

// NavKeys move the cursor or scroll (list, facets, detail, dialogs).
type NavKeys struct {
	Up, Down, PageUp, PageDown, Top, Bottom key.Binding
}

// ListKeys are the result list's.
type ListKeys struct {
	Open, Clear, Quit, Search, Facets, HideFacets, Sort, View key.Binding
	Filters                                                   [5]key.Binding
	ClearFilters, Resubmit, Export, Command, Timeline         key.Binding
	// Hunts shows the collector's hunts with their match counts.
	Hunts key.Binding
}

// CommandKeys are the `:` command line's.
type CommandKeys struct {
	Run, Complete, Cancel, Backspace, Clear key.Binding
}

// FacetKeys are the facet panel's while it has the focus.
type FacetKeys struct {
	Up, Down, Select, Leave, Quit key.Binding
}

// SearchKeys are the search bar's: running, history and editing (the
// editing ones drive bubbles' textinput).
type SearchKeys struct {
	Run, Cancel, Older, Newer                        key.Binding
	Left, Right, WordLeft, WordRight, Home, End      key.Binding
	Backspace, Delete, DeleteWord, DeleteWordForward key.Binding
	DeleteToStart, DeleteToEnd                       key.Binding
}

// DetailKeys are the detail screen's. NextEmail and PrevEmail open the
// next or previous row of the list without going back to it (J/K as in
// aerc's message viewer, ] and [ as the usual next/previous pair); Find
// opens the find prompt of the current tab, FindNext and FindPrev go from
// match to match (/, n, N as in less, vim and mutt's pager).
type DetailKeys struct {
	Back, NextTab, PrevTab, GoTab, Toggle, Copy, Export, Save, Resubmit key.Binding
	NextEmail, PrevEmail, Find, FindNext, FindPrev                      key.Binding
}

// FindKeys are the detail's find prompt's while it is being typed in
// (every other key is text).
type FindKeys struct {
	Run, Cancel, Backspace, Clear key.Binding
}

// DialogKeys are the resubmit and export dialogs'.
type DialogKeys struct {
	Up, Down, Choose, Select, Confirm, Deny, Cancel key.Binding
	// Path prompt editing.
	Write, Backspace, ClearPath, DeleteDir key.Binding
}

// HelpKeys close the help screen.
type HelpKeys struct {
	Close key.Binding
}

// QuickFilters are the query clauses keys 1..5 toggle (built from the
// query language's field table).
var QuickFilters = api.QuickFilters

func b(keys []string, k, desc string) key.Binding {
	return key.NewBinding(key.WithKeys(keys...), key.WithHelp(k, desc))
}

// Default returns the default key map.
func Default() *KeyMap {
	km := &KeyMap{
		Global: GlobalKeys{
			Quit:    b([]string{"ctrl+c"}, "^c", "quit"),
			Help:    b([]string{"?"}, "?", "help"),
			Theme:   b([]string{"T"}, "T", "dark/light"),
			Pause:   b([]string{"p"}, "p", "pause/resume collector"),
			Refresh: b([]string{"ctrl+r"}, "^r", "refresh"),
		},
		Nav: NavKeys{
			Up:       b([]string{"up", "k"}, "↑/k", "up"),
			Down:     b([]string{"down", "j"}, "↓/j", "down"),
			PageUp:   b([]string{"pgup", "ctrl+b", "ctrl+u"}, "pgup/^b", "page up"),
			PageDown: b([]string{"pgdown", "ctrl+f", "ctrl+d", "space"}, "pgdn/^f", "page down"),
			Top:      b([]string{"home", "g"}, "g/home", "top"),
			Bottom:   b([]string{"end", "G"}, "G/end", "bottom"),
		},
		List:   listKeys(),
		Facets: facetKeys(),
		Search: searchKeys(),
		Command: CommandKeys{
			Run:       b([]string{"enter"}, "enter", "run the command"),
			Complete:  b([]string{"tab"}, "tab", "complete"),
			Cancel:    b([]string{"esc", "ctrl+c"}, "esc", "cancel"),
			Backspace: b([]string{"backspace", "ctrl+h"}, "⌫", "delete left (leaves when empty)"),
			Clear:     b([]string{"ctrl+u"}, "^u", "clear"),
		},
		Detail: DetailKeys{
			Back:      b([]string{"esc", "backspace", "q"}, "esc", "back"),
			NextTab:   b([]string{"tab", "l", "right"}, "tab/l", "next tab"),
			PrevTab:   b([]string{"shift+tab", "h", "left"}, "S-tab/h", "previous tab"),
			GoTab:     b([]string{"1", "2", "3", "4", "5", "6", "7", "8"}, "1-8", "go to tab"),
			Toggle:    b([]string{"z"}, "z", "fold/unfold, raw/decoded"),
			Copy:      b([]string{"y"}, "y", "copy (OSC 52)"),
			Export:    b([]string{"e"}, "e", "export"),
			Save:      b([]string{"enter"}, "enter", "save the attachment"),
			Resubmit:  b([]string{"r"}, "r", "resubmit"),
			NextEmail: b([]string{"J", "]"}, "J/]", "next email"),
			PrevEmail: b([]string{"K", "["}, "K/[", "previous email"),
			Find:      b([]string{"/"}, "/", "find in the tab"),
			FindNext:  b([]string{"n"}, "n", "next match"),
			FindPrev:  b([]string{"N"}, "N", "previous match"),
		},
		Find: FindKeys{
			Run:       b([]string{"enter"}, "enter", "keep the matches"),
			Cancel:    b([]string{"esc", "ctrl+c"}, "esc", "stop finding"),
			Backspace: b([]string{"backspace", "ctrl+h"}, "⌫", "delete left"),
			Clear:     b([]string{"ctrl+u"}, "^u", "clear"),
		},
		Dialog: dialogKeys(),
		Help:   HelpKeys{Close: b([]string{"?", "esc", "backspace", "q"}, "?/esc", "close")},
	}
	return km
}

func listKeys() ListKeys {
	l := ListKeys{
		Open:         b([]string{"enter"}, "enter", "open / select"),
		Clear:        b([]string{"esc", "backspace"}, "esc", "clear query"),
		Quit:         b([]string{"q"}, "q", "quit"),
		Search:       b([]string{"/"}, "/", "search"),
		Facets:       b([]string{"f"}, "f", "facet panel"),
		HideFacets:   b([]string{"F"}, "F", "show/hide facets"),
		Sort:         b([]string{"s"}, "s", "cycle sort"),
		View:         b([]string{"v"}, "v", "emails/sessions/review/all"),
		ClearFilters: b([]string{"0"}, "0", "clear query"),
		Resubmit:     b([]string{"r"}, "r", "resubmit"),
		Export:       b([]string{"e"}, "e", "export"),
		Command:      b([]string{":"}, ":", "command line"),
		Timeline:     b([]string{"t"}, "t", "show/hide the timeline"),
		Hunts:        b([]string{"H"}, "H", "hunts and their matches"),
	}
	for i, f := range QuickFilters {
		k := string(rune('1' + i))
		l.Filters[i] = b([]string{k}, k, "toggle "+f)
	}
	return l
}

func facetKeys() FacetKeys {
	return FacetKeys{
		Up:     b([]string{"up", "k"}, "↑/k", "up"),
		Down:   b([]string{"down", "j"}, "↓/j", "down"),
		Select: b([]string{"enter"}, "enter", "narrow/widen"),
		Leave:  b([]string{"esc", "backspace", "f", "tab", "shift+tab", "l", "h", "right", "left"}, "esc", "back to the list"),
		Quit:   b([]string{"q"}, "q", "quit"),
	}
}

func searchKeys() SearchKeys {
	return SearchKeys{
		Run:               b([]string{"enter"}, "enter", "run"),
		Cancel:            b([]string{"esc", "ctrl+c"}, "esc", "cancel"),
		Older:             b([]string{"up", "ctrl+p"}, "↑", "older query"),
		Newer:             b([]string{"down", "ctrl+n"}, "↓", "newer query"),
		Left:              b([]string{"left", "ctrl+b"}, "←", "left"),
		Right:             b([]string{"right", "ctrl+f"}, "→", "right"),
		WordLeft:          b([]string{"alt+left", "ctrl+left", "alt+b"}, "M-←", "word left"),
		WordRight:         b([]string{"alt+right", "ctrl+right", "alt+f"}, "M-→", "word right"),
		Home:              b([]string{"home", "ctrl+a"}, "^a", "line start"),
		End:               b([]string{"end", "ctrl+e"}, "^e", "line end"),
		Backspace:         b([]string{"backspace", "ctrl+h"}, "⌫", "delete left"),
		Delete:            b([]string{"delete", "ctrl+d"}, "del", "delete right"),
		DeleteWord:        b([]string{"ctrl+w", "alt+backspace", "ctrl+backspace"}, "^w", "delete word"),
		DeleteWordForward: b([]string{"alt+d", "alt+delete", "ctrl+delete"}, "M-d", "delete next word"),
		DeleteToStart:     b([]string{"ctrl+u"}, "^u", "delete to start"),
		DeleteToEnd:       b([]string{"ctrl+k"}, "^k", "delete to end"),
	}
}

func dialogKeys() DialogKeys {
	return DialogKeys{
		Up:        b([]string{"up", "k"}, "↑/k", "up"),
		Down:      b([]string{"down", "j", "tab"}, "↓/j", "down"),
		Choose:    b([]string{"1", "2", "3", "4", "5", "6", "7", "8", "9"}, "1-9", "choose"),
		Select:    b([]string{"enter"}, "enter", "select"),
		Confirm:   b([]string{"y", "enter"}, "y/enter", "confirm"),
		Deny:      b([]string{"n"}, "n", "no"),
		Cancel:    b([]string{"esc", "ctrl+c"}, "esc", "cancel"),
		Write:     b([]string{"enter"}, "enter", "write (never overwrites)"),
		Backspace: b([]string{"backspace", "ctrl+h"}, "⌫", "delete left"),
		ClearPath: b([]string{"ctrl+u"}, "^u", "clear"),
		DeleteDir: b([]string{"ctrl+w"}, "^w", "delete last path part"),
	}
}

// Index returns the position in b's keys of the key pressed (GoTab and
// Choose: the n-th key selects item n), or -1.
func Index(b key.Binding, pressed string) int {
	for i, k := range b.Keys() {
		if k == pressed {
			return i
		}
	}
	return -1
}
