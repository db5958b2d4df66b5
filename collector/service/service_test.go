package service

import (
	"context"
	"errors"
	"github.com/smtpscope/smtpscope/collector/api"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/smtpscope/smtpscope/collector"
	"github.com/smtpscope/smtpscope/collector/ace"
)

func samples(t testing.TB) []string {
	t.Helper()
	ps, _ := filepath.Glob(filepath.Join("..", "..", "cmd", "smtpscope", "internal", "demo", "samples", "*.session"))
	if len(ps) == 0 {
		t.Fatal("no samples in cmd/smtpscope/internal/demo/samples")
	}
	sort.Strings(ps)
	return ps
}

// TestRemoteOverUnixSocket: the socket is private and served once (what
// a client gets through it is the conformance suite's, TestConformanceRemote).
func TestRemoteOverUnixSocket(t *testing.T) {
	dir := t.TempDir()
	l, err := Listen(dir, ListenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, l, statusBackend{}) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	}()
	if st, err := os.Stat(api.SocketPath(dir)); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("socket mode: %v %v", st.Mode(), err)
	}
	if _, err := Listen(dir, ListenOptions{}); err == nil {
		t.Fatal("a second Listen on a served data dir succeeded")
	}
	r, err := api.DialRemote(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if st, err := r.Status(ctx); err != nil || st.Mode != "remote" || !st.Running {
		t.Fatalf("status: %+v %v", st, err)
	}
}

// TestService runs the real collector and index on the sample sessions with
// an in-process ACE sink, then searches, reads and resubmits.
func TestService(t *testing.T) {
	dir := t.TempDir()
	sink, err := ace.NewSink(filepath.Join(dir, "sink"), ace.SinkOptions{})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sink)
	defer srv.Close()
	spool, data := filepath.Join(dir, "spool"), filepath.Join(dir, "data")
	os.MkdirAll(spool, 0o700)
	for _, p := range samples(t) {
		b, _ := os.ReadFile(p)
		os.WriteFile(filepath.Join(spool, filepath.Base(p)), b, 0o600)
		os.WriteFile(filepath.Join(spool, filepath.Base(p)+".ready"), nil, 0o600)
	}
	f := false
	cfg := &collector.Config{Spool: spool, Data: data, Fsync: &f,
		Groups: []collector.GroupConfig{{Name: "default", Coverage: 100, FullDelivery: true, Nodes: []string{srv.URL}}}}
	cfg.Submission.BackoffMin = collector.Duration(50 * time.Millisecond)
	ix, err := OpenIndex(data)
	if err != nil {
		t.Fatal(err)
	}
	l, err := Open(cfg, Options{Index: ix})
	if err != nil {
		t.Fatal(err)
	}
	// A second opener is told the data dir is busy.
	if _, err := OpenIndex(data); !errors.Is(err, ErrBusy) {
		t.Fatalf("second OpenIndex: %v", err)
	}
	if _, err := Open(cfg, Options{}); !errors.Is(err, ErrBusy) {
		t.Fatalf("second Open: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	evs, _ := l.Events(ctx)
	l.Start(ctx)
	defer l.Close()

	sent := map[string]bool{}
	deadline := time.After(60 * time.Second)
	for len(sent) < 7 {
		select {
		case ev := <-evs:
			if ev.Type == api.EventSubmission && ev.State == collector.StateSent {
				sent[ev.ID] = true
			}
		case <-deadline:
			t.Fatalf("only %d emails reached sent: %v", len(sent), sent)
		}
	}
	res, err := l.Search(ctx, "ioc:login.evil-payload.example.com", api.SearchOptions{Facets: true})
	if err != nil || len(res.Rows) != 1 || res.Rows[0].ID != "demo-phish.0" {
		t.Fatalf("search: %+v %v", res, err)
	}
	if res.Rows[0].Status["default"] != collector.StateSent {
		t.Fatalf("indexed status: %v", res.Rows[0].Status)
	}
	if _, err := l.Search(ctx, "bogus:(", api.SearchOptions{}); !errors.As(err, new(*api.QueryError)) {
		t.Fatalf("bad query: %v", err)
	}
	all, err := l.Search(ctx, "", api.SearchOptions{Kind: api.KindEmail, Limit: 3})
	if err != nil || all.Total != 7 || len(all.Rows) != 3 || all.Next == nil {
		t.Fatalf("page 1: %+v %v", all, err)
	}
	p2, err := l.Search(ctx, "", api.SearchOptions{Kind: api.KindEmail, Limit: 3, After: all.Next})
	if err != nil || len(p2.Rows) != 3 || p2.Rows[0].ID == all.Rows[2].ID {
		t.Fatalf("page 2: %+v %v", p2, err)
	}
	old, err := l.Search(ctx, "", api.SearchOptions{Kind: api.KindEmail, Limit: 7, Sort: api.SortOldest})
	if err != nil || len(old.Rows) != 7 || old.Rows[0].Time.After(old.Rows[6].Time) {
		t.Fatalf("oldest first: %+v %v", old, err)
	}
	if _, err := l.Search(ctx, "", api.SearchOptions{Sort: "bogus"}); !errors.Is(err, api.ErrSortUnsupported) {
		t.Fatalf("unknown sort: %v", err)
	}
	s, err := l.Session(ctx, "demo-phish.0")
	if err != nil || len(s.Messages) != 1 {
		t.Fatalf("session: %v", err)
	}
	inv, err := l.Email(ctx, "demo-invoice.0")
	if err != nil || len(inv.Attachments) == 0 {
		t.Fatalf("invoice: %v", err)
	}
	if b, err := l.Attachment(ctx, inv.ID, inv.Attachments[0].SHA1); err != nil || int64(len(b)) != inv.Attachments[0].Size {
		t.Fatalf("attachment: %v", err)
	}
	// Sessions without email and review entries are searchable.
	var sess *api.SearchResult
	for i := 0; i < 100; i++ {
		if sess, err = l.Search(ctx, "", api.SearchOptions{Kind: api.KindSession}); err == nil && sess.Total >= 2 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if sess == nil || sess.Total < 2 {
		t.Fatalf("sessions without email: %+v %v", sess, err)
	}
	rs, err := l.Search(ctx, "", api.SearchOptions{Kind: api.KindReview})
	if err != nil || rs.Total != 1 {
		t.Fatalf("review entries: %+v %v", rs, err)
	}
	if rv, err := l.Review(ctx, rs.Rows[0].ID); err != nil || !strings.Contains(rv.Entry.Name, "garbage") {
		t.Fatalf("review: %v", err)
	}
	before := sink.Accepted()
	n, err := l.Resubmit(ctx, []string{"demo-phish.0"}, "default")
	if err != nil || n != 1 {
		t.Fatalf("resubmit: %d %v", n, err)
	}
	for i := 0; sink.Accepted() == before; i++ {
		if i > 400 {
			t.Fatal("the resubmission never reached the sink")
		}
		time.Sleep(50 * time.Millisecond)
	}
	st, err := l.Status(ctx)
	if err != nil || st.Mode != "local" || st.Stats.Emails != 7 {
		t.Fatalf("status: %+v %v", st, err)
	}
}
