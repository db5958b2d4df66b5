package service

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/smtpscope/smtpscope/collector"
	"github.com/smtpscope/smtpscope/index"
)

// logBuf is a concurrency-safe log sink.
type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

type onceRun struct {
	ix   *index.Index
	logs *logBuf
}

// runOnce runs `collect --once` in process on data (with the index when
// withIndex), checks that everything the store holds is searchable when
// RunOnce returns (before Close), and closes.
func runOnce(t *testing.T, spool, data string, withIndex bool) onceRun {
	t.Helper()
	return runOnceWith(t, spool, data, withIndex, Options{})
}

func runOnceWith(t *testing.T, spool, data string, withIndex bool, o Options) onceRun {
	t.Helper()
	f := false
	cfg := &collector.Config{Spool: spool, Data: data, Fsync: &f, Workers: 2}
	logs := &logBuf{}
	o.Logger = slog.New(slog.NewTextHandler(logs, nil))
	var ix *index.Index
	if withIndex {
		var err error
		if ix, err = OpenIndex(data); err != nil {
			t.Fatal(err)
		}
		o.Index = ix
	}
	l, err := Open(cfg, o)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := l.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	}()
	if err := l.RunOnce(context.Background(), 60*time.Second); err != nil {
		t.Fatalf("RunOnce: %v\n%s", err, logs)
	}
	if withIndex {
		st, err := collector.OpenStore(data, collector.StoreOptions{ReadOnly: true, NoFsync: true})
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		storeDocs, indexDocs := storeIDs(t, st), indexIDs(t, ix)
		if !maps.Equal(storeDocs, indexDocs) {
			t.Fatalf("after RunOnce the index is not the store:\nstore %d %v\nindex %d %v\n%s", len(storeDocs), sorted(storeDocs), len(indexDocs), sorted(indexDocs), logs)
		}
	}
	return onceRun{ix: ix, logs: logs}
}

func sorted(m map[string]bool) []string { return slices.Sorted(maps.Keys(m)) }

