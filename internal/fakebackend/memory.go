// Package fakebackend is an api.Backend over records held in memory, for
// tests that need records no session file makes (fuzzed strings, any
// submission state): the UI's fuzz and safety tests and benchmarks.
// Test-only: no product code imports it. Its search is the real index's
// (a temporary one, through service.SearchIndex), so it cannot speak
// another query language; the conformance suite (internal/backendtest)
// runs on it as on every backend.
package fakebackend

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/smtpscope/smtpscope/collector/api"
	"github.com/smtpscope/smtpscope/collector/service"
	"github.com/smtpscope/smtpscope/core"
	"github.com/smtpscope/smtpscope/index"
)

// Memory is an api.Backend over records held in memory, searched through
// an index in a temporary directory.
type Memory struct {
	mu       sync.Mutex
	t        testing.TB
	ix       *index.Index
	emails   map[string]*core.Email
	raw      map[string][]byte
	sessions map[string]*core.Session // by email id and by session uid
	atts     map[string][]byte        // sha1 -> bytes
	subs     map[string]map[string]*api.SubmissionStatus
	review   map[string]*api.Review
	hunts    map[string][]string // email id -> hunts that matched it
	status   api.CollectorStatus
	groups   []string
	subsc    []chan api.Event
	// Now is the clock used for submission times (tests fix it).
	Now func() time.Time
	// Sensor is the sensor name given to what is added without one, as a
	// collector records its own (default "memory").
	Sensor string
}

// NewMemory returns an empty Memory backend with the given node groups;
// its index lives in a temporary directory of t until t ends.
func NewMemory(t testing.TB, groups ...string) *Memory {
	t.Helper()
	ix, err := index.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ix.Close() })
	m := &Memory{
		t:        t,
		ix:       ix,
		emails:   map[string]*core.Email{},
		raw:      map[string][]byte{},
		sessions: map[string]*core.Session{},
		atts:     map[string][]byte{},
		subs:     map[string]map[string]*api.SubmissionStatus{},
		review:   map[string]*api.Review{},
		hunts:    map[string][]string{},
		groups:   groups,
		Now:      time.Now,
		Sensor:   "memory",
	}
	m.status = api.CollectorStatus{Running: true, Data: "(memory)"}
	for _, g := range groups {
		m.status.Groups = append(m.status.Groups, api.GroupStatus{Name: g, Configured: true, Enabled: true, Coverage: 100, FullDelivery: true, Counts: map[string]int64{}})
	}
	return m
}

// indexEmail (re)indexes an email with its submission states; m.mu held.
func (m *Memory) indexEmail(id string) {
	e := m.emails[id]
	st := map[string]string{}
	for g, s := range m.subs[id] {
		st[g] = s.State
	}
	d := index.EmailDoc{Email: e, Status: st, Hunts: m.hunts[id]}
	if s := m.sessions[id]; s != nil {
		d.Transcript = api.TranscriptText(s, false)
		d.SessionMailFrom, d.SessionRcpt = s.TriedWithoutEmail()
	}
	if err := m.ix.IndexEmails([]index.EmailDoc{d}); err != nil {
		m.t.Errorf("fakebackend: index %s: %v", id, err)
	}
}

// SetHunts sets the hunts the status lists (the collector's [[hunt]]).
func (m *Memory) SetHunts(hunts ...api.HuntStatus) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.status.Hunts = hunts
}

// TagHunt records that hunt matched email id, as the collector's
// TagHunts does, and indexes the email again.
func (m *Memory) TagHunt(id, hunt string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.hunts[id] = append(m.hunts[id], hunt)
	m.indexEmail(id)
}

// AddSessionFiles parses session files and adds what the collector would
// store of each: its emails (with raw bytes and session), or the session
// without email, or a review entry for a file that does not parse.
func (m *Memory) AddSessionFiles(paths ...string) {
	an := core.NewAnalyzer(core.DefaultOptions())
	for _, p := range paths {
		s, err := core.ParseSessionFile(p)
		if err != nil {
			data, _ := os.ReadFile(p)
			m.AddReview(api.ReviewEntry{Name: filepath.Base(p), Reason: err.Error(), Time: m.Now(), Size: int64(len(data))}, data)
			continue
		}
		// As the store names it: relative to the data dir, not where the
		// sample lies on this machine (frames must not depend on it).
		s.Info.File = "sessions/" + filepath.Base(p)
		es := an.SessionEmails(s)
		if len(es) == 0 {
			m.AddSession(s, api.NoEmailReason(s))
		}
		for _, e := range es {
			m.AddEmail(e, s.Messages[e.Index].Data, s, nil)
		}
	}
}

