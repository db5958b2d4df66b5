package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/smtpscope/smtpscope/collector"
	"github.com/smtpscope/smtpscope/collector/api"
	"github.com/smtpscope/smtpscope/core"
	"github.com/smtpscope/smtpscope/index"
)

// ErrBusy means another process (a headless `smtpscope collect`) owns the
// data dir: attach to it with api.DialRemote instead.
var ErrBusy = errors.New("the data dir is in use by another process")

// ErrNoIndex is what Search answers when the service runs without an
// index (`collect --no-index`).
var ErrNoIndex = errors.New("no search index: the collector runs with --no-index (build one with `smtpscope index`)")

// Index is the search index the service keeps current and searches;
// *index.Index implements it, and cmd opens it and hands it to Open.
type Index interface {
	IndexEmails(docs []index.EmailDoc) error
	IndexSession(d index.SessionDoc) error
	IndexReview(d index.ReviewDoc) error
	UpdateStatus(id string, status map[string]string) error
	Delete(ids ...string) error
	Search(ctx context.Context, q string, o index.SearchOptions) (*index.Result, error)
	Stale() bool
	Sync(src index.Source, progress func(done, total int)) (int, error)
	RebuildContext(ctx context.Context, src index.Source, progress func(done, total int)) error
	SetSource(src index.Source)
	Apply(docs []index.Doc, deletes []string, persisted func(error)) error
	StoreID() string
	SetStoreID(id string) error
	Close() error
}

// OpenIndex opens the index of a data dir (DATA/index); when another
// process holds it the error wraps ErrBusy.
func OpenIndex(data string) (*index.Index, error) {
	ix, err := index.Open(IndexDir(data))
	if errors.Is(err, index.ErrLocked) {
		return nil, fmt.Errorf("%w: %v", ErrBusy, err)
	}
	return ix, err
}

// IndexDir is the index directory inside a data dir.
func IndexDir(data string) string { return filepath.Join(data, "index") }

// Options configure Open.
type Options struct {
	Logger *slog.Logger
	// NoSpool runs the collector without watching the spool (serve the
	// store and deliver the queue only).
	NoSpool bool
	// Index is the search index to keep current (nil: none; Search then
	// answers ErrNoIndex). The service owns it from Open: Close closes it.
	Index Index
	// IndexWindow, IndexBacklogWindow and IndexBatch bound the live index
	// batches (defaults: the constants of the same names).
	IndexWindow, IndexBacklogWindow time.Duration
	IndexBatch                      int
	// CompactAfter and CompactIdle say when the live index is compacted:
	// after CompactAfter documents were written and CompactIdle without a
	// batch (defaults: index.CompactAfter and CompactIdle; CompactAfter
	// < 0: never).
	CompactAfter int
	CompactIdle  time.Duration
}

// Service owns a data dir: its collector, the index hook, the events and
// the API (it implements api.Backend). Start (or RunOnce) runs the
// collector; Close stops everything.
type Service struct {
	col   *collector.Collector
	store *collector.Store
	ix    Index
	batch *batcher // nil without an index
	log   *slog.Logger
	hub   hub

	runErr  chan error
	cancel  context.CancelFunc
	started bool
	mu      sync.Mutex
	closed  bool
}

// Open opens the collector of cfg's data dir with o.Index (if any) as its
// one index hook. When another process holds the data dir the error wraps
// ErrBusy; o.Index is closed on error.
func Open(cfg *collector.Config, o Options) (*Service, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	l := &Service{ix: o.Index, log: o.Logger, runErr: make(chan error, 1)}
	h := &hook{}
	var indexer collector.Indexer
	if l.ix != nil {
		indexer = h
	}
	col, err := collector.New(cfg, collector.Options{Logger: o.Logger, Indexer: indexer, NoSpool: o.NoSpool})
	if err != nil {
		if l.ix != nil {
			l.ix.Close()
		}
		if errors.Is(err, collector.ErrLocked) {
			return nil, fmt.Errorf("%w: %v", ErrBusy, err)
		}
		return nil, err
	}
	l.col, l.store = col, col.Store()
	if err := CheckHunts(cfg.Hunts); err != nil {
		col.Close()
		if l.ix != nil {
			l.ix.Close()
		}
		return nil, err
	}
	if l.ix != nil {
		l.ix.SetSource(&StoreSource{Store: l.store})
		l.batch = newBatcher(l.ix, l.store, o.Logger, batchOpts{window: o.IndexWindow, backlog: o.IndexBacklogWindow, max: o.IndexBatch, busy: col.Busy,
			compactAfter: o.CompactAfter, compactIdle: o.CompactIdle})
		l.batch.onBatch = func(int) { l.hub.publish(api.Event{Type: api.EventIndexed, Time: time.Now()}) }
		l.batch.onError = func(msg string) { l.hub.publish(api.Event{Type: api.EventError, Time: time.Now(), Err: msg}) }
		l.batch.onPersisted = l.evalHunts
		h.b = l.batch
	}
	return l, nil
}

