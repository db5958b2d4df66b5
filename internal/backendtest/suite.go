package backendtest

import (
	"bytes"
	"context"
	"errors"
	"io"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/smtpscope/smtpscope/collector/api"
)

// Run is the backend conformance suite: the behaviours every api.Backend
// shows over the demo samples loaded with one node group, Group, and every
// email queued — the service in-process, the socket client of a served
// service, and any fake. A backend that diverges from the others fails
// here.
func Run(t *testing.T, b api.Backend) {
	for _, c := range []struct {
		name string
		fn   func(*testing.T, api.Backend)
	}{
		{"Kinds", testKinds},
		{"RowsMatchRecords", testRowsMatchRecords},
		{"Fields", testFields},
		{"FacetsNarrow", testFacetsNarrow},
		{"Sensor", testSensor},
		{"Paging", testPaging},
		{"Sorts", testSorts},
		{"Histogram", testHistogram},
		{"BadQuery", testBadQuery},
		{"IDsOnly", testIDsOnly},
		{"AsYouType", testAsYouType},
		{"Records", testRecords},
		{"NotFound", testNotFound},
		{"PcapWithoutEvidence", testPcapWithoutEvidence},
		{"Status", testStatus},
		{"ResubmitAndPause", testResubmitAndPause},
	} {
		t.Run(c.name, func(t *testing.T) { c.fn(t, b) })
	}
}

func search(t *testing.T, b api.Backend, q string, o api.SearchOptions) *api.SearchResult {
	t.Helper()
	res, err := b.Search(context.Background(), q, o)
	if err != nil {
		t.Fatalf("search %q: %v", q, err)
	}
	return res
}

func ids(rows []api.Row) []string {
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i] = r.ID
	}
	return out
}

func testKinds(t *testing.T, b api.Backend) {
	for kind, want := range map[string]uint64{"": Emails + Sessions + Reviews, api.KindEmail: Emails, api.KindSession: Sessions, api.KindReview: Reviews} {
		res := search(t, b, "", api.SearchOptions{Kind: kind})
		if res.Total != want || uint64(len(res.Rows)) != want {
			t.Errorf("kind %q: total %d, %d rows; want %d", kind, res.Total, len(res.Rows), want)
		}
		for _, r := range res.Rows {
			if kind != "" && r.Kind != kind {
				t.Errorf("kind %q: row %s of kind %q", kind, r.ID, r.Kind)
			}
		}
	}
}

// Every row (email, session without email, review entry) carries the
// collector's sensor name, and sensor: finds every one of them.
func testSensor(t *testing.T, b api.Backend) {
	all := search(t, b, "", api.SearchOptions{})
	sensors := map[string]bool{}
	for _, r := range all.Rows {
		if r.Sensor == "" {
			t.Errorf("row %s (%s) without sensor", r.ID, r.Kind)
		}
		sensors[r.Sensor] = true
	}
	if len(sensors) != 1 {
		t.Fatalf("sensors %v, want the collector's one", sensors)
	}
	for s := range sensors {
		if n := search(t, b, api.Clause(api.FieldSensor, s), api.SearchOptions{}).Total; n != all.Total {
			t.Errorf("sensor:%s finds %d of %d", s, n, all.Total)
		}
		if n := search(t, b, "-"+api.Clause(api.FieldSensor, s), api.SearchOptions{}).Total; n != 0 {
			t.Errorf("-sensor:%s finds %d", s, n)
		}
	}
}

