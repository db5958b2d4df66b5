package backend

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/smtpscope/smtpscope/collector"
	"github.com/smtpscope/smtpscope/core"
	"github.com/smtpscope/smtpscope/index"
)

// ErrBusy means another process (a headless `smtpscope collect`) owns the
// data dir: attach to it with DialRemote instead.
var ErrBusy = errors.New("the data dir is in use by another process")

// ErrSortUnsupported is returned by backends that cannot sort as asked.
var ErrSortUnsupported = errors.New("sort order not supported by the index")

// IndexDir is the index directory inside a data dir.
func IndexDir(data string) string { return filepath.Join(data, "index") }

// LocalOptions configure OpenLocal.
type LocalOptions struct {
	Logger *slog.Logger
	// NoSpool runs the collector without watching the spool (serve the
	// store and deliver the queue only).
	NoSpool bool
}

// Local is the in-process backend: it owns the data dir's collector and
// index. Start runs the collector; Close stops everything.
type Local struct {
	col   *collector.Collector
	store *collector.Store
	ix    *index.Index
	log   *slog.Logger
	hub   hub

	runErr  chan error
	cancel  context.CancelFunc
	started bool
	mu      sync.Mutex
	closed  bool
}

// OpenLocal opens the data dir of cfg: its index (DATA/index) and its
// collector (with the index as its indexer). When another process holds
// either, the error wraps ErrBusy.
func OpenLocal(cfg *collector.Config, o LocalOptions) (*Local, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	ix, err := index.Open(IndexDir(cfg.Data))
	if err != nil {
		if errors.Is(err, index.ErrLocked) {
			return nil, fmt.Errorf("%w: %v", ErrBusy, err)
		}
		return nil, err
	}
	l := &Local{ix: ix, log: o.Logger, runErr: make(chan error, 1)}
	col, err := collector.New(cfg, collector.Options{Logger: o.Logger, Indexer: &Indexer{Index: ix}, NoSpool: o.NoSpool})
	if err != nil {
		ix.Close()
		if errors.Is(err, collector.ErrLocked) {
			return nil, fmt.Errorf("%w: %v", ErrBusy, err)
		}
		return nil, err
	}
	l.col, l.store = col, col.Store()
	ix.SetSource(&StoreSource{Store: l.store})
	return l, nil
}

// Collector is the in-process collector.
func (l *Local) Collector() *collector.Collector { return l.col }

// Index is the in-process index.
func (l *Local) Index() *index.Index { return l.ix }

// Start catches the index up with the store (rebuilding it after a
// mapping change) and runs the collector until ctx ends or Close.
func (l *Local) Start(ctx context.Context) {
	ctx, cancel := context.WithCancel(ctx)
	l.mu.Lock()
	l.cancel, l.started = cancel, true
	l.mu.Unlock()
	events, unsub := l.col.Subscribe(4096)
	go l.relay(ctx, events, unsub)
	go func() {
		src := &StoreSource{Store: l.store}
		var err error
		if l.ix.Stale() {
			err = l.ix.RebuildContext(ctx, src, nil)
		} else {
			_, err = l.ix.Sync(src, nil)
		}
		if err != nil && ctx.Err() == nil {
			l.log.Error("index catch-up", "err", err)
			l.hub.publish(Event{Type: EventError, Time: time.Now(), Err: "index: " + err.Error()})
		} else {
			l.hub.publish(Event{Type: EventIndexed, Time: time.Now()})
		}
	}()
	go func() { l.runErr <- l.col.Run(ctx) }()
}

// Close stops the collector (draining in-flight work) and closes the
// index.
func (l *Local) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	started := l.started
	if l.cancel != nil {
		l.cancel()
	}
	l.mu.Unlock()
	var err error
	if started {
		if e := <-l.runErr; e != nil && !errors.Is(e, context.Canceled) {
			err = e
		}
	} else {
		err = l.store.Close()
	}
	l.hub.close()
	if e := l.ix.Close(); e != nil && err == nil {
		err = e
	}
	return err
}

// relay turns collector events into UI events, indexing the documents
// the collector's Indexer hook does not cover (sessions without email,
// review entries).
func (l *Local) relay(ctx context.Context, events <-chan collector.Event, unsub func()) {
	defer unsub()
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-events:
			if !ok {
				return
			}
			if out, ok := l.translate(ev); ok {
				l.hub.publish(out)
			}
		}
	}
}

