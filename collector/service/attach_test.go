package service_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/smtpscope/smtpscope/collector"
	"github.com/smtpscope/smtpscope/collector/api"
	"github.com/smtpscope/smtpscope/collector/service"
	"github.com/smtpscope/smtpscope/internal/backendtest"
)

// owner is one process's hold on a data dir: the service, started, and
// its socket served.
type owner struct {
	svc    *service.Service
	cancel context.CancelFunc
	served chan error
}

// own opens the data dir's service (the demo samples in its spool),
// starts it and serves its socket, as `smtpscope ui` or `collect` do.
func own(t *testing.T, spool, data string) (*owner, error) {
	t.Helper()
	noSync := false
	cfg := &collector.Config{Spool: spool, Data: data, Fsync: &noSync}
	ix, err := service.OpenIndex(data)
	if err != nil {
		return nil, err
	}
	s, err := service.Open(cfg, service.Options{Index: ix})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.Start(ctx)
	ln, err := service.Listen(data, service.ListenOptions{})
	if err != nil {
		cancel()
		s.Close()
		return nil, err
	}
	o := &owner{svc: s, cancel: cancel, served: make(chan error, 1)}
	go func() { o.served <- service.Serve(ctx, ln, s) }()
	return o, nil
}

// quit stops serving and closes the service: the owner process exits.
func (o *owner) quit(t *testing.T) {
	t.Helper()
	o.cancel()
	if err := <-o.served; err != nil {
		t.Errorf("Serve: %v", err)
	}
	if err := o.svc.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
}

// waitAll waits (a liveness bound) until b lists every email of the samples.
func waitAll(t *testing.T, b api.Backend) {
	t.Helper()
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		res, err := b.Search(context.Background(), "", api.SearchOptions{Kind: api.KindEmail})
		if err == nil && res.Total == backendtest.Emails {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the samples were never all indexed: %+v %v", res, err)
		}
	}
}

func dataDir(t *testing.T) (spool, data string) {
	dir := t.TempDir()
	spool, data = filepath.Join(dir, "spool"), filepath.Join(dir, "data")
	backendtest.WriteSpool(t, spool)
	return spool, data
}

// rawTransport reports whether a message is Go's transport error text
// rather than a sentence.
func rawTransport(msg string) bool {
	return strings.Contains(msg, "http://") || strings.Contains(msg, "dial unix") || strings.Contains(msg, "Get \"")
}

// TestAttachedTakesOver: a client attached to the owner of a data dir
// keeps working when the owner quits: with no other owner, it takes the
// data dir over (the service runs in its process and serves the socket),
// says so in Status().Mode and with an EventBackend event, and searches
// find what they found before.
func TestAttachedTakesOver(t *testing.T) {
	spool, data := dataDir(t)
	first, err := own(t, spool, data)
	if err != nil {
		t.Fatal(err)
	}
	waitAll(t, first.svc)
	var took *owner
	a, err := service.Attach(context.Background(), data, func(ctx context.Context) (api.Backend, func() error, error) {
		o, err := own(t, spool, data)
		if err != nil {
			return nil, nil, err
		}
		took = o
		return o.svc, func() error { o.quit(t); return nil }, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	if st, err := a.Status(context.Background()); err != nil || st.Mode != service.ModeRemote {
		t.Fatalf("attached status: %+v %v", st, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	evs, err := a.Events(ctx)
	if err != nil {
		t.Fatal(err)
	}

	first.quit(t)
	res, err := a.Search(context.Background(), "rcpt:nobody@corp.example.com", api.SearchOptions{})
	if err != nil {
		t.Fatalf("search after the owner quit: %v", err)
	}
	if res.Total != 1 {
		t.Errorf("search after take-over: %d results, want the refused session", res.Total)
	}
	if took == nil {
		t.Fatal("the data dir was not taken over")
	}
	st, err := a.Status(context.Background())
	if err != nil || st.Mode != service.ModeTookOver || !st.Running {
		t.Fatalf("status after take-over: %+v %v", st, err)
	}
	// The event stream follows and says it.
	for timeout := time.After(30 * time.Second); ; {
		select {
		case ev := <-evs:
			if ev.Type != api.EventBackend {
				continue
			}
			if !strings.Contains(ev.State, "took it over") {
				t.Errorf("backend event: %q", ev.State)
			}
		case <-timeout:
			t.Fatal("no backend event after the take-over")
		}
		break
	}
	// A third client attaches to the new owner through its socket.
	r, err := api.DialRemote(context.Background(), data)
	if err != nil {
		t.Fatalf("the taken-over data dir is not served: %v", err)
	}
	r.Close()
}

// TestAttachedReattaches: when the owner quits and another process owns
// the data dir by then, the client attaches to that one.
func TestAttachedReattaches(t *testing.T) {
	spool, data := dataDir(t)
	first, err := own(t, spool, data)
	if err != nil {
		t.Fatal(err)
	}
	waitAll(t, first.svc)
	a, err := service.Attach(context.Background(), data, func(context.Context) (api.Backend, func() error, error) {
		return nil, nil, errors.New("this test never takes over")
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	first.quit(t)
	second, err := own(t, spool, data)
	if err != nil {
		t.Fatal(err)
	}
	defer second.quit(t)
	waitAll(t, second.svc)
	waitAll(t, a)
	if st, err := a.Status(context.Background()); err != nil || st.Mode != service.ModeReattached {
		t.Fatalf("status after reattaching: %+v %v", st, err)
	}
}

// TestAttachedErrorsAreSentences: when the owner is gone and the data dir
// cannot be taken over, calls fail with a sentence naming the data dir,
// not Go's transport error; the socket client alone says the collector
// does not answer (api.ErrUnavailable).
func TestAttachedErrorsAreSentences(t *testing.T) {
	spool, data := dataDir(t)
	first, err := own(t, spool, data)
	if err != nil {
		t.Fatal(err)
	}
	r, err := api.DialRemote(context.Background(), data)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	a, err := service.Attach(context.Background(), data, func(context.Context) (api.Backend, func() error, error) {
		return nil, nil, errors.New("disk on fire")
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	first.quit(t)

	_, err = r.Search(context.Background(), "", api.SearchOptions{})
	if !errors.Is(err, api.ErrUnavailable) || rawTransport(err.Error()) {
		t.Errorf("remote after the owner quit: %v", err)
	}
	_, err = a.Search(context.Background(), "", api.SearchOptions{})
	if err == nil || rawTransport(err.Error()) || !strings.Contains(err.Error(), data) || !strings.Contains(err.Error(), "disk on fire") {
		t.Errorf("attached after the owner quit, no take-over: %v", err)
	}
}