// Every email row says what its record says (text as valid UTF-8; the
// store's JSON writes one U+FFFD per bad byte, the index one per run):
// the list never needs the store.
func testRowsMatchRecords(t *testing.T, b api.Backend) {
	u := func(s string) string {
		return replacements.ReplaceAllString(strings.ToValidUTF8(s, "\uFFFD"), "\uFFFD")
	}
	for _, r := range search(t, b, "", api.SearchOptions{Kind: api.KindEmail}).Rows {
		e, err := b.Email(context.Background(), r.ID)
		if err != nil {
			t.Fatalf("email %s: %v", r.ID, err)
		}
		yara := len(e.YARA)
		for _, a := range e.Attachments {
			yara += len(a.YARA)
		}
		want := api.Row{ID: e.ID, Kind: api.KindEmail, SourceIP: u(e.Session.SourceIP), MailFrom: u(e.Envelope.MailFrom),
			From: u(e.From), Rcpt: len(e.Envelope.RcptTo), Subject: u(e.Subject), Att: len(e.Attachments), IOC: len(e.IOCs),
			YARA: yara, Risk: len(e.Risks), Status: map[string]string{Group: api.StateQueued}, Partial: e.Partial, Size: e.Size, UID: u(e.Session.UID)}
		got := r
		got.Subject, got.From, got.MailFrom = u(got.Subject), u(got.From), u(got.MailFrom)
		if !got.Time.Equal(e.Session.Time) {
			t.Errorf("row %s: time %v, record %v", r.ID, got.Time, e.Session.Time)
		}
		got.Time = want.Time
		if got.StatusText() != want.StatusText() || got.Subject != want.Subject || got.MailFrom != want.MailFrom ||
			got.From != want.From || got.Rcpt != want.Rcpt || got.Att != want.Att || got.IOC != want.IOC ||
			got.YARA != want.YARA || got.Size != want.Size || got.UID != want.UID || got.SourceIP != want.SourceIP ||
			got.Partial != want.Partial || got.Kind != want.Kind || got.Risk != want.Risk {
			t.Errorf("row\n got %+v\nwant %+v", got, want)
		}
	}
}

// The fields of the one field table mean the same on every backend.
func testFields(t *testing.T, b api.Backend) {
	for _, c := range []struct {
		q    string
		want []string
	}{
		{"ioc:login.evil-payload.example.com", []string{"demo-phish.0"}},
		{"ioc:login[.]evil-payload[.]example[.]com", []string{"demo-phish.0"}},
		{"subject:INV-2025-1187", []string{"demo-invoice.0"}},
		{"has:attachment -has:ioc kind:email", nil},
		{"sender:news.example.org", nil},
		{"mailfrom:*@news.example.org", nil},
		{"status:queued kind:email", nil},
		{"kind:session", nil},
	} {
		res := search(t, b, c.q, api.SearchOptions{})
		if c.want != nil && !slices.Equal(ids(res.Rows), c.want) {
			t.Errorf("%s: %v, want %v", c.q, ids(res.Rows), c.want)
		}
		if res.Total == 0 {
			t.Errorf("%s: nothing", c.q)
		}
	}
	// sender: (the facet's field) and mailfrom: find the same emails here.
	s := search(t, b, "sender:news.example.org", api.SearchOptions{})
	m := search(t, b, "mailfrom:*@news.example.org", api.SearchOptions{})
	if !slices.Equal(ids(s.Rows), ids(m.Rows)) {
		t.Errorf("sender: %v, mailfrom: %v", ids(s.Rows), ids(m.Rows))
	}
	if q := search(t, b, "status:queued kind:email", api.SearchOptions{}); q.Total != Emails {
		t.Errorf("status:queued: %d emails, want %d", q.Total, Emails)
	}
}

// AsYouType makes the last word of the query a prefix too (the search
// bar's search-as-you-type); without it the query is exact.
func testAsYouType(t *testing.T, b api.Backend) {
	typed := search(t, b, "invoi", api.SearchOptions{Kind: api.KindEmail, AsYouType: true})
	if !slices.Contains(ids(typed.Rows), "demo-invoice.0") {
		t.Errorf("invoi as you type: %v, want the invoice among them", ids(typed.Rows))
	}
	if typed.Total == Emails {
		t.Errorf("invoi as you type matches every email")
	}
	if exact := search(t, b, "invoi", api.SearchOptions{Kind: api.KindEmail}); exact.Total != 0 {
		t.Errorf("exact invoi: %v, want nothing", ids(exact.Rows))
	}
	// A word followed by more is whole: only the last word is a prefix.
	if n := search(t, b, "invoi subject:INV-2025-1187", api.SearchOptions{AsYouType: true}).Total; n != 0 {
		t.Errorf("invoi followed by a clause: %d matches, want 0", n)
	}
}