// Collector is the in-process collector.
func (l *Service) Collector() *collector.Collector { return l.col }

// Start catches the index up with the store (rebuilding it after a
// mapping change) and runs the collector until ctx ends or Close.
func (l *Service) Start(ctx context.Context) {
	ctx, cancel := context.WithCancel(ctx)
	l.mu.Lock()
	l.cancel, l.started = cancel, true
	l.mu.Unlock()
	events, unsub := l.col.Subscribe(4096)
	go l.relay(ctx, events, unsub)
	go l.catchUp(ctx)
	go func() { l.runErr <- l.col.Run(ctx) }()
}

// RunOnce catches the index up, then processes the spool and delivers
// like collector.RunOnce; every commit is indexed before it returns.
func (l *Service) RunOnce(ctx context.Context, timeout time.Duration) error {
	l.mu.Lock()
	l.started = true
	l.mu.Unlock()
	l.catchUp(ctx)
	err := l.col.RunOnce(ctx, timeout)
	l.runErr <- nil
	return err
}

// catchUp brings the index up to date with the store. An index the
// service can trust (built from this store: its identity recorded in the
// index, the mapping current) is caught up from the store's marks alone:
// the documents changed since they were last written to the index on
// disk (a crash, a --no-index run, retention meanwhile). Any other index
// is first rebuilt (stale, damaged, or built from another store) or
// synchronised in full (new, or older than the identity record); then it
// records the store's identity.
func (l *Service) catchUp(ctx context.Context) {
	if l.ix == nil {
		return
	}
	start := time.Now()
	full, err := l.fullCatchUp(ctx)
	n := 0
	if err == nil {
		n, err = l.batch.reconcile(ctx)
	}
	if err != nil && ctx.Err() == nil {
		l.log.Error("index catch-up", "err", err)
		l.hub.publish(api.Event{Type: api.EventError, Time: time.Now(), Err: "index: " + err.Error()})
		return
	}
	if ctx.Err() == nil {
		l.log.Info("index catch-up", "full", full, "marked", n, "took", time.Since(start).Round(time.Millisecond))
		l.hub.publish(api.Event{Type: api.EventIndexed, Time: time.Now()})
	}
}

// fullCatchUp runs the full catch-up when the index cannot be trusted
// (and says which one it ran: "" for none, "rebuild", "sync").
func (l *Service) fullCatchUp(ctx context.Context) (string, error) {
	id, got := l.store.ID(), l.ix.StoreID()
	src := &StoreSource{Store: l.store}
	var kind string
	var err error
	switch {
	case !l.ix.Stale() && id != "" && got == id:
		return "", nil
	case l.ix.Stale() || got != "":
		kind = "rebuild"
		l.log.Info("index: rebuilding from the store", "stale", l.ix.Stale(), "other_store", got != "" && got != id)
		err = l.ix.RebuildContext(ctx, src, nil)
	default:
		kind = "sync"
		var n int
		if n, err = l.ix.Sync(src, nil); err == nil {
			l.batch.wrote(n) // a bulk load: compacted once idle, as live batches are
			_, err = refreshStatus(ctx, l.ix, l.store)
		}
	}
	if err == nil && id != "" {
		err = l.ix.SetStoreID(id)
	}
	return kind, err
}

