package index

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/analysis"
	"github.com/blevesearch/bleve/v2/document"
	"github.com/blevesearch/bleve/v2/index/scorch"
	"github.com/blevesearch/bleve/v2/index/scorch/mergeplan"
	"github.com/blevesearch/bleve/v2/mapping"
	bindex "github.com/blevesearch/bleve_index_api"
)

// Batch bounds: a batch is sent to bleve when it holds this many documents
// or this many bytes of text, whichever comes first.
const (
	batchDocs  = 1000
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

	mu       sync.RWMutex // guards set, stale, closed
	set      *monthSet    // the month indexes (months.go)
	stale    bool
	closed   bool
	damaged  error // why Open replaced an unreadable index
	readOnly bool  // OpenReadOnly: no writes, merges or persistence

	// During Rebuild, shadow is the new index and live the documents
	// written (nil: deleted) meanwhile; they go to shadow last.
	shadowMu sync.Mutex
	shadow   *monthSet
	live     map[string]*builder

	srcMu sync.RWMutex
	src   Source

	// Oldest and newest document times (unix ns) seen, for search windows
	// (see search.go); deletions do not shrink them. tmin is MaxInt64 and
	// tmax 0 before the first document. The bounds of what is on disk are
	// read on first need (timeRange), not at open: most short searches
	// never need them.
	tmin, tmax   atomic.Int64
	boundsLoaded atomic.Bool
	boundsMu     sync.Mutex

	// Group commit of small concurrent writes (see write).
	gmu    sync.Mutex
	gqueue []*writeReq
	gbusy  bool

	// bleve batches written to the index and their documents (Stats).
	nBatches, nDocs atomic.Int64
}

// ErrLocked is wrapped by Open's error when another process holds the index.
var ErrLocked = errors.New("index is in use by another process")

// Open opens (creating it when absent) the index in dir, normally
// DATA/index. It takes an exclusive lock on dir: when another process holds
// it Open fails at once with an error wrapping ErrLocked that names dir and
// the holder's pid. When the index was built with another MappingVersion,
// Open succeeds and Stale reports true: call Rebuild.
func Open(dir string) (*Index, error) {
	return open(dir, false)
}

// OpenReadOnly opens the index in dir for searching only (`smtpscope
// search`): bleve runs no merger and no persister, so a short-lived
// process neither spends its time merging segments nor writes anything;
// writes return ErrReadOnly. It takes the same lock as Open. When there is
// no index yet, or it is unreadable, it does what Open does (creates or
// replaces it, see Damaged), and the Index is writable.
func OpenReadOnly(dir string) (*Index, error) {
	return open(dir, true)
}

// ErrReadOnly is returned by writes to an Index opened with OpenReadOnly.
var ErrReadOnly = errors.New("index opened read-only")

// writable fails for a read-only Index.
func (ix *Index) writable() error {
	if ix.readOnly {
		return fmt.Errorf("index %s: %w", ix.dir, ErrReadOnly)
	}
	return nil
}

