// Package ui is smtpscope's terminal UI (Bubble Tea v2): browse, search,
// inspect and resubmit the emails of a data dir.
//
// The root Model routes messages to the component packages — list (the
// virtualized result list), search (the query bar), facets (the side
// panel), detail (the tabs of one email), help and statusbar — which share
// a common.Context (backend, styles, keymap, size). Every call to the
// backend runs in a tea.Cmd, never in Update. Every string that comes from
// mail is passed through ui/sanitize before it is drawn.
//
// The data comes from a api.Backend: Local (in-process collector and
// index) or Remote (a headless collector over its unix socket).
package ui
