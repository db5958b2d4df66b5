package service

import (
	"context"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/smtpscope/smtpscope/collector"
	"github.com/smtpscope/smtpscope/index"
)

// compactCounter is the real index, its compactions counted; block makes
// Compact wait for its context instead (to see Close cancel it).
type compactCounter struct {
	*index.Index
	calls     atomic.Int32
	cancelled atomic.Bool
	block     bool
}

func (c *compactCounter) Compact(ctx context.Context) error {
	c.calls.Add(1)
	if c.block {
		<-ctx.Done()
		c.cancelled.Store(true)
		return ctx.Err()
	}
	return c.Index.Compact(ctx)
}

// startCompacting runs a service over n spooled sessions with the given
// compaction bounds and returns once every session is searchable.
func startCompacting(t *testing.T, n, after int, ix *compactCounter) *Service {
	t.Helper()
	dir := t.TempDir()
	spool, data := filepath.Join(dir, "spool"), filepath.Join(dir, "data")
	spoolSessions(t, spool, 0, n)
	l := startIndexed(t, spool, data, ix, Options{IndexWindow: time.Millisecond, CompactAfter: after, CompactIdle: 50 * time.Millisecond})
	waitFor(t, "every session searchable", func() bool {
		c, err := ix.Index.Count()
		return err == nil && c == uint64(n)
	})
	return l
}

// startIndexed opens a new index in data into ix and starts a service
// (2 workers, no fsync) over spool with it and the options o; the test's
// end cancels its context (Close is the caller's).
func startIndexed(t *testing.T, spool, data string, ix *compactCounter, o Options) *Service {
	t.Helper()
	raw, err := OpenIndex(data)
	if err != nil {
		t.Fatal(err)
	}
	ix.Index = raw
	o.Index = ix
	f := false
	l, err := Open(&collector.Config{Spool: spool, Data: data, Fsync: &f, Workers: 2}, o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	l.Start(ctx)
	return l
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(60 * time.Second); !ok(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("not after a minute: %s", what)
		}
	}
}

// TestLiveIndexCompactsWhenIdle: once CompactAfter documents were written
// and no batch came for CompactIdle, the live index is compacted once
// (the real Compact: the documents stay searchable); fewer documents never
// compact it.
func TestLiveIndexCompactsWhenIdle(t *testing.T) {
	const sessions = 40
	ix := &compactCounter{}
	l := startCompacting(t, sessions, sessions/2, ix)
	waitFor(t, "a compaction", func() bool { return ix.calls.Load() > 0 })
	time.Sleep(300 * time.Millisecond) // six idle windows more
	if n := ix.calls.Load(); n != 1 {
		t.Errorf("%d compactions after one backlog, want 1", n)
	}
	if c, err := ix.Count(); err != nil || c != sessions {
		t.Errorf("after the compaction: %d documents (%v), want %d", c, err, sessions)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}

	few := &compactCounter{}
	l = startCompacting(t, sessions, 10*sessions, few)
	time.Sleep(300 * time.Millisecond)
	if n := few.calls.Load(); n != 0 {
		t.Errorf("%d compactions after %d documents, below the threshold of %d", n, sessions, 10*sessions)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestCloseCancelsCompaction: Close does not wait for a compaction to
// finish: it cancels it.
func TestCloseCancelsCompaction(t *testing.T) {
	ix := &compactCounter{block: true}
	l := startCompacting(t, 20, 10, ix)
	waitFor(t, "a compaction", func() bool { return ix.calls.Load() > 0 })
	done := make(chan error, 1)
	go func() { done <- l.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("Close waited a minute for the compaction")
	}
	if !ix.cancelled.Load() {
		t.Error("the compaction's context was not cancelled by Close")
	}
}

// TestCatchUpSyncCompacts: the documents a start's full sync writes (a
// new index over a store whose emails are all marked indexed, so no
// batch writes them) count toward the compaction like live batches: the
// synced index is compacted once idle.
func TestCatchUpSyncCompacts(t *testing.T) {
	dir := t.TempDir()
	spool, data := filepath.Join(dir, "spool"), filepath.Join(dir, "data")
	const sessions = 40
	spoolSessions(t, spool, 0, sessions)
	runOnce(t, spool, data, true) // stored and indexed: no marks left
	if n := marks(t, data); n != 0 {
		t.Fatalf("%d documents marked after an indexed run", n)
	}
	if err := os.RemoveAll(IndexDir(data)); err != nil {
		t.Fatal(err)
	}
	ix := &compactCounter{}
	l := startIndexed(t, spool, data, ix, Options{CompactAfter: sessions / 2, CompactIdle: 50 * time.Millisecond})
	defer l.Close()
	waitFor(t, "every stored session searchable", func() bool {
		c, err := ix.Index.Count()
		return err == nil && c == sessions
	})
	waitFor(t, "a compaction after the full sync", func() bool { return ix.calls.Load() > 0 })
}
