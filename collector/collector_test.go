package collector_test

import (
	"context"
	"crypto/sha1" //nolint:gosec
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/smtpscope/smtpscope/collector"
	"github.com/smtpscope/smtpscope/collector/ace"
	"github.com/smtpscope/smtpscope/core"
)

// fakeIndexer records the calls of the Indexer hook.
type fakeIndexer struct {
	mu      sync.Mutex
	indexed map[string]int
	updates map[string][]collector.SubmissionStatus
	deleted []string
	// sessions and reviews are the sessions without email and the
	// review entries indexed
	sessions        []string
	reviews         []string
	deletedSessions []string
}

func (f *fakeIndexer) IndexSession(s *collector.SessionMeta) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sessions = append(f.sessions, s.Key)
	return nil
}

func (f *fakeIndexer) IndexReview(r *collector.ReviewEntry) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reviews = append(f.reviews, r.Name)
	return nil
}

func (f *fakeIndexer) IndexEmail(rec *core.Email, meta *collector.EmailMeta, subs []collector.SubmissionStatus) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if rec.ID != meta.ID {
		return fmt.Errorf("record %s with meta %s", rec.ID, meta.ID)
	}
	f.indexed[rec.ID]++
	return nil
}

func (f *fakeIndexer) UpdateSubmissions(id string, subs []collector.SubmissionStatus) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.updates[id] = subs
	return nil
}

func (f *fakeIndexer) DeleteSession(s *collector.SessionMeta) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.deletedSessions = append(f.deletedSessions, s.Key)
	return nil
}

func (f *fakeIndexer) DeleteEmail(id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.deleted = append(f.deleted, id)
	return nil
}

func attachmentSession(payload []byte) []byte {
	body := "--b1\nContent-Type: text/plain\n\nsee attached\n--b1\nContent-Type: application/octet-stream\n" +
		"Content-Disposition: attachment; filename=\"inv.bin\"\nContent-Transfer-Encoding: base64\n\n" +
		base64.StdEncoding.EncodeToString(payload) + "\n--b1--"
	s := string(genSession("198.51.100.20", 40100, "1700001000", []genMsg{{From: "att@evil.example", Rcpts: []string{"v@corp.example"},
		Subject: "invoice", Body: body}}))
	// a multipart message needs its content type header
	return []byte(strings.Replace(s, "Subject: invoice\n", "Subject: invoice\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"b1\"\n", 1))
}