func (l *Local) translate(ev collector.Event) (Event, bool) {
	out := Event{Time: ev.Time}
	switch ev.Type {
	case collector.EventEmail:
		out.Type, out.ID = EventEmail, ev.EmailID
		if ev.Record != nil {
			subs, _ := l.store.Submissions(ev.EmailID)
			r := RowOf(ev.Record, statusMap(subs))
			out.Row = &r
		}
	case collector.EventSubmission:
		if ev.Submission == nil {
			return out, false
		}
		out.Type, out.ID, out.Group, out.State = EventSubmission, ev.Submission.EmailID, ev.Submission.Group, ev.Submission.State
	case collector.EventSession:
		out.Type = EventSession
		if ev.Session != nil && len(ev.Session.Emails) == 0 {
			if d, err := sessionDoc(l.store, ev.Session); err == nil {
				if err := l.ix.IndexSession(d); err != nil {
					l.log.Error("indexing session", "session", ev.Session.Key, "err", err)
				}
				out.ID = index.SessionDocID(d.Info.UID)
			}
		}
	case collector.EventReview:
		out.Type = EventReview
		if ev.Review != nil {
			if err := l.ix.IndexReview(index.ReviewDoc{Name: ev.Review.Name, Reason: ev.Review.Reason, Time: ev.Review.Time}); err != nil {
				l.log.Error("indexing review entry", "name", ev.Review.Name, "err", err)
			}
			out.ID = index.ReviewDocID(ev.Review.Name)
		}
	case collector.EventRemoved:
		out.Type, out.ID = EventRemoved, ev.EmailID
	case collector.EventError:
		out.Type, out.Err = EventError, ev.Err
	default:
		return out, false
	}
	if out.Time.IsZero() {
		out.Time = time.Now()
	}
	return out, true
}

func statusMap(subs []collector.SubmissionStatus) map[string]string {
	if len(subs) == 0 {
		return nil
	}
	m := make(map[string]string, len(subs))
	for _, s := range subs {
		m[s.Group] = s.State
	}
	return m
}

// Search implements Backend over the index.
func (l *Local) Search(ctx context.Context, q string, o SearchOptions) (*SearchResult, error) {
	return SearchIndex(ctx, l.ix, q, o)
}

// SearchIndex runs a UI search on an index (shared by Local and tests).
func SearchIndex(ctx context.Context, ix *index.Index, q string, o SearchOptions) (*SearchResult, error) {
	io := index.SearchOptions{Limit: o.Limit, After: o.After, Facets: o.Facets}
	switch o.Sort {
	case "", SortNewest:
	case SortOldest:
		io.Sort = index.SortOldest
	default:
		return nil, fmt.Errorf("%w: %s", ErrSortUnsupported, o.Sort)
	}
	if io.Limit <= 0 {
		io.Limit = 100
	}
	if o.Kind != "" {
		io.Kinds = []string{o.Kind}
	}
	res, err := ix.Search(ctx, q, io)
	if err != nil {
		var pe *index.ParseError
		if errors.As(err, &pe) {
			return nil, &QueryError{Col: pe.Col, Msg: pe.Msg}
		}
		return nil, err
	}
	out := &SearchResult{Total: res.Total, Took: res.Took, Rows: make([]Row, len(res.Hits))}
	for i, h := range res.Hits {
		out.Rows[i] = Row{ID: h.ID, Kind: h.Kind, Time: h.Time, SourceIP: h.SourceIP, MailFrom: h.MailFrom, From: h.From,
			Rcpt: h.RcptCount, Subject: h.Subject, Att: h.Attachments, IOC: h.IOCCount, YARA: h.YaraCount,
			Status: h.Status, Partial: h.Partial, Size: h.Size, UID: h.UID, Reason: h.Reason, Name: h.Name}
	}
	if n := len(res.Hits); n > 0 && n == io.Limit && uint64(n) < res.Total {
		out.Next = res.Hits[n-1].Sort
	}
	if o.Facets && res.Facets != nil {
		out.Facets = indexFacets(res.Facets)
	}
	return out, nil
}

