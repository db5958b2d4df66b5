// Package fakebackend is an api.Backend over records held in memory, for
// the UI's tests and fixtures. Test-only: no product code imports it.
package fakebackend

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/smtpscope/smtpscope/collector/api"
	"github.com/smtpscope/smtpscope/core"
)

// Memory is a api.Backend over records held in memory. Its search understands
// a small subset of the query language (bare words, field:value with
// substring match, has:, is:, status:, group:, negation with -): enough for
// tests and fixtures, not a replacement for the index.
type Memory struct {
	mu       sync.Mutex
	emails   map[string]*core.Email
	raw      map[string][]byte
	sessions map[string]*core.Session // by email id and by session uid
	atts     map[string][]byte        // sha1 -> bytes
	rows     []api.Row                // newest first
	subs     map[string]map[string]*api.SubmissionStatus
	review   map[string]*api.Review
	status   api.CollectorStatus
	groups   []string
	subsc    []chan api.Event
	// Now is the clock used for submission times (tests fix it).
	Now func() time.Time
}

// NewMemory returns an empty Memory backend with the given node groups.
func NewMemory(groups ...string) *Memory {
	m := &Memory{
		emails:   map[string]*core.Email{},
		raw:      map[string][]byte{},
		sessions: map[string]*core.Session{},
		atts:     map[string][]byte{},
		subs:     map[string]map[string]*api.SubmissionStatus{},
		review:   map[string]*api.Review{},
		groups:   groups,
		Now:      time.Now,
	}
	m.status = api.CollectorStatus{Running: true, Data: "(memory)"}
	for _, g := range groups {
		m.status.Groups = append(m.status.Groups, api.GroupStatus{Name: g, Configured: true, Enabled: true, Coverage: 100, FullDelivery: true, Counts: map[string]int64{}})
	}
	return m
}

// RowOf builds the list row of an email with its submission states.
func RowOf(e *core.Email, status map[string]string) api.Row {
	yara := len(e.YARA)
	for _, a := range e.Attachments {
		yara += len(a.YARA)
	}
	from := e.From
	return api.Row{
		ID: e.ID, Kind: api.KindEmail, Time: e.Session.Time, SourceIP: e.Session.SourceIP,
		MailFrom: e.Envelope.MailFrom, From: from, Rcpt: len(e.Envelope.RcptTo), Subject: e.Subject,
		Att: len(e.Attachments), IOC: len(e.IOCs), YARA: yara, Status: status, Partial: e.Partial,
		Size: e.Size, UID: e.Session.UID,
	}
}

// AddEmail adds an email with its raw bytes and (optional) session. Every
// configured group gets a "queued" submission.
func (m *Memory) AddEmail(e *core.Email, raw []byte, s *core.Session, atts map[string][]byte) {
	m.mu.Lock()
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
	r := RowOf(e, st)
	m.rows = append(m.rows, r)
	sortRows(m.rows)
	m.recount()
	m.mu.Unlock()
	m.publish(api.Event{Type: api.EventEmail, Time: m.Now(), ID: e.ID})
}

// AddSession adds a session that carried no email.
func (m *Memory) AddSession(s *core.Session, reason string) {
	m.mu.Lock()
	m.sessions[s.Info.UID] = s
	m.rows = append(m.rows, api.Row{ID: "session/" + s.Info.UID, Kind: api.KindSession, Time: s.Info.Time, SourceIP: s.Info.SourceIP, UID: s.Info.UID, Reason: reason})
	sortRows(m.rows)
	m.mu.Unlock()
}