func TestCollectorInProcess(t *testing.T) {
	tmp := t.TempDir()
	spool, data := filepath.Join(tmp, "spool"), filepath.Join(tmp, "data")
	_, srv := sinkServer(t, filepath.Join(tmp, "sink"))
	ix := &fakeIndexer{indexed: map[string]int{}, updates: map[string][]collector.SubmissionStatus{}}
	cfg := &collector.Config{Spool: spool, Data: data, RescanInterval: collector.Duration(100 * time.Millisecond),
		Groups: []collector.GroupConfig{{Name: "g1", Nodes: []string{srv.URL}, FullDelivery: true}}}
	col, err := collector.New(cfg, collector.Options{Indexer: ix})
	if err != nil {
		t.Fatal(err)
	}
	events, unsubscribe := col.Subscribe(1000)
	defer unsubscribe()
	stop := runCollector(t, col)

	payload := []byte("MZ\x90\x00 not really a program \x00\x01\x02")
	sum := sha1.Sum(payload) //nolint:gosec
	paySHA1 := hex.EncodeToString(sum[:])
	spoolWrite(t, spool, "Catt", attachmentSession(payload), time.Time{})
	spoolWrite(t, spool, "Cplain", simpleSession(7, 2), time.Time{})
	spoolWrite(t, spool, "Cbad", []byte("\x00\x00"), time.Time{})

	sent := map[string]string{}
	gotReview, gotSession := false, 0
	timeout := time.After(20 * time.Second)
	for len(sent) < 3 || !gotReview || gotSession < 2 {
		select {
		case ev := <-events:
			switch ev.Type {
			case collector.EventSubmission:
				if ev.Submission.State == collector.StateSent {
					sent[ev.EmailID] = ev.Submission.UUID
				}
			case collector.EventReview:
				gotReview = ev.Review.Name == "Cbad" && ev.Review.Reason != ""
			case collector.EventSession:
				gotSession++
			case collector.EventEmail:
				if ev.Record == nil || ev.Email == nil {
					t.Errorf("email event without record: %+v", ev)
				}
			}
		case <-timeout:
			t.Fatalf("events: sent %v review %v sessions %d", sent, gotReview, gotSession)
		}
	}

	s := col.Store()
	var ids []string
	if err := s.ListEmails(func(m *collector.EmailMeta) bool { ids = append(ids, m.ID); return true }); err != nil {
		t.Fatal(err)
	}
	// newest (session time) first: Catt is 1700001000, Cplain 1700000007
	if strings.Join(ids, ",") != "Catt.0,Cplain.1,Cplain.0" && strings.Join(ids, ",") != "Catt.0,Cplain.0,Cplain.1" {
		t.Errorf("ListEmails order %v", ids)
	}
	rec, err := s.Record("Catt.0")
	if err != nil || rec.Subject != "invoice" || len(rec.Attachments) != 1 {
		t.Fatalf("record: %+v %v", rec, err)
	}
	if rec.Attachments[0].SHA1 != paySHA1 {
		t.Fatalf("attachment sha1 %s, want %s", rec.Attachments[0].SHA1, paySHA1)
	}
	arch := filepath.Join(data, "archive", paySHA1[0:1], paySHA1[1:2], paySHA1[2:3], paySHA1[3:4], paySHA1[4:5], paySHA1)
	if b, err := os.ReadFile(arch); err != nil || string(b) != string(payload) {
		t.Errorf("archive file %s: %v", arch, err)
	}
	if b, err := s.Attachment(paySHA1); err != nil || string(b) != string(payload) {
		t.Errorf("Store.Attachment: %v", err)
	}
	raw, err := s.Raw("Catt.0")
	if err != nil || !strings.Contains(string(raw), "Subject: invoice\r\n") {
		t.Errorf("raw: %v", err)
	}
	sm, sessBytes, err := s.SessionFile("Cplain.1")
	if err != nil || sm.Key != "Cplain" || string(sessBytes) != string(simpleSession(7, 2)) || len(sm.Emails) != 2 {
		t.Errorf("session file: %+v %v", sm, err)
	}
	ps, err := s.ParsedSession("Cplain")
	if err != nil || len(ps.Messages) != 2 || len(ps.Events) == 0 {
		t.Errorf("parsed session: %v", err)
	}
	subs, err := s.Submissions("Catt.0")
	if err != nil || len(subs) != 1 || subs[0].State != collector.StateSent || subs[0].UUID != sent["Catt.0"] || subs[0].Attempts != 1 {
		t.Errorf("submissions: %+v %v", subs, err)
	}
	if _, err := s.Record("nope"); !errors.Is(err, collector.ErrNotFound) {
		t.Errorf("unknown id: %v", err)
	}
	rev, err := s.Review()
	if err != nil || len(rev) != 1 {
		t.Errorf("review: %+v %v", rev, err)
	}
	if b, reason, err := s.ReviewFile("Cbad"); err != nil || string(b) != "\x00\x00" || reason == "" {
		t.Errorf("review file: %q %q %v", b, reason, err)
	}
	if _, _, err := s.ReviewFile("../queue.db"); err == nil {
		t.Error("review file path traversal accepted")
	}

	// raw email input (Maildir/.eml)
	em, err := col.IngestRaw([]byte("From: x@evil.example\r\nSubject: raw one\r\n\r\nhello\r\n"), "/maildir/new/1")
	if err != nil || !strings.HasPrefix(em.ID, "eml-") {
		t.Fatalf("IngestRaw: %+v %v", em, err)
	}
	if _, err := col.IngestRaw([]byte("From: x@evil.example\r\nSubject: raw one\r\n\r\nhello\r\n"), "/maildir/new/2"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool {
		subs, _ := s.Submissions(em.ID)
		return len(subs) == 1 && subs[0].State == collector.StateSent
	})

	// resubmission through the API
	if n, err := col.Resubmit([]string{"Cplain.0"}, "g1"); err != nil || n != 1 {
		t.Fatalf("Resubmit: %d %v", n, err)
	}
	if _, err := col.Resubmit([]string{"Cplain.0"}, "nosuch"); err == nil {
		t.Error("resubmit to unknown group accepted")
	}
	waitFor(t, func() bool {
		subs, _ := s.Submissions("Cplain.0")
		return len(subs) == 1 && subs[0].State == collector.StateSent && subs[0].Attempts == 2 && subs[0].Manual
	})

	st, err := col.Status()
	if err != nil || !st.Running || st.Stats.Emails != 4 || st.Stats.Sessions != 2 || st.Stats.DuplicateEmails != 1 ||
		len(st.Groups) != 1 || st.Groups[0].Counts[collector.StateSent] != 4 || len(st.Groups[0].Nodes) != 1 || !st.Groups[0].Nodes[0].Healthy {
		t.Errorf("status: %+v %v", st, err)
	}
	if err := stop(); err != nil {
		t.Errorf("Run: %v", err)
	}
	ix.mu.Lock()
	if len(ix.indexed) != 4 || ix.indexed["Catt.0"] != 1 || len(ix.updates["Cplain.0"]) != 1 {
		t.Errorf("indexer calls: %v %v", ix.indexed, ix.updates)
	}
	// the review entry reaches the index through the same hook, not
	// through the (lossy) event stream
	if len(ix.reviews) != 1 || ix.reviews[0] != "Cbad" || len(ix.sessions) != 0 {
		t.Errorf("indexer: reviews %v, sessions without email %v", ix.reviews, ix.sessions)
	}
	ix.mu.Unlock()
	subsAtSink, _ := ace.ReadSubmissions(filepath.Join(tmp, "sink"))
	if len(subsAtSink) != 5 {
		t.Errorf("sink has %d submissions, want 5", len(subsAtSink))
	}
	for _, ss := range subsAtSink {
		if ss.Analysis.Details["email_id"] == em.ID {
			if len(ss.Meta.Files) != 1 || ss.Analysis.Details["source"] != "/maildir/new/1" || ss.Analysis.EventTime == "" {
				t.Errorf("raw email submission: %+v", ss.Meta)
			}
		}
	}
}

