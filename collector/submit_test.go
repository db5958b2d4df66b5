package collector_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/smtpscope/smtpscope/collector"
	"github.com/smtpscope/smtpscope/collector/ace"
)

// syncBuf is a log sink safe for concurrent writers.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestSubmitHostileNodes: nodes that redirect (to another host, from
// HTTPS to HTTP) or refuse connections, all configured with credentials
// in their URLs. Nothing reaches the redirect target; the submissions are
// retrying with an error naming the redirect; the credentials appear in
// no log line, error, stored state or status.json.
func TestSubmitHostileNodes(t *testing.T) {
	tmp := t.TempDir()
	spool, data := filepath.Join(tmp, "spool"), filepath.Join(tmp, "data")
	var evilHits atomic.Int64
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		evilHits.Add(1)
		_, _ = w.Write([]byte(`{"result":{"uuid":"00000000-0000-4000-8000-000000000000"}}`))
	}))
	defer evil.Close()
	redirect := func(code int) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/api/common/ping" {
				_, _ = w.Write([]byte(`{"result":"pong"}`))
				return
			}
			http.Redirect(w, r, evil.URL+r.URL.Path, code)
		})
	}
	plain := httptest.NewServer(redirect(http.StatusTemporaryRedirect))
	defer plain.Close()
	secure := httptest.NewTLSServer(redirect(http.StatusPermanentRedirect))
	defer secure.Close()
	withCreds := func(u, cred string) string { return strings.Replace(u, "://", "://"+cred+"@", 1) }
	secrets := []string{"pw-plain-SECRET", "pw-tls-SECRET", "tok-down-SECRET", "user-plain"}
	spoolWrite(t, spool, "Chostile", simpleSession(3, 1), time.Time{})
	logs := &syncBuf{}
	ms := collector.Duration(20 * time.Millisecond)
	cfg := &collector.Config{Spool: spool, Data: data,
		Submission: collector.SubmissionConfig{BackoffMin: ms, BackoffMax: ms, PingInterval: collector.Duration(time.Hour),
			InsecureSkipVerify: true},
		Groups: []collector.GroupConfig{
			{Name: "redirect", Nodes: []string{withCreds(plain.URL, "user-plain:pw-plain-SECRET")}, FullDelivery: true},
			{Name: "https-to-http", Nodes: []string{withCreds(secure.URL, "u:pw-tls-SECRET")}, FullDelivery: true},
			{Name: "down", Nodes: []string{withCreds("http://"+freeAddr(t), "tok-down-SECRET")}, FullDelivery: true},
		}}
	col, err := collector.New(cfg, collector.Options{Logger: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	runErr := col.RunOnce(context.Background(), 3*time.Second)
	if runErr == nil {
		t.Fatal("RunOnce: no error although nothing can be delivered")
	}
	if n := evilHits.Load(); n != 0 {
		t.Errorf("the redirect target received %d requests", n)
	}
	s, err := collector.OpenStore(data, collector.StoreOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	subs, err := s.Submissions("Chostile.0")
	if err != nil || len(subs) != 3 {
		t.Fatalf("submissions %+v: %v", subs, err)
	}
	var stored strings.Builder
	for _, st := range subs {
		fmt.Fprintf(&stored, "%+v\n", st)
		if st.Group != "down" && (st.State != collector.StateRetrying || !strings.Contains(st.LastError, "redirect") ||
			!strings.Contains(st.LastError, evil.URL)) {
			t.Errorf("%s: %+v, want retrying with an error naming the redirect to %s", st.Group, st, evil.URL)
		}
		if st.State == collector.StateSent {
			t.Errorf("%s: sent through a redirect: %+v", st.Group, st)
		}
	}
	errs, _ := s.LastErrors()
	status, err := os.ReadFile(filepath.Join(data, collector.StatusFile))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(status, []byte(`"nodes"`)) {
		t.Errorf("status.json lacks the node health:\n%s", status)
	}
	for where, text := range map[string]string{"log": logs.String(), "RunOnce error": runErr.Error(),
		"stored submission states": stored.String(), "last errors": fmt.Sprint(errs), "status.json": string(status)} {
		for _, secret := range secrets {
			if i := strings.Index(text, secret); i >= 0 {
				t.Errorf("%s shows the credential %q: ...%s...", where, secret, text[max(0, i-150):min(len(text), i+50)])
			}
		}
	}
}

// TestConfigErrorRedactsCredentials: a node URL rejected by validation is
// named without its credentials.
func TestConfigErrorRedactsCredentials(t *testing.T) {
	cfg := &collector.Config{Spool: "s", Data: "d", Groups: []collector.GroupConfig{{Name: "g", Nodes: []string{"ftp://ace:pw-SECRET@ace.example"}}}}
	cfg.ApplyDefaults()
	err := cfg.Validate()
	if err == nil || !strings.Contains(err.Error(), "ace.example") || strings.Contains(err.Error(), "pw-SECRET") {
		t.Errorf("Validate: %v", err)
	}
}

// timedNode wraps a sink: it records the time of every request and
// answers the first submission with 503 and Retry-After.
type timedNode struct {
	sink       *ace.Sink
	retryAfter string
	mu         sync.Mutex
	times      []time.Time
	refusedAt  time.Time
}

func (n *timedNode) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n.mu.Lock()
	n.times = append(n.times, time.Now())
	first := r.URL.Path == "/api/analysis/submit" && n.refusedAt.IsZero()
	if first {
		n.refusedAt = time.Now()
	}
	n.mu.Unlock()
	if first {
		w.Header().Set("Retry-After", n.retryAfter)
		http.Error(w, "busy", http.StatusServiceUnavailable)
		return
	}
	n.sink.ServeHTTP(w, r)
}

// TestSubmitHonoursRetryAfter: a node answering 503 with "Retry-After: 2"
// receives no request at all (submission or ping) for 2 s, and the
// email's recorded next attempt is no earlier; then it is delivered.
func TestSubmitHonoursRetryAfter(t *testing.T) {
	tmp := t.TempDir()
	spool, data := filepath.Join(tmp, "spool"), filepath.Join(tmp, "data")
	sink, err := ace.NewSink(filepath.Join(tmp, "sink"), ace.SinkOptions{})
	if err != nil {
		t.Fatal(err)
	}
	node := &timedNode{sink: sink, retryAfter: "2"}
	srv := httptest.NewServer(node)
	defer srv.Close()
	spoolWrite(t, spool, "Cra", simpleSession(5, 1), time.Time{})
	ms := collector.Duration(20 * time.Millisecond)
	cfg := &collector.Config{Spool: spool, Data: data, RescanInterval: collector.Duration(100 * time.Millisecond),
		Submission: collector.SubmissionConfig{BackoffMin: ms, BackoffMax: ms, PingInterval: collector.Duration(200 * time.Millisecond)},
		Groups:     []collector.GroupConfig{{Name: "g", Nodes: []string{srv.URL}, FullDelivery: true}}}
	col, err := collector.New(cfg, collector.Options{})
	if err != nil {
		t.Fatal(err)
	}
	events, unsubscribe := col.Subscribe(100)
	defer unsubscribe()
	stop := runCollector(t, col)
	var retrying *collector.SubmissionStatus
	timeout := time.After(20 * time.Second)
wait:
	for {
		select {
		case ev := <-events:
			if ev.Type != collector.EventSubmission {
				continue
			}
			switch ev.Submission.State {
			case collector.StateRetrying:
				retrying = ev.Submission
			case collector.StateSent:
				break wait
			}
		case <-timeout:
			t.Fatal("not delivered in 20 s")
		}
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	node.mu.Lock()
	defer node.mu.Unlock()
	if node.refusedAt.IsZero() || retrying == nil {
		t.Fatalf("no 503 answered (%v) or no retrying state seen (%+v)", node.refusedAt, retrying)
	}
	resume := node.refusedAt.Add(2 * time.Second)
	if retrying.NextAttempt.Before(resume.Add(-10 * time.Millisecond)) {
		t.Errorf("recorded next attempt %s is before the Retry-After time %s", retrying.NextAttempt, resume)
	}
	for _, at := range node.times {
		if at.After(node.refusedAt) && at.Before(resume) {
			t.Errorf("request %s after the 503, before Retry-After allows (%s)", at.Sub(node.refusedAt), resume.Sub(node.refusedAt))
		}
	}
}

// gate fronts a sink: while down it drops every connection (the node
// is unreachable); it counts the requests of each kind in each phase.
type gate struct {
	sink *ace.Sink
	down atomic.Bool
	mu   sync.Mutex
	seen map[string]int // "down ping", "up submit", ...
	log  []string       // requests after the node came back, in order
}

func (g *gate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	kind := "submit"
	if r.URL.Path == "/api/common/ping" {
		kind = "ping"
	}
	phase := "up"
	if g.down.Load() {
		phase = "down"
	}
	g.mu.Lock()
	g.seen[phase+" "+kind]++
	if phase == "up" {
		g.log = append(g.log, kind)
	}
	g.mu.Unlock()
	if phase == "down" {
		panic(http.ErrAbortHandler) // closes the connection without an answer
	}
	g.sink.ServeHTTP(w, r)
}

func (g *gate) count(key string) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.seen[key]
}

// TestSubmitCircuitBreaker: while the only node of a group is down, the
// queue is not retried email by email: requests to the node stay
// O(probes) however many emails wait. When it comes back, one ping
// resumes it and every email is accepted exactly once.
func TestSubmitCircuitBreaker(t *testing.T) {
	const n = 30
	tmp := t.TempDir()
	spool, data, sinkDir := filepath.Join(tmp, "spool"), filepath.Join(tmp, "data"), filepath.Join(tmp, "sink")
	sink, err := ace.NewSink(sinkDir, ace.SinkOptions{})
	if err != nil {
		t.Fatal(err)
	}
	g := &gate{sink: sink, seen: map[string]int{}}
	g.down.Store(true)
	srv := httptest.NewServer(g)
	defer srv.Close()
	lo, hi := collector.Duration(50*time.Millisecond), collector.Duration(400*time.Millisecond)
	backoff := collector.SubmissionConfig{BackoffMin: lo, BackoffMax: hi, NodeBackoffMin: lo, NodeBackoffMax: hi,
		PingInterval: collector.Duration(time.Hour)}
	cfg := &collector.Config{Spool: spool, Data: data, RescanInterval: collector.Duration(100 * time.Millisecond), Submission: backoff,
		Groups: []collector.GroupConfig{{Name: "g", Nodes: []string{srv.URL}, FullDelivery: true, Concurrency: 4}}}
	col, err := collector.New(cfg, collector.Options{})
	if err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	stop := runCollector(t, col)
	for i := 0; i < n; i++ {
		spoolWrite(t, spool, fmt.Sprintf("Ccb%02d", i), simpleSession(i, 1), time.Time{})
	}
	waitFor(t, func() bool {
		st, err := col.Status()
		return err == nil && st.QueueDepth == n
	})
	time.Sleep(3 * time.Second) // the outage goes on with everything queued
	// a probe per half node_backoff_max (jitter) at most, plus the climb
	// to it and the submissions in flight when the node was found down
	bound := int(time.Since(began)/(hi.D()/2)) + 4 + 4
	down := g.count("down ping") + g.count("down submit")
	t.Logf("outage of %s: %d requests (%d submissions, %d pings), bound %d", time.Since(began).Round(time.Millisecond),
		down, g.count("down submit"), g.count("down ping"), bound)
	if down > bound {
		t.Errorf("%d requests to a down node for %d queued emails (%d submissions, %d pings); want O(probes)",
			down, n, g.count("down submit"), g.count("down ping"))
	}
	g.down.Store(false)
	waitFor(t, func() bool { return sink.Accepted() >= n })
	time.Sleep(300 * time.Millisecond) // anything more would show now
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	g.mu.Lock()
	after := append([]string(nil), g.log...)
	g.mu.Unlock()
	if len(after) == 0 || after[0] != "ping" || g.count("up ping") != 1 {
		t.Errorf("after the outage: %d pings, requests %v; want one ping first", g.count("up ping"), after)
	}
	if got := g.count("up submit"); got != n || sink.Accepted() != n {
		t.Errorf("after the outage: %d submissions, %d accepted; want %d", got, sink.Accepted(), n)
	}
	for id, subs := range byEmail(t, sinkDir) {
		if len(subs) != 1 {
			t.Errorf("%s accepted %d times", id, len(subs))
		}
	}
}

// TestRefusalsRecorded: a node that refuses everything with a retryable
// error shows in the error list `status` prints, once and not once per
// email (of 6): with a wrong API key (its health check fails too, so the node is
// down: one entry for the outage), and with submissions alone refused
// (HTTP 403 to each while the node answers its health check: one entry
// for the group while the same error repeats).
func TestRefusalsRecorded(t *testing.T) {
	for _, tc := range []struct {
		name, want string
		wrap       func(http.Handler) http.Handler
		key        string
	}{
		{"wrong key", "401", func(h http.Handler) http.Handler { return h }, "the-right-key"},
		{"submissions refused", "403", func(h http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if strings.HasSuffix(r.URL.Path, "/submit") {
					http.Error(w, "not today", http.StatusForbidden)
					return
				}
				h.ServeHTTP(w, r)
			})
		}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tmp := t.TempDir()
			sink, err := ace.NewSink(filepath.Join(tmp, "sink"), ace.SinkOptions{APIKey: tc.key})
			if err != nil {
				t.Fatal(err)
			}
			srv := httptest.NewServer(tc.wrap(sink))
			defer srv.Close()
			cfg := &collector.Config{Data: filepath.Join(tmp, "data"), EMLDir: []string{t.TempDir()}, Fsync: noFsync(),
				Groups: []collector.GroupConfig{{Name: "g", Coverage: 100, Nodes: []string{srv.URL}}}}
			cfg.Submission.BackoffMin = collector.Duration(time.Hour) // one attempt each here
			cfg.Submission.BackoffMax = collector.Duration(time.Hour)
			col, err := collector.New(cfg, collector.Options{})
			if err != nil {
				t.Fatal(err)
			}
			stop := runCollector(t, col)
			const emails = 6
			for i := range emails {
				if _, err := col.IngestRaw([]byte(fmt.Sprintf("From: x@evil.example\r\nSubject: %d\r\n\r\nhello\r\n", i)), fmt.Sprintf("/in/%d", i)); err != nil {
					t.Fatal(err)
				}
			}
			count := func() int {
				errs, _ := col.Store().LastErrors()
				n := 0
				for _, e := range errs {
					if strings.Contains(e.Where, "group g") || strings.Contains(e.Where, "to g") {
						if strings.Contains(e.Msg, tc.want) {
							n++
						}
					}
				}
				return n
			}
			waitUntil(t, "the refusal in the error list", 20*time.Second, func() bool { return count() > 0 })
			time.Sleep(500 * time.Millisecond) // the other emails' attempts
			// One entry; two when a submission's refusal came before the
			// health check took the node down (the same cause, seen twice).
			if n := count(); n > 2 {
				errs, _ := col.Store().LastErrors()
				t.Errorf("%d entries for one refusal repeated over %d emails, want 1 (2 at most): %+v", n, emails, errs)
			}
			if err := stop(); err != nil {
				t.Fatal(err)
			}
		})
	}
}
