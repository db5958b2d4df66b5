package service

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/smtpscope/smtpscope/collector"
	"github.com/smtpscope/smtpscope/core"
	"github.com/smtpscope/smtpscope/index"
)

// hook is the collector's one index hook (collector.Indexer): every
// commit of the collector reaches the index through it. It only queues
// the changed documents (by key) for the batcher, which writes them to
// the index as the store has them when their batch is written.
type hook struct{ b *batcher }

// Ready reports whether the index writer runs (the collector's /readyz).
func (h *hook) Ready() error {
	if h.b == nil {
		return fmt.Errorf("not open")
	}
	h.b.mu.Lock()
	defer h.b.mu.Unlock()
	if h.b.closed {
		return fmt.Errorf("closed")
	}
	return nil
}

// IndexEmail implements collector.Indexer.
func (h *hook) IndexEmail(rec *core.Email, meta *collector.EmailMeta, subs []collector.SubmissionStatus) error {
	h.b.add(collector.IndexKey{Kind: collector.IndexEmail, Name: meta.ID}, rec, "")
	return nil
}

// IndexSession implements collector.Indexer.
func (h *hook) IndexSession(m *collector.SessionMeta) error {
	h.b.add(collector.IndexKey{Kind: collector.IndexSession, Name: m.Key}, nil, m.UID)
	return nil
}

// IndexReview implements collector.Indexer.
func (h *hook) IndexReview(r *collector.ReviewEntry) error {
	h.b.add(collector.IndexKey{Kind: collector.IndexReview, Name: r.Name}, nil, "")
	return nil
}

// UpdateSubmissions implements collector.Indexer.
func (h *hook) UpdateSubmissions(id string, subs []collector.SubmissionStatus) error {
	h.b.add(collector.IndexKey{Kind: collector.IndexEmail, Name: id}, nil, "")
	return nil
}

// DeleteEmail implements collector.Indexer.
func (h *hook) DeleteEmail(id string) error {
	h.b.add(collector.IndexKey{Kind: collector.IndexEmail, Name: id}, nil, "")
	return nil
}

// monthIndex is an Index of months (index.Index): retention by month.
type monthIndex interface {
	Months() ([]index.Month, error)
	MonthIDs(key string) ([]string, error)
	DropMonth(key string) error
}

var errNoMonths = fmt.Errorf("the index keeps no months")

// IndexMonths implements collector.MonthIndex.
func (h *hook) IndexMonths() ([]collector.IndexMonth, error) {
	mi, ok := h.b.ix.(monthIndex)
	if !ok {
		return nil, errNoMonths
	}
	ms, err := mi.Months()
	if err != nil {
		return nil, err
	}
	out := make([]collector.IndexMonth, len(ms))
	for i, m := range ms {
		out[i] = collector.IndexMonth{Key: m.Key, Start: m.Start, End: m.End}
	}
	return out, nil
}

// MonthDocs implements collector.MonthIndex.
func (h *hook) MonthDocs(key string) ([]string, error) {
	mi, ok := h.b.ix.(monthIndex)
	if !ok {
		return nil, errNoMonths
	}
	return mi.MonthIDs(key)
}

// DropMonth implements collector.MonthIndex.
func (h *hook) DropMonth(key string) error {
	mi, ok := h.b.ix.(monthIndex)
	if !ok {
		return errNoMonths
	}
	return mi.DropMonth(key)
}

// DeleteSession implements collector.Indexer.
func (h *hook) DeleteSession(m *collector.SessionMeta) error {
	h.b.add(collector.IndexKey{Kind: collector.IndexSession, Name: m.Key}, nil, m.UID)
	return nil
}

// Flush is called by the collector after its last commit, before it
// closes the store: everything committed is indexed when it returns.
func (h *hook) Flush() error { return h.b.Flush() }

// syncHook indexes each change before it returns (`smtpscope submit`).
type syncHook struct{ hook }

func (h *syncHook) UpdateSubmissions(id string, subs []collector.SubmissionStatus) error {
	_ = h.hook.UpdateSubmissions(id, subs)
	return h.b.Flush()
}

// NewIndexer returns the index hook over ix for a store no collector
// runs on (`smtpscope submit`): the same code path the collector uses,
// with every call indexed (and on disk) before it returns.
func NewIndexer(ix Index, st *collector.Store) collector.Indexer {
	ix.SetSource(&StoreSource{Store: st})
	return &syncHook{hook{b: newBatcher(ix, st, nil, batchOpts{})}}
}

