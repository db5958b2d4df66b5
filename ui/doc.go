// Package ui is smtpscope's terminal UI (Bubble Tea v2): browse, search,
// inspect and resubmit the emails of a data dir.
//
// The screen is made of components — list (the virtualized result list),
// search (the query bar), cmdline (the `:` command line, whose commands
// run through the code paths of the keys: sort, the export and resubmit
// dialogs, help, quit), facets (the side panel), timeline (the volume
// histogram above the list), detail (the tabs of one
// email), help, statusbar, and the resubmit/export dialog of this package
// — each a common.Component (Init/Update/View, ShortHelp/FullHelp,
// SetSize) sharing a common.Context (backend, styles, keymap, size). The
// root Model routes each key to the focused one (dialog, command line or
// search bar being edited, help, detail, facet panel, list) after the global keys; the
// hint line is the focused component's ShortHelp and `?` shows its
// FullHelp. Keys are only ever named in ui/keys. Every call to the
// backend runs in a tea.Cmd, never in Update. Every string that comes from
// mail is passed through ui/sanitize before it is drawn.
//
// The search history and the saved searches (`:save`, `:load`) are kept
// by ui/saved in Options.SearchesFile, read and written in tea.Cmds.
//
// The data comes from a api.Backend: Local (in-process collector and
// index) or Remote (a headless collector over its unix socket).
package ui