// AddEmail adds an email with its raw bytes and (optional) session. Every
// configured group gets a "queued" submission.
func (m *Memory) AddEmail(e *core.Email, raw []byte, s *core.Session, atts map[string][]byte) {
	m.mu.Lock()
	if e.Sensor == "" {
		e.Sensor = m.Sensor
	}
	m.emails[e.ID] = e
	m.raw[e.ID] = raw
	if s != nil {
		m.sessions[e.ID] = s
	}
	for k, v := range atts {
		m.atts[k] = v
	}
	subs := map[string]*api.SubmissionStatus{}
	st := map[string]string{}
	for _, g := range m.groups {
		subs[g] = &api.SubmissionStatus{EmailID: e.ID, Group: g, State: api.StateQueued, Queued: m.Now()}
		st[g] = api.StateQueued
	}
	m.subs[e.ID] = subs
	m.indexEmail(e.ID)
	m.recount()
	m.mu.Unlock()
	m.publish(api.Event{Type: api.EventEmail, Time: m.Now(), ID: e.ID})
}

// AddSession adds a session that carried no email.
func (m *Memory) AddSession(s *core.Session, reason string) {
	m.mu.Lock()
	m.sessions[s.Info.UID] = s
	d := index.SessionDoc{Info: s.Info, Sensor: m.Sensor, Transcript: api.TranscriptText(s, false), Reason: reason}
	d.MailFrom, d.Rcpt = s.Attempted()
	if err := m.ix.IndexSession(d); err != nil {
		m.t.Errorf("fakebackend: index session %s: %v", s.Info.UID, err)
	}
	m.mu.Unlock()
}

// AddReview adds a review/ entry.
func (m *Memory) AddReview(e api.ReviewEntry, data []byte) {
	m.mu.Lock()
	if e.Sensor == "" {
		e.Sensor = m.Sensor
	}
	m.review[e.Name] = &api.Review{Entry: e, Data: data}
	m.status.Review = append(m.status.Review, e)
	if err := m.ix.IndexReview(index.ReviewDoc{Sensor: e.Sensor, Name: e.Name, Reason: e.Reason, Time: e.Time}); err != nil {
		m.t.Errorf("fakebackend: index review entry %s: %v", e.Name, err)
	}
	m.mu.Unlock()
}

// SetState changes the submission state of an email for a group and
// publishes the event, as a collector delivering would.
func (m *Memory) SetState(id, group, state, uuid, lastErr string) {
	m.mu.Lock()
	subs := m.subs[id]
	if subs == nil {
		m.mu.Unlock()
		return
	}
	s := subs[group]
	if s == nil {
		s = &api.SubmissionStatus{EmailID: id, Group: group, Queued: m.Now()}
		subs[group] = s
	}
	s.State, s.UUID, s.LastError = state, uuid, lastErr
	s.Updated = m.Now()
	if state != api.StateQueued {
		s.Attempts++
	}
	if state == api.StateSent {
		s.Sent = s.Updated
	}
	m.indexEmail(id)
	m.recount()
	m.mu.Unlock()
	m.publish(api.Event{Type: api.EventSubmission, Time: m.Now(), ID: id, Group: group, State: state})
}

func (m *Memory) recount() {
	depth := 0
	for gi := range m.status.Groups {
		g := &m.status.Groups[gi]
		g.Counts = map[string]int64{}
		for _, st := range api.States {
			g.Counts[st] = 0
		}
		for _, subs := range m.subs {
			if s := subs[g.Name]; s != nil {
				g.Counts[s.State]++
				if s.State == api.StateQueued || s.State == api.StateRetrying {
					depth++
				}
			}
		}
	}
	m.status.QueueDepth = depth
	m.status.Stats.Emails = int64(len(m.emails))
}

func (m *Memory) publish(e api.Event) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, c := range m.subsc {
		select {
		case c <- e:
		default:
		}
	}
}