// CatchUp brings ix fully up to date with the store behind src, the
// explicit way (`smtpscope index`, the repair tool): it rebuilds a stale
// index, else adds what is missing (Sync) and re-indexes every email whose
// submission states differ; then it applies what the store marks as not
// indexed (removals included) and records the store's identity in the
// index, so the next collector start trusts it (see Service). It returns
// how many documents it added and how many it updated.
func CatchUp(ctx context.Context, ix Index, src *StoreSource, progress func(done, total int)) (added, updated int, err error) {
	ix.SetSource(src)
	if ix.Stale() {
		err = ix.RebuildContext(ctx, src, progress)
	} else if added, err = ix.Sync(src, progress); err == nil {
		updated, err = refreshStatus(ctx, ix, src.Store)
	}
	if err != nil {
		return added, updated, err
	}
	b := newBatcher(ix, src.Store, nil, batchOpts{})
	defer b.close()
	n, err := b.reconcile(ctx)
	if err == nil {
		err = b.Flush()
	}
	if err != nil {
		return added, updated, err
	}
	if n > 0 {
		slog.Default().Debug("index: marked changes applied", "documents", n)
	}
	if id := src.Store.ID(); id != "" {
		err = ix.SetStoreID(id)
	}
	return added, updated, err
}

// refreshStatus pages through the emails of the index (their rows carry
// the submission states they were indexed with) and re-indexes those whose
// states in the store differ.
func refreshStatus(ctx context.Context, ix Index, st *collector.Store) (int, error) {
	o := index.SearchOptions{Limit: 10000, Kinds: []string{index.KindEmail}}
	n := 0
	for {
		res, err := ix.Search(ctx, "", o)
		if err != nil {
			return n, fmt.Errorf("refreshing submission states: %w", err)
		}
		for _, h := range res.Hits {
			subs, err := st.Submissions(h.ID)
			if err != nil {
				continue // not in the store (any more): Sync's business
			}
			if want := statusMap(subs); !maps.Equal(want, h.Status) {
				if err := ix.UpdateStatus(h.ID, want); err != nil {
					return n, err
				}
				n++
			}
		}
		if len(res.Hits) < o.Limit {
			return n, nil
		}
		o.After = res.Hits[len(res.Hits)-1].Sort
	}
}

// StoreSource is an index.Source over a collector store: every stored
// email, every session that carried no email, every review/ entry.
type StoreSource struct {
	Store *collector.Store

	mu   sync.Mutex
	memo triedMemo // the last session read for its tried envelope
}

// Count implements index.Source.
func (s *StoreSource) Count() (int, error) {
	st, err := s.Store.Stats()
	if err != nil {
		return -1, err
	}
	return int(st.Emails + st.Reviewed), nil
}

// Walk implements index.Source. The listings run on the calling
// goroutine (want too); the documents are loaded (the record read and
// decoded, the session file parsed) by up to GOMAXPROCS goroutines at
// once and handed to fn in listing order, one at a time.
func (s *StoreSource) Walk(want func(id string) bool, fn func(index.Doc) error) error {
	err := listDocs(s.Store.ListEmails, func(m *collector.EmailMeta) bool {
		return want == nil || want(m.ID)
	}, func(m *collector.EmailMeta) (index.Doc, bool) {
		d, err := s.LoadEmail(m.ID)
		if err != nil {
			return index.Doc{}, false // a broken record must not stop the others
		}
		return index.Doc{Email: &d}, true
	}, fn)
	if err != nil {
		return err
	}
	err = listDocs(s.Store.ListSessions, func(m *collector.SessionMeta) bool {
		return len(m.Emails) == 0 && (want == nil || want(index.SessionDocID(m.UID)))
	}, func(m *collector.SessionMeta) (index.Doc, bool) {
		d, err := sessionDoc(s.Store, m)
		if err != nil {
			return index.Doc{}, false
		}
		return index.Doc{Session: &d}, true
	}, fn)
	if err != nil {
		return err
	}
	rev, err := s.Store.Review()
	if err != nil {
		return err
	}
	for _, r := range rev {
		if strings.HasSuffix(r.Name, ".error") || (want != nil && !want(index.ReviewDocID(r.Name))) {
			continue
		}
		if err := fn(index.Doc{Review: &index.ReviewDoc{Sensor: r.Sensor, Name: r.Name, Reason: r.Reason, Time: r.Time}}); err != nil {
			return err
		}
	}
	return nil
}

