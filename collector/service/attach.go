package service

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"

	"github.com/smtpscope/smtpscope/collector/api"
	"github.com/smtpscope/smtpscope/core"
)

// Modes of an Attached backend (api.Status.Mode, shown in the UI's status
// bar).
const (
	ModeRemote     = "remote"             // through the socket of the process that owns the data dir
	ModeReattached = "remote, reattached" // the owner changed; attached to the new one
	ModeTookOver   = "local, took over"   // the owner quit; this process runs the service now
)

// takeOverWait bounds how long Attached tries, when the owner stops
// answering, to reach a new owner or to become it (a quitting owner holds
// its locks until it has closed its store).
const takeOverWait = 15 * time.Second

// takeOverGrace is how long Attached only tries to reach a new owner
// before it may take the data dir over: a collector restarted at once
// (systemd) keeps its data dir.
const takeOverGrace = 2 * time.Second

// TakeOver opens, starts and serves the service of the data dir in this
// process; it fails with an error wrapping ErrBusy while another process
// owns the data dir. The returned close stops it.
type TakeOver func(ctx context.Context) (b api.Backend, close func() error, err error)

// Attached is the api.Backend of a client (a second UI) of a data dir
// another process owns: every call goes through that process's socket
// (api.Remote) and, when the owner stops answering (api.ErrUnavailable),
// the call attaches again to whoever owns the data dir then, or takes the
// data dir over (TakeOver: the service runs in this process from then on)
// when no one does, and is retried once. Status().Mode says which
// (ModeRemote, ModeReattached, ModeTookOver), the event stream follows the
// switch and tells it with an api.EventBackend event, and errors are
// sentences, never raw transport errors.
type Attached struct {
	data     string
	takeOver TakeOver

	mu      sync.Mutex
	cur     api.Backend
	mode    string
	owner   string        // identity (pid, start) of the owner reached through the socket
	gen     int           // bumped at every switch of backend
	changed chan struct{} // closed at every switch of backend
	closers []func() error
	remotes []*api.Remote
	closed  bool
}

// Attach attaches to the process that owns dataDir (its socket must
// answer); takeOver is how to become the owner later (nil: never).
func Attach(ctx context.Context, dataDir string, takeOver TakeOver) (*Attached, error) {
	r, err := api.DialRemote(ctx, dataDir)
	if err != nil {
		return nil, err
	}
	a := &Attached{data: dataDir, takeOver: takeOver, cur: r, mode: ModeRemote, changed: make(chan struct{}), remotes: []*api.Remote{r}}
	if st, err := r.Status(ctx); err == nil {
		a.owner = ownerID(st)
	}
	return a, nil
}

// ownerID tells apart the processes that owned the data dir in turn (the
// socket path stays the same: the client reconnects to a new owner
// without noticing, Status tells it).
func ownerID(st *api.Status) string {
	return fmt.Sprint(st.PID, " ", st.Started.UnixNano())
}

// Mode is how the data dir is reached now.
func (a *Attached) Mode() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.mode
}

// Close closes the connections and, after a take-over, the service.
func (a *Attached) Close() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return nil
	}
	a.closed = true
	var errs []error
	for _, r := range a.remotes {
		r.Close()
	}
	for _, c := range a.closers {
		errs = append(errs, c())
	}
	return errors.Join(errs...)
}

func (a *Attached) current() (api.Backend, int, chan struct{}) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.cur, a.gen, a.changed
}

func (a *Attached) switchTo(b api.Backend, mode string, closer func() error) {
	a.cur, a.mode = b, mode
	a.gen++
	if closer != nil {
		a.closers = append(a.closers, closer)
	}
	if r, ok := b.(*api.Remote); ok && !slices.Contains(a.remotes, r) {
		a.remotes = append(a.remotes, r)
	}
	close(a.changed)
	a.changed = make(chan struct{})
}

