// Package service is the running smtpscope service: the one owner of a
// data dir while it runs, with several front ends (the headless
// `smtpscope collect`, `collect --once`, `smtpscope hub` (no spool: its
// emails come from NATS JetStream through collector.RunHub), the terminal
// UI in-process, and any client of its socket).
//
// A Service wraps the collector (spool, store, queue, submission) and the
// search index, which cmd opens (OpenIndex) and injects through the Index
// interface (*index.Index implements it; nil runs without an index). It
// implements api.Backend: search, records, raw emails, sessions,
// attachments, an email's connection cut from its evidence pcaps
// (pcap.go: EmailPcap, which `show --pcap` uses too; GET /v1/pcap/{id}
// holds the first 64 KiB so its errors keep their status, and aborts
// the reply on a later one), submission states, review entries, status,
// resubmit, pause and live events.
//
// One indexing path, after commit: the collector calls its Indexer hook
// (here: hook) after every store commit — email, session without email,
// review entry, submission state change, removal — and the hook only
// queues the document's key for the batcher (batcher.go), which writes
// what waits as one bleve batch per IndexWindow or IndexBatch documents
// (held open up to IndexBacklogWindow while the collector is busy,
// collector.Collector.Busy, and written once it is idle; a backlog of
// documents at once, one batch per core), always as the store has it
// then (an email's document with the envelope its session tried beside
// it, core.Email.SessionTried, kept in the record at ingest; for a record
// stored before it was kept, the session file is streamed without its
// message bytes, once for the emails of one session, here and, mostly,
// in StoreSource, whose loads run in parallel). StoreSource, the Source of
// a rebuild or a sync, reads and decodes the stored documents on every
// core (GOMAXPROCS goroutines, a bounded window ahead) and hands them on
// in the store's listing order. After index.CompactAfter documents
// written (by batches, or by the catch-up's full sync) and CompactIdle
// with none waiting or being written, the batcher compacts the index (index.Index.Compact, beside the batches,
// cancelled by Close): a live index is otherwise left in tiers of
// segments that every search opens. The
// collector flushes it before closing the store, so `collect
// --once` (RunOnce) returns with everything indexed. Events about a
// document are relayed once it is searchable; EventIndexed follows each
// batch. `collect`, `collect --once`, the UI, `index` (CatchUp) and
// `submit` (NewIndexer, which flushes every call) all index this way.
// The hook is also the collector's MonthIndex (the index's months, their
// document IDs, dropping one whole): retention by month at the hub.
//
// Hunts (hunts.go): after a batch is on disk and before its marks are
// cleared, each configured hunt's query runs restricted to the batch's
// email ids (index.SearchOptions.IDs) and collector.TagHunts records
// the matches; when that fails the marks stay, so the next start runs
// the hunts on those emails again (tagging is idempotent). Flush also
// flushes what the tagging queued. CheckHunts refuses a query that does
// not parse when the service opens.
//
// Catch-up: the store marks every changed document in the same
// transaction (collector.Store.IndexItems, ClearIndexed, Unindexed); the
// batcher deletes a mark once its batch is on disk. A start trusts an
// index that records the store's identity (index StoreID) and applies
// just the marks; any other index is rebuilt (stale, damaged, another
// store's) or synced in full (new), then records the identity. CatchUp
// (`smtpscope index`) always does the full pass, then the marks.

// The API is served as HTTP/JSON on the unix socket DATA/run/smtpscope.sock
// (Listen, Serve, Handler; the routes are listed in package api), also
// without an index (`collect --no-index`: status, resubmit, pause work,
// search answers ErrNoIndex). Listen lets in only the data dir's owner,
// root and the config's ui_group (SO_PEERCRED).
//
// Attached (attach.go) is the backend of a second client of a data dir:
// api.Remote to the owner while it answers, then the next owner, or the
// service taken over in-process (TakeOver) when there is none; Status
// says which (ModeRemote, ModeReattached, ModeTookOver) and an
// api.EventBackend event tells the switch.
//
// It may import collector, collector/api, index and core; never ui.
package service