// Search implements api.Backend with the index, as the service does.
func (m *Memory) Search(ctx context.Context, q string, o api.SearchOptions) (*api.SearchResult, error) {
	return service.SearchIndex(ctx, m.ix, q, o)
}

// Email implements api.Backend.
func (m *Memory) Email(ctx context.Context, id string) (*core.Email, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if e := m.emails[id]; e != nil {
		return e, nil
	}
	return nil, fmt.Errorf("email %q: %w", id, api.ErrNotFound)
}

// Raw implements api.Backend.
func (m *Memory) Raw(ctx context.Context, id string) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if b, ok := m.raw[id]; ok {
		return b, nil
	}
	return nil, fmt.Errorf("email %q: %w", id, api.ErrNotFound)
}

// Session implements api.Backend.
func (m *Memory) Session(ctx context.Context, id string) (*core.Session, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if s := m.sessions[strings.TrimPrefix(id, "session/")]; s != nil {
		return s, nil
	}
	return nil, fmt.Errorf("session of %q: %w", id, api.ErrNotFound)
}

// Pcap implements api.Backend: the service's own cut (service.EmailPcap)
// of the evidence pcaps the record names.
func (m *Memory) Pcap(ctx context.Context, id string, w io.Writer) (int, error) {
	m.mu.Lock()
	e := m.emails[id]
	m.mu.Unlock()
	if e == nil {
		return 0, fmt.Errorf("email %q: %w", id, api.ErrNotFound)
	}
	return service.EmailPcap(e, w)
}

// Attachment implements api.Backend.
func (m *Memory) Attachment(ctx context.Context, emailID, sha1 string) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if b, ok := m.atts[sha1]; ok {
		return b, nil
	}
	raw, ok := m.raw[emailID]
	if !ok {
		return nil, fmt.Errorf("attachment %s: %w", sha1, api.ErrNotFound)
	}
	return api.ExtractAttachment(raw, sha1)
}

// Submissions implements api.Backend.
func (m *Memory) Submissions(ctx context.Context, id string) ([]api.SubmissionStatus, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []api.SubmissionStatus
	for _, s := range m.subs[id] {
		out = append(out, *s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Group < out[j].Group })
	return out, nil
}

// api.Review implements api.Backend.
func (m *Memory) Review(ctx context.Context, name string) (*api.Review, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if r := m.review[strings.TrimPrefix(name, "review/")]; r != nil {
		return r, nil
	}
	return nil, fmt.Errorf("review entry %q: %w", name, api.ErrNotFound)
}

// Status implements api.Backend.
func (m *Memory) Status(ctx context.Context) (*api.Status, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	st := m.status
	st.Groups = append([]api.GroupStatus(nil), st.Groups...)
	return &api.Status{CollectorStatus: st, Mode: "memory"}, nil
}

// Resubmit implements api.Backend: every id is queued again (state "queued").
func (m *Memory) Resubmit(ctx context.Context, ids []string, group string) (int, error) {
	groups := m.groups
	if group != "" {
		ok := false
		for _, g := range m.groups {
			ok = ok || g == group
		}
		if !ok {
			return 0, fmt.Errorf("unknown node group %q", group)
		}
		groups = []string{group}
	}
	n := 0
	for _, id := range ids {
		m.mu.Lock()
		_, ok := m.emails[id]
		m.mu.Unlock()
		if !ok {
			continue
		}
		for _, g := range groups {
			m.SetState(id, g, api.StateQueued, "", "")
			n++
		}
	}
	return n, nil
}

// SetPaused implements api.Backend.
func (m *Memory) SetPaused(ctx context.Context, p bool) error {
	m.mu.Lock()
	m.status.Paused = p
	m.mu.Unlock()
	return nil
}

// Events implements api.Backend.
func (m *Memory) Events(ctx context.Context) (<-chan api.Event, error) {
	c := make(chan api.Event, 256)
	m.mu.Lock()
	m.subsc = append(m.subsc, c)
	m.mu.Unlock()
	out := make(chan api.Event, 256)
	go func() {
		defer close(out)
		defer func() {
			m.mu.Lock()
			for i, s := range m.subsc {
				if s == c {
					m.subsc = append(m.subsc[:i], m.subsc[i+1:]...)
					break
				}
			}
			m.mu.Unlock()
		}()
		for {
			select {
			case <-ctx.Done():
				return
			case e := <-c:
				select {
				case out <- e:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return out, nil
}
