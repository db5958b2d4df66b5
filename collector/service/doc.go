// Package service is the running smtpscope service: the one owner of a
// data dir while it runs, with several front ends (the headless
// `smtpscope collect`, `collect --once`, the terminal UI in-process, and
// any client of its socket).
//
// A Service wraps the collector (spool, store, queue, submission) and the
// search index, which cmd opens (OpenIndex) and injects through the Index
// interface (*index.Index implements it; nil runs without an index). It
// implements api.Backend: search, records, raw emails, sessions,
// attachments, submission states, review entries, status, resubmit,
// pause and live events.
//
// One indexing path, after commit: the collector calls its Indexer hook
// (here: hook) synchronously after every store commit — email, session
// without email, review entry, submission state change, removal — so
// `collect`, `collect --once` (which has indexed everything when it
// returns), the UI, `index` (CatchUp) and `submit` (NewIndexer) all index
// the same way. CatchUp adds what an index-less run left out and re-indexes
// the emails whose submission states changed meanwhile.
//
// The API is served as HTTP/JSON on the unix socket DATA/run/smtpscope.sock
// (Listen, Serve, Handler; the routes are listed in package api), also
// without an index (`collect --no-index`: status, resubmit, pause work,
// search answers ErrNoIndex). Listen lets in only the data dir's owner,
// root and the config's ui_group (SO_PEERCRED).
//
// It may import collector, collector/api, index and core; never ui.
package service
