package backendtest

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/smtpscope/smtpscope/collector"
	"github.com/smtpscope/smtpscope/collector/ace"
	"github.com/smtpscope/smtpscope/collector/api"
	"github.com/smtpscope/smtpscope/collector/service"
)

// Group is the one node group of the fixture.
const Group = "default"

// Sensor is the fixture collector's sensor name, pinned so that nothing
// it stores (and no frame drawn of it) depends on the host name.
const Sensor = "dmz-1"

// Counts of the demo samples: what every backend must list.
const (
	Emails   = 7
	Sessions = 2 // sessions that carried no email
	Reviews  = 1 // files that are no session
)

// Samples are the demo's sample session files, sorted.
func Samples(t testing.TB) []string {
	t.Helper()
	_, here, _, _ := runtime.Caller(0)
	dir := filepath.Join(filepath.Dir(here), "..", "..", "cmd", "smtpscope", "internal", "demo", "samples")
	ps, _ := filepath.Glob(filepath.Join(dir, "*.session"))
	if len(ps) == 0 {
		t.Fatalf("no sample sessions in %s", dir)
	}
	sort.Strings(ps)
	return ps
}

// Fixture is a real service (collector, store, index) over the demo
// samples, with one node group whose node, an ACE sink on loopback,
// holds every submission until Release: the emails stay queued.
type Fixture struct {
	*service.Service
	Data string
	gate *gate
}

// Release lets the node accept what it holds and what comes next.
func (f *Fixture) Release() { f.gate.release() }

// Hold makes the node hold submissions again.
func (f *Fixture) Hold() { f.gate.hold() }

// NewFixture runs the service on the samples and returns once every
// sample is indexed. Everything stops when the test ends.
func NewFixture(t testing.TB) *Fixture {
	t.Helper()
	dir := t.TempDir()
	sink, err := ace.NewSink(filepath.Join(dir, "sink"), ace.SinkOptions{})
	if err != nil {
		t.Fatal(err)
	}
	g := newGate()
	srv := httptest.NewServer(g.wrap(sink))
	spool, data := filepath.Join(dir, "spool"), filepath.Join(dir, "data")
	WriteSpool(t, spool)
	noSync := false
	cfg := &collector.Config{Spool: spool, Data: data, Fsync: &noSync, Sensor: Sensor,
		Groups: []collector.GroupConfig{{Name: Group, Coverage: 100, FullDelivery: true, Nodes: []string{srv.URL}}}}
	cfg.Submission.BackoffMin = collector.Duration(50 * time.Millisecond)
	ix, err := service.OpenIndex(data)
	if err != nil {
		t.Fatal(err)
	}
	s, err := service.Open(cfg, service.Options{Index: ix})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() {
		g.release()
		cancel()
		s.Close()
		srv.Close()
	})
	// Watch the start-up's own events: a client connecting after
	// NewFixture returns must not receive them (they are relayed once
	// searchable, a little after a search first finds everything).
	evCtx, evCancel := context.WithCancel(ctx)
	defer evCancel()
	evs, err := s.Events(evCtx)
	if err != nil {
		t.Fatal(err)
	}
	s.Start(ctx)
	f := &Fixture{Service: s, Data: data, gate: g}
	f.waitIndexed(t)
	waitEvents(t, evs)
	return f
}

// waitEvents waits until the samples' start-up events were relayed: one
// per email and per review entry (and at least one per session that
// carried no email: every stored session has one).
func waitEvents(t testing.TB, evs <-chan api.Event) {
	t.Helper()
	want := map[string]int{api.EventEmail: Emails, api.EventSession: Sessions, api.EventReview: Reviews}
	timeout := time.After(60 * time.Second)
	for n := Emails + Sessions + Reviews; n > 0; {
		select {
		case ev := <-evs:
			if want[ev.Type] > 0 {
				want[ev.Type]--
				n--
			}
		case <-timeout:
			t.Fatalf("the fixture's start-up events never all came: still waiting for %v", want)
		}
	}
}

// WriteSpool puts every sample in spool as a session file and its .ready.
func WriteSpool(t testing.TB, spool string) {
	t.Helper()
	WriteSessions(t, spool, Samples(t))
}

// WriteSessions puts a copy of each session file of paths in spool (made
// when missing), each with its .ready.
func WriteSessions(t testing.TB, spool string, paths []string) {
	t.Helper()
	if err := os.MkdirAll(spool, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		dst := filepath.Join(spool, filepath.Base(p))
		if err := os.WriteFile(dst, b, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst+".ready", nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// waitIndexed waits until every sample is searchable with its queued
// submission.
func (f *Fixture) waitIndexed(t testing.TB) {
	t.Helper()
	want := uint64(Emails + Sessions + Reviews)
	for deadline := time.Now().Add(60 * time.Second); ; {
		all, err := f.Search(context.Background(), "", api.SearchOptions{})
		queued, qerr := f.Search(context.Background(), "status:queued", api.SearchOptions{})
		if err == nil && qerr == nil && all.Total == want && queued.Total == Emails {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the fixture never indexed the samples: %+v %v / %+v %v", all, err, queued, qerr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// gate holds requests until released.
type gate struct {
	mu   sync.Mutex
	open chan struct{}
}

func newGate() *gate { return &gate{open: make(chan struct{})} }

func (g *gate) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g.mu.Lock()
		open := g.open
		g.mu.Unlock()
		select {
		case <-open:
			h.ServeHTTP(w, r)
		case <-r.Context().Done():
		}
	})
}

func (g *gate) release() {
	g.mu.Lock()
	defer g.mu.Unlock()
	select {
	case <-g.open:
	default:
		close(g.open)
	}
}

func (g *gate) hold() {
	g.mu.Lock()
	defer g.mu.Unlock()
	select {
	case <-g.open:
		g.open = make(chan struct{})
	default:
	}
}