// runCollector runs col.Run in the background and returns stop, which
// cancels the run, waits for Run to return and gives its error; stop
// may be called more than once (each call gives the same error). stop
// is also registered with t.Cleanup, so a test that ends early does not
// leave the collector running over its temporary directories. What has
// to be in place before Run starts (subscriptions, hooks) the caller
// does before calling runCollector.
func runCollector(t testing.TB, col *collector.Collector) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- col.Run(ctx) }()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() {
			cancel()
			err = <-done
		})
		return err
	}
	t.Cleanup(func() { _ = stop() })
	return stop
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in time")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestRetention(t *testing.T) {
	tmp := t.TempDir()
	spool, data := filepath.Join(tmp, "spool"), filepath.Join(tmp, "data")
	payload := []byte("shared attachment bytes")
	// three sessions with no group (nothing queued)
	for i := 0; i < 3; i++ {
		spoolWrite(t, spool, fmt.Sprintf("Cold%d", i), attachmentSession(payload), time.Time{})
	}
	cfg := &collector.Config{Spool: spool, Data: data}
	col, err := collector.New(cfg, collector.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := col.RunOnce(context.Background(), 10*time.Second); err != nil {
		t.Fatal(err)
	}
	// one more, queued to a group whose node is down
	spoolWrite(t, spool, "Cnew", attachmentSession(payload), time.Time{})
	cfg = &collector.Config{Spool: spool, Data: data, Submission: collector.SubmissionConfig{BackoffMin: collector.Duration(time.Hour)},
		Groups: []collector.GroupConfig{{Name: "down", Nodes: []string{"http://127.0.0.1:1"}, FullDelivery: true}}}
	col, err = collector.New(cfg, collector.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := col.RunOnce(context.Background(), 2*time.Second); err == nil || !strings.Contains(err.Error(), "1 submissions still undelivered") {
		t.Fatalf("RunOnce with the node down: %v", err)
	}
	s, err := collector.OpenStore(data, collector.StoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	before, _ := s.Stats()
	if before.Emails != 4 || before.Bytes <= 0 {
		t.Fatalf("stats %+v", before)
	}
	res, err := s.ApplyRetention(time.Now(), collector.RetentionConfig{MaxSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	if res.Sessions != 3 || res.Emails != 3 || res.Kept != 1 {
		t.Errorf("retention result %+v", res)
	}
	after, _ := s.Stats()
	if after.Emails != 1 || after.Sessions != 1 || after.Removed != 3 || after.Bytes >= before.Bytes {
		t.Errorf("stats after %+v", after)
	}
	var left []string
	_ = s.ListEmails(func(m *collector.EmailMeta) bool { left = append(left, m.ID); return true })
	if len(left) != 1 || left[0] != "Cnew.0" {
		t.Errorf("left %v", left)
	}
	// the attachment is still used by the queued email
	rec, _ := s.Record("Cnew.0")
	if _, err := s.Attachment(rec.Attachments[0].SHA1); err != nil {
		t.Errorf("shared attachment removed: %v", err)
	}
	for i := 0; i < 3; i++ {
		if _, err := s.Raw(fmt.Sprintf("Cold%d.0", i)); !errors.Is(err, collector.ErrNotFound) {
			t.Errorf("Cold%d still there: %v", i, err)
		}
	}
	// by age: the queued one stays however old
	res, err = s.ApplyRetention(time.Now().Add(1000*time.Hour), collector.RetentionConfig{MaxAge: collector.Duration(time.Hour)})
	if err != nil || res.Sessions != 0 || res.Kept != 1 {
		t.Errorf("age retention %+v %v", res, err)
	}
	// once delivered (here: marked failed by a resubmission to nowhere is
	// not possible; drop the group's entry by sending it to a sink)
	sink, _ := ace.NewSink(filepath.Join(tmp, "sink"), ace.SinkOptions{})
	srv := httptest.NewServer(sink)
	defer srv.Close()
	s.Close()
	cfg = &collector.Config{Spool: spool, Data: data, Groups: []collector.GroupConfig{{Name: "down", Nodes: []string{srv.URL}}}}
	col, err = collector.New(cfg, collector.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := col.Resubmit([]string{"Cnew.0"}, "down"); err != nil {
		t.Fatal(err)
	}
	if err := col.RunOnce(context.Background(), 10*time.Second); err != nil {
		t.Fatal(err)
	}
	s, err = collector.OpenStore(data, collector.StoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	res, err = s.ApplyRetention(time.Now().Add(1000*time.Hour), collector.RetentionConfig{MaxAge: collector.Duration(time.Hour)})
	if err != nil || res.Sessions != 1 || res.Kept != 0 {
		t.Errorf("age retention after delivery %+v %v", res, err)
	}
	if _, err := s.Attachment(rec.Attachments[0].SHA1); !errors.Is(err, collector.ErrNotFound) {
		t.Errorf("unreferenced attachment kept: %v", err)
	}
	if st, _ := s.Stats(); st.Emails != 0 || st.Sessions != 0 || st.Bytes != 0 {
		t.Errorf("empty store stats %+v", st)
	}
	if ents, _ := os.ReadDir(filepath.Join(data, "emails")); len(ents) != 0 {
		t.Errorf("emails/ not pruned: %d entries", len(ents))
	}
}

func TestReloadAddsGroup(t *testing.T) {
	tmp := t.TempDir()
	spool, data := filepath.Join(tmp, "spool"), filepath.Join(tmp, "data")
	sink, _ := ace.NewSink(filepath.Join(tmp, "sink"), ace.SinkOptions{})
	srv := httptest.NewServer(sink)
	defer srv.Close()
	cfg := &collector.Config{Spool: spool, Data: data, RescanInterval: collector.Duration(100 * time.Millisecond),
		Groups: []collector.GroupConfig{{Name: "a", Nodes: []string{srv.URL}}}}
	col, err := collector.New(cfg, collector.Options{})
	if err != nil {
		t.Fatal(err)
	}
	stop := runCollector(t, col)
	spoolWrite(t, spool, "Cr1", simpleSession(1, 1), time.Time{})
	waitFor(t, func() bool { return sink.Accepted() == 1 })
	ncfg := &collector.Config{Spool: spool, Data: data, RescanInterval: collector.Duration(100 * time.Millisecond),
		Groups: []collector.GroupConfig{{Name: "a", Nodes: []string{srv.URL}}, {Name: "b", Nodes: []string{srv.URL}}}}
	if err := col.Reload(ncfg); err != nil {
		t.Fatal(err)
	}
	bad := &collector.Config{Spool: spool, Data: filepath.Join(tmp, "other"), Groups: ncfg.Groups}
	if err := col.Reload(bad); err == nil {
		t.Error("reload changing the data dir accepted")
	}
	spoolWrite(t, spool, "Cr2", simpleSession(2, 1), time.Time{})
	waitFor(t, func() bool { return sink.Accepted() == 3 })
	subs, _ := col.Store().Submissions("Cr2.0")
	if len(subs) != 2 {
		t.Errorf("Cr2.0 submissions %+v", subs)
	}
	_ = stop() // Run's error is not checked here
}

func TestConfig(t *testing.T) {
	cfg, err := collector.LoadConfig(filepath.Join("..", "testdata", "config", "example.toml"))
	if err != nil {
		t.Fatal(err)
	}
	cfg.ApplyDefaults()
	if err := cfg.Validate(); err != nil {
		t.Fatalf("example config: %v", err)
	}
	if len(cfg.Groups) != 2 || cfg.Groups[1].Coverage != 10 || cfg.Retention.MaxSize != 50<<30 ||
		cfg.Retention.MaxAge.D() != 2160*time.Hour || cfg.Submission.APIKeyHeader != "x-ace-auth" || !cfg.Groups[0].IsEnabled() ||
		cfg.FsyncMode != collector.FsyncModeSyncfs {
		t.Errorf("example config decoded as %+v", cfg)
	}
	p := filepath.Join(t.TempDir(), "bad.toml")
	_ = os.WriteFile(p, []byte("spool = \"x\"\nspoool = \"y\"\n"), 0o600)
	if _, err := collector.LoadConfig(p); err == nil || !strings.Contains(err.Error(), "spoool") {
		t.Errorf("unknown key: %v", err)
	}
	c := &collector.Config{Groups: []collector.GroupConfig{{Name: "x", Coverage: 101}, {Name: "x", Nodes: []string{"ftp://a"}}}, CapturePcapDir: "/srv/pcap", CaptureDirection: "out"}
	err = c.Validate()
	for _, want := range []string{"spool directory not set", "data directory not set", "coverage 101", "duplicate group name", "ftp://a", "no nodes", "capture_pcap_dir: evidence pcaps come from a live capture, and no interface is set", `capture_direction: "out" is neither in nor both`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate: %v lacks %q", err, want)
		}
	}
}

func TestParseByteSize(t *testing.T) {
	for in, want := range map[string]int64{"10": 10, "1k": 1024, "2MB": 2 << 20, "1.5GiB": 3 << 29, " 3 T ": 3 << 40, "0": 0} {
		if got, err := collector.ParseByteSize(in); err != nil || got != want {
			t.Errorf("%q = %d %v, want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "x", "-1", "1Q"} {
		if _, err := collector.ParseByteSize(in); err == nil {
			t.Errorf("%q accepted", in)
		}
	}
}

func FuzzParseByteSize(f *testing.F) {
	for _, s := range []string{"10", "1k", "2MB", "1.5GiB", "NaN", "1e400", "-0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if v, err := collector.ParseByteSize(s); err == nil && v < 0 {
			t.Fatalf("%q -> %d", s, v)
		}
	})
}

func TestSubmissionOutcomes(t *testing.T) {
	tmp := t.TempDir()
	spool, data := filepath.Join(tmp, "spool"), filepath.Join(tmp, "data")
	reject := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/common/ping" {
			_, _ = w.Write([]byte(`{"result":"pong"}`))
			return
		}
		http.Error(w, "missing description field in submission", http.StatusBadRequest)
	}))
	defer reject.Close()
	sink, _ := ace.NewSink(filepath.Join(tmp, "sink"), ace.SinkOptions{})
	sink.FailNext(2)
	good := httptest.NewServer(sink)
	defer good.Close()
	// answers pings, fails every submission: charged an attempt each
	// time its ping brings it back
	broken := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/common/ping" {
			_, _ = w.Write([]byte(`{"result":"pong"}`))
			return
		}
		http.Error(w, "internal error", http.StatusInternalServerError)
	}))
	defer broken.Close()
	dead := "http://" + freeAddr(t)
	spoolWrite(t, spool, "Cout", simpleSession(1, 1), time.Time{})
	ms := collector.Duration(20 * time.Millisecond)
	cfg := &collector.Config{Spool: spool, Data: data,
		Submission: collector.SubmissionConfig{BackoffMin: ms, BackoffMax: ms, MaxAttempts: 2, PingInterval: collector.Duration(time.Hour),
			NodeBackoffMin: ms, NodeBackoffMax: ms},
		Groups: []collector.GroupConfig{
			{Name: "perm", Nodes: []string{reject.URL}},
			{Name: "flaky", Nodes: []string{good.URL}, FullDelivery: true, Concurrency: 1},
			{Name: "giveup", Nodes: []string{broken.URL}},
			{Name: "multi", Nodes: []string{dead, good.URL}, FullDelivery: true},
		}}
	col, err := collector.New(cfg, collector.Options{})
	if err != nil {
		t.Fatal(err)
	}
	err = col.RunOnce(context.Background(), 20*time.Second)
	if err == nil || !strings.Contains(err.Error(), "2 submissions failed permanently") {
		t.Errorf("RunOnce: %v", err)
	}
	s, err := collector.OpenStore(data, collector.StoreOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	subs, _ := s.Submissions("Cout.0")
	by := map[string]collector.SubmissionStatus{}
	for _, st := range subs {
		by[st.Group] = st
	}
	if st := by["perm"]; st.State != collector.StateFailed || st.Attempts != 1 || !strings.Contains(st.LastError, "HTTP 400: missing description field") {
		t.Errorf("perm: %+v", st)
	}
	if st := by["flaky"]; st.State != collector.StateSent || st.Attempts < 2 || st.UUID == "" {
		t.Errorf("flaky: %+v", st)
	}
	if st := by["giveup"]; st.State != collector.StateFailed || st.Attempts != 2 || !strings.Contains(st.LastError, "gave up after 2 attempts") {
		t.Errorf("giveup: %+v", st)
	}
	if st := by["multi"]; st.State != collector.StateSent || st.Node != good.URL {
		t.Errorf("multi: %+v", st)
	}
	errs, _ := s.LastErrors()
	if len(errs) < 2 {
		t.Errorf("last errors %+v", errs)
	}
}

