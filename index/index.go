package index

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/analysis"
	"github.com/blevesearch/bleve/v2/index/scorch"
	"github.com/blevesearch/bleve/v2/mapping"
)

// Batch bounds: a batch is sent to bleve when it holds this many documents
// or this many bytes of text, whichever comes first.
const (
	batchDocs  = 2000
	batchBytes = 32 << 20
)

const (
	bleveDir    = "bleve"
	rebuildDir  = "bleve.rebuild"
	lockFile    = "LOCK"
	versionKey  = "smtpscope.mapping_version"
	boltTimeout = "2s" // never hang on a root.bolt held by someone else
)

// Doc is one document a Source yields: exactly one of the fields is set.
type Doc struct {
	Email   *EmailDoc
	Session *SessionDoc
	Review  *ReviewDoc
}

// ID is the index document ID of d.
func (d Doc) ID() string {
	switch {
	case d.Email != nil && d.Email.Email != nil:
		return d.Email.Email.ID
	case d.Session != nil:
		return SessionDocID(d.Session.Info.UID)
	case d.Review != nil:
		return ReviewDocID(d.Review.Name)
	}
	return ""
}

// Source is where the index is rebuilt from: the collector's store.
type Source interface {
	// Count is how many documents Walk yields with a nil want (for progress;
	// an estimate is fine, -1 when unknown).
	Count() (int, error)
	// Walk calls fn for every stored email, session without email and
	// review/ entry. When want is not nil, Walk first asks want with the
	// document's index ID (Email.ID, SessionDocID(uid), ReviewDocID(name))
	// and skips (without loading it) a document want returns false for.
	// Walk stops and returns the first error fn returns.
	Walk(want func(id string) bool, fn func(Doc) error) error
	// LoadEmail returns one stored email with its current status and
	// transcript (used by UpdateStatus).
	LoadEmail(id string) (EmailDoc, error)
}

// Index is the search index of one data dir. Its methods are safe for
// concurrent use: searches run while another goroutine indexes.
type Index struct {
	dir  string
	lock *dirLock
	im   *mapping.IndexMappingImpl

	textAna analysis.Analyzer
	nameAna analysis.Analyzer

	mu     sync.RWMutex // guards idx, shadow, stale, closed
	idx    bleve.Index
	stale  bool
	closed bool

	// During Rebuild, live writes also go to shadow; liveIDs remembers
	// which documents they touched so the rebuild's older copies of them
	// are not written over the live ones.
	shadowMu sync.Mutex
	shadow   bleve.Index
	liveIDs  map[string]struct{}

	srcMu sync.RWMutex
	src   Source
}

// ErrLocked is wrapped by Open's error when another process holds the index.
var ErrLocked = errors.New("index is in use by another process")

// Open opens (creating it when absent) the index in dir, normally
// DATA/index. It takes an exclusive lock on dir: when another process holds
// it Open fails at once with an error wrapping ErrLocked that names dir and
// the holder's pid. When the index was built with another MappingVersion,
// Open succeeds and Stale reports true: call Rebuild.
func Open(dir string) (*Index, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("index %s: %w", dir, err)
	}
	lk, err := lockDir(filepath.Join(dir, lockFile))
	if err != nil {
		return nil, fmt.Errorf("index %s: %w", dir, err)
	}
	ix := &Index{dir: dir, lock: lk, im: newMapping()}
	ix.textAna = ix.im.AnalyzerNamed(textAnalyzer)
	ix.nameAna = ix.im.AnalyzerNamed(nameAnalyzer)
	if ix.textAna == nil || ix.nameAna == nil {
		lk.unlock()
		return nil, fmt.Errorf("index %s: analyzers not registered", dir)
	}
	// A rebuild that did not finish leaves its directory behind.
	_ = os.RemoveAll(filepath.Join(dir, rebuildDir))

	path := filepath.Join(dir, bleveDir)
	if _, err := os.Stat(filepath.Join(path, "index_meta.json")); err == nil {
		idx, err := openBleve(path)
		if err != nil {
			lk.unlock()
			return nil, fmt.Errorf("index %s: %w (remove the directory or run `smtpscope reindex`)", path, err)
		}
		v, err := idx.GetInternal([]byte(versionKey))
		if err != nil || string(v) != strconv.Itoa(MappingVersion) {
			ix.stale = true
		}
		ix.idx = idx
		return ix, nil
	}
	_ = os.RemoveAll(path)
	idx, err := ix.createBleve(path)
	if err != nil {
		lk.unlock()
		return nil, fmt.Errorf("index %s: %w", path, err)
	}
	ix.idx = idx
	return ix, nil
}

