package ui

import (
	"context"
	"fmt"
	"github.com/smtpscope/smtpscope/collector/service"
	"github.com/smtpscope/smtpscope/internal/fakebackend"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/smtpscope/smtpscope/collector/api"
	"github.com/smtpscope/smtpscope/core"
	"github.com/smtpscope/smtpscope/index"
	"github.com/smtpscope/smtpscope/ui/list"
	"github.com/smtpscope/smtpscope/ui/search"
)

// The UI benchmarks run on an index of generated emails: 100,000 by
// default (the size), SMTPSCOPE_BENCH_EMAILS to change it, 5,000
// with -short. The index is built once per process.
func benchEmails() int {
	if s := os.Getenv("SMTPSCOPE_BENCH_EMAILS"); s != "" {
		if n, err := strconv.Atoi(s); err == nil && n > 0 {
			return n
		}
	}
	if testing.Short() {
		return 5000
	}
	return 100000
}

var (
	benchOnce sync.Once
	benchIx   *index.Index
	benchErr  error
)

var (
	bDomains = []string{"example.com", "corp.example.net", "mail.example.org", "billing.example.io", "news.example.biz", "evil-payload.example.com", "pay-pal-secure.example.net", "supplier.example.de"}
	bUsers   = []string{"alice", "bob", "carol", "dave", "billing", "noreply", "support", "hr"}
	bSubject = []string{"Invoice %d overdue", "Your account has been limited", "RE: meeting %d", "Payment confirmation #%d", "Weekly digest %d", "Urgent wire transfer request", "Document shared with you", "Security alert %d"}
	bAtt     = []struct{ name, typ string }{{"invoice_%d.pdf", "application/pdf"}, {"scan_%d.zip", "application/zip"}, {"payment_%d.pdf.exe", "application/x-dosexec"}, {"image%d.png", "image/png"}}
	bStates  = []string{"sent", "sent", "sent", "queued", "retrying", "failed"}
)

// benchEmail makes the i-th generated email (deterministic).
func benchEmail(i int) index.EmailDoc {
	dom := bDomains[i%len(bDomains)]
	from := bUsers[(i/3)%len(bUsers)] + "@" + dom
	e := &core.Email{
		ID:       fmt.Sprintf("bench-%07d.0", i),
		Session:  core.SessionInfo{UID: fmt.Sprintf("bench-%07d", i), SourceIP: fmt.Sprintf("198.51.%d.%d", (i/250)%250, i%250), SourcePort: 40000 + i%20000, Time: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(i) * 37 * time.Second), Helo: "mx." + dom},
		Envelope: core.Envelope{MailFrom: from, RcptTo: []string{"soc@corp.example.com"}},
		Subject:  fmt.Sprintf(bSubject[i%len(bSubject)], i),
		From:     from,
		To:       []string{"soc@corp.example.com"},
		Size:     int64(2000 + i%50000),
		SHA256:   fmt.Sprintf("%064x", i),
		BodyText: fmt.Sprintf("Hello, please see message %d. Visit https://%s/login?id=%d", i, dom, i),
		IOCs:     []core.IOC{{Type: core.IOCURL, Value: fmt.Sprintf("https://%s/login?id=%d", dom, i), Source: "body"}, {Type: core.IOCDomain, Value: dom, Source: "body"}},
	}
	if i%3 == 0 {
		a := bAtt[i%len(bAtt)]
		e.Attachments = []core.Attachment{{Filename: fmt.Sprintf(a.name, i), ContentType: a.typ, DetectedType: a.typ, Size: int64(1000 + i%9000), SHA256: fmt.Sprintf("%064x", i+1<<40), Part: "2"}}
	}
	return index.EmailDoc{Email: e, Status: map[string]string{"default": bStates[i%len(bStates)]}}
}

func benchIndex(b *testing.B) *index.Index {
	benchOnce.Do(func() {
		dir, err := os.MkdirTemp("", "smtpscope-ui-bench-")
		if err != nil {
			benchErr = err
			return
		}
		benchIx, benchErr = index.Open(filepath.Join(dir, "index"))
		if benchErr != nil {
			return
		}
		n, start := benchEmails(), time.Now()
		for lo := 0; lo < n; lo += 2000 {
			docs := make([]index.EmailDoc, 0, 2000)
			for i := lo; i < min(lo+2000, n); i++ {
				docs = append(docs, benchEmail(i))
			}
			if benchErr = benchIx.IndexEmails(docs); benchErr != nil {
				return
			}
		}
		b.Logf("indexed %d generated emails in %v", n, time.Since(start))
	})
	if benchErr != nil {
		b.Fatal(benchErr)
	}
	return benchIx
}

// ixBackend is the service's search over a bare index (no
// collector: the benchmarks measure the UI and the index).
type ixBackend struct {
	*fakebackend.Memory
	ix *index.Index
}

func (x *ixBackend) Search(ctx context.Context, q string, o api.SearchOptions) (*api.SearchResult, error) {
	return service.SearchIndex(ctx, x.ix, q, o)
}

