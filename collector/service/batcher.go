package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"time"

	"github.com/smtpscope/smtpscope/collector"
	"github.com/smtpscope/smtpscope/core"
	"github.com/smtpscope/smtpscope/index"
	berrors "go.etcd.io/bbolt/errors"
)

// Live index batching: the collector's hook queues the documents its
// commits changed, and the batcher writes them to the index together, one
// bleve batch per IndexWindow or per IndexBatch documents (whichever comes
// first), so the index makes one segment per batch instead of one or two
// per email. While the collector is busy (more work on its way to a
// commit: a spool backlog) a batch is held open up to IndexBacklogWindow,
// and written as soon as the collector is idle: a backlog makes batches of
// up to IndexBatch documents, not one per window. A backlog of documents
// (more than IndexBatch waiting) is written at once, up to GOMAXPROCS
// batches at a time, like a bulk index.
const (
	// IndexWindow bounds how long a committed change waits before its
	// batch is written (the delay until it is searchable, under light
	// load).
	IndexWindow = 250 * time.Millisecond
	// IndexBacklogWindow bounds that wait while the collector is busy:
	// long enough for a backlog ingested at several hundred emails/s to
	// fill batches of IndexBatch documents (the index's CPU per email
	// falls with the batch size: fewer, larger segments to build and
	// merge, each term's postings written once per batch).
	IndexBacklogWindow = 3 * time.Second
	// backlogPoll is how often a batch held open for a busy collector
	// checks whether it is idle.
	backlogPoll = 20 * time.Millisecond
	// IndexBatch bounds the documents of one batch.
	IndexBatch = 2000
	// maxHints bounds the records held in memory for queued documents
	// (beyond it, records are read back from the store when written).
	maxHints = 4000
	// persistWait bounds how long Flush waits for the index to reach the
	// disk before the store's marks are left for the next start.
	persistWait = 60 * time.Second
	// CompactIdle is how long the live index must have written nothing
	// (and have nothing waiting) before it is compacted, once
	// index.CompactAfter documents were written since the last time.
	CompactIdle = 10 * time.Second
)

// compacter is an index that can merge its segments into one
// (index.Index.Compact).
type compacter interface {
	Compact(ctx context.Context) error
}

// entry is one queued document.
type entry struct {
	key  collector.IndexKey
	rec  *core.Email   // the email's record as committed (a hint: checked against the store)
	uid  string        // a session's uid (to delete its document when the session is gone)
	done chan struct{} // closed once the batch holding it is searchable (or failed)
}

// batcher writes queued documents to the index in batches. The state
// written is always the store's state when the batch is read (the queued
// record only saves reading it back), so a later change of the same
// document wins, and deleting a document is just its absence from the
// store. After a batch is on disk, the store's marks of its documents are
// deleted (collector.Store.ClearIndexed): what a crash lost is found again
// from the marks at the next start.
type batcher struct {
	ix      Index
	st      *collector.Store
	log     *slog.Logger
	onError func(msg string) // a failure (logged already)
	onBatch func(n int)      // after each batch is searchable
	// onPersisted runs after a batch is on disk, before its marks are
	// cleared, with the ids of its email documents (the hunts); when it
	// fails the marks stay, so the next start writes the batch and runs
	// it again.
	onPersisted func(emailIDs []string) error
	window      time.Duration
	max         int
	par         int
	// busy reports whether the collector has more work on its way to a
	// commit (nil: never); backlog bounds the wait it may add.
	busy    func() bool
	backlog time.Duration
	// compactAfter documents written, then compactIdle without a batch,
	// and the index is compacted (compactAfter < 0: never).
	compactAfter int
	compactIdle  time.Duration

	mu       sync.Mutex
	cond     *sync.Cond // a batch ended
	pending  map[collector.IndexKey]*entry
	queue    []collector.IndexKey // pending keys, oldest first, each once
	inflight map[collector.IndexKey]*entry
	hints    int
	first    time.Time // when the oldest pending key was queued
	running  int
	flushing int
	closed   bool
	wake     chan struct{}
	stop     chan struct{}
	loopDone chan struct{}
	persist  sync.WaitGroup // batches whose marks are not handled yet
	// since counts the documents written since the last compaction,
	// lastBatch is when the last batch ended; compacting is a
	// compaction's goroutine, waited for by close.
	since      int
	lastBatch  time.Time
	compacting sync.WaitGroup
	compactOn  bool
}