// Close stops the collector (draining in-flight work) and closes the
// index.
func (l *Service) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	started := l.started
	if l.cancel != nil {
		l.cancel()
	}
	l.mu.Unlock()
	var err error
	if started {
		if e := <-l.runErr; e != nil && !errors.Is(e, context.Canceled) {
			err = e
		}
	} else {
		err = l.store.Close()
	}
	l.hub.close()
	if l.ix == nil {
		return err
	}
	l.batch.close()
	if e := l.ix.Close(); e != nil && err == nil {
		err = e
	}
	return err
}

// relay turns collector events into API events (the index is not kept
// here: the collector's hook queues every commit for the batcher). An
// event about a document (new email, submission state, removal, review
// entry, session without email) waits until the document's batch is
// searchable, so a client that searches on an event finds what it says.
func (l *Service) relay(ctx context.Context, events <-chan collector.Event, unsub func()) {
	defer unsub()
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-events:
			if !ok {
				return
			}
			if out, ok := translate(ev); ok {
				if k, ok := docKey(ev); ok && l.batch != nil {
					// an event about a document is told once it is
					// searchable
					l.batch.waitKey(ctx, k)
				}
				l.hub.publish(out)
			}
		}
	}
}

// docKey is the index document an event is about.
func docKey(ev collector.Event) (collector.IndexKey, bool) {
	switch ev.Type {
	case collector.EventEmail, collector.EventSubmission, collector.EventRemoved:
		id := ev.EmailID
		if id == "" && ev.Submission != nil {
			id = ev.Submission.EmailID
		}
		return collector.IndexKey{Kind: collector.IndexEmail, Name: id}, id != ""
	case collector.EventSession:
		if ev.Session != nil && len(ev.Session.Emails) == 0 {
			return collector.IndexKey{Kind: collector.IndexSession, Name: ev.Session.Key}, true
		}
	case collector.EventReview:
		if ev.Review != nil {
			return collector.IndexKey{Kind: collector.IndexReview, Name: ev.Review.Name}, true
		}
	}
	return collector.IndexKey{}, false
}

func translate(ev collector.Event) (api.Event, bool) {
	out := api.Event{Time: ev.Time}
	switch ev.Type {
	case collector.EventEmail:
		out.Type, out.ID = api.EventEmail, ev.EmailID
	case collector.EventSubmission:
		if ev.Submission == nil {
			return out, false
		}
		out.Type, out.ID, out.Group, out.State = api.EventSubmission, ev.Submission.EmailID, ev.Submission.Group, ev.Submission.State
	case collector.EventSession:
		out.Type = api.EventSession
		if ev.Session != nil && len(ev.Session.Emails) == 0 {
			out.ID = index.SessionDocID(ev.Session.UID)
		}
	case collector.EventReview:
		out.Type = api.EventReview
		if ev.Review != nil {
			out.ID = index.ReviewDocID(ev.Review.Name)
		}
	case collector.EventRemoved:
		out.Type, out.ID = api.EventRemoved, ev.EmailID
	case collector.EventError:
		out.Type, out.Err = api.EventError, ev.Err
	default:
		return out, false
	}
	if out.Time.IsZero() {
		out.Time = time.Now()
	}
	return out, true
}

func statusMap(subs []collector.SubmissionStatus) map[string]string {
	if len(subs) == 0 {
		return nil
	}
	m := make(map[string]string, len(subs))
	for _, s := range subs {
		m[s.Group] = s.State
	}
	return m
}

// Search implements api.Backend over the index.
func (l *Service) Search(ctx context.Context, q string, o api.SearchOptions) (*api.SearchResult, error) {
	if l.ix == nil {
		return nil, ErrNoIndex
	}
	return SearchIndex(ctx, l.ix, q, o)
}