func runtimeConfig() map[string]interface{} {
	return map[string]interface{}{
		"bolt_timeout": boltTimeout,
		// The index is derived data: a batch returns once it is searchable,
		// persistence follows. After a crash `smtpscope index` (Sync) adds
		// what did not reach the disk.
		"unsafe_batch": true,
	}
}

func openBleve(path string) (bleve.Index, error) {
	return bleve.OpenUsing(path, runtimeConfig())
}

func (ix *Index) createBleve(path string) (bleve.Index, error) {
	idx, err := bleve.NewUsing(path, ix.im, scorch.Name, scorch.Name, runtimeConfig())
	if err != nil {
		return nil, err
	}
	if err := idx.SetInternal([]byte(versionKey), []byte(strconv.Itoa(MappingVersion))); err != nil {
		_ = idx.Close()
		return nil, err
	}
	if err := flush(idx); err != nil {
		_ = idx.Close()
		return nil, err
	}
	return idx, nil
}

// flushTimeout bounds how long Close waits for the index to reach the disk.
const flushTimeout = 60 * time.Second

// flush waits until everything written so far is persisted: batches are
// "unsafe" (searchable before they are on disk), so Close and the rebuild
// swap call this first. Persistence is in order, so waiting for one last
// small batch waits for all before it.
func flush(idx bleve.Index) error {
	done := make(chan error, 1)
	b := idx.NewBatch()
	b.SetInternal([]byte("smtpscope.flushed"), []byte(time.Now().UTC().Format(time.RFC3339Nano)))
	b.SetPersistedCallback(func(err error) {
		select {
		case done <- err:
		default:
		}
	})
	if err := idx.Batch(b); err != nil {
		return err
	}
	select {
	case err := <-done:
		return err
	case <-time.After(flushTimeout):
		return fmt.Errorf("index not persisted after %v", flushTimeout)
	}
}

// closeBleve persists and closes one bleve index.
func closeBleve(idx bleve.Index) error {
	ferr := flush(idx)
	cerr := idx.Close()
	return errors.Join(ferr, cerr)
}

// Dir is the directory the index lives in.
func (ix *Index) Dir() string { return ix.dir }

// Stale reports whether the index was built with an older mapping and must
// be rebuilt (Rebuild) before its answers can be trusted.
func (ix *Index) Stale() bool {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	return ix.stale
}

// SetSource tells the index where records live (for UpdateStatus).
func (ix *Index) SetSource(src Source) {
	ix.srcMu.Lock()
	ix.src = src
	ix.srcMu.Unlock()
}

// Close closes the index and releases the lock.
func (ix *Index) Close() error {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if ix.closed {
		return nil
	}
	ix.closed = true
	err := closeBleve(ix.idx)
	ix.lock.unlock()
	if err != nil {
		return fmt.Errorf("index %s: close: %w", ix.dir, err)
	}
	return nil
}

var errClosed = errors.New("index is closed")

// Count is the number of documents in the index.
func (ix *Index) Count() (uint64, error) {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	if ix.closed {
		return 0, errClosed
	}
	return ix.idx.DocCount()
}

// IndexEmails indexes (or re-indexes) emails, in batches bounded by count
// and bytes. Documents without an Email or with an empty ID are errors.
func (ix *Index) IndexEmails(docs []EmailDoc) error {
	bs := make([]*builder, 0, min(len(docs), batchDocs))
	var size int
	for i, d := range docs {
		if d.Email == nil || d.Email.ID == "" {
			return fmt.Errorf("index %s: email %d of %d has no record or no id", ix.dir, i+1, len(docs))
		}
		b := ix.emailDocument(d)
		bs = append(bs, b)
		size += b.bytes
		if len(bs) >= batchDocs || size >= batchBytes {
			if err := ix.write(bs, nil); err != nil {
				return err
			}
			bs, size = bs[:0], 0
		}
	}
	return ix.write(bs, nil)
}

// IndexSession indexes a session that carried no email.
func (ix *Index) IndexSession(d SessionDoc) error {
	if d.Info.UID == "" {
		return fmt.Errorf("index %s: session without uid", ix.dir)
	}
	return ix.write([]*builder{ix.sessionDocument(d)}, nil)
}

// IndexReview indexes a review/ quarantine entry.
func (ix *Index) IndexReview(d ReviewDoc) error {
	if d.Name == "" {
		return fmt.Errorf("index %s: review entry without name", ix.dir)
	}
	return ix.write([]*builder{ix.reviewDocument(d)}, nil)
}