func open(dir string, readOnly bool) (*Index, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("index %s: %w", dir, err)
	}
	lk, err := lockDir(filepath.Join(dir, lockFile))
	if err != nil {
		return nil, fmt.Errorf("index %s: %w", dir, err)
	}
	im, _ := sharedMapping()
	ix := &Index{dir: dir, lock: lk, im: im}
	ix.tmin.Store(math.MaxInt64) // no document yet
	ix.textAna = ix.im.AnalyzerNamed(textAnalyzer)
	ix.nameAna = ix.im.AnalyzerNamed(nameAnalyzer)
	if ix.textAna == nil || ix.nameAna == nil {
		lk.unlock()
		return nil, fmt.Errorf("index %s: analyzers not registered", dir)
	}
	// A rebuild that did not finish leaves its directory behind.
	_ = os.RemoveAll(filepath.Join(dir, rebuildDir))

	path := filepath.Join(dir, monthsDir)
	legacy := filepath.Join(dir, bleveDir)
	_, lerr := os.Stat(filepath.Join(legacy, "index_meta.json"))
	if _, err := os.Stat(path); err == nil {
		if lerr == nil && !readOnly {
			// The old layout left behind by a rebuild that stopped
			// after the months were swapped in.
			_ = os.RemoveAll(legacy)
		}
		set, stale, err := openMonths(path, readOnly, ix.createBleve)
		if err == nil {
			ix.set, ix.stale, ix.readOnly = set, stale, readOnly
			ix.resetTimeBounds()
			return ix, nil
		}
		if errors.Is(err, os.ErrPermission) || strings.Contains(err.Error(), "timeout") {
			lk.unlock()
			return nil, fmt.Errorf("index %s: %w", path, err)
		}
		// A damaged index (we hold the lock, so nobody is writing it) is
		// derived data: start a new one, to be filled by Rebuild.
		ix.damaged = fmt.Errorf("index %s was unreadable and was replaced by an empty one: %w", path, err)
		ix.stale = true
	} else if lerr == nil {
		// The layout before months: one index, which answers searches
		// (stale) until Rebuild moves its documents into months.
		idx, err := openBleveMode(legacy, readOnly)
		if err == nil {
			ix.set = &monthSet{dir: path, readOnly: readOnly, create: ix.createBleve, legacy: idx}
			ix.stale, ix.readOnly = true, readOnly
			ix.resetTimeBounds()
			return ix, nil
		}
		if errors.Is(err, os.ErrPermission) || strings.Contains(err.Error(), "timeout") {
			lk.unlock()
			return nil, fmt.Errorf("index %s: %w", legacy, err)
		}
		ix.damaged = fmt.Errorf("index %s was unreadable and was replaced by an empty one: %w", legacy, err)
		ix.stale = true
	}
	_ = os.RemoveAll(legacy)
	set, err := newMonths(path, ix.createBleve)
	if err != nil {
		lk.unlock()
		return nil, fmt.Errorf("index %s: %w", path, err)
	}
	ix.set = set
	return ix, nil
}

var extraConfig = map[string]interface{}{}

func runtimeConfig() map[string]interface{} {
	m := map[string]interface{}{
		"bolt_timeout": boltTimeout,
		// The index is derived data: a batch returns once it is searchable,
		// persistence follows. After a crash `smtpscope index` (Sync) adds
		// what did not reach the disk.
		"unsafe_batch": true,
		// bleve's tiered merging with 20 segments per tier and per merge
		// instead of 10: a document is rewritten by merges about half as
		// often (once up to ~400,000 documents in batches of 1,000), which
		// makes bulk indexing some 12 % cheaper. The price is more segments
		// to search: at 100,000 emails the slowest of BenchmarkSearch's
		// queries goes from ~30 to ~42 ms at p99 (budget: 50).
		"scorchMergePlanOptions": map[string]interface{}{
			"MaxSegmentsPerTier":   20,
			"SegmentsPerMergeTask": 20,
		},
	}
	for k, v := range extraConfig {
		m[k] = v
	}
	return m
}

func openBleve(path string) (bleve.Index, error) {
	return openBleveMode(path, false)
}

// openBleveMode opens an existing bleve index, read-only when asked.
func openBleveMode(path string, readOnly bool) (bleve.Index, error) {
	cfg := runtimeConfig()
	if readOnly {
		cfg["read_only"] = true
	}
	return bleve.OpenUsing(path, cfg)
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

// Damaged says why Open had to replace an unreadable index with an empty
// one (Stale is then true), or nil.
func (ix *Index) Damaged() error { return ix.damaged }

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
	err := ix.set.closeAll(true) // read-only: nothing to persist
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
	return ix.set.docCount()
}

