package service

import (
	"context"
	"errors"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/smtpscope/smtpscope/collector"
	"github.com/smtpscope/smtpscope/collector/ace"
	"github.com/smtpscope/smtpscope/index"
)

// huntRun runs `collect --once` in process with two hunts: "s2" (the
// email from s2@sender.example, delivered to the hunts-only group
// "triage") and "invoices" (every email: subject:invoice, delivered
// nowhere).
func huntRun(t *testing.T, spool, data, node string) *logBuf {
	t.Helper()
	f := false
	ms := collector.Duration(20 * time.Millisecond)
	cfg := &collector.Config{Spool: spool, Data: data, Fsync: &f, Workers: 2,
		Submission: collector.SubmissionConfig{BackoffMin: ms, BackoffMax: ms},
		Groups:     []collector.GroupConfig{{Name: "triage", Nodes: []string{node}, HuntsOnly: true, FullDelivery: true}},
		Hunts: []collector.HuntConfig{{Name: "s2", Query: "mailfrom:s2@sender.example", DeliverTo: []string{"triage"}},
			{Name: "invoices", Query: "subject:invoice"}}}
	cfg.ApplyDefaults()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	logs := &logBuf{}
	ix, err := OpenIndex(data)
	if err != nil {
		t.Fatal(err)
	}
	l, err := Open(cfg, Options{Index: ix, Logger: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.RunOnce(context.Background(), 60*time.Second); err != nil {
		t.Fatalf("RunOnce: %v\n%s", err, logs)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return logs
}

// huntState is what the store and the index say of the hunts.
func huntState(t *testing.T, data string) (tags map[string][]string, triage []string, hits map[string][]string) {
	t.Helper()
	st, err := collector.OpenStore(data, collector.StoreOptions{ReadOnly: true, NoFsync: true})
	if err != nil {
		t.Fatal(err)
	}
	tags = map[string][]string{}
	_ = st.ListEmails(func(m *collector.EmailMeta) bool {
		tags[m.ID] = m.Hunts
		subs, _ := st.Submissions(m.ID)
		for _, s := range subs {
			if s.Group == "triage" {
				triage = append(triage, m.ID)
			}
		}
		return true
	})
	st.Close()
	ix, err := OpenIndex(data)
	if err != nil {
		t.Fatal(err)
	}
	defer ix.Close()
	hits = map[string][]string{}
	for _, q := range []string{"hunt:s2", "hunt:invoices"} {
		res, err := ix.Search(context.Background(), q, index.SearchOptions{Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range res.Hits {
			hits[q] = append(hits[q], h.ID)
			if !slices.Contains(h.Hunts, strings.TrimPrefix(q, "hunt:")) {
				t.Errorf("%s: row of %s lists hunts %v", q, h.ID, h.Hunts)
			}
		}
		slices.Sort(hits[q])
	}
	slices.Sort(triage)
	return tags, triage, hits
}

func aceNode(t *testing.T) string {
	sink, err := ace.NewSink(t.TempDir(), ace.SinkOptions{})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sink)
	t.Cleanup(srv.Close)
	return srv.URL
}

// TestHuntsAfterCommit: through the real collector and index, each new
// email is evaluated after its index commit: matches are tagged
// (EmailMeta.Hunts, hunt:NAME, the row's Hunts) and queued once to the
// hunt's groups; a hunts_only group gets nothing else.
func TestHuntsAfterCommit(t *testing.T) {
	tmp := t.TempDir()
	spool, data := filepath.Join(tmp, "spool"), filepath.Join(tmp, "data")
	spoolSessions(t, spool, 1, 5) // four emails: batch00001.0 .. batch00004.0
	huntRun(t, spool, data, aceNode(t))
	tags, triage, hits := huntState(t, data)
	all := []string{"batch00001.0", "batch00002.0", "batch00003.0", "batch00004.0"}
	if !slices.Equal(hits["hunt:invoices"], all) || !slices.Equal(hits["hunt:s2"], []string{"batch00002.0"}) {
		t.Errorf("index: %v", hits)
	}
	if !slices.Equal(tags["batch00002.0"], []string{"invoices", "s2"}) || !slices.Equal(tags["batch00001.0"], []string{"invoices"}) {
		t.Errorf("store tags: %v", tags)
	}
	if !slices.Equal(triage, []string{"batch00002.0"}) {
		t.Errorf("queued to triage: %v, want the s2 match only", triage)
	}
}

// TestHuntsCrashBeforeTagging: the batch is in the index but the hunts
// never ran (a crash between the index commit and the tagging: here the
// evaluation fails, which leaves the same state — the store's index
// marks not cleared). The next start writes the marked documents again
// and runs the hunts on them: tagged and queued once; a third start
// changes nothing.
func TestHuntsCrashBeforeTagging(t *testing.T) {
	tmp := t.TempDir()
	spool, data := filepath.Join(tmp, "spool"), filepath.Join(tmp, "data")
	spoolSessions(t, spool, 1, 5)
	node := aceNode(t)
	huntFault = func() error { return errors.New("crash") }
	logs := huntRun(t, spool, data, node)
	huntFault = nil
	if !strings.Contains(logs.String(), "hunts not evaluated") {
		t.Fatalf("the fault did not fire:\n%s", logs)
	}
	tags, triage, _ := huntState(t, data)
	if len(tags["batch00002.0"]) != 0 || len(triage) != 0 {
		t.Fatalf("tagged before the restart: %v %v", tags, triage)
	}
	for run := 2; run <= 3; run++ {
		huntRun(t, spool, data, node)
		tags, triage, hits := huntState(t, data)
		if !slices.Equal(tags["batch00002.0"], []string{"invoices", "s2"}) || !slices.Equal(triage, []string{"batch00002.0"}) ||
			!slices.Equal(hits["hunt:s2"], []string{"batch00002.0"}) || len(hits["hunt:invoices"]) != 4 {
			t.Errorf("run %d: tags %v, triage %v, index %v", run, tags, triage, hits)
		}
	}
	st, err := collector.OpenStore(data, collector.StoreOptions{ReadOnly: true, NoFsync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	subs, _ := st.Submissions("batch00002.0")
	if len(subs) != 1 || subs[0].Manual {
		t.Errorf("submissions %+v: want the one hunt entry", subs)
	}
}

// TestCheckHunts: a hunt query that does not parse stops the start,
// naming the hunt.
func TestCheckHunts(t *testing.T) {
	err := CheckHunts([]collector.HuntConfig{{Name: "ok", Query: "from:a"}, {Name: "broken", Query: "bogus:1"}})
	if err == nil || !strings.Contains(err.Error(), `hunt 2 ("broken")`) || strings.Contains(err.Error(), `"ok"`) {
		t.Errorf("CheckHunts: %v", err)
	}
}
