// Package collector owns the headless pipeline of smtpscope: it watches a
// spool of session files (Zeek/ACE format, complete when "<name>.ready"
// exists), stores each session, its emails (.eml), their records (JSON)
// and attachments (content-addressed archive, stoQ filedir layout) in a
// data dir, queues every email once per delivery group in a bbolt
// database, and submits them over ACE's HTTP API (package collector/ace),
// publishes them to NATS JetStream (kind = "nats", nats.go), creates
// TheHive 5 alerts (kind = "thehive", thehive.go) or posts them to a
// webhook (kind = "webhook", webhook.go).
//
// The order of a claim survives kill -9 at any point: files are written
// atomically (an unnamed O_TMPFILE file linked under its name once whole;
// a temp name and a rename where the system has no unnamed files) and
// are idempotent; the worker then hands
// the claim's database writes to the group committer (commit.go), which
// makes a group of claims' files durable at once (fileWriter.sync: one
// syncfs(2) per file system the group wrote to, Config.FsyncMode
// "syncfs", the default; or with "files" the files, their directories
// and the parents of directories it created, fdatasynced in parallel),
// then records
// every session of the group, its emails and their queue entries in one
// bbolt transaction; only after that commit is a spool entry released
// (session file, then .ready). After a crash an entry is either claimable
// again or already committed (then it is released and counted as a
// duplicate claim). A submission sent but not yet recorded when the
// process dies is sent again: ACE may receive duplicates, never fewer.
// Parsing and analysis run on Config.Workers workers (default
// GOMAXPROCS, at least 2), the commits on the committer alone.
//
// Memory: a claim holds one copy of each message. The session file is
// parsed and hashed in one streaming read and stored as a hard link to
// that file (same file system; checked to be the inode read, unchanged)
// or else copied into the store (or review/) by a second read checked
// against that hash; a submission's
// body streams the stored session file and email (ace.Encode).
//
// Every email record (core.Email.Sensor), session and review entry the
// collector stores carries its sensor name (Config.Sensor, default the
// host name's first label); across sensors an email is
// core.GlobalID(sensor, id).
//
// Raw emails come from Maildirs (new/ watched, processed files moved to
// cur/ with ":2,") and directories of .eml files (ingested files
// remembered in the database), through IngestRaw, with or without a
// spool (maildir.go), through the same group commit. The analysis options carry stoQ's smtp/filedir
// names (AnalysisConfig); YARA rules are compiled once and swapped on
// Reload (yara.go); analysis.archive_dir and analysis.results_dir are the
// filedir-style outputs (outputs.go).
//
// A live capture (collector/capture.CaptureDir, run beside the collector
// by `smtpscope collect --interface`, Config.Interface, CapturePorts and
// CaptureDirection)
// writes session files into the spool like any other writer; the
// collector only shows its counters: SetCapture stores them for Status
// (Status.Capture) and the smtpscope_capture_* metrics.
//
// Delivery (submit.go) runs one dispatcher per group: it owns which
// queue entries are due, concurrency, the per-entry backoff, the states
// (queued, retrying, sent, failed) committed after each attempt, and the
// status report, the same for every group kind. How an email reaches the
// group's target is the kind's deliverer (delivery.go). ACE node groups
// (submit_ace.go) have a circuit breaker per node: a node failing for a
// node-level reason (ace.NodeFailure) is down for its backoff or
// Retry-After, then probed with a ping before submissions resume; while
// every node of a group is down (a deliverer not ready) nothing is
// attempted and no queue entry is charged an attempt. NATS groups
// (nats.go) publish each email to smtpscope.email.<sensor> with a
// Nats-Msg-Id stable per email (NATSMsgID) and count it sent on the
// PubAck; the envelope (NATSEnvelope) carries the record and the raw
// bytes, or names their objects in the Object Store bucket
// smtpscope-raw (made with the stream's replicas) when too large for the
// server's max payload, a raw object put again unless every chunk its
// meta names is there (objectComplete); not ready while the client is
// disconnected.
// A NATS group's queue also holds
// "session/<key>" (a session stored without email) and "review/<name>"
// (a review entry), published to smtpscope.session.<sensor> and
// smtpscope.review.<sensor> (natsother.go); the hub stores them as
// <sensor>/<key> and fileName(<sensor>/<name>) (DecodeHubOther,
// ingestOther). The TLS and authentication options
// of a NATS connection (CA, client certificate, credentials file, NKey
// seed) are NATSAuth (natsopts.go), for NATS groups and for the hub
// (Config.Hub, HubConfig.Options) alike.
// TheHive groups (kind = "thehive", thehive.go, through the HTTP
// endpoint deliverer of submit_http.go: one endpoint with the node
// circuit breaker, the next delivery after its backoff as the probe)
// create one alert per email (BuildTheHiveAlert) in one request, its
// file observables in the same multipart body; TheHive's refusal of a
// duplicate type+source+sourceRef (the global id) counts as sent, so a
// resend after a crash never makes a second alert. Webhook groups
// (kind = "webhook", webhook.go) POST the record (and the raw message up
// to raw_max) signed with HMAC-SHA256 over timestamp + "." + body
// (WebhookSignature); 2xx is sent, 408/429/5xx retried, other 4xx failed.
// Hunts ([[hunt]], hunt.go) are saved queries the service that owns the
// index runs on each index batch; TagHunts records their matches in one
// transaction (EmailMeta.Hunts, index mark, one queue entry per
// deliver_to group where none exists: idempotent). A hunts_only group
// gets no email by coverage. A hub's hunts run on the emails it ingests
// and deliver to the hub's groups; its events and alerts name an email
// by the sensor's global id (core.GlobalID keeps an id already global).
// Node URLs are shown (logs, states, status) only through ace.RedactURL.
//
// Unparsable session files go to DATA/review/ (a copy) with a .error
// file; oversize or non-regular entries are renamed whole into it, never
// read. A .ready marker is deleted only when empty and not a session file
// with its own marker: bytes that were not stored are never deleted.
// Names from the wire become keys and file names only escaped (fileName,
// core.EscapeID): injective, valid UTF-8, no separators.
//
// OpenStore refuses a damaged queue database (dbcheck.go: meta page and
// size checked before bbolt maps it; missing or empty while emails are
// stored; for a read-write open also bbolt's full Check, which reads every
// page) with a DamageError; a read-only store returns a DamageError from
// the read that meets a damaged page instead (Store.view). Repair rebuilds
// it from the stored records and .eml files (repair.go).
//
// Retention removes the oldest sessions by age and total size, never one
// with an email still queued. With retention.by_month (the hub) and an
// Indexer that is a MonthIndex, it drops whole months instead
// (monthretention.go): the month's emails leave the store by the same
// removal, then its index goes whole; never the month of now, never a
// month holding a queued email.
//
// Metrics (metrics.go) are Prometheus's, on the metrics listener with
// /healthz and /readyz (Ready: the store answers, the index hook is open
// when it has a Ready method, the spool watcher runs): counters and
// gauges kept as work is done, latency histograms of parse, analysis,
// each delivery attempt (by group and kind) and the hand-over to the
// index, and, computed at each scrape (opsCollector), the spool backlog,
// the age of its oldest .ready and of each group's oldest queued email.
//
// The hub (hub.go, `smtpscope hub`) is a collector without spool whose
// emails come from the sensors' NATS groups: RunHub creates or checks the
// stream (subjects smtpscope.email.>, .session.>, .review.>, file storage, min(3, cluster size)
// replicas: StreamProblems says what is wrong with an existing one) and
// runs a durable pull consumer with explicit acks. Each message
// (DecodeHubMessage: headers, envelope, raw bytes from the Object Store
// when referenced, all checked to agree) is stored by IngestRecord: the
// sensor's record as it is, no analysis again, under the global id
// <sensor>/<id> (file names through fileName), through the group commit,
// queued to no group; the message is acked after that commit, whose
// unindexed mark gets it indexed even if the hub dies before its index
// batch. The same global id and sha256 stored already is a duplicate:
// acked, not stored again; other bytes under a taken global id are kept
// beside it as <sensor>/<id>+<sha256 prefix>. A worker hands each
// message to the committer and goes on; the ack follows the commit. A message that can never be stored is
// recorded in the errors and terminated (it stays in the stream); an
// object missing, incomplete or whose read stalls is an error that may
// pass (nak'd, tried again).
//
// Reconciliation (reconcile.go): the hub counts the emails it holds per
// sensor and hour of their time (EmailMeta.Time; a sensor's raw email
// travels with its time, HdrTime) and writes the changed counts, then
// its consumer's ack floor (HubCounts), to the KV bucket CountsBucket.
// Each NATS group of a sensor, at start and every reconcile_interval,
// counts per hour its emails sent at or below that floor (or before
// the stream was created) and re-publishes every email of an hour the
// hub holds fewer of, with a Nats-Msg-Id of the round so that the
// duplicate window does not drop it; hours past the hub's or the
// sensor's max age are skipped, at most reconcile_max emails go per
// round, and a round waits until the floor has passed the previous
// round's re-publishes. GroupStatus.Reconcile reports the last round.
//
// Entry points: New + Run (or RunOnce) for the daemon, OpenStore for read
// access without a running collector, Store for the UI (records, raw
// emails, session files, attachments, submission states, review entries),
// Subscribe for live events, Resubmit, Reload, IngestRaw (Maildir/.eml
// input), SetCapture (a live capture's counters), RunHub and IngestRecord (the hub),
// Busy (work on its way to a commit: the index batches by it). The Indexer interface is the one path from the store to the
// search index (collector/service implements it; this package does not
// import package index): every commit (email, session without email,
// review entry, submission state, removal) reaches it after the commit,
// and it must not make the workers wait (an Indexer with Flush is flushed
// before the store closes). The same transactions mark the changed
// documents in the "unindexed" bucket (unindexed.go: IndexItems,
// ClearIndexed, Unindexed, and the store's random ID), so an index can be
// caught up after a crash or an index-less run from the marks alone.
// The event log for SIEM shippers ([output] events, eventlog.go) takes the
// same after-commit path: the commit marks each new email in the
// "unlogged" bucket, its line (ECS, or Zeek's smtp.log and files.log:
// EncodeEvent) is appended in batches, fsynced, and only then is the
// mark deleted; a start writes what is still marked (duplicates after a
// crash, no losses). The file is rotated by size and age. The marks
// still held are Status.EventsUnlogged and smtpscope_events_unlogged.
// With [output] internal_domains an ECS event has email.direction. The plain state types (Status, SubmissionStatus, ...) are
// defined in collector/api, which imports no database, and aliased here.
// The running service around a collector (index, socket API, events) is
// collector/service.
//
// Data dir layout:
//
//	queue.db                          bbolt: queue, submission states, metadata
//	sessions/YYYY/MM/DD/<name>        session files as claimed (mtime kept)
//	emails/YYYY/MM/DD/<id>.eml        exact message bytes
//	results/YYYY/MM/DD/<id>.json      the core.Email record
//	archive/<c1>/<c2>/<c3>/<c4>/<c5>/<sha1>  attachments, once each
//	review/<name>, review/<name>.error       unparsable, oversize or non-regular spool entries
//	queue.db.damaged-<time>           a damaged queue.db Repair replaced
//	requests/*.json                   resubmissions handed to a running collector (fallback when its socket does not answer)
//	run/smtpscope.sock                the service's API socket (collector/service)
//	status.json                       status snapshot of a running collector
package collector
