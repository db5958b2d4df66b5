// Package index owns the full-text index of a smtpscope data dir: bleve v2
// (scorch) indexes at DATA/index/ over emails, sessions that carried no email,
// and review/ quarantine entries (an email document also holds the
// envelope its session tried that no email of it carries,
// core.Email.SessionTried or, for older records, EmailDoc.SessionMailFrom
// and SessionRcpt, which `mailfrom:` and `rcpt:` search with the email's
// own); the query language analysts type in the CLI
// and the TUI (ParseQuery; its fields are api.Fields, the one field table
// the README's table and the UI's help and filters come from too, and
// similar: scores ssdeep digests, similar.go); and search with facets, a
// volume histogram per hour or day (histogram.go), and search-after paging
// under every sort order (newest first, or any list column either way:
// each column has a sort-key field ending in the document's time and ID,
// so every order is total).
//
// Layout (months.go): one bleve index per calendar month (UTC) of the
// documents' time, DATA/index/months/YYYY-MM/, searched together through a
// bleve IndexAlias; a document goes to the month of its time (an email's
// session time, else its Date header; a document without any time to
// 1970-01, where it also sorts), deletions go to every month. Open opens
// the month indexes only, so its cost grows with the number of months, not
// of documents; the time bounds (a few seeks in the oldest and the newest
// month) are read when a search first needs a time window, and a month
// whose stored mapping is this version's gets the process's one mapping
// instead of decoding it (openmapping.go). A search whose time window (the
// newest-first page window) misses a month does not read it. Facets are
// summed over months from up to facetShard values each, so they are exact
// while no month has more distinct values. An index of the layout before months (one bleve index,
// DATA/index/bleve/) opens stale and still answers until Rebuild writes
// the months and removes it. The store identity (StoreID) is a file,
// DATA/index/months/store_id, written only once every month is on disk.
//
// The index is derived data: every record lives in the collector's store, and
// the index holds only what is needed to find records and to draw the list
// (one stored api.Row per document, returned in every Hit). It can always be
// rebuilt from a Source (Rebuild), and a mapping version bump makes Open
// report that it must be (Index.Stale). Writers: IndexEmails and friends
// (small concurrent writes grouped), Apply (one batch of documents and
// deletions, with a callback once it is on disk: the live path of
// collector/service), Sync and Rebuild (bulk, parallel). Stats counts the
// bleve batches written; StoreID/SetStoreID keep, in the index's internal
// store, the identity of the store it was last fully brought up to date
// with.
//
// One process writes: Open takes an exclusive lock on DATA/index and fails at
// once with an error naming the directory and the holder's pid when another
// process has it.
package index