// IndexEmails indexes (or re-indexes) emails, in batches bounded by count
// and bytes; large inputs are built and written by parallel workers.
// Documents without an Email or with an empty ID are errors.
func (ix *Index) IndexEmails(docs []EmailDoc) error {
	if err := ix.writable(); err != nil {
		return err
	}
	for i, d := range docs {
		if d.Email == nil || d.Email.ID == "" {
			return fmt.Errorf("index %s: email %d of %d has no record or no id", ix.dir, i+1, len(docs))
		}
	}
	if len(docs) <= batchDocs {
		bs := make([]*builder, len(docs))
		for i, d := range docs {
			bs[i] = ix.emailDocument(d)
		}
		return ix.write(bs, nil)
	}
	p := ix.newBulk(ix.write, nil)
	for i := range docs {
		d := docs[i]
		if err := p.add(func() *builder { return ix.emailDocument(d) }, approxSize(d)); err != nil {
			break
		}
	}
	return p.wait()
}

// approxSize estimates the text of an email for batch bounds before it is
// built.
func approxSize(d EmailDoc) int {
	e := d.Email
	return min(len(e.BodyText)+len(e.BodyHTML)/4, maxBody) + len(e.Subject) + min(len(d.Transcript), maxTranscript) + 512
}

// IndexSession indexes a session that carried no email.
func (ix *Index) IndexSession(d SessionDoc) error {
	if err := ix.writable(); err != nil {
		return err
	}
	if d.Info.UID == "" {
		return fmt.Errorf("index %s: session without uid", ix.dir)
	}
	return ix.write([]*builder{ix.sessionDocument(d)}, nil)
}

// IndexReview indexes a review/ quarantine entry.
func (ix *Index) IndexReview(d ReviewDoc) error {
	if err := ix.writable(); err != nil {
		return err
	}
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
	if err := ix.writable(); err != nil {
		return err
	}
	return ix.write(nil, ids)
}

// write sends documents and deletions to the index. Small writes made at
// the same time by several goroutines (the collector's workers and
// submitters) are grouped into one bleve batch: each caller still returns
// only once its own documents are searchable, but the index makes one
// segment for the group instead of one per call.
func (ix *Index) write(bs []*builder, deletes []string) error {
	if len(bs) == 0 && len(deletes) == 0 {
		return nil
	}
	if len(bs)+len(deletes) >= groupMax {
		return ix.writeNow([]*writeReq{{bs: bs, dels: deletes}})
	}
	req := &writeReq{bs: bs, dels: deletes, done: make(chan error, 1)}
	ix.gmu.Lock()
	ix.gqueue = append(ix.gqueue, req)
	if ix.gbusy {
		ix.gmu.Unlock()
		return <-req.done
	}
	ix.gbusy = true
	for {
		reqs := ix.gqueue
		ix.gqueue = nil
		ix.gmu.Unlock()
		err := ix.writeNow(reqs)
		for _, r := range reqs {
			r.done <- err
		}
		ix.gmu.Lock()
		if len(ix.gqueue) == 0 {
			ix.gbusy = false
			ix.gmu.Unlock()
			break
		}
	}
	return <-req.done
}

// noteTime widens the known time bounds.
func (ix *Index) noteTime(t int64) {
	for {
		cur := ix.tmax.Load()
		if t <= cur || ix.tmax.CompareAndSwap(cur, t) {
			break
		}
	}
	for {
		cur := ix.tmin.Load()
		if t >= cur || ix.tmin.CompareAndSwap(cur, t) {
			break
		}
	}
}

// resetTimeBounds forgets the time bounds (at open, and when the months
// change under ix.mu): timeRange reads them again when a search needs
// them.
func (ix *Index) resetTimeBounds() {
	ix.boundsMu.Lock()
	defer ix.boundsMu.Unlock()
	ix.tmin.Store(math.MaxInt64) // none yet
	ix.tmax.Store(0)
	ix.boundsLoaded.Store(false)
}