// batchOpts bound a batcher's batches (zero: the defaults) and tell it
// whether the collector is busy (busy nil: never).
type batchOpts struct {
	window, backlog time.Duration // IndexWindow, IndexBacklogWindow
	max             int           // IndexBatch
	busy            func() bool
	compactAfter    int           // index.CompactAfter (< 0: never)
	compactIdle     time.Duration // CompactIdle
}

func newBatcher(ix Index, st *collector.Store, log *slog.Logger, o batchOpts) *batcher {
	if o.window <= 0 {
		o.window = IndexWindow
	}
	if o.backlog <= 0 {
		o.backlog = IndexBacklogWindow
	}
	if o.max <= 0 {
		o.max = IndexBatch
	}
	if o.compactAfter == 0 {
		o.compactAfter = index.CompactAfter
	}
	if o.compactIdle <= 0 {
		o.compactIdle = CompactIdle
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	b := &batcher{ix: ix, st: st, log: log, window: o.window, max: o.max, par: max(1, runtime.GOMAXPROCS(0)),
		busy: o.busy, backlog: max(o.window, o.backlog), compactAfter: o.compactAfter, compactIdle: o.compactIdle,
		pending: map[collector.IndexKey]*entry{}, inflight: map[collector.IndexKey]*entry{},
		wake: make(chan struct{}, 1), stop: make(chan struct{}), loopDone: make(chan struct{})}
	b.cond = sync.NewCond(&b.mu)
	go b.loop()
	return b
}

func (b *batcher) poke() {
	select {
	case b.wake <- struct{}{}:
	default:
	}
}

// add queues a document; it never waits for the index.
func (b *batcher) add(k collector.IndexKey, rec *core.Email, uid string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return // the store's mark stays: the next start indexes it
	}
	e := b.pending[k]
	if e == nil {
		e = &entry{key: k, done: make(chan struct{})}
		b.pending[k] = e
		b.queue = append(b.queue, k)
		if len(b.queue) == 1 {
			b.first = time.Now()
			b.poke()
		} else if len(b.queue) >= b.max {
			b.poke()
		}
	}
	if rec != nil && b.hints < maxHints {
		if e.rec == nil {
			b.hints++
		}
		e.rec = rec
	}
	if uid != "" {
		e.uid = uid
	}
}

// waitKey waits until k, if queued or being written, is searchable.
func (b *batcher) waitKey(ctx context.Context, k collector.IndexKey) {
	b.mu.Lock()
	e := b.pending[k]
	if e == nil {
		e = b.inflight[k]
	}
	b.mu.Unlock()
	if e == nil {
		return
	}
	select {
	case <-e.done:
	case <-ctx.Done():
	}
}

// Flush writes everything queued, waits until it is searchable, then
// (bounded by persistWait) until it is on disk and its marks are cleared.
// What the batches queued meanwhile (emails a hunt tagged, indexed again
// with the tag) is flushed too, for a few rounds.
func (b *batcher) Flush() error {
	for round := 0; ; round++ {
		b.mu.Lock()
		b.flushing++
		b.poke()
		for len(b.queue) > 0 || b.running > 0 {
			b.cond.Wait()
		}
		b.flushing--
		b.mu.Unlock()
		done := make(chan struct{})
		go func() { b.persist.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(persistWait):
			return fmt.Errorf("index not on disk after %v: its marks stay for the next start", persistWait)
		}
		b.mu.Lock()
		more := len(b.queue) > 0 && !b.closed
		b.mu.Unlock()
		if !more || round >= 3 {
			return nil
		}
	}
}

// close stops the batcher; what is still queued is left to the store's
// marks.
func (b *batcher) close() {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return
	}
	b.closed = true
	b.mu.Unlock()
	close(b.stop)
	<-b.loopDone
	b.compacting.Wait() // cancelled by b.stop
	b.mu.Lock()
	for b.running > 0 {
		b.cond.Wait()
	}
	for _, e := range b.pending {
		close(e.done)
	}
	b.pending, b.queue = map[collector.IndexKey]*entry{}, nil
	b.mu.Unlock()
}

func (b *batcher) loop() {
	defer close(b.loopDone)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		d := b.dispatch()
		if c := b.compactDue(); c > 0 && (d == 0 || c < d) {
			d = c
		}
		if d > 0 {
			timer.Reset(d)
		}
		select {
		case <-b.stop:
			return
		case <-b.wake:
		case <-timer.C:
		}
	}
}

