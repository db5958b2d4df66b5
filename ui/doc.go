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
// FullHelp. Keys are only ever named in ui/keys. Mouse: the wheel scrolls
// the list or the detail; a left click on a list row selects it (a second
// click opens it), on a detail tab shows it. The facet panel is drawn only
// when the list beside it keeps its triage columns and its SENSOR column
// while shown (list.Model.NeedWidth), or while it has the focus. Every call to the
// backend runs in a tea.Cmd, never in Update. Every string that comes from
// mail is passed through ui/sanitize before it is drawn. The export
// dialog writes an email, or every email of the search, as a STIX 2.1
// bundle or a MISP event with core's writers (the same files as
// `smtpscope export --format stix2|misp`), streamed to a new file, and
// an email's connection as pcap (api.Backend.Pcap: the collector cuts
// it from the evidence pcaps, the UI never reads them), a choice drawn
// unavailable, its reason in the status bar when picked, for a record
// that names no evidence pcap.
//
// The search bar searches as the analyst types (typing.go): each edit
// starts a tea.Tick of 150 ms carrying the edit's sequence number, and
// only the tick of the last edit searches (api.SearchOptions.AsYouType:
// the last word is also a prefix); answers of older searches are dropped
// by the search sequence number. Enter runs the exact query, Esc goes
// back to its results.
// The search history and the saved searches (`:save`, `:load`) are kept
// by ui/saved in Options.SearchesFile, read and written in tea.Cmds.
//
// The data comes from a api.Backend: Local (in-process collector and
// index) or, when another process owns the data dir, service.Attached
// (over its unix socket, reattaching or taking the data dir over when
// that process quits; an api.EventBackend event makes the model say so
// and load everything again).
package ui