// timeRange returns the oldest and newest document time (tmin MaxInt64
// and tmax 0 when there is none), reading them from the sort field's
// dictionary the first time, whose terms (16 hex digits of the time, then
// the ID) sort by time: the oldest is its first term; the newest is found
// by a search over the time, each step one range seek in every segment
// that reads up to probeTerms terms on (see timeBounds; reading every term
// cost 160-180 ms at 220,000 emails). A deleted document's term counts
// until a merge purges it: the bounds only size the newest-first window,
// which that widens a little. Call it with ix.mu held (read or write) or
// before the Index is shared.
func (ix *Index) timeRange() (lo, hi int64) {
	if !ix.boundsLoaded.Load() {
		ix.boundsMu.Lock()
		if !ix.boundsLoaded.Load() {
			if lo, hi, ok := ix.set.timeBounds(); ok {
				ix.noteTime(lo) // with what was written since the open
				ix.noteTime(hi)
			}
			ix.boundsLoaded.Store(true)
		}
		ix.boundsMu.Unlock()
	}
	return ix.tmin.Load(), ix.tmax.Load()
}

// probeTerms is how many terms one seek of timeBounds reads: when the
// dictionary ends among them, the last is the newest and the search
// stops; else the search goes on above the last.
const probeTerms = 16

// timeProbes counts the dictionary seeks of timeBounds (for tests).
var timeProbes atomic.Int64

// timeProbe seeks the first sort term not below start ("" = the first
// term) and reads up to probeTerms terms from there, skipping terms that
// are not sort keys: first and last are the times of the first and the
// last sort key read (found false when there was none), end reports that
// the dictionary ended among them.
func timeProbe(r bindex.IndexReader, start string) (first, last int64, found, end bool) {
	timeProbes.Add(1)
	var to []byte // no upper bound
	d, err := r.FieldDictRange(fTSort, []byte(start), to)
	if err != nil {
		return 0, 0, false, false
	}
	defer d.Close()
	var lastTerm string
	for range probeTerms + 1 { // one more: the end right after probeTerms
		e, err := d.Next()
		if err != nil || e == nil {
			end = err == nil
			break
		}
		if !validSortKey(e.Term) {
			continue
		}
		if !found {
			first, found = sortKeyTime(e.Term)
		}
		lastTerm = e.Term
	}
	if found {
		last, _ = sortKeyTime(lastTerm)
	}
	return first, last, found, end
}

// timeBounds is the oldest and newest time of the sort field's terms, ok
// false when there is none. below, when above 0, is where the newest is
// likely to be (the end of a month index's month): one seek above it
// checks, and the binary search then covers up to it only.
func timeBounds(r bindex.IndexReader, below int64) (lo, hi int64, ok bool) {
	lo, last, ok, end := timeProbe(r, "")
	if !ok || end {
		return lo, last, ok
	}
	// Invariant: a term of time a exists, none of time > b.
	a, b := last, int64(math.MaxInt64)
	if below > a && below < b {
		if _, _, found, _ := timeProbe(r, sortKeyNs(below+1)); !found {
			b = below
		}
	}
	// Galloping from a: the first step is the span of the terms the
	// first seek read (the density near the oldest), doubled after each
	// seek that finds more than probeTerms terms, halved after each that
	// finds none, never past the middle of what is left: a few seeks when
	// the documents end long before the month does, about twice a
	// bisection's at worst.
	step := max(last-lo, 1)
	missed := false
	for a < b {
		mid := a + min(step, (b-a)/2+1)
		if missed {
			mid = a + 1 // are the terms above a few?
		}
		_, last, found, end := timeProbe(r, sortKeyNs(mid))
		missed = !found && !missed
		switch {
		case !found:
			b = mid - 1
			step = max(step/2, 1)
		case end:
			return lo, last, true
		default:
			a = last
			step = min(step, math.MaxInt64/4) * 2
		}
	}
	return lo, a, true
}

// groupMax: writes this big go to the index on their own.
const groupMax = 256

// writeReq is one caller's documents and deletions, applied in order.
type writeReq struct {
	bs   []*builder
	dels []string
	done chan error
}

// writeNow applies writes as one batch. During a rebuild it also remembers
// the documents for the new index, which gets them last (see RebuildContext).
func (ix *Index) writeNow(reqs []*writeReq) error { return ix.writeNowCB(reqs, nil) }