// dispatch starts every batch that is due and has a slot; it returns how
// long until the next one is due (0: wait for a wake-up).
func (b *batcher) dispatch() time.Duration {
	busy := b.busy != nil && b.busy() // outside b.mu: the collector's locks
	b.mu.Lock()
	defer b.mu.Unlock()
	for len(b.queue) > 0 {
		if wait := b.due(busy); wait > 0 {
			return wait
		}
		if b.running >= b.par {
			return 0
		}
		var batch []*entry
		rest := b.queue[:0:0]
		for _, k := range b.queue {
			if len(batch) < b.max && b.inflight[k] == nil {
				e := b.pending[k]
				delete(b.pending, k)
				b.inflight[k] = e
				if e.rec != nil {
					b.hints--
				}
				batch = append(batch, e)
			} else {
				rest = append(rest, k)
			}
		}
		b.queue = rest
		if len(batch) == 0 {
			return 0 // all being written: after that batch
		}
		b.running++
		go b.run(batch)
	}
	return 0
}

// due returns how long the pending batch may still wait (0: write it
// now): up to the window after its first document, and while the
// collector is busy up to the backlog window, checked every backlogPoll.
// A full batch or a flush is due at once.
func (b *batcher) due(busy bool) time.Duration {
	if len(b.queue) >= b.max || b.flushing > 0 {
		return 0
	}
	age := time.Since(b.first)
	if wait := b.window - age; wait > 0 {
		return wait
	}
	if wait := b.backlog - age; busy && wait > 0 {
		return min(wait, backlogPoll)
	}
	return 0
}

// wrote counts n documents written around the batches (the catch-up's
// full sync) toward the next compaction, as if a batch had just ended.
func (b *batcher) wrote(n int) {
	b.mu.Lock()
	b.since += n
	b.lastBatch = time.Now()
	b.mu.Unlock()
	b.poke()
}