// storeIDs are the index documents the store should show: emails and
// sessions without email.
func storeIDs(t *testing.T, st *collector.Store) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	if err := st.ListEmails(func(m *collector.EmailMeta) bool { out[m.ID] = true; return true }); err != nil {
		t.Fatal(err)
	}
	err := st.ListSessions(func(m *collector.SessionMeta) bool {
		if len(m.Emails) == 0 {
			out[index.SessionDocID(m.UID)] = true
		}
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func indexIDs(t *testing.T, ix *index.Index) map[string]bool {
	t.Helper()
	res, err := ix.Search(context.Background(), "", index.SearchOptions{Limit: 100000, Kinds: []string{index.KindEmail, index.KindSession}})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, h := range res.Hits {
		out[h.ID] = true
	}
	return out
}

var catchUpLine = regexp.MustCompile(`msg="index catch-up" full=(\S*) marked=(\d+)`)

// catchUp returns what the start-up catch-up logged: the full pass it ran
// ("" for none) and how many marked documents it applied.
func (r onceRun) catchUp(t *testing.T) (string, string) {
	t.Helper()
	m := catchUpLine.FindStringSubmatch(r.logs.String())
	if m == nil {
		t.Fatalf("no catch-up line in the log:\n%s", r.logs)
	}
	return strings.Trim(m[1], `"`), m[2]
}

func marks(t *testing.T, data string) int {
	t.Helper()
	st, err := collector.OpenStore(data, collector.StoreOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	n, err := st.UnindexedCount()
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestLiveIndexBatches: the after-commit path writes multi-document
// bleve batches (bounded by count: with an hour's window, only the count
// or the final flush can close a batch, so this does not depend on the
// machine's speed), and RunOnce returns with every commit searchable and
// its marks cleared.
func TestLiveIndexBatches(t *testing.T) {
	dir := t.TempDir()
	spool, data := filepath.Join(dir, "spool"), filepath.Join(dir, "data")
	const sessions, per = 400, 100
	spoolSessions(t, spool, 0, sessions)
	r := runOnceWith(t, spool, data, true, Options{IndexWindow: time.Hour, IndexBatch: per})
	ws := r.ix.Stats()
	if ws.Docs != sessions {
		t.Fatalf("write stats %+v for %d sessions", ws, sessions)
	}
	// one segment per commit would be 400 batches; a window that closed
	// batches early would be more than 4 (+1: the flush of a remainder)
	if ws.Batches > sessions/per+1 {
		t.Errorf("%d documents in %d bleve batches of at most %d: the live index is not batched", ws.Docs, ws.Batches, per)
	}
	if n := marks(t, data); n != 0 {
		t.Errorf("%d documents still marked unindexed after a clean close", n)
	}
	t.Logf("%d sessions: %d documents in %d bleve batches", sessions, ws.Docs, ws.Batches)
}

// TestCatchUpFromMarks: a --no-index run and a retention pass without
// index are caught up at the next indexed start from the store's marks
// alone (no full pass, only the marked documents written), removals
// included; an index that lost its store identity is synced in full.
func TestCatchUpFromMarks(t *testing.T) {
	dir := t.TempDir()
	spool, data := filepath.Join(dir, "spool"), filepath.Join(dir, "data")
	spoolSessions(t, spool, 0, 60)
	r := runOnce(t, spool, data, true)
	if full, _ := r.catchUp(t); full != "sync" {
		t.Errorf("first start on a new index: full=%q, want sync", full)
	}

	// without index: new sessions, then retention removes the oldest
	spoolSessions(t, spool, 60, 100)
	runOnce(t, spool, data, false)
	st, err := collector.OpenStore(data, collector.StoreOptions{NoFsync: true})
	if err != nil {
		t.Fatal(err)
	}
	stats, _ := st.Stats()
	res, err := st.ApplyRetention(time.Now(), collector.RetentionConfig{MaxSize: collector.ByteSize(stats.Bytes / 2)})
	if err != nil || res.Sessions == 0 {
		t.Fatalf("retention: %+v %v", res, err)
	}
	st.Close()
	want := marks(t, data)
	if want < 40 {
		t.Fatalf("only %d documents marked after a --no-index run of 40 sessions and retention", want)
	}

	// indexed again: the marks only
	r = runOnce(t, spool, data, true) // checks index == store
	full, marked := r.catchUp(t)
	if full != "" || marked != fmt.Sprint(want) {
		t.Errorf("catch-up full=%q marked=%s, want no full pass and %d marked", full, marked, want)
	}
	if ws := r.ix.Stats(); ws.Docs != int64(want) {
		t.Errorf("catch-up wrote %d documents, want the %d marked", ws.Docs, want)
	}
	if n := marks(t, data); n != 0 {
		t.Errorf("%d marks left after the catch-up", n)
	}

	// an index without this store's identity is not trusted
	if err := os.RemoveAll(IndexDir(data)); err != nil {
		t.Fatal(err)
	}
	r = runOnce(t, spool, data, true)
	if full, _ := r.catchUp(t); full != "sync" {
		t.Errorf("new index on a full store: full=%q, want sync", full)
	}
}

// TestLiveRetention: retention in a running service removes the index
// documents of the emails and of the sessions without email it removes.
func TestLiveRetention(t *testing.T) {
	dir := t.TempDir()
	spool, data := filepath.Join(dir, "spool"), filepath.Join(dir, "data")
	spoolSessions(t, spool, 0, 50)
	f := false
	cfg := &collector.Config{Spool: spool, Data: data, Fsync: &f, Workers: 2}
	ix, err := OpenIndex(data)
	if err != nil {
		t.Fatal(err)
	}
	l, err := Open(cfg, Options{Index: ix})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	l.Start(ctx)
	st := l.Collector().Store()
	waitSame := func(what string, want int) {
		t.Helper()
		for deadline := time.Now().Add(30 * time.Second); ; {
			s, i := storeIDs(t, st), indexIDs(t, ix)
			if maps.Equal(s, i) && (want < 0 || len(s) == want) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: store %d %v, index %d %v", what, len(s), sorted(s), len(i), sorted(i))
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitSame("after ingest", 50)
	stats, _ := st.Stats()
	c := l.Collector()
	ncfg := c.Config()
	ncfg.Retention.MaxSize = collector.ByteSize(stats.Bytes / 2)
	if err := c.Reload(&ncfg); err != nil {
		t.Fatal(err)
	}
	res, err := c.ApplyRetention(time.Now())
	if err != nil || res.Sessions == 0 {
		t.Fatalf("retention: %+v %v", res, err)
	}
	waitSame("after retention", -1)
	left := 0
	for id := range indexIDs(t, ix) {
		if strings.HasPrefix(id, "session/") {
			left++
		}
	}
	if left == 10 { // 10 of the 50 sessions carried no email
		t.Errorf("retention removed %d sessions but no session without email", res.Sessions)
	}
}

// TestTriedEnvelopeIndexed: the live path and a rebuild index each email
// with the envelope its stored session tried beside it (a refused MAIL
// before the accepted one; a refused sender after two emails, on both of
// them) — kept in the record, so a session file gone since changes
// nothing; records stored before the record kept it are read from their
// session file, and found by their own envelope when it is gone.
func TestTriedEnvelopeIndexed(t *testing.T) {
	dir := t.TempDir()
	spool, data := filepath.Join(dir, "spool"), filepath.Join(dir, "data")
	if err := os.MkdirAll(spool, 0o700); err != nil {
		t.Fatal(err)
	}
	const head = "192.0.2.9:40000/tcp\n1700000000\n< > 220 mx ESMTP\n> EHLO bot\n< EHLO 250 mx\n"
	const data354 = "> DATA\n< DATA 354 go\nSubject: hi\n\nbody\n> . .\n< . 250 queued\n"
	for name, text := range map[string]string{
		"refusedFirst": head + "> MAIL FROM:<blocked@spam.example>\n< MAIL 554 5.7.1 no\n" +
			"> MAIL FROM:<alice@example.org>\n< MAIL 250 ok\n> RCPT TO:<bob@corp.example>\n< RCPT 250 ok\n" + data354,
		"twoEmails": head + "> MAIL FROM:<erin@example.org>\n< MAIL 250 ok\n> RCPT TO:<a@corp.example>\n< RCPT 250 ok\n" + data354 +
			"> MAIL FROM:<frank@example.org>\n< MAIL 250 ok\n> RCPT TO:<b@corp.example>\n< RCPT 250 ok\n" + data354 +
			"> MAIL FROM:<ghost@phish.example>\n< MAIL 550 no\n> QUIT\n< QUIT 221 bye\n",
	} {
		p := filepath.Join(spool, name)
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p+".ready", nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	runOnce(t, spool, data, true) // closes its index
	ix, err := OpenIndex(data)
	if err != nil {
		t.Fatal(err)
	}
	defer ix.Close()
	find := func(when, q string, want ...string) {
		t.Helper()
		res, err := ix.Search(context.Background(), q, index.SearchOptions{Limit: 100})
		if err != nil {
			t.Fatalf("%s: %s: %v", when, q, err)
		}
		var got []string
		for _, h := range res.Hits {
			got = append(got, h.ID)
		}
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("%s: %s: %v, want %v", when, q, got, want)
		}
	}
	check := func(when string) {
		t.Helper()
		find(when, "mailfrom:blocked@spam.example", "refusedFirst.0")
		find(when, "mailfrom:ghost@phish.example", "twoEmails.0", "twoEmails.1")
		find(when, "mailfrom:erin@example.org", "twoEmails.0")
	}
	check("live")

	st, err := collector.OpenStore(data, collector.StoreOptions{ReadOnly: true, NoFsync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := ix.Rebuild(&StoreSource{Store: st}, nil); err != nil {
		t.Fatal(err)
	}
	check("rebuilt")

	sm, _, err := st.SessionFile("refusedFirst.0")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(st.Path(sm.File)); err != nil {
		t.Fatal(err)
	}
	rebuild := func() {
		t.Helper()
		if err := ix.Rebuild(&StoreSource{Store: st}, nil); err != nil {
			t.Fatal(err)
		}
	}
	rebuild()
	// The record keeps what its session tried: no session file needed.
	find("session file gone", "mailfrom:blocked@spam.example", "refusedFirst.0")
	// Records stored before they kept it: read from the session file
	// when it is there; found by their own envelope only when it is not.
	for _, id := range []string{"refusedFirst.0", "twoEmails.0", "twoEmails.1"} {
		dropSessionTried(t, st, id)
	}
	rebuild()
	find("old records", "mailfrom:alice@example.org", "refusedFirst.0")
	find("old records", "mailfrom:blocked@spam.example")
	find("old records", "mailfrom:ghost@phish.example", "twoEmails.0", "twoEmails.1")
}

// dropSessionTried rewrites a stored record without session_tried, as
// records were stored before it was kept.
func dropSessionTried(t *testing.T, st *collector.Store, id string) {
	t.Helper()
	m, err := st.Email(id)
	if err != nil {
		t.Fatal(err)
	}
	p := st.Path(m.Record)
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	var rec map[string]json.RawMessage
	if err := json.Unmarshal(b, &rec); err != nil {
		t.Fatal(err)
	}
	if _, ok := rec["session_tried"]; !ok {
		t.Fatalf("record %s keeps no session_tried", id)
	}
	delete(rec, "session_tried")
	if b, err = json.Marshal(rec); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestBatchDue: when a pending batch is due. Within IndexWindow it waits
// for the window; past it, an idle collector gets it written at once and
// a busy one holds it open (rechecked every backlogPoll) up to the
// backlog window; a full batch or a flush is due at once.
func TestBatchDue(t *testing.T) {
	b := &batcher{window: 250 * time.Millisecond, backlog: time.Second, max: 3}
	at := func(age time.Duration, queued int) {
		b.first = time.Now().Add(-age)
		b.queue = make([]collector.IndexKey, queued)
	}
	at(0, 1)
	if d := b.due(false); d <= 200*time.Millisecond || d > 250*time.Millisecond {
		t.Errorf("fresh batch, idle: due in %v, want the rest of the window", d)
	}
	if d := b.due(true); d <= 200*time.Millisecond {
		t.Errorf("fresh batch, busy: due in %v, want the rest of the window", d)
	}
	at(300*time.Millisecond, 1)
	if d := b.due(false); d != 0 {
		t.Errorf("past the window, idle: due in %v, want now", d)
	}
	if d := b.due(true); d <= 0 || d > backlogPoll {
		t.Errorf("past the window, busy: due in %v, want a recheck within %v", d, backlogPoll)
	}
	at(990*time.Millisecond, 1)
	if d := b.due(true); d <= 0 || d > 10*time.Millisecond {
		t.Errorf("near the backlog window, busy: due in %v, want at most the 10ms left", d)
	}
	at(time.Second, 1)
	if d := b.due(true); d != 0 {
		t.Errorf("past the backlog window, busy: due in %v, want now", d)
	}
	at(0, 3)
	if d := b.due(true); d != 0 {
		t.Errorf("full batch: due in %v, want now", d)
	}
	at(0, 1)
	b.flushing = 1
	if d := b.due(true); d != 0 {
		t.Errorf("flushing: due in %v, want now", d)
	}
}

// TestLiveIndexHeldWhileBusy: while the collector works through a spool
// backlog, the live index writes batches of IndexBatch documents, not one
// per IndexWindow (1 ms here: without the hold every commit group would be
// a batch of its own); the backlog window is an hour, so only the count,
// the collector going idle or the final flush can close a batch.
func TestLiveIndexHeldWhileBusy(t *testing.T) {
	dir := t.TempDir()
	spool, data := filepath.Join(dir, "spool"), filepath.Join(dir, "data")
	const sessions, per = 400, 100
	spoolSessions(t, spool, 0, sessions)
	r := runOnceWith(t, spool, data, true, Options{IndexWindow: time.Millisecond, IndexBacklogWindow: time.Hour, IndexBatch: per})
	ws := r.ix.Stats()
	if ws.Docs != sessions {
		t.Fatalf("write stats %+v for %d sessions", ws, sessions)
	}
	if ws.Batches > sessions/per+1 {
		t.Errorf("%d documents in %d bleve batches of at most %d: batches were not held while the collector was busy", ws.Docs, ws.Batches, per)
	}
	t.Logf("%d sessions: %d documents in %d bleve batches", sessions, ws.Docs, ws.Batches)
}

// TestLiveIndexWrittenWhenIdle: a batch held open for a busy collector is
// written as soon as the collector is idle, not at the end of the backlog
// window (an hour here): the running daemon makes a drained spool
// searchable at once.
func TestLiveIndexWrittenWhenIdle(t *testing.T) {
	dir := t.TempDir()
	spool, data := filepath.Join(dir, "spool"), filepath.Join(dir, "data")
	const sessions = 50
	spoolSessions(t, spool, 0, sessions)
	f := false
	cfg := &collector.Config{Spool: spool, Data: data, Fsync: &f, Workers: 2}
	ix, err := OpenIndex(data)
	if err != nil {
		t.Fatal(err)
	}
	l, err := Open(cfg, Options{Index: ix, IndexWindow: time.Millisecond, IndexBacklogWindow: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	l.Start(ctx)
	defer l.Close()
	deadline := time.Now().Add(60 * time.Second)
	for {
		n, err := ix.Count()
		if err != nil {
			t.Fatal(err)
		}
		if n == sessions {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d documents searchable after a minute: the held batch was not written when the collector went idle", n, sessions)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