// Each facet value's filter is the field clause of the one field table and
// narrows the search to exactly its count.
func testFacetsNarrow(t *testing.T, b api.Backend) {
	fields := map[string]string{"sender domain": api.FieldSender, "attachment type": api.FieldType,
		"IOC type": api.FieldIOCType, "status": api.FieldStatus, "sensor": api.FieldSensor} // sensor: only with two sensors or more
	res := search(t, b, "", api.SearchOptions{Facets: true, Kind: api.KindEmail})
	var names []string
	for _, f := range res.Facets {
		names = append(names, f.Name)
		for _, term := range f.Terms {
			if want := api.Clause(fields[f.Name], term.Term); term.Filter != want {
				t.Errorf("facet %s %q: filter %q, want %q", f.Name, term.Term, term.Filter, want)
				continue
			}
			if n := search(t, b, term.Filter, api.SearchOptions{Kind: api.KindEmail}).Total; n != uint64(term.Count) {
				t.Errorf("facet %s: %s finds %d, count %d", f.Name, term.Filter, n, term.Count)
			}
		}
	}
	if want := []string{"sender domain", "attachment type", "IOC type", "status"}; !slices.Equal(names, want) {
		t.Errorf("facets %v, want %v", names, want)
	}
}

// Pages of 2 walk every row exactly once, newest first.
func testPaging(t *testing.T, b api.Backend) {
	all := search(t, b, "", api.SearchOptions{})
	var got []string
	var after []string
	for i := 0; ; i++ {
		p := search(t, b, "", api.SearchOptions{Limit: 2, After: after})
		got = append(got, ids(p.Rows)...)
		if p.Next == nil {
			break
		}
		if i > 20 {
			t.Fatal("paging never ends")
		}
		after = p.Next
	}
	if !slices.Equal(got, ids(all.Rows)) {
		t.Errorf("paged %v\nwhole %v", got, ids(all.Rows))
	}
	for i := 1; i < len(all.Rows); i++ {
		if all.Rows[i].Time.After(all.Rows[i-1].Time) {
			t.Errorf("not newest first at %d: %v after %v", i, all.Rows[i].Time, all.Rows[i-1].Time)
		}
	}
}

// The sorts of api.Sorts work, paged too; any other is ErrSortUnsupported.
func testSorts(t *testing.T, b api.Backend) {
	o := api.SearchOptions{Kind: api.KindEmail}
	newest := ids(search(t, b, "", o).Rows)
	o.Sort = api.SortOldest
	oldest := ids(search(t, b, "", o).Rows)
	slices.Reverse(oldest)
	if !slices.Equal(newest, oldest) {
		t.Errorf("oldest first is not newest first reversed:\n%v\n%v", newest, oldest)
	}
	for _, s := range api.Sorts {
		whole := search(t, b, "", api.SearchOptions{Sort: s})
		var paged []api.Row
		var after []string
		for range 20 {
			p := search(t, b, "", api.SearchOptions{Sort: s, Limit: 3, After: after})
			paged = append(paged, p.Rows...)
			if after = p.Next; after == nil {
				break
			}
		}
		if !slices.Equal(ids(paged), ids(whole.Rows)) {
			t.Errorf("sort %s: paged %v\nwhole %v", s, ids(paged), ids(whole.Rows))
		}
	}
	bySize := search(t, b, "", api.SearchOptions{Kind: api.KindEmail, Sort: "-size"}).Rows
	for i := 1; i < len(bySize); i++ {
		if bySize[i].Size > bySize[i-1].Size {
			t.Errorf("-size: %d bytes after %d", bySize[i].Size, bySize[i-1].Size)
		}
	}
	if _, err := b.Search(context.Background(), "", api.SearchOptions{Sort: "bogus"}); !errors.Is(err, api.ErrSortUnsupported) {
		t.Errorf("sort bogus: %v, want ErrSortUnsupported", err)
	}
}