// recover replaces backend generation gen, which stopped answering: it
// attaches to the new owner or takes the data dir over. Calls that failed
// on the same generation wait for one recovery.
func (a *Attached) recover(ctx context.Context, gen int, cause error) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return cause
	}
	if a.gen != gen {
		return nil // another call already switched
	}
	start := time.Now()
	deadline := start.Add(takeOverWait)
	var last error
	for {
		dctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		r, err := api.DialRemote(dctx, a.data)
		cancel()
		if err == nil {
			if st, err := r.Status(ctx); err == nil {
				a.owner = ownerID(st)
			}
			a.switchTo(r, ModeReattached, nil)
			return nil
		}
		if a.takeOver == nil || time.Since(start) < takeOverGrace {
			last = err
		} else {
			b, closer, err := a.takeOver(ctx)
			if err == nil {
				a.switchTo(b, ModeTookOver, closer)
				return nil
			}
			last = err
			if !errors.Is(err, ErrBusy) {
				return fmt.Errorf("the collector of %s quit, and this UI could not take the data dir over: %v", a.data, err)
			}
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("the collector of %s stopped answering and no other took its place (%v); try again with ctrl+r", a.data, last)
		}
		select {
		case <-ctx.Done():
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// call runs fn on the current backend and, when the owner stopped
// answering, once more on the backend that replaced it.
func call[T any](a *Attached, ctx context.Context, fn func(api.Backend) (T, error)) (T, error) {
	b, gen, _ := a.current()
	v, err := fn(b)
	if err == nil || !errors.Is(err, api.ErrUnavailable) {
		return v, err
	}
	if rerr := a.recover(ctx, gen, err); rerr != nil {
		var zero T
		return zero, rerr
	}
	b, _, _ = a.current()
	return fn(b)
}

// Search implements api.Backend.
func (a *Attached) Search(ctx context.Context, q string, o api.SearchOptions) (*api.SearchResult, error) {
	return call(a, ctx, func(b api.Backend) (*api.SearchResult, error) { return b.Search(ctx, q, o) })
}

// Email implements api.Backend.
func (a *Attached) Email(ctx context.Context, id string) (*core.Email, error) {
	return call(a, ctx, func(b api.Backend) (*core.Email, error) { return b.Email(ctx, id) })
}

// Raw implements api.Backend.
func (a *Attached) Raw(ctx context.Context, id string) ([]byte, error) {
	return call(a, ctx, func(b api.Backend) ([]byte, error) { return b.Raw(ctx, id) })
}

// Session implements api.Backend.
func (a *Attached) Session(ctx context.Context, id string) (*core.Session, error) {
	return call(a, ctx, func(b api.Backend) (*core.Session, error) { return b.Session(ctx, id) })
}

// Attachment implements api.Backend.
func (a *Attached) Attachment(ctx context.Context, emailID, sha1 string) ([]byte, error) {
	return call(a, ctx, func(b api.Backend) ([]byte, error) { return b.Attachment(ctx, emailID, sha1) })
}

// Pcap implements api.Backend. It is retried on the new backend only
// when nothing reached w yet.
func (a *Attached) Pcap(ctx context.Context, id string, w io.Writer) (int, error) {
	cw := &countWriter{w: w}
	return call(a, ctx, func(b api.Backend) (int, error) {
		if cw.n > 0 {
			return 0, fmt.Errorf("email %s: the collector quit in the middle of the pcap; export it again", id)
		}
		return b.Pcap(ctx, id, cw)
	})
}

// countWriter counts the bytes written through it.
type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// Submissions implements api.Backend.
func (a *Attached) Submissions(ctx context.Context, id string) ([]api.SubmissionStatus, error) {
	return call(a, ctx, func(b api.Backend) ([]api.SubmissionStatus, error) { return b.Submissions(ctx, id) })
}

// Review implements api.Backend.
func (a *Attached) Review(ctx context.Context, name string) (*api.Review, error) {
	return call(a, ctx, func(b api.Backend) (*api.Review, error) { return b.Review(ctx, name) })
}

// Status implements api.Backend; Mode is the Attached mode.
func (a *Attached) Status(ctx context.Context) (*api.Status, error) {
	st, err := call(a, ctx, func(b api.Backend) (*api.Status, error) { return b.Status(ctx) })
	if st == nil {
		return st, err
	}
	a.mu.Lock()
	if _, remote := a.cur.(*api.Remote); remote && a.owner != ownerID(st) {
		// Another process owns the data dir now; the socket client
		// reached it by itself.
		a.owner = ownerID(st)
		a.switchTo(a.cur, ModeReattached, nil)
	}
	cp := *st
	cp.Mode = a.mode
	a.mu.Unlock()
	return &cp, err
}

// Resubmit implements api.Backend. A resubmission is not retried on the
// new owner: the first may have been queued before the owner went away.
func (a *Attached) Resubmit(ctx context.Context, ids []string, group string) (int, error) {
	b, gen, _ := a.current()
	n, err := b.Resubmit(ctx, ids, group)
	if err != nil && errors.Is(err, api.ErrUnavailable) {
		if rerr := a.recover(ctx, gen, err); rerr != nil {
			return n, rerr
		}
		return n, fmt.Errorf("%w; the data dir is reached again (%s): check the submissions and resubmit what is missing", err, a.Mode())
	}
	return n, err
}

// SetPaused implements api.Backend.
func (a *Attached) SetPaused(ctx context.Context, paused bool) error {
	_, err := call(a, ctx, func(b api.Backend) (struct{}, error) { return struct{}{}, b.SetPaused(ctx, paused) })
	return err
}

// Events implements api.Backend: the events of the current backend,
// following it when it is replaced, which an api.EventBackend event
// tells (State: a sentence for the status line).
func (a *Attached) Events(ctx context.Context) (<-chan api.Event, error) {
	out := make(chan api.Event, 256)
	go func() {
		defer close(out)
		for ctx.Err() == nil {
			b, _, changed := a.current()
			sctx, cancel := context.WithCancel(ctx)
			ch, err := b.Events(sctx)
			if err != nil {
				ch = nil
			}
		forward:
			for {
				select {
				case <-ctx.Done():
					cancel()
					return
				case <-changed:
					break forward
				case ev, ok := <-ch:
					if !ok {
						ch = nil // wait for a switch (a call notices the owner is gone)
						continue
					}
					select {
					case out <- ev:
					default: // a slow reader loses events, as with the others
					}
				}
			}
			cancel()
			mode := a.Mode()
			msg := "the data dir has a new owner: reattached to it"
			if mode == ModeTookOver {
				msg = "the owner of the data dir quit: this UI took it over"
			}
			select {
			case out <- api.Event{Type: api.EventBackend, Time: time.Now(), State: msg}:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out, nil
}