// AddReview adds a review/ entry.
func (m *Memory) AddReview(e api.ReviewEntry, data []byte) {
	m.mu.Lock()
	m.review[e.Name] = &api.Review{Entry: e, Data: data}
	m.status.Review = append(m.status.Review, e)
	m.rows = append(m.rows, api.Row{ID: "review/" + e.Name, Kind: api.KindReview, Time: e.Time, Name: e.Name, Reason: e.Reason, Size: e.Size})
	sortRows(m.rows)
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
	for i := range m.rows {
		if m.rows[i].ID == id {
			st := map[string]string{}
			for k, v := range m.rows[i].Status {
				st[k] = v
			}
			st[group] = state
			m.rows[i].Status = st
		}
	}
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

func sortRows(rows []api.Row) {
	sort.SliceStable(rows, func(i, j int) bool {
		if !rows[i].Time.Equal(rows[j].Time) {
			return rows[i].Time.After(rows[j].Time)
		}
		return rows[i].ID < rows[j].ID
	})
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

// Search implements api.Backend.
func (m *Memory) Search(ctx context.Context, q string, o api.SearchOptions) (*api.SearchResult, error) {
	start := time.Now()
	match, err := memQuery(q)
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	var hits []api.Row
	for _, r := range m.rows {
		if o.Kind != "" && r.Kind != o.Kind {
			continue
		}
		if match(r, m.emails[r.ID]) {
			hits = append(hits, r)
		}
	}
	m.mu.Unlock()
	switch o.Sort {
	case api.SortOldest:
		for i, j := 0, len(hits)-1; i < j; i, j = i+1, j-1 {
			hits[i], hits[j] = hits[j], hits[i]
		}
	}
	res := &api.SearchResult{Total: uint64(len(hits))}
	if o.Facets {
		res.Facets = m.facets(hits)
	}
	off := 0
	if len(o.After) == 1 {
		off, _ = strconv.Atoi(o.After[0])
	}
	limit := o.Limit
	if limit <= 0 {
		limit = 100
	}
	if off > len(hits) {
		off = len(hits)
	}
	end := min(off+limit, len(hits))
	res.Rows = append([]api.Row(nil), hits[off:end]...)
	if o.IDsOnly {
		for i := range res.Rows {
			res.Rows[i] = api.Row{ID: res.Rows[i].ID, Kind: res.Rows[i].Kind}
		}
	}
	if end < len(hits) {
		res.Next = []string{strconv.Itoa(end)}
	}
	res.Took = time.Since(start)
	return res, nil
}

func (m *Memory) facets(hits []api.Row) []api.Facet {
	dom, typ, ioc, st := map[string]int{}, map[string]int{}, map[string]int{}, map[string]int{}
	m.mu.Lock()
	for _, r := range hits {
		e := m.emails[r.ID]
		if e == nil {
			continue
		}
		if i := strings.LastIndexByte(e.Envelope.MailFrom, '@'); i >= 0 {
			dom[e.Envelope.MailFrom[i+1:]]++
		}
		seen := map[string]bool{}
		for _, a := range e.Attachments {
			if !seen[a.DetectedType] && a.DetectedType != "" {
				typ[a.DetectedType]++
				seen[a.DetectedType] = true
			}
		}
		seen = map[string]bool{}
		for _, i := range e.IOCs {
			if !seen[i.Type] {
				ioc[i.Type]++
				seen[i.Type] = true
			}
		}
		seen = map[string]bool{}
		for _, s := range r.Status {
			if !seen[s] {
				st[s]++
				seen[s] = true
			}
		}
	}
	m.mu.Unlock()
	mk := func(name, field string, c map[string]int) api.Facet {
		f := api.Facet{Name: name}
		for k, v := range c {
			f.Terms = append(f.Terms, api.FacetTerm{Term: k, Count: v, Filter: field + ":" + api.QuoteTerm(k)})
		}
		sort.Slice(f.Terms, func(i, j int) bool {
			if f.Terms[i].Count != f.Terms[j].Count {
				return f.Terms[i].Count > f.Terms[j].Count
			}
			return f.Terms[i].Term < f.Terms[j].Term
		})
		return f
	}
	return []api.Facet{mk("sender domain", "mailfrom", dom), mk("attachment type", "type", typ), mk("IOC type", "ioctype", ioc), mk("status", "status", st)}
}

// quoteTerm quotes a facet value for the query language when needed.

// memWord is a word of a query and its 1-based column in characters (an
// invalid byte counts as one), the unit api.QueryError.Col is in.
type memWord struct {
	text string
	col  int
}

// memWords splits q at white space as strings.Fields does, keeping each
// word's column. (Searching for the word again would not do: a word can
// also occur inside the bytes of a multi-byte space before it.)
func memWords(q string) []memWord {
	var words []memWord
	start, col, startCol := -1, 0, 0
	for i, r := range q {
		col++
		switch {
		case unicode.IsSpace(r) && start >= 0:
			words = append(words, memWord{q[start:i], startCol})
			start = -1
		case !unicode.IsSpace(r) && start < 0:
			start, startCol = i, col
		}
	}
	if start >= 0 {
		words = append(words, memWord{q[start:], startCol})
	}
	return words
}

// memQuery compiles the small query subset Memory understands.
func memQuery(q string) (func(api.Row, *core.Email) bool, error) {
	type clause struct {
		neg          bool
		field, value string
	}
	var cls []clause
	for _, w := range memWords(q) {
		f, col := w.text, w.col
		c := clause{}
		if strings.HasPrefix(f, "-") && len(f) > 1 {
			c.neg, f, col = true, f[1:], col+1
		}
		if name, v, ok := strings.Cut(f, ":"); ok {
			switch name {
			case "from", "mailfrom", "subject", "ip", "ioc", "status", "group", "has", "is", "type", "ioctype", "uid", "filename":
			default:
				return nil, &api.QueryError{Col: col, Msg: fmt.Sprintf("unknown field %q", name)}
			}
			if v == "" {
				return nil, &api.QueryError{Col: col + utf8.RuneCountInString(name) + 1, Msg: fmt.Sprintf("%s: needs a value", name)}
			}
			c.field, c.value = name, strings.ToLower(strings.Trim(v, `"`))
		} else {
			c.value = strings.ToLower(f)
		}
		cls = append(cls, c)
	}
	has := func(s, v string) bool { return strings.Contains(strings.ToLower(s), v) }
	one := func(c clause, r api.Row, e *core.Email) bool {
		switch c.field {
		case "":
			if has(r.Subject, c.value) || has(r.MailFrom, c.value) || has(r.From, c.value) || has(r.Reason, c.value) || has(r.Name, c.value) {
				return true
			}
			if e != nil && (has(e.BodyText, c.value) || has(e.BodyHTML, c.value)) {
				return true
			}
		case "from":
			return has(r.From, c.value)
		case "mailfrom":
			return has(r.MailFrom, c.value)
		case "subject":
			return has(r.Subject, c.value)
		case "ip":
			return has(r.SourceIP, c.value)
		case "uid":
			return has(r.UID, c.value)
		case "status":
			for _, s := range r.Status {
				if s == c.value {
					return true
				}
			}
		case "group":
			_, ok := r.Status[c.value]
			return ok
		case "has":
			switch c.value {
			case "attachment":
				return r.Att > 0
			case "ioc":
				return r.IOC > 0
			case "yara":
				return r.YARA > 0
			}
		case "is":
			switch c.value {
			case "partial":
				return r.Partial
			case "session":
				return r.Kind == api.KindSession
			case "review":
				return r.Kind == api.KindReview
			case "email":
				return r.Kind == api.KindEmail
			}
		}
		if e == nil {
			return false
		}
		switch c.field {
		case "ioc":
			for _, i := range e.IOCs {
				if has(i.Value, c.value) {
					return true
				}
			}
		case "ioctype":
			for _, i := range e.IOCs {
				if i.Type == c.value {
					return true
				}
			}
		case "type":
			for _, a := range e.Attachments {
				if has(a.DetectedType, c.value) {
					return true
				}
			}
		case "filename":
			for _, a := range e.Attachments {
				if has(a.Filename, strings.Trim(c.value, "*")) {
					return true
				}
			}
		}
		return false
	}
	return func(r api.Row, e *core.Email) bool {
		for _, c := range cls {
			if one(c, r, e) == c.neg {
				return false
			}
		}
		return true
	}, nil
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