// UpdateStatus re-indexes one email with a new submission status. The
// record is loaded from the Source given to SetSource.
func (ix *Index) UpdateStatus(id string, status map[string]string) error {
	ix.srcMu.RLock()
	src := ix.src
	ix.srcMu.RUnlock()
	if src == nil {
		return fmt.Errorf("index %s: update status of %s: no source set (SetSource)", ix.dir, id)
	}
	d, err := src.LoadEmail(id)
	if err != nil {
		return fmt.Errorf("index %s: update status of %s: %w", ix.dir, id, err)
	}
	if d.Email == nil {
		return fmt.Errorf("index %s: update status of %s: source returned no record", ix.dir, id)
	}
	d.Status = status
	return ix.IndexEmails([]EmailDoc{d})
}

// Delete removes documents by index ID (email IDs, SessionDocID, ReviewDocID).
func (ix *Index) Delete(ids ...string) error {
	if len(ids) == 0 {
		return nil
	}
	return ix.write(nil, ids)
}

// write sends one batch to the index and, during a rebuild, to the new one.
func (ix *Index) write(bs []*builder, deletes []string) error {
	if len(bs) == 0 && len(deletes) == 0 {
		return nil
	}
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	if ix.closed {
		return fmt.Errorf("index %s: %w", ix.dir, errClosed)
	}
	if err := apply(ix.idx, bs, deletes); err != nil {
		return fmt.Errorf("index %s: %w", ix.dir, err)
	}
	ix.shadowMu.Lock()
	defer ix.shadowMu.Unlock()
	if ix.shadow != nil {
		for _, b := range bs {
			ix.liveIDs[b.doc.ID()] = struct{}{}
		}
		for _, id := range deletes {
			ix.liveIDs[id] = struct{}{}
		}
		if err := apply(ix.shadow, bs, deletes); err != nil {
			return fmt.Errorf("index %s (rebuild): %w", ix.dir, err)
		}
	}
	return nil
}

func apply(idx bleve.Index, bs []*builder, deletes []string) error {
	batch := idx.NewBatch()
	for _, b := range bs {
		if err := batch.IndexAdvanced(b.doc); err != nil {
			return fmt.Errorf("document %q: %w", b.doc.ID(), err)
		}
	}
	for _, id := range deletes {
		batch.Delete(id)
	}
	return idx.Batch(batch)
}

// build turns a source document into index fields.
func (ix *Index) build(d Doc) *builder {
	switch {
	case d.Email != nil && d.Email.Email != nil && d.Email.Email.ID != "":
		return ix.emailDocument(*d.Email)
	case d.Session != nil && d.Session.Info.UID != "":
		return ix.sessionDocument(*d.Session)
	case d.Review != nil && d.Review.Name != "":
		return ix.reviewDocument(*d.Review)
	}
	return nil
}