// The histogram counts every match once, in buckets of one unit in time
// order; a query narrows it.
func testHistogram(t *testing.T, b api.Backend) {
	for _, q := range []string{"", "has:ioc"} {
		res := search(t, b, q, api.SearchOptions{Limit: 1, Histogram: true})
		h := res.Histogram
		if h == nil || (h.Unit != api.UnitHour && h.Unit != api.UnitDay) || len(h.Buckets) == 0 {
			t.Fatalf("%q: histogram %+v", q, h)
		}
		step := time.Hour
		if h.Unit == api.UnitDay {
			step = 24 * time.Hour
		}
		n := h.Missing
		for i, bk := range h.Buckets {
			n += bk.Count
			if i > 0 && !bk.Start.Equal(h.Buckets[i-1].Start.Add(step)) {
				t.Errorf("%q: bucket %d starts %v after %v", q, i, bk.Start, h.Buckets[i-1].Start)
			}
		}
		if uint64(n) != res.Total {
			t.Errorf("%q: histogram counts %d of %d matches", q, n, res.Total)
		}
	}
	if res := search(t, b, "", api.SearchOptions{Limit: 1}); res.Histogram != nil {
		t.Error("a histogram not asked for")
	}
}

func testBadQuery(t *testing.T, b api.Backend) {
	_, err := b.Search(context.Background(), "subject:x bogus:1", api.SearchOptions{})
	var qe *api.QueryError
	if !errors.As(err, &qe) || qe.Col != 11 {
		t.Errorf("bad query: %v, want a QueryError at col 11", err)
	}
}

func testIDsOnly(t *testing.T, b api.Backend) {
	res := search(t, b, "", api.SearchOptions{IDsOnly: true})
	for _, r := range res.Rows {
		if r.ID == "" || r.Kind == "" || !reflect.DeepEqual(r, api.Row{ID: r.ID, Kind: r.Kind}) {
			t.Errorf("ids-only row %+v", r)
		}
	}
}

func testRecords(t *testing.T, b api.Backend) {
	ctx := context.Background()
	e, err := b.Email(ctx, "demo-phish.0")
	if err != nil || e.Subject != "Your account has been limited - action required" {
		t.Fatalf("email: %v", err)
	}
	raw, err := b.Raw(ctx, e.ID)
	if err != nil || int64(len(raw)) != e.Size {
		t.Errorf("raw: %d bytes, %v; size %d", len(raw), err, e.Size)
	}
	s, err := b.Session(ctx, e.ID)
	if err != nil || s.Info.UID != "demo-phish" || len(s.Messages) != 1 || string(s.Messages[0].Data) != string(raw) {
		t.Errorf("session of an email: %v", err)
	}
	sess := search(t, b, "", api.SearchOptions{Kind: api.KindSession}).Rows
	for _, r := range sess {
		if s, err := b.Session(ctx, r.ID); err != nil || s.Info.UID != r.UID {
			t.Errorf("session %s: %v", r.ID, err)
		}
	}
	inv, err := b.Email(ctx, "demo-invoice.0")
	if err != nil || len(inv.Attachments) == 0 {
		t.Fatalf("invoice: %v", err)
	}
	if a, err := b.Attachment(ctx, inv.ID, inv.Attachments[0].SHA1); err != nil || int64(len(a)) != inv.Attachments[0].Size {
		t.Errorf("attachment: %d bytes, %v", len(a), err)
	}
	subs, err := b.Submissions(ctx, e.ID)
	if err != nil || len(subs) != 1 || subs[0].Group != Group || subs[0].State != api.StateQueued {
		t.Errorf("submissions: %+v %v", subs, err)
	}
	rv := search(t, b, "", api.SearchOptions{Kind: api.KindReview}).Rows
	if len(rv) != 1 {
		t.Fatalf("review rows %v", rv)
	}
	if r, err := b.Review(ctx, rv[0].ID); err != nil || r.Entry.Name != "demo-garbage.session" || len(r.Data) == 0 || rv[0].Name != r.Entry.Name {
		t.Errorf("review %s: %+v %v", rv[0].ID, r, err)
	}
}