// loop is a stand-in for the Bubble Tea loop: commands run in their own
// goroutines, their messages are fed to Update one at a time.
type loop struct {
	m    *Model
	msgs chan tea.Msg
}

func newLoop(m *Model) *loop { return &loop{m: m, msgs: make(chan tea.Msg, 256)} }

func (l *loop) run(c tea.Cmd) {
	if c == nil {
		return
	}
	go func() {
		msg := c()
		if bm, ok := msg.(tea.BatchMsg); ok {
			for _, x := range bm {
				l.run(x)
			}
			return
		}
		if msg != nil {
			l.msgs <- msg
		}
	}()
}

// until runs cmd and processes messages until done reports true.
func (l *loop) until(cmd tea.Cmd, done func() bool) {
	l.run(cmd)
	for !done() {
		_, next := l.m.Update(<-l.msgs)
		l.run(next)
	}
}

// settle processes messages until no facet search is under way.
func (l *loop) settle() {
	for l.m.pendingFacets.Load() > 0 {
		_, next := l.m.Update(<-l.msgs)
		l.run(next)
	}
}

// drive runs cmd until the rows of the search it starts are shown, then
// lets the facets arrive.
func drive(m *Model, cmd tea.Cmd) {
	l := newLoop(m)
	l.until(cmd, func() bool { return m.shown == m.seq })
	l.settle()
}

func benchModel(b *testing.B) *Model {
	ix := benchIndex(b)
	mem := fakebackend.NewMemory(b, "default")
	dark := true
	m := New(Options{Backend: &ixBackend{Memory: mem, ix: ix}, Dark: &dark, NoTick: true})
	m.Update(tea.WindowSizeMsg{Width: 160, Height: 48})
	return m
}

// BenchmarkFirstFrame: from a new model to the first frame showing a page
// of results (first search with facets over every email, then View).
// Target: < 300 ms at 100,000 emails.
func BenchmarkFirstFrame(b *testing.B) {
	benchIndex(b)
	b.ResetTimer()
	for b.Loop() {
		m := benchModel(b)
		l := newLoop(m)
		l.until(m.runSearch(false, ""), func() bool { return m.shown == m.seq && m.list.Len() > 0 })
		_ = m.View()
		b.StopTimer()
		l.settle() // the facet panel fills in after the first frame
		m.Close()
		b.StartTimer()
	}
}

// BenchmarkScrollKey: one key (j, and a page down every 50 keys) to the
// next frame, paging with search-after as the cursor moves. Target:
// < 50 ms.
func BenchmarkScrollKey(b *testing.B) {
	m := benchModel(b)
	defer m.Close()
	drive(m, m.runSearch(false, ""))
	down := tea.KeyPressMsg{Code: 'j', Text: "j"}
	pg := tea.KeyPressMsg{Code: tea.KeyPgDown}
	b.ResetTimer()
	i := 0
	for b.Loop() {
		k := down
		if i%50 == 49 {
			k = pg
		}
		i++
		_, cmd := m.Update(k)
		if cmd != nil {
			if _, ok := cmd().(list.NeedMoreMsg); ok {
				newLoop(m).until(m.runSearch(true, ""), func() bool { return m.shown == m.seq })
			}
		}
		_ = m.View()
	}
	b.ReportMetric(float64(m.list.Len()), "rows-loaded")
}

// BenchmarkSearchKey: Enter in the search bar to the frame with the
// results (query parsed, index searched with facets, list redrawn).
// Target: < 50 ms.
func BenchmarkSearchKey(b *testing.B) {
	m := benchModel(b)
	defer m.Close()
	drive(m, m.runSearch(false, ""))
	queries := []string{"invoice", "from:*@evil-payload.example.com", "has:attachment status:failed", "ioc:evil-payload.example.com", "subject:\"wire transfer\" -status:sent", ""}
	b.ResetTimer()
	i := 0
	for b.Loop() {
		q := queries[i%len(queries)]
		i++
		m.search.SetValue(q)
		m.search.Focus()
		_, cmd := m.Update(tea.KeyPressMsg{Code: tea.KeyEnter})
		msg := cmd()
		if _, ok := msg.(search.SubmitMsg); !ok {
			b.Fatalf("enter gave %T", msg)
		}
		l := newLoop(m)
		seq := m.seq
		l.until(func() tea.Msg { return msg }, func() bool { return m.seq > seq && m.shown == m.seq })
		_ = m.View()
		b.StopTimer()
		l.settle()
		b.StartTimer()
	}
}

// BenchmarkFacets: the facet counts of the whole index (sender domain,
// attachment type, IOC type, status), which the panel shows after the
// list.
func BenchmarkFacets(b *testing.B) {
	ix := benchIndex(b)
	b.ResetTimer()
	for b.Loop() {
		if _, err := service.SearchIndex(context.Background(), ix, "", api.SearchOptions{Limit: 1, Facets: true, IDsOnly: true}); err != nil {
			b.Fatal(err)
		}
	}
}