// Sync indexes every document of src that is not in the index yet (what a
// crash or an index-less run left out) and returns how many it added.
func (ix *Index) Sync(src Source, progress func(done, total int)) (int, error) {
	have, err := ix.ids()
	if err != nil {
		return 0, err
	}
	total, _ := src.Count()
	if total >= 0 {
		total = max(total-len(have), 0)
	}
	added := 0
	var bs []*builder
	size := 0
	flush := func() error {
		if err := ix.write(bs, nil); err != nil {
			return err
		}
		added += len(bs)
		bs, size = bs[:0], 0
		if progress != nil {
			progress(added, max(total, added))
		}
		return nil
	}
	want := func(id string) bool { _, ok := have[id]; return !ok }
	err = src.Walk(want, func(d Doc) error {
		if !want(d.ID()) {
			return nil
		}
		b := ix.build(d)
		if b == nil {
			return nil
		}
		bs = append(bs, b)
		size += b.bytes
		if len(bs) >= batchDocs || size >= batchBytes {
			return flush()
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
	if err != nil {
		return added, fmt.Errorf("index %s: sync: %w", ix.dir, err)
	}
	return added, nil
}

// ids returns the IDs of every document in the index.
func (ix *Index) ids() (map[string]struct{}, error) {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	if ix.closed {
		return nil, errClosed
	}
	adv, err := ix.idx.Advanced()
	if err != nil {
		return nil, err
	}
	r, err := adv.Reader()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	n, _ := r.DocCount()
	out := make(map[string]struct{}, n)
	all, err := r.DocIDReaderAll()
	if err != nil {
		return nil, err
	}
	defer all.Close()
	for {
		iid, err := all.Next()
		if err != nil {
			return nil, err
		}
		if iid == nil {
			break
		}
		id, err := r.ExternalID(iid)
		if err != nil {
			return nil, err
		}
		out[id] = struct{}{}
	}
	return out, nil
}

// Rebuild builds a new index from src beside the current one, then
// replaces it. Searches keep answering from the current index meanwhile,
// and writes made meanwhile go to both. progress (may be nil) is called
// after each batch with the documents done and the expected total.
func (ix *Index) Rebuild(src Source, progress func(done, total int)) error {
	return ix.RebuildContext(context.Background(), src, progress)
}

// RebuildContext is Rebuild with cancellation: on cancel the current index
// is left as it was.
func (ix *Index) RebuildContext(ctx context.Context, src Source, progress func(done, total int)) (err error) {
	path := filepath.Join(ix.dir, rebuildDir)
	ix.shadowMu.Lock()
	if ix.shadow != nil {
		ix.shadowMu.Unlock()
		return fmt.Errorf("index %s: a rebuild is already running", ix.dir)
	}
	_ = os.RemoveAll(path)
	shadow, err := ix.createBleve(path)
	if err != nil {
		ix.shadowMu.Unlock()
		return fmt.Errorf("index %s: rebuild: %w", ix.dir, err)
	}
	ix.shadow, ix.liveIDs = shadow, map[string]struct{}{}
	ix.shadowMu.Unlock()
	defer func() {
		if err != nil {
			ix.shadowMu.Lock()
			if ix.shadow != nil {
				_ = ix.shadow.Close()
				ix.shadow, ix.liveIDs = nil, nil
			}
			ix.shadowMu.Unlock()
			_ = os.RemoveAll(path)
		}
	}()

	total, _ := src.Count()
	done := 0
	var bs []*builder
	size := 0
	flush := func() error {
		if len(bs) == 0 {
			return nil
		}
		ix.shadowMu.Lock()
		keep := bs[:0]
		for _, b := range bs {
			if _, live := ix.liveIDs[b.doc.ID()]; !live {
				keep = append(keep, b)
			}
		}
		err := apply(ix.shadow, keep, nil)
		ix.shadowMu.Unlock()
		if err != nil {
			return err
		}
		done += len(bs)
		bs, size = bs[:0], 0
		if progress != nil {
			progress(done, max(total, done))
		}
		return nil
	}
	err = src.Walk(nil, func(d Doc) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		b := ix.build(d)
		if b == nil {
			return nil
		}
		bs = append(bs, b)
		size += b.bytes
		if len(bs) >= batchDocs || size >= batchBytes {
			return flush()
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
	if err != nil {
		return fmt.Errorf("index %s: rebuild: %w", ix.dir, err)
	}
	return ix.swap(path)
}

// swap replaces the current index with the rebuilt one at path.
func (ix *Index) swap(path string) error {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	ix.shadowMu.Lock()
	shadow := ix.shadow
	ix.shadow, ix.liveIDs = nil, nil
	ix.shadowMu.Unlock()
	if ix.closed {
		_ = shadow.Close()
		return fmt.Errorf("index %s: %w", ix.dir, errClosed)
	}
	if err := closeBleve(shadow); err != nil {
		return fmt.Errorf("index %s: rebuild: close new index: %w", ix.dir, err)
	}
	final := filepath.Join(ix.dir, bleveDir)
	if err := closeBleve(ix.idx); err != nil {
		return fmt.Errorf("index %s: rebuild: close old index: %w", ix.dir, err)
	}
	old := final + ".old"
	_ = os.RemoveAll(old)
	if err := os.Rename(final, old); err != nil && !os.IsNotExist(err) {
		return ix.reopenAfterFailure(final, fmt.Errorf("index %s: rebuild: %w", ix.dir, err))
	}
	if err := os.Rename(path, final); err != nil {
		_ = os.Rename(old, final)
		return ix.reopenAfterFailure(final, fmt.Errorf("index %s: rebuild: %w", ix.dir, err))
	}
	_ = os.RemoveAll(old)
	idx, err := openBleve(final)
	if err != nil {
		ix.closed = true
		ix.lock.unlock()
		return fmt.Errorf("index %s: rebuild: open new index: %w", ix.dir, err)
	}
	ix.idx = idx
	ix.stale = false
	return nil
}

func (ix *Index) reopenAfterFailure(path string, cause error) error {
	idx, err := openBleve(path)
	if err != nil {
		ix.closed = true
		ix.lock.unlock()
		return errors.Join(cause, err)
	}
	ix.idx = idx
	return cause
}