// compactDue starts a compaction of the index when one is due: at least
// compactAfter documents written since the last one, nothing waiting or
// being written, and no batch for compactIdle. A live index is never
// compacted otherwise (bleve's tiered merging leaves ~20 segments a month
// after a large backlog, and a whole-process search opens every one:
// 62.8 against 37.9 ms at 225,230 emails). It returns how long until it
// may be due (0: wait for the next batch to end).
func (b *batcher) compactDue() time.Duration {
	c, ok := b.ix.(compacter)
	if !ok || b.compactAfter < 0 {
		return 0
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed || b.compactOn || b.since < b.compactAfter || len(b.queue) > 0 || b.running > 0 {
		return 0
	}
	if wait := b.compactIdle - time.Since(b.lastBatch); wait > 0 {
		return wait
	}
	b.compactOn, b.since = true, 0
	b.compacting.Add(1)
	go b.compact(c)
	return 0
}

// compact merges the index's segments, cancelled when the batcher closes;
// batches go on meanwhile.
func (b *batcher) compact(c compacter) {
	defer b.compacting.Done()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-b.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	t0 := time.Now()
	err := c.Compact(ctx)
	switch {
	case err != nil && ctx.Err() == nil:
		b.log.Error("index compaction", "err", err)
	case err == nil:
		b.log.Info("index compacted", "took", time.Since(t0).Round(time.Millisecond))
	}
	b.mu.Lock()
	b.compactOn = false
	b.mu.Unlock()
}

// run writes one batch and releases its entries.
func (b *batcher) run(batch []*entry) {
	t0 := time.Now()
	n, err := b.write(batch)
	b.log.Debug("index batch", "documents", len(batch), "took", time.Since(t0))
	if err != nil {
		b.log.Error("index batch", "documents", len(batch), "err", err)
		if b.onError != nil {
			b.onError("index: " + err.Error())
		}
	}
	b.mu.Lock()
	for _, e := range batch {
		if b.inflight[e.key] == e {
			delete(b.inflight, e.key)
		}
		close(e.done)
	}
	b.running--
	b.since += n
	b.lastBatch = time.Now()
	b.cond.Broadcast()
	b.mu.Unlock()
	b.poke()
	if n > 0 && b.onBatch != nil {
		b.onBatch(n)
	}
}

// write reads the batch's documents from the store, writes them as one
// bleve batch, and (once it is on disk) clears their marks. It returns
// how many documents it wrote or deleted. A document that cannot be read
// keeps its mark (reported; retried at the next start).
func (b *batcher) write(batch []*entry) (int, error) {
	keys := make([]collector.IndexKey, len(batch))
	for i, e := range batch {
		keys[i] = e.key
	}
	items, err := b.st.IndexItems(keys)
	if err != nil {
		return 0, fmt.Errorf("reading %d documents from the store: %w", len(keys), err)
	}
	var docs []index.Doc
	var dels []string
	cleared := make([]collector.IndexItem, 0, len(items))
	var errs []error
	var memo triedMemo
	for i, it := range items {
		d, del, err := b.doc(it, batch[i], &memo)
		switch {
		case err != nil:
			errs = append(errs, err)
			continue
		case d != nil:
			docs = append(docs, *d)
		case del != "":
			dels = append(dels, del)
		}
		cleared = append(cleared, it)
	}
	var emailIDs []string
	for _, d := range docs {
		if d.Email != nil && d.Email.Email != nil {
			emailIDs = append(emailIDs, d.Email.Email.ID)
		}
	}
	var once sync.Once
	b.persist.Add(1)
	done := func() { once.Do(b.persist.Done) }
	persisted := func(perr error) {
		go func() {
			defer done()
			if perr != nil {
				b.log.Warn("index batch not on disk; its documents stay marked for the next start", "err", perr)
				return
			}
			if b.onPersisted != nil && len(emailIDs) > 0 {
				if err := b.onPersisted(emailIDs); err != nil {
					b.log.Warn("hunts not evaluated; the batch's documents stay marked for the next start", "err", err)
					if b.onError != nil {
						b.onError("hunts: " + err.Error())
					}
					return
				}
			}
			// a store closed before this late notice keeps its marks:
			// nothing is lost, the next start indexes them again
			if err := b.st.ClearIndexed(cleared); err != nil && !errors.Is(err, berrors.ErrDatabaseNotOpen) {
				b.log.Warn("clearing the store's marks of indexed documents (they are indexed again at the next start)", "err", err)
			}
		}()
	}
	if err := b.ix.Apply(docs, dels, persisted); err != nil {
		done()
		return 0, errors.Join(append(errs, err)...)
	}
	return len(docs) + len(dels), errors.Join(errs...)
}

// doc is the index document of one item as the store has it now, or the
// index ID to delete (the item is gone).
func (b *batcher) doc(it collector.IndexItem, e *entry, memo *triedMemo) (*index.Doc, string, error) {
	if it.Err != nil {
		return nil, "", it.Err
	}
	switch it.Key.Kind {
	case collector.IndexEmail:
		if it.Email == nil {
			return nil, it.Key.Name, nil
		}
		rec := e.rec
		if rec == nil || rec.ID != it.Key.Name || rec.SHA256 != it.Email.SHA256 {
			var err error
			if rec, err = b.st.Record(it.Key.Name); err != nil {
				return nil, "", fmt.Errorf("email %s: %w", it.Key.Name, err)
			}
		}
		d := &index.EmailDoc{Email: rec, Status: statusMap(it.Subs), Hunts: it.Email.Hunts}
		if rec.SessionTried == nil { // a record stored before it was kept
			d.SessionMailFrom, d.SessionRcpt = memo.tried(b.st, it.Email.Session)
		}
		return &index.Doc{Email: d}, "", nil
	case collector.IndexSession:
		if it.Session != nil && len(it.Session.Emails) == 0 {
			d, err := sessionDoc(b.st, it.Session)
			if err != nil {
				return nil, "", fmt.Errorf("session %s: %w", it.Key.Name, err)
			}
			return &index.Doc{Session: &d}, "", nil
		}
		uid := it.UID
		if uid == "" {
			uid = e.uid
		}
		if uid == "" {
			return nil, "", nil // nothing to delete that we can name
		}
		return nil, index.SessionDocID(uid), nil
	case collector.IndexReview:
		if it.Review == nil {
			return nil, index.ReviewDocID(it.Key.Name), nil
		}
		return &index.Doc{Review: &index.ReviewDoc{Sensor: it.Review.Sensor, Name: it.Review.Name, Reason: it.Review.Reason, Time: it.Review.Time}}, "", nil
	}
	return nil, "", fmt.Errorf("unknown index key kind %q", it.Key.Kind)
}

// reconcile queues every document the store marks as not (surely)
// indexed and waits until they are searchable; it returns how many. This
// is the whole catch-up of a trusted index: one read of the marks.
func (b *batcher) reconcile(ctx context.Context) (int, error) {
	n := 0
	var prev []collector.IndexKey
	waitAll := func(keys []collector.IndexKey) {
		for _, k := range keys {
			b.waitKey(ctx, k)
		}
	}
	err := b.st.Unindexed(IndexBatch, func(keys []collector.IndexKey) bool {
		if ctx.Err() != nil {
			return false
		}
		for _, k := range keys {
			b.add(k, nil, "")
		}
		n += len(keys)
		waitAll(prev) // one chunk ahead: batches overlap
		prev = append(prev[:0], keys...)
		return true
	})
	waitAll(prev)
	if err == nil {
		err = ctx.Err()
	}
	return n, err
}