// indexFacets maps the index's facets to panel sections with the query
// clause that narrows to each value.
func indexFacets(fs map[string][]index.FacetCount) []Facet {
	defs := []struct {
		key, name string
		filter    func(string) string
	}{
		// sender: and ioctype: match the facet fields exactly.
		{index.FacetSenderDomain, "sender domain", func(v string) string { return "sender:" + quoteTerm(v) }},
		{index.FacetAttachType, "attachment type", func(v string) string { return "type:" + quoteTerm(v) }},
		{index.FacetIOCType, "IOC type", func(v string) string { return "ioctype:" + quoteTerm(v) }},
		{index.FacetStatus, "status", func(v string) string { return "status:" + quoteTerm(v) }},
	}
	var out []Facet
	for _, d := range defs {
		f := Facet{Name: d.name}
		for _, c := range fs[d.key] {
			t := FacetTerm{Term: c.Term, Count: c.Count}
			if d.filter != nil {
				t.Filter = d.filter(c.Term)
			}
			f.Terms = append(f.Terms, t)
		}
		out = append(out, f)
	}
	return out
}

// Email implements Backend.
func (l *Local) Email(ctx context.Context, id string) (*core.Email, error) {
	e, err := l.store.Record(id)
	return e, notFound(err)
}

// Raw implements Backend.
func (l *Local) Raw(ctx context.Context, id string) ([]byte, error) {
	b, err := l.store.Raw(id)
	return b, notFound(err)
}

// Session implements Backend.
func (l *Local) Session(ctx context.Context, id string) (*core.Session, error) {
	return StoreSession(l.store, id)
}

// StoreSession parses again the session an email (by id) or a session
// without email ("session/<uid>") came from.
func StoreSession(st *collector.Store, id string) (*core.Session, error) {
	if uid, ok := strings.CutPrefix(id, "session/"); ok {
		var key string
		err := st.ListSessions(func(m *collector.SessionMeta) bool {
			if m.UID == uid {
				key = m.Key
				return false
			}
			return true
		})
		if err != nil {
			return nil, err
		}
		if key == "" {
			return nil, fmt.Errorf("session %q: %w", uid, ErrNotFound)
		}
		s, err := st.ParsedSession(key)
		return s, notFound(err)
	}
	m, err := st.Email(id)
	if err != nil {
		return nil, notFound(err)
	}
	if m.Session == "" {
		return nil, fmt.Errorf("email %q did not come from an SMTP session: %w", id, ErrNotFound)
	}
	s, err := st.ParsedSession(m.Session)
	return s, notFound(err)
}

// Attachment implements Backend: from the archive, else extracted from
// the raw message.
func (l *Local) Attachment(ctx context.Context, emailID, sha1 string) ([]byte, error) {
	return StoreAttachment(l.store, emailID, sha1)
}

// StoreAttachment returns an attachment's bytes from a store.
func StoreAttachment(st *collector.Store, emailID, sha1 string) ([]byte, error) {
	if b, err := st.Attachment(sha1); err == nil {
		return b, nil
	}
	raw, err := st.Raw(emailID)
	if err != nil {
		return nil, notFound(err)
	}
	return ExtractAttachment(raw, sha1)
}

// Submissions implements Backend.
func (l *Local) Submissions(ctx context.Context, id string) ([]collector.SubmissionStatus, error) {
	return l.store.Submissions(id)
}

// Review implements Backend.
func (l *Local) Review(ctx context.Context, name string) (*Review, error) {
	return StoreReview(l.store, name)
}

// StoreReview returns one review/ entry of a store.
func StoreReview(st *collector.Store, name string) (*Review, error) {
	name = strings.TrimPrefix(name, "review/")
	data, reason, err := st.ReviewFile(name)
	if err != nil {
		return nil, notFound(err)
	}
	r := &Review{Data: data, Entry: collector.ReviewEntry{Name: name, Reason: reason, Size: int64(len(data))}}
	if all, err := st.Review(); err == nil {
		for _, e := range all {
			if e.Name == name {
				r.Entry = e
			}
		}
	}
	return r, nil
}

// Status implements Backend.
func (l *Local) Status(ctx context.Context) (*Status, error) {
	st, err := l.col.Status()
	if err != nil {
		return nil, err
	}
	return &Status{Status: *st, Mode: "local"}, nil
}

// Resubmit implements Backend.
func (l *Local) Resubmit(ctx context.Context, ids []string, group string) (int, error) {
	return l.col.Resubmit(ids, group)
}

