// Package api is the contract between the smtpscope service (package
// collector/service, which owns a data dir) and its clients (the
// terminal UI, `smtpscope search` and `status`): the Backend interface,
// the list row (Row, which package index also stores and returns), the
// query language's field table (Fields: the parser, the UI's help and
// filters and the README's table come from it), search options and
// results, events, the collector's
// state types (aliased by package collector), and Remote, the client of
// the HTTP/JSON API the service serves on DATA/run/smtpscope.sock:
//
//	GET  /v1/search?q=&limit=&after=&sort=&facets=1&kind=&ids=1&typing=1&histogram=1  SearchResult
//	GET  /v1/email/{id}                 core.Email
//	GET  /v1/raw/{id}                   message/rfc822 bytes
//	GET  /v1/session/{id}               core.Session (id: email id or session/<uid>)
//	GET  /v1/attachment/{id}/{sha1}     bytes
//	GET  /v1/pcap/{id}                  application/vnd.tcpdump.pcap: the email's connection
//	GET  /v1/submissions/{id}           []SubmissionStatus
//	GET  /v1/review/{name}              Review
//	GET  /v1/status                     Status
//	POST /v1/resubmit  {"ids":[],"group":""}  {"queued":n}
//	POST /v1/pause     {"paused":true}
//	GET  /v1/events                     text/event-stream of Event (JSON)
//
// Errors are an ErrorBody with a 4xx/5xx status. /v1/pcap answers 404
// with not_found for an unknown email, 404 with no_evidence when its
// session names no evidence pcap, 410 with evidence_gone when the files
// are gone or no longer hold its connection; an error found after the
// first 64 KiB of the pcap were sent cuts the reply short (the client
// sees a truncated body, never a pcap that looks whole). Without a search index
// (`collect --no-index`) search answers an error; everything else works.
// When the service does not answer (it quit), Remote's errors wrap
// ErrUnavailable in a sentence, never Go's transport error text.
//
// It imports no database and no index (only core and the standard
// library), so a client links neither bbolt nor bleve.
//
// Every Backend method may be slow (disk, index, socket): the UI calls
// them from tea.Cmd goroutines, never from Update.
package api