// writeNowCB is writeNow with a callback for when the batch is on disk.
func (ix *Index) writeNowCB(reqs []*writeReq, persisted func(error)) error {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	if ix.closed {
		return fmt.Errorf("index %s: %w", ix.dir, errClosed)
	}
	if err := ix.set.apply(reqs, persisted); err != nil {
		return fmt.Errorf("index %s: %w", ix.dir, err)
	}
	ix.nBatches.Add(1)
	for _, r := range reqs {
		ix.nDocs.Add(int64(len(r.bs) + len(r.dels)))
	}
	for _, r := range reqs {
		for _, b := range r.bs {
			ix.noteTime(b.t)
		}
	}
	ix.shadowMu.Lock()
	defer ix.shadowMu.Unlock()
	if ix.shadow != nil {
		for _, r := range reqs {
			for _, b := range r.bs {
				ix.live[b.doc.ID()] = &builder{doc: cloneDoc(b.doc), t: b.t}
			}
			for _, id := range r.dels {
				ix.live[id] = nil
			}
		}
	}
	return nil
}

func apply(set *monthSet, bs []*builder, deletes []string) error {
	return set.apply([]*writeReq{{bs: bs, dels: deletes}}, nil)
}

// applyReqs writes one bleve batch; a later write of the same ID wins.
// persisted, when not nil, is called once the batch is on disk (or with
// the error that kept it off).
func applyReqs(idx bleve.Index, reqs []*writeReq, persisted func(error)) error {
	batch := idx.NewBatch()
	if persisted != nil {
		batch.SetPersistedCallback(persisted)
	}
	for _, r := range reqs {
		for _, b := range r.bs {
			if err := batch.IndexAdvanced(b.finish()); err != nil {
				return fmt.Errorf("document %q: %w", b.doc.ID(), err)
			}
		}
		for _, id := range r.dels {
			batch.Delete(id)
		}
	}
	return idx.Batch(batch)
}

// bulk writes many documents: it gathers document builds into batches
// (bounded by count and bytes) and runs up to GOMAXPROCS batches at once,
// each worker building its documents and writing its batch.
type bulk struct {
	write    func(bs []*builder, deletes []string) error
	progress func(n int)
	sem      chan struct{}
	wg       sync.WaitGroup
	mu       sync.Mutex
	err      error
	cur      []func() *builder
	size     int
}

func (ix *Index) newBulk(write func([]*builder, []string) error, progress func(n int)) *bulk {
	bulkGCStart()
	return &bulk{write: write, progress: progress, sem: make(chan struct{}, max(1, runtime.GOMAXPROCS(0)))}
}

// While bulk writes run, the garbage collector lets the heap grow to three
// times the live data instead of two (GOGC 200): bleve allocates heavily
// while it builds segments, and this makes a rebuild 3-10 % faster for
// about 40 % more peak memory. An explicit GOGC is left alone.
const bulkGCPercent = 200

var bulkGC struct {
	sync.Mutex
	n    int // bulks running
	prev int // GC percent before the first
}

func bulkGCStart() {
	if os.Getenv("GOGC") != "" {
		return
	}
	bulkGC.Lock()
	defer bulkGC.Unlock()
	if bulkGC.n == 0 {
		bulkGC.prev = debug.SetGCPercent(bulkGCPercent)
		if bulkGC.prev > bulkGCPercent || bulkGC.prev < 0 {
			debug.SetGCPercent(bulkGC.prev) // already laxer (or off)
		}
	}
	bulkGC.n++
}

func bulkGCEnd() {
	if os.Getenv("GOGC") != "" {
		return
	}
	bulkGC.Lock()
	defer bulkGC.Unlock()
	if bulkGC.n--; bulkGC.n == 0 {
		debug.SetGCPercent(bulkGC.prev)
	}
}

