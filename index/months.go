package index

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/blevesearch/bleve/v2"
	bindex "github.com/blevesearch/bleve_index_api"
)

// The layout of DATA/index: one bleve index per calendar month (UTC) of
// the documents' time, DATA/index/months/YYYY-MM/, searched together
// through a bleve IndexAlias. A month is dropped whole (DropMonth,
// hub retention) without rewriting the others; a search whose time window
// misses a month does not read it. An index written before this layout
// (one bleve index, DATA/index/bleve/) still answers searches, stale, until
// Rebuild writes the months beside it and swaps them in.
const (
	monthsDir   = "months"
	monthLayout = "2006-01"
	storeIDFile = "store_id"
)

// isMonthKey reports whether name is a month key, YYYY-MM (digits).
func isMonthKey(name string) bool {
	if len(name) != len(monthLayout) || name[4] != '-' {
		return false
	}
	for i, c := range []byte(name) {
		if i != 4 && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// monthOf is the month key of a document time (unix ns).
func monthOf(t int64) string { return time.Unix(0, t).UTC().Format(monthLayout) }

// monthSpan is the first and last unix ns of a month key.
func monthSpan(key string) (lo, hi int64, ok bool) {
	m, err := time.Parse(monthLayout, key)
	if err != nil {
		return 0, 0, false
	}
	return m.UnixNano(), m.AddDate(0, 1, 0).UnixNano() - 1, true
}

// monthSet is the bleve indexes of one layout directory: one per month,
// or the one legacy index of the layout before months.
type monthSet struct {
	dir      string
	readOnly bool
	create   func(path string) (bleve.Index, error)

	mu     sync.RWMutex // guards months
	months map[string]bleve.Index
	legacy bleve.Index // not nil: the single index of the old layout, holding every document
}

// openMonths opens every month of dir (creating dir when absent). stale
// reports a month written with another mapping version.
func openMonths(dir string, readOnly bool, create func(string) (bleve.Index, error)) (s *monthSet, stale bool, err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, false, err
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, false, err
	}
	s = &monthSet{dir: dir, readOnly: readOnly, create: create, months: map[string]bleve.Index{}}
	for _, e := range ents {
		if !e.IsDir() || !isMonthKey(e.Name()) {
			continue
		}
		if _, _, ok := monthSpan(e.Name()); !ok {
			continue
		}
		idx, err := openBleveMode(filepath.Join(dir, e.Name()), readOnly)
		if err != nil {
			s.closeAll(false)
			return nil, false, fmt.Errorf("month %s: %w", e.Name(), err)
		}
		s.months[e.Name()] = idx
		if v, err := idx.GetInternal([]byte(versionKey)); err != nil || string(v) != strconv.Itoa(MappingVersion) {
			stale = true
		}
	}
	return s, stale, nil
}

// newMonths creates an empty month set in dir (removing what was there).
func newMonths(dir string, create func(string) (bleve.Index, error)) (*monthSet, error) {
	_ = os.RemoveAll(dir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	return &monthSet{dir: dir, create: create, months: map[string]bleve.Index{}}, nil
}

// keys are the month keys, oldest first.
func (s *monthSet) keys() []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	ks := make([]string, 0, len(s.months))
	for k := range s.months {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

func (s *monthSet) get(key string) bleve.Index {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.months[key]
}

// all is every index of the set, oldest month first.
func (s *monthSet) all() []bleve.Index {
	if s.legacy != nil {
		return []bleve.Index{s.legacy}
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	ks := make([]string, 0, len(s.months))
	for k := range s.months {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	out := make([]bleve.Index, len(ks))
	for i, k := range ks {
		out[i] = s.months[k]
	}
	return out
}

// within is the indexes that can hold a document timed in [lo, hi].
func (s *monthSet) within(lo, hi int64) []bleve.Index {
	if s.legacy != nil {
		return []bleve.Index{s.legacy}
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	var ks []string
	for k := range s.months {
		if mlo, mhi, _ := monthSpan(k); mhi >= lo && mlo <= hi {
			ks = append(ks, k)
		}
	}
	slices.Sort(ks)
	out := make([]bleve.Index, len(ks))
	for i, k := range ks {
		out[i] = s.months[k]
	}
	return out
}

// month returns the index of a month, creating it when absent.
func (s *monthSet) month(key string) (bleve.Index, error) {
	if s.legacy != nil {
		return s.legacy, nil
	}
	if idx := s.get(key); idx != nil {
		return idx, nil
	}
	if s.readOnly {
		return nil, ErrReadOnly
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if idx := s.months[key]; idx != nil {
		return idx, nil
	}
	path := filepath.Join(s.dir, key)
	_ = os.RemoveAll(path)
	idx, err := s.create(path)
	if err != nil {
		return nil, fmt.Errorf("month %s: %w", key, err)
	}
	s.months[key] = idx
	return idx, nil
}

// apply writes reqs: each document to the index of its month, each
// deletion to every index (an ID lives in one month, its document's; the
// caller need not know which). persisted, when not nil, is called once
// every batch is on disk, with the first error.
func (s *monthSet) apply(reqs []*writeReq, persisted func(error)) error {
	// Each index gets its part of every request, in request order: a
	// later write or deletion of the same ID wins, as in one batch.
	parts := map[bleve.Index][]*writeReq{}
	added := map[bleve.Index]map[string]bool{} // ids written to each index by reqs so far
	var order []bleve.Index
	add := func(idx bleve.Index, r *writeReq) {
		if _, ok := parts[idx]; !ok {
			order = append(order, idx)
		}
		parts[idx] = append(parts[idx], r)
	}
	for _, r := range reqs {
		byMonth := map[string][]*builder{}
		var ks []string
		for _, b := range r.bs {
			k := monthOf(b.t)
			if _, ok := byMonth[k]; !ok {
				ks = append(ks, k)
			}
			byMonth[k] = append(byMonth[k], b)
		}
		for _, k := range ks {
			idx, err := s.month(k)
			if err != nil {
				return err
			}
			add(idx, &writeReq{bs: byMonth[k]})
			if added[idx] == nil {
				added[idx] = map[string]bool{}
			}
			for _, b := range byMonth[k] {
				added[idx][b.doc.ID()] = true
			}
		}
		if len(r.dels) > 0 {
			for _, idx := range s.all() {
				if dels := s.holding(idx, r.dels, added[idx]); len(dels) > 0 {
					add(idx, &writeReq{dels: dels})
				}
			}
		}
	}
	if len(order) == 0 {
		if persisted != nil {
			persisted(nil)
		}
		return nil
	}
	var cb func(error)
	if persisted != nil {
		var mu sync.Mutex
		left := len(order)
		var first error
		cb = func(err error) {
			mu.Lock()
			if err != nil && first == nil {
				first = err
			}
			left--
			done := left == 0
			mu.Unlock()
			if done {
				persisted(first)
			}
		}
	}
	for _, idx := range order {
		if err := applyReqs(idx, parts[idx], cb); err != nil {
			return err
		}
	}
	return nil
}

// holding is the ids of dels that idx holds (one term lookup each) or
// that this write gives it (added), so that a deletion writes only to the
// month of its document. When the
// index cannot say, it is all of them.
func (s *monthSet) holding(idx bleve.Index, dels []string, added map[string]bool) []string {
	if s.legacy != nil {
		return dels
	}
	var out []string
	err := s.readers([]bleve.Index{idx}, func(r bindex.IndexReader) (bool, error) {
		for _, id := range dels {
			iid, err := r.InternalID(id)
			if err != nil {
				return false, err
			}
			if len(iid) > 0 || added[id] {
				out = append(out, id)
			}
		}
		return false, nil
	})
	if err != nil {
		return dels
	}
	return out
}

// search runs req over the months that can hold a document timed in
// [lo, hi]: one index directly, several through an IndexAlias.
func (s *monthSet) search(ctx context.Context, req *bleve.SearchRequest, lo, hi int64) (*bleve.SearchResult, error) {
	idxs := s.within(lo, hi)
	switch len(idxs) {
	case 0:
		return &bleve.SearchResult{Request: req, Status: &bleve.SearchStatus{}}, nil
	case 1:
		return idxs[0].SearchInContext(ctx, req)
	}
	return bleve.NewIndexAlias(idxs...).SearchInContext(ctx, req)
}

// docCount is the number of documents of every month.
func (s *monthSet) docCount() (uint64, error) {
	var n uint64
	for _, idx := range s.all() {
		c, err := idx.DocCount()
		if err != nil {
			return 0, err
		}
		n += c
	}
	return n, nil
}

// flushAll waits until every month has what was written so far on disk.
func (s *monthSet) flushAll() error {
	var errs []error
	for _, idx := range s.all() {
		errs = append(errs, flush(idx))
	}
	return errors.Join(errs...)
}

// closeAll closes every index, persisting first unless read-only.
func (s *monthSet) closeAll(persist bool) error {
	var errs []error
	for _, idx := range s.all() {
		if persist && !s.readOnly {
			errs = append(errs, closeBleve(idx))
		} else {
			errs = append(errs, idx.Close())
		}
	}
	return errors.Join(errs...)
}

// compact merges each month into one segment.
func (s *monthSet) compact(ctx context.Context) error {
	for _, idx := range s.all() {
		if err := compactBleve(ctx, idx); err != nil {
			return err
		}
	}
	return nil
}

// readers calls fn with a reader of each index, oldest month first, until
// fn returns false or an error.
func (s *monthSet) readers(idxs []bleve.Index, fn func(bindex.IndexReader) (bool, error)) error {
	for _, idx := range idxs {
		adv, err := idx.Advanced()
		if err != nil {
			return err
		}
		r, err := adv.Reader()
		if err != nil {
			return err
		}
		more, err := fn(r)
		r.Close()
		if err != nil || !more {
			return err
		}
	}
	return nil
}

// timeBounds is the oldest and newest document time: the first sort term
// of the oldest month that has one, the last of the newest (a few seeks
// in two months, whatever the number of documents; a month's documents
// are timed within it, so its end bounds the search for the newest).
func (s *monthSet) timeBounds() (lo, hi int64, ok bool) {
	idxs := s.all()
	_ = s.readers(idxs, func(r bindex.IndexReader) (bool, error) {
		lo, _, ok, _ = timeProbe(r, "")
		return !ok, nil
	})
	if !ok {
		return 0, 0, false
	}
	keys := s.keys()
	found := false
	for i := len(idxs) - 1; i >= 0 && !found; i-- {
		var below int64
		if s.legacy == nil && len(keys) == len(idxs) {
			_, below, _ = monthSpan(keys[i])
		}
		_ = s.readers(idxs[i:i+1], func(r bindex.IndexReader) (bool, error) {
			_, hi, found = timeBounds(r, below)
			return false, nil
		})
	}
	return lo, hi, found
}

// storeID reads the store identity (see Index.StoreID).
func (s *monthSet) storeID() string {
	if s.legacy != nil {
		v, err := s.legacy.GetInternal([]byte(storeKey))
		if err != nil {
			return ""
		}
		return string(v)
	}
	b, err := os.ReadFile(filepath.Join(s.dir, storeIDFile))
	if err != nil {
		return ""
	}
	return string(b)
}

// setStoreID records the store identity once every month has what was
// written before on disk: the file is written (and renamed into place)
// only after.
func (s *monthSet) setStoreID(id string) error {
	if s.legacy != nil {
		return s.legacy.SetInternal([]byte(storeKey), []byte(id))
	}
	if err := s.flushAll(); err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(s.dir, storeIDFile), []byte(id))
}

// writeFileAtomic writes a small file through a synced temporary file
// renamed over it.
func writeFileAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if serr := f.Sync(); err == nil {
		err = serr
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, path)
}

// fullSpan is the time window of a search without bounds.
const (
	spanLo = int64(math.MinInt64)
	spanHi = int64(math.MaxInt64)
)

// Month is one month of the index.
type Month struct {
	Key        string    // "2006-01"
	Start, End time.Time // its first instant and the next month's
	Docs       uint64    // documents in it
	// Batches is how many bleve batches were written to it since the
	// index was opened (a month that a write does not concern gets none).
	Batches uint64
}

// Months lists the month indexes, oldest first (none for an index of the
// layout before months, which Rebuild moves into months).
func (ix *Index) Months() ([]Month, error) {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	if ix.closed {
		return nil, fmt.Errorf("index %s: %w", ix.dir, errClosed)
	}
	if ix.set.legacy != nil {
		return nil, nil
	}
	var out []Month
	for _, k := range ix.set.keys() {
		idx := ix.set.get(k)
		if idx == nil {
			continue
		}
		n, err := idx.DocCount()
		if err != nil {
			return nil, fmt.Errorf("index %s: month %s: %w", ix.dir, k, err)
		}
		lo, hi, _ := monthSpan(k)
		m := Month{Key: k, Start: time.Unix(0, lo).UTC(), End: time.Unix(0, hi+1).UTC(), Docs: n}
		if st, ok := idx.StatsMap()["index"].(map[string]interface{}); ok {
			m.Batches, _ = st["TotBatches"].(uint64)
		}
		out = append(out, m)
	}
	return out, nil
}

// MonthIDs returns the IDs of every document of one month (email IDs,
// SessionDocID, ReviewDocID).
func (ix *Index) MonthIDs(key string) ([]string, error) {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	if ix.closed {
		return nil, fmt.Errorf("index %s: %w", ix.dir, errClosed)
	}
	idx := ix.set.get(key)
	if idx == nil || ix.set.legacy != nil {
		return nil, nil
	}
	var out []string
	err := ix.set.readers([]bleve.Index{idx}, func(r bindex.IndexReader) (bool, error) {
		all, err := r.DocIDReaderAll()
		if err != nil {
			return false, err
		}
		defer all.Close()
		for {
			iid, err := all.Next()
			if err != nil || iid == nil {
				return false, err
			}
			id, err := r.ExternalID(iid)
			if err != nil {
				return false, err
			}
			out = append(out, id)
		}
	})
	if err != nil {
		return nil, fmt.Errorf("index %s: month %s: %w", ix.dir, key, err)
	}
	return out, nil
}

// DropMonth closes and removes one month index whole (retention at the
// hub: the store's records of the month go first, see collector). The
// time bounds are found again from the months left.
func (ix *Index) DropMonth(key string) error {
	if err := ix.writable(); err != nil {
		return err
	}
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if ix.closed {
		return fmt.Errorf("index %s: %w", ix.dir, errClosed)
	}
	if ix.set.legacy != nil || !isMonthKey(key) {
		return fmt.Errorf("index %s: no month %q to drop", ix.dir, key)
	}
	ix.set.mu.Lock()
	idx := ix.set.months[key]
	delete(ix.set.months, key)
	ix.set.mu.Unlock()
	var err error
	if idx != nil {
		err = idx.Close()
	}
	if rerr := os.RemoveAll(filepath.Join(ix.set.dir, key)); err == nil {
		err = rerr
	}
	ix.resetTimeBounds()
	if err != nil {
		return fmt.Errorf("index %s: drop month %s: %w", ix.dir, key, err)
	}
	return nil
}
