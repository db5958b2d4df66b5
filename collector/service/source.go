package service

import (
	"context"
	"fmt"
	"maps"
	"strings"

	"github.com/smtpscope/smtpscope/collector"
	"github.com/smtpscope/smtpscope/core"
	"github.com/smtpscope/smtpscope/index"
)

// hook is the collector's one index hook (collector.Indexer): every
// commit of the collector reaches the index through it, after the commit.
type hook struct {
	ix    Index
	store *collector.Store
}

// IndexEmail implements collector.Indexer.
func (h *hook) IndexEmail(rec *core.Email, meta *collector.EmailMeta, subs []collector.SubmissionStatus) error {
	return h.ix.IndexEmails([]index.EmailDoc{{Email: rec, Status: statusMap(subs)}})
}

// IndexSession implements collector.Indexer.
func (h *hook) IndexSession(m *collector.SessionMeta) error {
	d, err := sessionDoc(h.store, m)
	if err != nil {
		return err
	}
	return h.ix.IndexSession(d)
}

// IndexReview implements collector.Indexer.
func (h *hook) IndexReview(r *collector.ReviewEntry) error {
	return h.ix.IndexReview(index.ReviewDoc{Name: r.Name, Reason: r.Reason, Time: r.Time})
}

// UpdateSubmissions implements collector.Indexer.
func (h *hook) UpdateSubmissions(id string, subs []collector.SubmissionStatus) error {
	return h.ix.UpdateStatus(id, statusMap(subs))
}

// DeleteEmail implements collector.Indexer.
func (h *hook) DeleteEmail(id string) error { return h.ix.Delete(id) }

// NewIndexer returns the index hook over ix for a store no collector
// runs on (`smtpscope submit`): the same code path the collector uses.
func NewIndexer(ix Index, st *collector.Store) collector.Indexer {
	ix.SetSource(&StoreSource{Store: st})
	return &hook{ix: ix, store: st}
}

// CatchUp brings ix up to date with the store behind src: it rebuilds a
// stale index, else adds what is missing (Sync) and re-indexes every email
// whose submission states changed while nothing indexed them. It returns
// how many documents it added and how many emails it updated.
func CatchUp(ctx context.Context, ix Index, src *StoreSource, progress func(done, total int)) (added, updated int, err error) {
	ix.SetSource(src)
	if ix.Stale() {
		return 0, 0, ix.RebuildContext(ctx, src, progress)
	}
	if added, err = ix.Sync(src, progress); err != nil {
		return added, 0, err
	}
	updated, err = refreshStatus(ctx, ix, src.Store)
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
type StoreSource struct{ Store *collector.Store }

// Count implements index.Source.
func (s *StoreSource) Count() (int, error) {
	st, err := s.Store.Stats()
	if err != nil {
		return -1, err
	}
	return int(st.Emails + st.Reviewed), nil
}

// Walk implements index.Source.
func (s *StoreSource) Walk(want func(id string) bool, fn func(index.Doc) error) error {
	err := listDocs(s.Store.ListEmails, func(m *collector.EmailMeta) (index.Doc, bool) {
		if want != nil && !want(m.ID) {
			return index.Doc{}, false
		}
		d, err := s.LoadEmail(m.ID)
		if err != nil {
			return index.Doc{}, false // a broken record must not stop the others
		}
		return index.Doc{Email: &d}, true
	}, fn)
	if err != nil {
		return err
	}
	err = listDocs(s.Store.ListSessions, func(m *collector.SessionMeta) (index.Doc, bool) {
		if len(m.Emails) > 0 || (want != nil && !want(index.SessionDocID(m.UID))) {
			return index.Doc{}, false
		}
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
		if err := fn(index.Doc{Review: &index.ReviewDoc{Name: r.Name, Reason: r.Reason, Time: r.Time}}); err != nil {
			return err
		}
	}
	return nil
}

// listDocs runs one store listing and hands fn the document of every item
// doc accepts; fn's error stops the listing and comes first.
func listDocs[M any](list func(func(*M) bool) error, doc func(*M) (index.Doc, bool), fn func(index.Doc) error) error {
	var ferr error
	err := list(func(m *M) bool {
		if d, ok := doc(m); ok {
			ferr = fn(d)
		}
		return ferr == nil
	})
	if ferr != nil {
		return ferr
	}
	return err
}

// LoadEmail implements index.Source.
func (s *StoreSource) LoadEmail(id string) (index.EmailDoc, error) {
	rec, err := s.Store.Record(id)
	if err != nil {
		return index.EmailDoc{}, err
	}
	subs, _ := s.Store.Submissions(id)
	return index.EmailDoc{Email: rec, Status: statusMap(subs)}, nil
}