// SearchIndex runs an API search on an index (shared by Service and tests).
func SearchIndex(ctx context.Context, ix Index, q string, o api.SearchOptions) (*api.SearchResult, error) {
	spec, err := api.ParseSort(o.Sort)
	if err != nil {
		return nil, err
	}
	io := index.SearchOptions{Limit: o.Limit, After: o.After, Facets: o.Facets, AsYouType: o.AsYouType, Sort: spec.String(), Histogram: o.Histogram}
	if io.Limit <= 0 {
		io.Limit = 100
	}
	if o.Kind != "" {
		io.Kinds = []string{o.Kind}
	}
	res, err := ix.Search(ctx, q, io)
	if err != nil {
		var pe *index.ParseError
		if errors.As(err, &pe) {
			return nil, &api.QueryError{Col: pe.Col, Msg: pe.Msg}
		}
		return nil, err
	}
	out := &api.SearchResult{Total: res.Total, Took: res.Took, Rows: make([]api.Row, len(res.Hits))}
	for i, h := range res.Hits {
		out.Rows[i] = h.Row
		if o.IDsOnly {
			out.Rows[i] = api.Row{ID: h.ID, Kind: h.Kind}
		}
	}
	if n := len(res.Hits); n > 0 && n == io.Limit && uint64(n) < res.Total {
		out.Next = res.Hits[n-1].Sort
	}
	if o.Facets && res.Facets != nil {
		out.Facets = indexFacets(res.Facets)
	}
	if h := res.Histogram; h != nil {
		out.Histogram = &api.Histogram{Unit: h.Unit, Missing: h.Missing, Buckets: make([]api.Bucket, len(h.Buckets))}
		for i, b := range h.Buckets {
			out.Histogram.Buckets[i] = api.Bucket{Start: b.Start, Count: b.Count}
		}
	}
	return out, nil
}

// indexFacets maps the index's facets to panel sections with the query
// clause that narrows to each value (its field matches the facet field
// exactly). The sensor section is left out while the matches come from
// one sensor only.
func indexFacets(fs map[string][]index.FacetCount) []api.Facet {
	defs := []struct{ key, name, field string }{
		{index.FacetSenderDomain, "sender domain", api.FieldSender},
		{index.FacetAttachType, "attachment type", api.FieldType},
		{index.FacetIOCType, "IOC type", api.FieldIOCType},
		{index.FacetStatus, "status", api.FieldStatus},
		{index.FacetSensor, "sensor", api.FieldSensor},
	}
	var out []api.Facet
	for _, d := range defs {
		if d.key == index.FacetSensor && len(fs[d.key]) < 2 {
			continue // one sensor (a sensor's own store): nothing to narrow
		}
		f := api.Facet{Name: d.name}
		for _, c := range fs[d.key] {
			f.Terms = append(f.Terms, api.FacetTerm{Term: c.Term, Count: c.Count, Filter: api.Clause(d.field, c.Term)})
		}
		out = append(out, f)
	}
	return out
}

// Email implements api.Backend.
func (l *Service) Email(ctx context.Context, id string) (*core.Email, error) {
	e, err := l.store.Record(id)
	return e, notFound(err)
}

// Raw implements api.Backend.
func (l *Service) Raw(ctx context.Context, id string) ([]byte, error) {
	b, err := l.store.Raw(id)
	return b, notFound(err)
}

// Session implements api.Backend.
func (l *Service) Session(ctx context.Context, id string) (*core.Session, error) {
	return StoreSession(l.store, id)
}

// StoreSession parses again the session an email (by id) or a session
// without email ("session/<uid>") came from.
func StoreSession(st *collector.Store, id string) (*core.Session, error) {
	if uid, ok := strings.CutPrefix(id, "session/"); ok {
		var key string
		err := st.ListSessions(func(m *collector.SessionMeta) bool {
			if m.UID == uid {
				key = m.Key
				return false
			}
			return true
		})
		if err != nil {
			return nil, err
		}
		if key == "" {
			return nil, fmt.Errorf("session %q: %w", uid, api.ErrNotFound)
		}
		s, err := st.ParsedSession(key)
		return s, notFound(err)
	}
	m, err := st.Email(id)
	if err != nil {
		return nil, notFound(err)
	}
	if m.Session == "" {
		return nil, fmt.Errorf("email %q did not come from an SMTP session: %w", id, api.ErrNotFound)
	}
	s, err := st.ParsedSession(m.Session)
	return s, notFound(err)
}