// SetPaused implements Backend.
func (l *Local) SetPaused(ctx context.Context, p bool) error {
	l.col.SetPaused(p)
	return nil
}

// Events implements Backend.
func (l *Local) Events(ctx context.Context) (<-chan Event, error) {
	return l.hub.subscribe(ctx, 1024), nil
}

func notFound(err error) error {
	if err != nil && errors.Is(err, collector.ErrNotFound) && !errors.Is(err, ErrNotFound) {
		return fmt.Errorf("%w (%v)", ErrNotFound, err)
	}
	return err
}

// hub fans events out to subscribers; a slow subscriber loses events.
type hub struct {
	mu     sync.Mutex
	subs   map[chan Event]struct{}
	closed bool
}

func (h *hub) subscribe(ctx context.Context, buf int) <-chan Event {
	c := make(chan Event, buf)
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		close(c)
		return c
	}
	if h.subs == nil {
		h.subs = map[chan Event]struct{}{}
	}
	h.subs[c] = struct{}{}
	h.mu.Unlock()
	go func() {
		<-ctx.Done()
		h.mu.Lock()
		if _, ok := h.subs[c]; ok {
			delete(h.subs, c)
			close(c)
		}
		h.mu.Unlock()
	}()
	return c
}

func (h *hub) publish(e Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for c := range h.subs {
		select {
		case c <- e:
		default:
		}
	}
}

func (h *hub) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	for c := range h.subs {
		close(c)
		delete(h.subs, c)
	}
}

// sessionDoc builds the index document of a stored session that carried
// no email.
func sessionDoc(st *collector.Store, m *collector.SessionMeta) (index.SessionDoc, error) {
	s, err := st.ParsedSession(m.Key)
	if err != nil {
		return index.SessionDoc{}, err
	}
	return index.SessionDoc{Info: s.Info, Transcript: TranscriptText(s, false), Reason: NoEmailReason(s)}, nil
}

// NoEmailReason says why a session carried no email.
func NoEmailReason(s *core.Session) string {
	var rejected, accepted, data bool
	for _, ev := range s.Events {
		if ev.Kind == core.EventServer && ev.Cmd == "RCPT" {
			if ev.Code >= 200 && ev.Code < 300 {
				accepted = true
			} else if ev.Code >= 400 {
				rejected = true
			}
		}
		if ev.Kind == core.EventClient && (ev.Cmd == "DATA" || ev.Cmd == "BDAT") {
			data = true
		}
	}
	switch {
	case s.Info.StartTLS:
		return "STARTTLS: the rest of the session is encrypted"
	case rejected && !accepted:
		return "every recipient was refused"
	case len(s.Events) == 0:
		return "empty session"
	case !data:
		return "no DATA: the client sent no message"
	}
	return "no message"
}

// TranscriptText renders a session as plain text: "C:" client lines,
// "S:" server lines and, with data, the message bytes as received. It is
// for files and the index, never for the terminal (it is not sanitized).
func TranscriptText(s *core.Session, data bool) string {
	var b strings.Builder
	si := s.Info
	fmt.Fprintf(&b, "# session %s  %s:%d -> %s:%d  %s\n", si.UID, si.SourceIP, si.SourcePort, si.DestIP, si.DestPort, si.Time.UTC().Format("2006-01-02T15:04:05Z"))
	for _, ev := range s.Events {
		switch ev.Kind {
		case core.EventClient:
			b.WriteString("C: " + ev.Cmd)
			if ev.Arg != "" {
				b.WriteString(" " + ev.Arg)
			}
			b.WriteByte('\n')
		case core.EventServer:
			fmt.Fprintf(&b, "S: %d %s\n", ev.Code, ev.Text)
		case core.EventData:
			fmt.Fprintf(&b, "-- message %d: %d bytes --\n", ev.Msg, ev.Bytes)
			if data && ev.Msg >= 0 && ev.Msg < len(s.Messages) {
				d := s.Messages[ev.Msg].Data
				b.Write(d)
				if len(d) > 0 && !bytes.HasSuffix(d, []byte("\n")) {
					b.WriteByte('\n')
				}
				b.WriteString("-- end of message --\n")
			}
		case core.EventAnomaly:
			b.WriteString("! " + ev.Text + "\n")
		}
	}
	return b.String()
}