// TestRawDuplicateKeepsRecord: the same bytes ingested again from another
// file are a duplicate: the stored record keeps the source it was first
// seen at (the second ingest used to rewrite the record's files before
// its commit found the duplicate, so a submission could read the wrong
// source).
func TestRawDuplicateKeepsRecord(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	col, err := collector.New(&collector.Config{Data: data, EMLDir: []string{t.TempDir()}, Fsync: noFsync()}, collector.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer col.Close()
	raw := []byte("From: x@evil.example\r\nSubject: twice\r\n\r\nhello\r\n")
	first, err := col.IngestRaw(raw, "/maildir/new/1")
	if err != nil {
		t.Fatal(err)
	}
	second, err := col.IngestRaw(raw, "/maildir/new/2")
	if err != nil || second.ID != first.ID {
		t.Fatalf("second ingest: %+v %v", second, err)
	}
	rec, err := col.Store().Record(first.ID)
	if err != nil || rec.Source != "/maildir/new/1" {
		t.Fatalf("record after a duplicate: source %q, %v; want the first file's", rec.Source, err)
	}
	st, err := col.Store().Stats()
	if err != nil || st.Emails != 1 || st.DuplicateEmails != 1 {
		t.Errorf("stats: %+v %v", st, err)
	}
}

// TestRunOnceTimeoutLeavesInput: a --once run whose bound passes before
// the spool is drained says so (an error), rather than exiting as if
// everything was processed; what it did not claim stays in the spool.
func TestRunOnceTimeoutLeavesInput(t *testing.T) {
	tmp := t.TempDir()
	spool, data := filepath.Join(tmp, "spool"), filepath.Join(tmp, "data")
	for i := range 50 {
		spoolWrite(t, spool, fmt.Sprintf("Cleft%d", i), attachmentSession([]byte(fmt.Sprint("payload ", i))), time.Time{})
	}
	col, err := collector.New(&collector.Config{Spool: spool, Data: data}, collector.Options{})
	if err != nil {
		t.Fatal(err)
	}
	err = col.RunOnce(context.Background(), time.Nanosecond)
	if err == nil || !strings.Contains(err.Error(), "not processed yet stay for the next run") {
		t.Fatalf("RunOnce past its bound with the spool full: %v", err)
	}
	ready, _ := filepath.Glob(filepath.Join(spool, "*.ready"))
	if len(ready) == 0 {
		t.Fatal("no spool entry left, yet RunOnce reported input left")
	}
	col, err = collector.New(&collector.Config{Spool: spool, Data: data}, collector.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := col.RunOnce(context.Background(), time.Minute); err != nil {
		t.Fatalf("the next run: %v", err)
	}
	if ready, _ := filepath.Glob(filepath.Join(spool, "*.ready")); len(ready) != 0 {
		t.Fatalf("%d spool entries left after the next run", len(ready))
	}
}