// Attachment implements api.Backend: from the archive, else extracted from
// the raw message.
func (l *Service) Attachment(ctx context.Context, emailID, sha1 string) ([]byte, error) {
	return StoreAttachment(l.store, emailID, sha1)
}

// StoreAttachment returns an attachment's bytes from a store.
func StoreAttachment(st *collector.Store, emailID, sha1 string) ([]byte, error) {
	if b, err := st.Attachment(sha1); err == nil {
		return b, nil
	}
	raw, err := st.Raw(emailID)
	if err != nil {
		return nil, notFound(err)
	}
	return api.ExtractAttachment(raw, sha1)
}

// Submissions implements api.Backend.
func (l *Service) Submissions(ctx context.Context, id string) ([]collector.SubmissionStatus, error) {
	return l.store.Submissions(id)
}

// Review implements api.Backend.
func (l *Service) Review(ctx context.Context, name string) (*api.Review, error) {
	return StoreReview(l.store, name)
}

// StoreReview returns one review/ entry of a store.
func StoreReview(st *collector.Store, name string) (*api.Review, error) {
	name = strings.TrimPrefix(name, "review/")
	data, reason, err := st.ReviewFile(name)
	if err != nil {
		return nil, notFound(err)
	}
	r := &api.Review{Data: data, Entry: collector.ReviewEntry{Name: name, Reason: reason, Size: int64(len(data))}}
	if all, err := st.Review(); err == nil {
		for _, e := range all {
			if e.Name == name {
				r.Entry = e
			}
		}
	}
	return r, nil
}

// Status implements api.Backend.
func (l *Service) Status(ctx context.Context) (*api.Status, error) {
	st, err := l.col.Status()
	if err != nil {
		return nil, err
	}
	return &api.Status{CollectorStatus: *st, Mode: "local"}, nil
}

// Resubmit implements api.Backend.
func (l *Service) Resubmit(ctx context.Context, ids []string, group string) (int, error) {
	return l.col.Resubmit(ids, group)
}

// SetPaused implements api.Backend.
func (l *Service) SetPaused(ctx context.Context, p bool) error {
	l.col.SetPaused(p)
	return nil
}

// Events implements api.Backend.
func (l *Service) Events(ctx context.Context) (<-chan api.Event, error) {
	return l.hub.subscribe(ctx, 1024), nil
}

func notFound(err error) error {
	if err != nil && errors.Is(err, collector.ErrNotFound) && !errors.Is(err, api.ErrNotFound) {
		return fmt.Errorf("%w (%v)", api.ErrNotFound, err)
	}
	return err
}

// hub fans events out to subscribers; a slow subscriber loses events.
type hub struct {
	mu     sync.Mutex
	subs   map[chan api.Event]struct{}
	closed bool
}

func (h *hub) subscribe(ctx context.Context, buf int) <-chan api.Event {
	c := make(chan api.Event, buf)
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		close(c)
		return c
	}
	if h.subs == nil {
		h.subs = map[chan api.Event]struct{}{}
	}
	h.subs[c] = struct{}{}
	h.mu.Unlock()
	go func() {
		<-ctx.Done()
		h.mu.Lock()
		if _, ok := h.subs[c]; ok {
			delete(h.subs, c)
			close(c)
		}
		h.mu.Unlock()
	}()
	return c
}

func (h *hub) publish(e api.Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for c := range h.subs {
		select {
		case c <- e:
		default:
		}
	}
}

func (h *hub) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	for c := range h.subs {
		close(c)
		delete(h.subs, c)
	}
}

// sessionDoc builds the index document of a stored session that carried
// no email.
func sessionDoc(st *collector.Store, m *collector.SessionMeta) (index.SessionDoc, error) {
	s, err := st.ParsedSession(m.Key)
	if err != nil {
		return index.SessionDoc{}, err
	}
	d := index.SessionDoc{Info: s.Info, Sensor: m.Sensor, Transcript: api.TranscriptText(s, false), Reason: api.NoEmailReason(s)}
	if m.UID != "" {
		d.Info.UID = m.UID // at a hub <sensor>/<uid> (the file's name gives the sensor's uid)
	}
	d.MailFrom, d.Rcpt = s.Attempted()
	return d, nil
}