func testNotFound(t *testing.T, b api.Backend) {
	ctx := context.Background()
	for what, err := range map[string]error{
		"email":   second(b.Email(ctx, "nope.0")),
		"raw":     second(b.Raw(ctx, "nope.0")),
		"session": second(b.Session(ctx, "session/nope")),
		"review":  second(b.Review(ctx, "review/nope")),
	} {
		if !errors.Is(err, api.ErrNotFound) {
			t.Errorf("%s of an unknown id: %v, want ErrNotFound", what, err)
		}
	}
}

// The samples were not captured live with --pcap-dir: Pcap says so for
// each of their emails (ErrNoEvidence, naming the email) and writes
// nothing; an unknown id is ErrNotFound.
func testPcapWithoutEvidence(t *testing.T, b api.Backend) {
	ctx := context.Background()
	for _, r := range search(t, b, "", api.SearchOptions{Kind: api.KindEmail}).Rows {
		var buf bytes.Buffer
		n, err := b.Pcap(ctx, r.ID, &buf)
		if !errors.Is(err, api.ErrNoEvidence) || !strings.Contains(err.Error(), r.ID) || !strings.Contains(err.Error(), "names no evidence pcap") {
			t.Errorf("pcap of %s: %v, want ErrNoEvidence naming it", r.ID, err)
		}
		if n != 0 || buf.Len() != 0 {
			t.Errorf("pcap of %s: %d packets, %d bytes written", r.ID, n, buf.Len())
		}
	}
	if _, err := b.Pcap(ctx, "nope.0", io.Discard); !errors.Is(err, api.ErrNotFound) {
		t.Errorf("pcap of an unknown id: %v, want ErrNotFound", err)
	}
}

var replacements = regexp.MustCompile("\uFFFD+")

func second[T any](_ T, err error) error { return err }

func testStatus(t *testing.T, b api.Backend) {
	st, err := b.Status(context.Background())
	if err != nil || !slices.Equal(st.GroupNames(), []string{Group}) || st.Mode == "" {
		t.Errorf("status: %+v %v", st, err)
	}
}

// Resubmitting queues again and says so on the event stream; pausing
// shows in the status.
func testResubmitAndPause(t *testing.T, b api.Backend) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	evs, err := b.Events(ctx)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond) // let a remote stream connect
	n, err := b.Resubmit(ctx, []string{"demo-phish.0", "demo-invoice.0"}, Group)
	if err != nil || n != 2 {
		t.Errorf("resubmit: %d %v", n, err)
	}
	waitEvent(t, evs, api.Event{Type: api.EventSubmission, ID: "demo-phish.0", Group: Group, State: api.StateQueued})
	if subs, err := b.Submissions(ctx, "demo-phish.0"); err != nil || len(subs) != 1 || subs[0].State != api.StateQueued {
		t.Errorf("after resubmit: %+v %v", subs, err)
	}
	for _, p := range []bool{true, false} {
		if err := b.SetPaused(ctx, p); err != nil {
			t.Fatal(err)
		}
		if st, err := b.Status(ctx); err != nil || st.Paused != p {
			t.Errorf("paused %v: status %+v %v", p, st, err)
		}
	}
}

// waitEvent reads events until one of want's type, id, group and state.
func waitEvent(t *testing.T, evs <-chan api.Event, want api.Event) {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		select {
		case ev, ok := <-evs:
			if !ok {
				t.Fatalf("event stream closed before %+v", want)
			}
			if ev.Type == want.Type && ev.ID == want.ID && ev.Group == want.Group && ev.State == want.State {
				return
			}
		case <-deadline:
			t.Fatalf("no event %+v", want)
		}
	}
}