// listDocs runs one store listing and hands fn, in listing order, the
// document of every item keep accepts and doc can make. keep runs on the
// listing's goroutine; doc (reading and decoding the stored files: in a
// rebuild about a fifth of the CPU, which on one goroutine held the
// other core idle while the index waited for documents) on up to
// GOMAXPROCS goroutines, at most loadWindow items ahead of fn. fn's error
// stops the listing and comes first; the loads under way finish (their
// results dropped) before listDocs returns.
func listDocs[M any](list func(func(*M) bool) error, keep func(*M) bool, doc func(*M) (index.Doc, bool), fn func(index.Doc) error) error {
	type loaded struct {
		d  index.Doc
		ok bool
	}
	workers := runtime.GOMAXPROCS(0)
	sem := make(chan struct{}, workers)
	var queue []chan loaded // loads started, in listing order
	var ferr error
	// next hands fn the oldest load, once it is done.
	next := func() {
		r := <-queue[0]
		queue = queue[1:]
		if r.ok && ferr == nil {
			ferr = fn(r.d)
		}
	}
	window := loadWindow * workers
	err := list(func(m *M) bool {
		if !keep(m) {
			return true
		}
		ch := make(chan loaded, 1)
		queue = append(queue, ch)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem }()
			d, ok := doc(m)
			ch <- loaded{d, ok}
		}()
		for len(queue) >= window && ferr == nil {
			next()
		}
		return ferr == nil
	})
	for len(queue) > 0 && ferr == nil {
		next()
	}
	for _, ch := range queue { // finished before Walk returns: the caller may close the store next
		<-ch
	}
	if ferr != nil {
		return ferr
	}
	return err
}

// loadWindow bounds, per loading goroutine, the documents loaded and not
// yet handed on (their records are in memory meanwhile).
const loadWindow = 4

// LoadEmail implements index.Source.
func (s *StoreSource) LoadEmail(id string) (index.EmailDoc, error) {
	rec, err := s.Store.Record(id)
	if err != nil {
		return index.EmailDoc{}, err
	}
	subs, _ := s.Store.Submissions(id)
	d := index.EmailDoc{Email: rec, Status: statusMap(subs)}
	if m, err := s.Store.Email(id); err == nil {
		d.Hunts = m.Hunts
		if rec.SessionTried == nil { // a record stored before it was kept
			s.mu.Lock()
			d.SessionMailFrom, d.SessionRcpt = s.memo.tried(s.Store, m.Session)
			s.mu.Unlock()
		}
	}
	return d, nil
}

// triedMemo reads, for a record stored before core.Email.SessionTried
// was kept, the envelope an email's session tried that no email
// of it carries (index.EmailDoc.SessionMailFrom and SessionRcpt,
// core.Session.TriedWithoutEmail) from the stored session file, streamed
// and without its message bytes (core.ParseSessionEnvelope: a large
// email costs no second copy), and keeps the last session's: the emails
// of one session are indexed together, so its file is read once for all
// of them.
type triedMemo struct {
	key      string
	mf, rcpt []string
}

// tried returns the tried envelope of the session stored under key; none
// for an email without session ("" key) or when the session cannot be
// read (the email is indexed all the same, found by its own envelope).
func (t *triedMemo) tried(st *collector.Store, key string) (mf, rcpt []string) {
	if key == "" {
		return nil, nil
	}
	if key != t.key {
		t.key, t.mf, t.rcpt = key, nil, nil
		if s := sessionEnvelope(st, key); s != nil {
			t.mf, t.rcpt = s.TriedWithoutEmail()
		}
	}
	return t.mf, t.rcpt
}

// sessionEnvelope parses the stored session key without its message
// bytes; nil when it cannot be read.
func sessionEnvelope(st *collector.Store, key string) *core.Session {
	sm, err := st.Session(key)
	if err != nil {
		return nil
	}
	f, err := os.Open(st.Path(sm.File))
	if err != nil {
		return nil
	}
	defer f.Close()
	s, _ := core.ParseSessionEnvelope(f, sm.Name, time.Time{})
	return s
}
