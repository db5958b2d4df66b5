package service

import (
	"context"
	"errors"
	"github.com/smtpscope/smtpscope/collector/api"
	"github.com/smtpscope/smtpscope/internal/fakebackend"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/smtpscope/smtpscope/collector"
	"github.com/smtpscope/smtpscope/collector/ace"
	"github.com/smtpscope/smtpscope/core"
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

// memoryFixture loads the samples into a Memory backend.
func memoryFixture(t testing.TB) *fakebackend.Memory {
	t.Helper()
	m := fakebackend.NewMemory("default")
	an := core.NewAnalyzer(core.DefaultOptions())
	for _, p := range samples(t) {
		s, err := core.ParseSessionFile(p)
		if err != nil {
			data, _ := os.ReadFile(p)
			m.AddReview(collector.ReviewEntry{Name: filepath.Base(p), Reason: err.Error(), Size: int64(len(data))}, data)
			continue
		}
		es := an.SessionEmails(s)
		if len(es) == 0 {
			m.AddSession(s, api.NoEmailReason(s))
		}
		for _, e := range es {
			m.AddEmail(e, s.Messages[e.Index].Data, s, nil)
		}
	}
	return m
}

func TestRemoteOverUnixSocket(t *testing.T) {
	mem := memoryFixture(t)
	dir := t.TempDir()
	l, err := Listen(dir, ListenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, l, mem) }()
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

	res, err := r.Search(ctx, "ioc:login.evil-payload.example.com", api.SearchOptions{Facets: true, Kind: api.KindEmail})
	if err != nil || len(res.Rows) != 1 || res.Rows[0].ID != "demo-phish.0" || len(res.Facets) != 4 {
		t.Fatalf("search: %+v %v", res, err)
	}
	// Paging: limit 2 walks every email exactly once.
	var ids []string
	var after []string
	for {
		p, err := r.Search(ctx, "", api.SearchOptions{Limit: 2, After: after, Kind: api.KindEmail, IDsOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		for _, row := range p.Rows {
			ids = append(ids, row.ID)
		}
		if p.Next == nil {
			break
		}
		after = p.Next
	}
	if len(ids) != 7 {
		t.Fatalf("paged %d ids: %v", len(ids), ids)
	}
	_, err = r.Search(ctx, "subject:x bogus:1", api.SearchOptions{})
	var qe *api.QueryError
	if !errors.As(err, &qe) || qe.Col != 11 {
		t.Fatalf("query error over the socket: %v", err)
	}
	e, err := r.Email(ctx, "demo-phish.0")
	if err != nil || e.Subject != "Your account has been limited - action required" {
		t.Fatalf("email: %v", err)
	}
	raw, err := r.Raw(ctx, "demo-phish.0")
	if err != nil || int64(len(raw)) != e.Size {
		t.Fatalf("raw: %d bytes, %v", len(raw), err)
	}
	s, err := r.Session(ctx, "demo-phish.0")
	if err != nil || s.Info.UID != "demo-phish" || len(s.Messages) != 1 || string(s.Messages[0].Data) != string(raw) {
		t.Fatalf("session: %v", err)
	}
	if s, err := r.Session(ctx, "session/demo-starttls"); err != nil || !s.Info.StartTLS {
		t.Fatalf("session without email: %v", err)
	}
	if _, err := r.Email(ctx, "nope"); !errors.Is(err, api.ErrNotFound) {
		t.Fatalf("missing email: %v", err)
	}
	inv, _ := mem.Email(ctx, "demo-invoice.0")
	att, err := r.Attachment(ctx, "demo-invoice.0", inv.Attachments[0].SHA1)
	if err != nil || int64(len(att)) != inv.Attachments[0].Size {
		t.Fatalf("attachment: %d bytes, %v", len(att), err)
	}
	rv, err := r.Review(ctx, "review/demo-garbage.session")
	if err != nil || rv.Entry.Name != "demo-garbage.session" || len(rv.Data) == 0 {
		t.Fatalf("review: %+v %v", rv, err)
	}
	st, err := r.Status(ctx)
	if err != nil || st.Mode != "remote" || len(st.GroupNames()) != 1 {
		t.Fatalf("status: %+v %v", st, err)
	}

	evctx, evcancel := context.WithCancel(ctx)
	defer evcancel()
	ch, err := r.Events(evctx)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond) // let the stream connect
	n, err := r.Resubmit(ctx, []string{"demo-phish.0", "demo-invoice.0"}, "default")
	if err != nil || n != 2 {
		t.Fatalf("resubmit: %d %v", n, err)
	}
	mem.SetState("demo-phish.0", "default", collector.StateSent, "u-1", "")
	deadline := time.After(5 * time.Second)
	for {
		select {
		case ev := <-ch:
			if ev.Type == api.EventSubmission && ev.ID == "demo-phish.0" && ev.State == collector.StateSent {
				if err := r.SetPaused(ctx, true); err != nil {
					t.Fatal(err)
				}
				if st, _ := r.Status(ctx); !st.Paused {
					t.Fatal("pause did not reach the backend")
				}
				return
			}
		case <-deadline:
			t.Fatal("no submission event over the socket")
		}
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
	if _, err := l.Search(ctx, "", api.SearchOptions{Sort: "size"}); !errors.Is(err, api.ErrSortUnsupported) {
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