// add queues one document; it returns the first error of a finished batch.
func (p *bulk) add(build func() *builder, size int) error {
	p.cur = append(p.cur, build)
	p.size += size
	if len(p.cur) >= batchDocs || p.size >= batchBytes {
		p.dispatch()
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

func (p *bulk) dispatch() {
	if len(p.cur) == 0 {
		return
	}
	jobs := p.cur
	p.cur, p.size = nil, 0
	p.sem <- struct{}{}
	p.wg.Add(1)
	go func() {
		defer func() { <-p.sem; p.wg.Done() }()
		bs := make([]*builder, 0, len(jobs))
		for _, j := range jobs {
			if b := j(); b != nil {
				bs = append(bs, b)
			}
		}
		err := p.write(bs, nil)
		p.mu.Lock()
		defer p.mu.Unlock()
		if err != nil {
			if p.err == nil {
				p.err = err
			}
			return
		}
		if p.progress != nil {
			p.progress(len(jobs))
		}
	}()
}

// wait writes what is left and waits for every batch.
func (p *bulk) wait() error {
	p.dispatch()
	p.wg.Wait()
	bulkGCEnd()
	return p.err
}

// cloneDoc copies a document already given to one index for another: the
// same fields (analysis is redone), without the _id field the first index
// added.
func cloneDoc(d *document.Document) *document.Document {
	nd := document.NewDocument(d.ID())
	for _, f := range d.Fields {
		if f.Name() != "_id" {
			nd.AddField(f)
		}
	}
	return nd
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

// docSize estimates a source document for batch bounds.
func docSize(d Doc) int {
	switch {
	case d.Email != nil && d.Email.Email != nil:
		return approxSize(*d.Email)
	case d.Session != nil:
		return min(len(d.Session.Transcript), maxTranscript) + 256
	}
	return 256
}

// Sync indexes every document of src that is not in the index yet (what a
// crash or an index-less run left out) and returns how many it added.
func (ix *Index) Sync(src Source, progress func(done, total int)) (int, error) {
	if err := ix.writable(); err != nil {
		return 0, err
	}
	have, err := ix.ids()
	if err != nil {
		return 0, err
	}
	total, _ := src.Count()
	if total >= 0 {
		total = max(total-len(have), 0)
	}
	added := 0
	p := ix.newBulk(ix.write, func(n int) {
		added += n
		if progress != nil {
			progress(added, max(total, added))
		}
	})
	want := func(id string) bool { _, ok := have[id]; return !ok }
	err = src.Walk(want, func(d Doc) error {
		if id := d.ID(); id == "" || !want(id) {
			return nil
		}
		return p.add(func() *builder { return ix.build(d) }, docSize(d))
	})
	if werr := p.wait(); err == nil {
		err = werr
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
	n, _ := ix.set.docCount()
	out := make(map[string]struct{}, n)
	err := ix.set.readers(ix.set.all(), func(r bindex.IndexReader) (bool, error) {
		all, err := r.DocIDReaderAll()
		if err != nil {
			return false, err
		}
		defer all.Close()
		for {
			iid, err := all.Next()
			if err != nil {
				return false, err
			}
			if iid == nil {
				return true, nil
			}
			id, err := r.ExternalID(iid)
			if err != nil {
				return false, err
			}
			out[id] = struct{}{}
		}
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Rebuild builds a new index from src beside the current one, then
// replaces it. Searches keep answering from the current index meanwhile;
// writes made meanwhile go to the current index at once and to the new one
// just before the swap, so none is lost or overwritten by an older copy.
// progress (may be nil) is called after each batch with the documents done
// and the expected total.
func (ix *Index) Rebuild(src Source, progress func(done, total int)) error {
	return ix.RebuildContext(context.Background(), src, progress)
}

// RebuildContext is Rebuild with cancellation: on cancel the current index
// is left as it was.
func (ix *Index) RebuildContext(ctx context.Context, src Source, progress func(done, total int)) (err error) {
	if err := ix.writable(); err != nil {
		return err
	}
	path := filepath.Join(ix.dir, rebuildDir)
	ix.shadowMu.Lock()
	if ix.shadow != nil {
		ix.shadowMu.Unlock()
		return fmt.Errorf("index %s: a rebuild is already running", ix.dir)
	}
	shadow, err := newMonths(path, ix.createBleve)
	if err != nil {
		ix.shadowMu.Unlock()
		return fmt.Errorf("index %s: rebuild: %w", ix.dir, err)
	}
	ix.shadow, ix.live = shadow, map[string]*builder{}
	ix.shadowMu.Unlock()
	defer func() {
		if err != nil {
			ix.shadowMu.Lock()
			if ix.shadow != nil {
				_ = ix.shadow.closeAll(false)
				ix.shadow, ix.live = nil, nil
			}
			ix.shadowMu.Unlock()
			_ = os.RemoveAll(path)
		}
	}()

	total, _ := src.Count()
	done := 0
	p := ix.newBulk(func(bs []*builder, _ []string) error { return apply(shadow, bs, nil) }, func(n int) {
		done += n
		if progress != nil {
			progress(done, max(total, done))
		}
	})
	err = src.Walk(nil, func(d Doc) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		return p.add(func() *builder { return ix.build(d) }, docSize(d))
	})
	if werr := p.wait(); err == nil {
		err = werr
	}
	if err != nil {
		return fmt.Errorf("index %s: rebuild: %w", ix.dir, err)
	}
	if err := shadow.compact(ctx); err != nil {
		return fmt.Errorf("index %s: rebuild: %w", ix.dir, err)
	}
	return ix.swap(path)
}

// CompactAfter is how many documents written make a compaction worth its
// cost: `smtpscope index` compacts after adding at least this many, the
// daemon's live index once it is idle after writing this many.
const CompactAfter = 10000

// Compact merges the index's segments into one. A bulk load leaves tens
// of segments (bleve's tiered merging: ~37 at 220,000 emails), and every
// search, and above all every open, pays per segment: at 220,000 emails
// one segment makes a CLI search ~40 % cheaper in CPU. The merge costs
// about 12 CPU-seconds at 220,000 emails. Rebuild compacts the new index
// itself; `smtpscope index` calls this after adding many documents.
func (ix *Index) Compact(ctx context.Context) error {
	if err := ix.writable(); err != nil {
		return err
	}
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	if ix.closed {
		return fmt.Errorf("index %s: %w", ix.dir, errClosed)
	}
	if err := ix.set.compact(ctx); err != nil {
		return fmt.Errorf("index %s: %w", ix.dir, err)
	}
	return nil
}

// compactBleve force-merges a scorch index into one segment and waits
// until the result is persisted.
func compactBleve(ctx context.Context, idx bleve.Index) error {
	adv, err := idx.Advanced()
	if err != nil {
		return err
	}
	s, ok := adv.(*scorch.Scorch)
	if !ok {
		return nil
	}
	if err := s.ForceMerge(ctx, &mergeplan.SingleSegmentMergePlanOptions); err != nil {
		return fmt.Errorf("compact: %w", err)
	}
	return flush(idx)
}

// swap applies the writes made during the rebuild to the new index, then
// replaces the current index with it (the months, or the old layout's one
// index, which is removed).
func (ix *Index) swap(path string) error {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	ix.shadowMu.Lock()
	shadow, live := ix.shadow, ix.live
	ix.shadow, ix.live = nil, nil
	ix.shadowMu.Unlock()
	if ix.closed {
		_ = shadow.closeAll(false)
		return fmt.Errorf("index %s: %w", ix.dir, errClosed)
	}
	if len(live) > 0 {
		var bs []*builder
		var dels []string
		for id, d := range live {
			if d == nil {
				dels = append(dels, id)
			} else {
				bs = append(bs, d)
			}
		}
		if err := apply(shadow, bs, dels); err != nil {
			_ = shadow.closeAll(false)
			return fmt.Errorf("index %s: rebuild: %w", ix.dir, err)
		}
	}
	if err := shadow.closeAll(true); err != nil {
		return fmt.Errorf("index %s: rebuild: close new index: %w", ix.dir, err)
	}
	final := filepath.Join(ix.dir, monthsDir)
	if err := ix.set.closeAll(true); err != nil {
		return fmt.Errorf("index %s: rebuild: close old index: %w", ix.dir, err)
	}
	old := final + ".old"
	_ = os.RemoveAll(old)
	if err := os.Rename(final, old); err != nil && !os.IsNotExist(err) {
		return ix.reopenAfterFailure(fmt.Errorf("index %s: rebuild: %w", ix.dir, err))
	}
	if err := os.Rename(path, final); err != nil {
		_ = os.Rename(old, final)
		return ix.reopenAfterFailure(fmt.Errorf("index %s: rebuild: %w", ix.dir, err))
	}
	_ = os.RemoveAll(old)
	_ = os.RemoveAll(filepath.Join(ix.dir, bleveDir)) // the old layout, now moved
	set, _, err := openMonths(final, false, ix.createBleve)
	if err != nil {
		ix.closed = true
		ix.lock.unlock()
		return fmt.Errorf("index %s: rebuild: open new index: %w", ix.dir, err)
	}
	ix.set = set
	ix.stale = false
	ix.resetTimeBounds()
	return nil
}

// reopenAfterFailure reopens the index as it was before a failed swap.
func (ix *Index) reopenAfterFailure(cause error) error {
	path := filepath.Join(ix.dir, monthsDir)
	var set *monthSet
	var err error
	if ix.set.legacy != nil {
		var idx bleve.Index
		if idx, err = openBleve(filepath.Join(ix.dir, bleveDir)); err == nil {
			set = &monthSet{dir: path, create: ix.createBleve, legacy: idx}
		}
	} else {
		set, _, err = openMonths(path, false, ix.createBleve)
	}
	if err != nil {
		ix.closed = true
		ix.lock.unlock()
		return errors.Join(cause, err)
	}
	ix.set = set
	return cause
}

// Apply writes documents and deletions as one bleve batch (deletions
// after the documents) and returns once they are searchable. persisted
// (may be nil) is called once the batch is on disk, or with the error
// that kept it off; it is not called when Apply returns an error. A
// document that cannot be built (no id) is an error.
func (ix *Index) Apply(docs []Doc, deletes []string, persisted func(error)) error {
	if err := ix.writable(); err != nil {
		return err
	}
	bs := make([]*builder, 0, len(docs))
	for i, d := range docs {
		b := ix.build(d)
		if b == nil {
			return fmt.Errorf("index %s: document %d of %d has no id", ix.dir, i+1, len(docs))
		}
		bs = append(bs, b)
	}
	if len(bs) == 0 && len(deletes) == 0 {
		if persisted != nil {
			persisted(nil)
		}
		return nil
	}
	return ix.writeNowCB([]*writeReq{{bs: bs, dels: deletes}}, persisted)
}

// WriteStats are the bleve batches written to the index since it was
// opened, and the documents and deletions they held (small writes made
// together share a batch: see write).
type WriteStats struct{ Batches, Docs int64 }

// Stats returns the write counters.
func (ix *Index) Stats() WriteStats {
	return WriteStats{Batches: ix.nBatches.Load(), Docs: ix.nDocs.Load()}
}

// storeKey is the internal key holding the identity of the store the
// index was last fully synchronised with (see StoreID).
const storeKey = "smtpscope.store_id"

// StoreID is the identity of the store the index was last brought fully
// up to date with (SetStoreID), or "" (a new index, or one older than
// this key). A caller that keeps a record of what it has not indexed yet
// (collector/service, from the store's "unindexed" marks) trusts an index
// only with its store's ID.
func (ix *Index) StoreID() string {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	if ix.closed {
		return ""
	}
	return ix.set.storeID()
}

// SetStoreID records id as the store the index is now up to date with.
// It is written in order after everything written before it: once it is
// on disk, so is all that came before.
func (ix *Index) SetStoreID(id string) error {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	if ix.closed {
		return fmt.Errorf("index %s: %w", ix.dir, errClosed)
	}
	if err := ix.set.setStoreID(id); err != nil {
		return fmt.Errorf("index %s: %w", ix.dir, err)
	}
	return nil
}
