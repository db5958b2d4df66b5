package index

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"runtime/debug"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/smtpscope/smtpscope/collector/api"
	"github.com/smtpscope/smtpscope/core"
)

func openTest(t testing.TB) *Index {
	t.Helper()
	ix, err := Open(filepath.Join(t.TempDir(), "index"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ix.Close() })
	return ix
}

// openLoaded opens (makes) the index in dir and loads the fixture f
// into it; the caller closes it, to open dir again.
func openLoaded(t testing.TB, dir string, f *fixture) *Index {
	t.Helper()
	ix, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	f.load(t, ix)
	return ix
}

func ids(t testing.TB, ix *Index, q string) []string {
	t.Helper()
	res, err := ix.Search(context.Background(), q, SearchOptions{Limit: 100})
	if err != nil {
		t.Fatalf("search %q: %v", q, err)
	}
	out := []string{}
	for _, h := range res.Hits {
		out = append(out, h.ID)
	}
	if int(res.Total) != len(out) {
		t.Errorf("search %q: total %d, %d hits", q, res.Total, len(out))
	}
	return out
}

// all fixture documents, newest first.
var allNewestFirst = []string{"s1.0", "review/bad-session-123", "session/CsessX", "session/CsessY", "s2.0", "s3.0", "eml-abcdef"}

// fixtureQueries: query -> expected document IDs, newest first.
var fixtureQueries = []struct {
	q    string
	want []string
}{
	{"", allNewestFirst},
	// from: to: cc: mailfrom: rcpt:
	{"from:bob@evil.example", []string{"s1.0"}},
	{"from:evil.example", []string{"s1.0"}},
	{"from:@evil.example", []string{"s1.0"}},
	{"from:bob", []string{"s1.0"}},
	{"from:BOB@EVIL.EXAMPLE", []string{"s1.0"}},
	{"from:shop", []string{"s2.0"}},
	{`from:"it support"`, []string{"eml-abcdef"}},
	{"from:*@corp*", []string{"s3.0", "eml-abcdef"}},
	{"to:alice@corp.example", []string{"s1.0", "s2.0", "eml-abcdef"}},
	{"to:dave", []string{"s2.0"}},
	{"cc:carol@corp.example", []string{"s1.0"}},
	{"cc:carol", []string{"s1.0"}},
	{"mailfrom:alice@corp.example", []string{"s3.0"}},
	{"mailfrom:evil.example", []string{"s1.0"}},
	{"rcpt:dave@corp.example", []string{"s2.0"}},
	{"rcpt:carol@corp.example", []string{"s1.0"}},
	// subject:
	{"subject:invoice", []string{"s1.0"}},
	{"subject:INVOICE", []string{"s1.0"}},
	{`subject:"overdue payment"`, []string{"s1.0"}},
	{`subject:"payment overdue"`, []string{}},
	{"subject:news*", []string{"s2.0"}},
	// helo: msgid: uid:
	{"helo:mail.evil.example", []string{"s1.0"}},
	{"helo:bulk.example", []string{"session/CsessX"}},
	{"msgid:abc123@evil.example", []string{"s1.0"}},
	{"msgid:<abc123@evil.example>", []string{"s1.0"}},
	{"uid:s1", []string{"s1.0"}},
	{"uid:CsessX", []string{"session/CsessX"}},
	// cid: the Community ID of s1's 203.0.113.5:40000 -> 192.0.2.25:25
	// (core.CommunityID; the fixture stores none: computed at indexing)
	{"cid:1:OEUzyb3tyl0MUjkJRb7GdeB9dCI=", []string{"s1.0"}},
	{"cid:OEUzyb3tyl0MUjkJRb7GdeB9dCI=", []string{"s1.0"}},
	{`cid:"1:OEUzyb3tyl0MUjkJRb7GdeB9dCI="`, []string{"s1.0"}},
	{"cid:1:wCb3OG7yAFWelaUydu0D+125CLM=", []string{}},
	{"id:s2.0", []string{"s2.0"}},
	// ip:
	{"ip:203.0.113.5", []string{"s1.0"}},
	{"ip:192.0.2.44", []string{"s2.0"}},
	{"ip:2001:db8::25", []string{"s3.0"}},
	{"ip:2001:0db8:0:0:0:0:0:25", []string{"s3.0"}},
	{"ip:203.0.113.0/24", []string{"s1.0", "s3.0"}},
	{"ip:203.0.113.*", []string{"s1.0", "s3.0"}},
	{"ip:192.0.2.99", []string{"session/CsessX"}},
	{"ip:192.0.2[.]44", []string{"s2.0"}},
	// domain:
	{"domain:evil.example", []string{"s1.0"}},
	{"domain:pay.evil.example", []string{"s1.0"}},
	{"domain:corp.example", []string{"s1.0", "s2.0", "s3.0", "eml-abcdef"}},
	{"domain:corp-support.example", []string{"eml-abcdef"}},
	{"domain:partner.example", []string{"s3.0"}},
	{"domain:bulk.example", []string{"session/CsessX"}},
	// url:
	{"url:pay.evil.example", []string{"s1.0"}},
	{"url:pay.evil.example/login", []string{"s1.0"}},
	{"url:https://corp-support.example", []string{"eml-abcdef"}},
	{"url:*login*", []string{"s1.0"}},
	{"url:hxxp://pay[.]evil[.]example", []string{"s1.0"}},
	// ioc: refanged
	{"ioc:pay[.]evil[.]example", []string{"s1.0"}},
	{"ioc:pay.evil.example", []string{"s1.0"}},
	{"ioc:hxxp://pay[.]evil[.]example/login", []string{"s1.0"}},
	{"ioc:*evil*/login", []string{"s1.0"}},                         // a glob over URL IOCs
	{"ioc:https://corp-support.example/*", []string{"eml-abcdef"}}, // and another
	{`"http://pay.evil.example/login"`, []string{"s1.0"}},          // a quoted URL, bare
	{"http://pay.evil.example/login", []string{"s1.0"}},            // a bare URL
	{"ioc:192.0.2.44", []string{"s2.0"}},
	{"ioc:192[.]0[.]2[.]44", []string{"s2.0"}},
	{"ioc:" + iocSHA256, []string{"eml-abcdef"}},
	{"ioc:corp-support.example", []string{"eml-abcdef"}},
	// hash:
	{"hash:" + attMD5, []string{"s1.0"}},
	{"hash:" + strings.ToUpper(attMD5), []string{"s1.0"}},
	{"hash:2222222222222222222222222222222222222222", []string{"s1.0"}},
	{"hash:" + e3SHA256, []string{"s3.0"}},
	{"hash:11111111111111111111111111111111", []string{"s1.0"}},
	{"hash:" + iocSHA256, []string{}},
	// filename:
	{"filename:*.exe", []string{"s1.0"}},
	{"filename:*.EXE", []string{"s1.0"}},
	{"filename:*.docx", []string{"s2.0"}},
	{"filename:invoice.pdf.exe", []string{"s1.0"}},
	{"filename:invoice", []string{"s1.0"}},
	{"filename:report*", []string{"s2.0"}},
	{"filename:*.pdf*", []string{"s1.0"}},
	{"filename:bad-session-123", []string{"review/bad-session-123"}},
	// type:
	{"type:application/zip", []string{"eml-abcdef"}},
	{"type:zip", []string{"eml-abcdef"}},
	{"type:dosexec", []string{"s1.0"}},
	{"type:application/pdf", []string{"s1.0"}},
	{"type:*wordprocessing*", []string{"s2.0"}},
	// yara:
	{"yara:win_trojan_x", []string{"s1.0"}},
	{"yara:Win_Trojan_X", []string{"s1.0"}},
	{"yara:mal:win_trojan_x", []string{"s1.0"}},
	{"yara:win_*", []string{"s1.0"}},
	// status: group:
	{"status:sent", []string{"s1.0"}},
	{"status:failed", []string{"s2.0"}},
	{"status:queued", []string{"s2.0"}},
	{"status:retrying", []string{"s3.0"}},
	{"status:prod:failed", []string{"s2.0"}},
	{"status:lab:failed", []string{}},
	{"group:lab", []string{"s2.0"}},
	{"group:prod", []string{"s1.0", "s2.0", "s3.0"}},
	// flags
	{"has:attachment", []string{"s1.0", "s2.0", "eml-abcdef"}},
	{"has:ioc", []string{"s1.0", "s2.0", "eml-abcdef"}},
	{"has:yara", []string{"s1.0"}},
	{"has:url", []string{"s1.0", "eml-abcdef"}},
	{"has:ipv4", []string{"s2.0"}},
	{"has:ipv4 OR has:yara", []string{"s1.0", "s2.0"}},
	{"has:encrypted", []string{"eml-abcdef"}},
	{"is:partial", []string{"s2.0"}},
	{"sender:evil.example", []string{"s1.0"}},
	{"sender:corp-support.example", []string{"eml-abcdef"}},
	// sensor: on emails, sessions without email and review entries
	{"sensor:dmz-1", []string{"s1.0", "session/CsessX", "s2.0"}},
	{"sensor:EDGE_2", []string{"review/bad-session-123", "s3.0"}},
	{"sensor:dmz*", []string{"s1.0", "session/CsessX", "s2.0"}},
	{"-sensor:dmz-1 kind:email", []string{"s3.0", "eml-abcdef"}},
	{"ioctype:sha256", []string{"eml-abcdef"}},
	{"ioctype:url", []string{"s1.0", "eml-abcdef"}},
	{"is:starttls", []string{"s1.0", "session/CsessY"}},
	{"is:rejected", []string{"session/CsessX"}},
	{"is:session", []string{"session/CsessX", "session/CsessY"}},
	{"kind:review", []string{"review/bad-session-123"}},
	// ranges
	{"after:2026-01-01", []string{"s1.0", "review/bad-session-123", "session/CsessX", "session/CsessY", "s2.0"}},
	{"before:2026-01-01", []string{"s3.0", "eml-abcdef"}},
	{"after:2026-01-06 before:2026-01-09", []string{"session/CsessX", "session/CsessY"}},
	{"after:2026-01-10T12:00:00Z", []string{"s1.0"}},
	{"before:2026-01-10T12:00:00Z after:2026-01-09", []string{"review/bad-session-123"}},
	{"larger:2M", []string{"s1.0"}},
	{"larger:3M", []string{}},
	{"smaller:10K", []string{"s3.0", "eml-abcdef"}},
	{"larger:4k smaller:1mb", []string{"s2.0", "eml-abcdef"}},
	// bare words and phrases
	{"invoice", []string{"s1.0"}},
	{"Invoice PAYMENT", []string{"s1.0"}},
	{"password", []string{"eml-abcdef"}},
	{"shoes", []string{"s2.0"}},
	{"blocked", []string{"session/CsessX"}},
	{"truncated", []string{"review/bad-session-123"}},
	{`"blocked by policy"`, []string{"session/CsessX"}},
	{`"policy by blocked"`, []string{}},
	{`"reset your password"`, []string{"eml-abcdef"}},
	{"the invoice", []string{"s1.0"}},
	{"invoi*", []string{"s1.0"}},
	{"203.0.113.5", []string{"s1.0"}},
	{"bob@evil.example", []string{"s1.0"}},
	{"evil[.]example", []string{"s1.0"}},
	{attMD5, []string{"s1.0"}},
	{"report", []string{"s2.0"}},
	// boolean structure
	{"from:bob OR from:shop", []string{"s1.0", "s2.0"}},
	{"has:attachment AND status:failed", []string{"s2.0"}},
	{"has:attachment status:failed", []string{"s2.0"}},
	{"has:attachment -status:sent", []string{"s2.0", "eml-abcdef"}},
	{"has:attachment NOT status:sent", []string{"s2.0", "eml-abcdef"}},
	{"-kind:email", []string{"review/bad-session-123", "session/CsessX", "session/CsessY"}},
	{"-has:attachment kind:email", []string{"s3.0"}},
	{"(from:bob OR from:shop) -is:partial", []string{"s1.0"}},
	{"has:attachment (type:zip OR filename:*.exe)", []string{"s1.0", "eml-abcdef"}},
	{"-(has:attachment OR kind:session OR kind:review)", []string{"s3.0"}},
	{"kind:email -(-is:partial)", []string{"s2.0"}},
	{"from:(bob OR shop)", []string{"s1.0", "s2.0"}},
	{"is:starttls OR status:failed OR kind:review", []string{"s1.0", "review/bad-session-123", "session/CsessY", "s2.0"}},
	{"status:sent OR status:failed has:attachment", []string{"s1.0", "s2.0"}},
	{"(status:sent OR status:failed) -has:yara", []string{"s2.0"}},
	{"a OR b OR invoice", []string{"s1.0"}},
}

func TestFilters(t *testing.T) {
	ix := openTest(t)
	newFixture().load(t, ix)
	for _, tc := range fixtureQueries {
		got := ids(t, ix, tc.q)
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%-40q got %v, want %v", tc.q, got, tc.want)
		}
	}
}

func TestHitsCarryListFields(t *testing.T) {
	ix := openTest(t)
	newFixture().load(t, ix)
	res, err := ix.Search(context.Background(), "id:s1.0", SearchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Hits) != 1 {
		t.Fatalf("hits %v", res.Hits)
	}
	h := res.Hits[0]
	want := Hit{Row: api.Row{ID: "s1.0", Kind: KindEmail, Time: day("2026-01-10T12:00:00Z"), SourceIP: "203.0.113.5",
		MailFrom: "bob@evil.example", From: "Bob Evil <bob@evil.example>", Rcpt: 2, Subject: "Invoice overdue payment",
		Att: 1, IOC: 2, YARA: 1, Status: map[string]string{"prod": "sent"}, Size: 3 << 20, UID: "s1", Sensor: "dmz-1"},
		Sort: []string{sortKey(day("2026-01-10T12:00:00Z")) + "s1.0"}}
	if !reflect.DeepEqual(h, want) {
		t.Errorf("hit\n got %+v\nwant %+v", h, want)
	}
	if h.StatusText() != "sent" {
		t.Errorf("StatusText %q", h.StatusText())
	}
	res, _ = ix.Search(context.Background(), "id:s2.0", SearchOptions{})
	if got := res.Hits[0].StatusText(); got != "lab:queued prod:failed" {
		t.Errorf("StatusText %q", got)
	}
	res, _ = ix.Search(context.Background(), "kind:session is:rejected", SearchOptions{})
	if h := res.Hits[0]; h.Kind != KindSession || h.UID != "CsessX" || h.Reason != "rejected" || h.SourceIP != "192.0.2.99" {
		t.Errorf("session hit %+v", h)
	}
	res, _ = ix.Search(context.Background(), "", SearchOptions{Kinds: []string{KindReview}})
	if len(res.Hits) != 1 || res.Hits[0].Name != "bad-session-123" || res.Hits[0].Reason == "" {
		t.Errorf("review hits %+v", res.Hits)
	}
	// eml without session time: listed by its Date header.
	res, _ = ix.Search(context.Background(), "id:eml-abcdef", SearchOptions{})
	if h := res.Hits[0]; !h.Time.Equal(day("2025-11-01T10:00:00Z")) {
		t.Errorf("eml time %v", h.Time)
	}
}

func TestKindsOption(t *testing.T) {
	ix := openTest(t)
	newFixture().load(t, ix)
	res, err := ix.Search(context.Background(), "", SearchOptions{Kinds: []string{KindSession, KindReview}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Total != 3 {
		t.Errorf("total %d, want 3", res.Total)
	}
}

func TestSearchAfterPaging(t *testing.T) {
	ix := openTest(t)
	f := newFixture()
	f.load(t, ix)
	var got []string
	var after []string
	for page := 0; page < 10; page++ {
		res, err := ix.Search(context.Background(), "", SearchOptions{Limit: 2, After: after})
		if err != nil {
			t.Fatal(err)
		}
		if res.Total != uint64(len(allNewestFirst)) {
			t.Fatalf("page %d total %d", page, res.Total)
		}
		if len(res.Hits) == 0 {
			break
		}
		for _, h := range res.Hits {
			got = append(got, h.ID)
		}
		after = res.Hits[len(res.Hits)-1].Sort
	}
	if !reflect.DeepEqual(got, allNewestFirst) {
		t.Errorf("paged %v\nwant %v", got, allNewestFirst)
	}
	// Same time for several docs: the ID breaks ties, paging stays exact.
	ix2 := openTest(t)
	var docs []EmailDoc
	base := f.emails[2]
	for i := 0; i < 25; i++ {
		e := *base.Email
		e.ID = "tie." + string(rune('a'+i))
		docs = append(docs, EmailDoc{Email: &e})
	}
	if err := ix2.IndexEmails(docs); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	after = nil
	for {
		res, err := ix2.Search(context.Background(), "", SearchOptions{Limit: 4, After: after})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Hits) == 0 {
			break
		}
		for _, h := range res.Hits {
			if seen[h.ID] {
				t.Fatalf("%s seen twice", h.ID)
			}
			seen[h.ID] = true
		}
		after = res.Hits[len(res.Hits)-1].Sort
	}
	if len(seen) != 25 {
		t.Errorf("paged through %d of 25", len(seen))
	}
	if _, err := ix2.Search(context.Background(), "", SearchOptions{After: []string{"garbage"}}); err == nil {
		t.Error("bad After accepted")
	}
}

func TestSortOldest(t *testing.T) {
	ix := openTest(t)
	newFixture().load(t, ix)
	var got []string
	var after []string
	for {
		res, err := ix.Search(context.Background(), "", SearchOptions{Limit: 3, After: after, Sort: SortOldest})
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range res.Hits {
			got = append(got, h.ID)
		}
		if len(res.Hits) < 3 {
			break
		}
		after = res.Hits[len(res.Hits)-1].Sort
	}
	want := append([]string(nil), allNewestFirst...)
	slices.Reverse(want)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("oldest first: %v, want %v", got, want)
	}
	if _, err := ix.Search(context.Background(), "", SearchOptions{Sort: "bogus"}); err == nil {
		t.Error("unknown sort accepted")
	}
}

func TestFacets(t *testing.T) {
	ix := openTest(t)
	newFixture().load(t, ix)
	res, err := ix.Search(context.Background(), "kind:email", SearchOptions{Facets: true, Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]FacetCount{
		FacetSenderDomain: {{"corp-support.example", 1}, {"corp.example", 1}, {"evil.example", 1}, {"shop.example", 1}},
		FacetAttachType: {{"application/vnd.openxmlformats-officedocument.wordprocessingml.document", 1},
			{"application/x-dosexec", 1}, {"application/zip", 1}},
		FacetIOCType: {{"url", 2}, {"domain", 1}, {"ipv4", 1}, {"sha256", 1}},
		FacetStatus:  {{"failed", 1}, {"queued", 1}, {"retrying", 1}, {"sent", 1}},
		FacetSensor:  {{"dmz-1", 2}, {"edge_2", 1}},
	}
	if !reflect.DeepEqual(res.Facets, want) {
		t.Errorf("facets\n got %v\nwant %v", res.Facets, want)
	}
	res, _ = ix.Search(context.Background(), "has:attachment", SearchOptions{Facets: true})
	if got := res.Facets[FacetStatus]; !reflect.DeepEqual(got, []FacetCount{{"failed", 1}, {"queued", 1}, {"sent", 1}}) {
		t.Errorf("status facet over has:attachment: %v", got)
	}
}

func TestUpdateStatusAndDelete(t *testing.T) {
	ix := openTest(t)
	f := newFixture()
	f.load(t, ix)
	src := f.source()
	if err := ix.UpdateStatus("s2.0", map[string]string{"prod": "sent"}); err == nil {
		t.Error("UpdateStatus without a source succeeded")
	}
	ix.SetSource(src)
	if err := ix.UpdateStatus("s2.0", map[string]string{"prod": "sent", "lab": "sent"}); err != nil {
		t.Fatal(err)
	}
	if got := ids(t, ix, "status:sent"); !reflect.DeepEqual(got, []string{"s1.0", "s2.0"}) {
		t.Errorf("after update: status:sent %v", got)
	}
	if got := ids(t, ix, "status:failed"); len(got) != 0 {
		t.Errorf("after update: status:failed %v", got)
	}
	if err := ix.UpdateStatus("nope", nil); err == nil {
		t.Error("UpdateStatus of an unknown id succeeded")
	}
	if err := ix.Delete("s1.0", SessionDocID("CsessX"), ReviewDocID("bad-session-123")); err != nil {
		t.Fatal(err)
	}
	if got := ids(t, ix, ""); !reflect.DeepEqual(got, []string{"session/CsessY", "s2.0", "s3.0", "eml-abcdef"}) {
		t.Errorf("after delete: %v", got)
	}
	n, err := ix.Count()
	if err != nil || n != 4 {
		t.Errorf("Count %d %v", n, err)
	}
}

func TestParseErrorFromSearch(t *testing.T) {
	ix := openTest(t)
	_, err := ix.Search(context.Background(), "from:bob (", SearchOptions{})
	var pe *ParseError
	if !errors.As(err, &pe) || pe.Col != 10 {
		t.Fatalf("err %v", err)
	}
}

func TestLockedByAnother(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "index")
	ix, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		ix2, err := Open(dir)
		if err == nil {
			ix2.Close()
		}
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), dir) || !strings.Contains(err.Error(), "pid") {
			t.Errorf("second Open: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("second Open hangs")
	}
	ix.Close()
	ix3, err := Open(dir)
	if err != nil {
		t.Fatalf("Open after Close: %v", err)
	}
	ix3.Close()
}

func TestPersistsAcrossReopen(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "index")
	ix := openLoaded(t, dir, newFixture())
	if err := ix.Close(); err != nil {
		t.Fatal(err)
	}
	ix, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer ix.Close()
	if ix.Stale() {
		t.Error("fresh index is stale")
	}
	if got := ids(t, ix, ""); !reflect.DeepEqual(got, allNewestFirst) {
		t.Errorf("after reopen: %v", got)
	}
}

// answers runs every fixture query.
func answers(t *testing.T, ix *Index) map[string][]string {
	out := map[string][]string{}
	for _, tc := range fixtureQueries {
		out[tc.q] = ids(t, ix, tc.q)
	}
	return out
}

func TestRebuildAfterMappingBump(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "index")
	f := newFixture()
	ix := openLoaded(t, dir, f)
	before := answers(t, ix)
	// Simulate an index written by an older mapping version.
	var err error
	ix.mu.RLock()
	for _, idx := range ix.set.all() {
		if e := idx.SetInternal([]byte(versionKey), []byte("0")); e != nil {
			err = e
		}
	}
	ix.mu.RUnlock()
	if err != nil {
		t.Fatal(err)
	}
	ix.Close()

	ix, err = Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer ix.Close()
	if !ix.Stale() {
		t.Fatal("index with an old mapping version is not stale")
	}
	var calls, lastDone, lastTotal int
	if err := ix.Rebuild(f.source(), func(done, total int) { calls++; lastDone, lastTotal = done, total }); err != nil {
		t.Fatal(err)
	}
	if ix.Stale() {
		t.Error("stale after rebuild")
	}
	if calls == 0 || lastDone != 7 || lastTotal != 7 {
		t.Errorf("progress: %d calls, last %d/%d", calls, lastDone, lastTotal)
	}
	after := answers(t, ix)
	if !reflect.DeepEqual(before, after) {
		for q := range before {
			if !reflect.DeepEqual(before[q], after[q]) {
				t.Errorf("%q: before %v after %v", q, before[q], after[q])
			}
		}
	}
	if _, err := os.Stat(filepath.Join(dir, rebuildDir)); !os.IsNotExist(err) {
		t.Errorf("rebuild dir left behind: %v", err)
	}
	// And it persists.
	ix.Close()
	ix, err = Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if ix.Stale() {
		t.Error("stale after reopen")
	}
	if got := answers(t, ix); !reflect.DeepEqual(before, got) {
		t.Error("answers differ after reopening the rebuilt index")
	}
}

func TestSyncIndexesMissing(t *testing.T) {
	ix := openTest(t)
	f := newFixture()
	if err := ix.IndexEmails(f.emails[:2]); err != nil {
		t.Fatal(err)
	}
	n, err := ix.Sync(f.source(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if n != 5 {
		t.Errorf("Sync added %d, want 5", n)
	}
	if got := ids(t, ix, ""); !reflect.DeepEqual(got, allNewestFirst) {
		t.Errorf("after sync: %v", got)
	}
	n, err = ix.Sync(f.source(), nil)
	if err != nil || n != 0 {
		t.Errorf("second Sync added %d (%v)", n, err)
	}
}

// Searches stay correct while another goroutine indexes: the fixture's
// answers never change while unrelated emails pour in, and a rebuild runs.
func TestSearchWhileIndexing(t *testing.T) {
	ix := openTest(t)
	f := newFixture()
	f.load(t, ix)
	want := answers(t, ix)
	src := f.source()
	gen := newCorpusGen(7)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			batch := make([]EmailDoc, 50)
			for j := range batch {
				batch[j] = gen.email(i*50 + j)
			}
			if err := ix.IndexEmails(batch); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	// A status change and a rebuild during the storm.
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := ix.Rebuild(src, nil); err != nil {
			t.Error(err)
		}
	}()
	deadline := time.Now().Add(3 * time.Second)
	rounds := 0
	for time.Now().Before(deadline) || rounds < 3 {
		rounds++
		for _, tc := range fixtureQueries {
			if tc.q == "" || strings.HasPrefix(tc.q, "-") || strings.Contains(tc.q, " -") || strings.Contains(tc.q, "NOT") || strings.HasPrefix(tc.q, "before:") || strings.HasPrefix(tc.q, "larger:") || strings.HasPrefix(tc.q, "smaller:") {
				continue // these legitimately match generated emails too
			}
			got := ids(t, ix, "("+tc.q+") -is:generated")
			if !reflect.DeepEqual(got, want[tc.q]) {
				t.Errorf("round %d %q: got %v want %v", rounds, tc.q, got, want[tc.q])
			}
		}
	}
	close(stop)
	wg.Wait()
	if got := ids(t, ix, "kind:review OR kind:session"); len(got) != 3 {
		t.Errorf("after rebuild: %v", got)
	}
}

func TestSessionReasonTags(t *testing.T) {
	ix := openTest(t)
	for i, reason := range []string{"every recipient was refused", "STARTTLS: the rest of the session is encrypted", "no DATA: the client sent no message"} {
		d := SessionDoc{Info: sessionInfoForTest(fmt.Sprint("u", i)), Reason: reason}
		if err := ix.IndexSession(d); err != nil {
			t.Fatal(err)
		}
	}
	for q, want := range map[string][]string{
		"is:rejected": {"session/u0"}, "is:starttls": {"session/u1"}, "is:no_data": {"session/u2"},
		"refused": {"session/u0"}, `"client sent no message"`: {"session/u2"},
	} {
		if got := ids(t, ix, q); !reflect.DeepEqual(got, want) {
			t.Errorf("%q: got %v want %v", q, got, want)
		}
	}
}

func sessionInfoForTest(uid string) core.SessionInfo {
	return core.SessionInfo{UID: uid, SourceIP: "192.0.2.1", Time: day("2026-02-01T00:00:00Z")}
}

// Many goroutines writing one email each (grouped into shared batches):
// every email is there afterwards, and each caller's write was searchable
// when its call returned.
func TestConcurrentSmallWrites(t *testing.T) {
	ix := openTest(t)
	gen := newCorpusGen(9)
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < 25; i++ {
				d := gen.email(w*1000 + i)
				if err := ix.IndexEmails([]EmailDoc{d}); err != nil {
					t.Error(err)
					return
				}
				res, err := ix.Search(context.Background(), "id:"+d.Email.ID, SearchOptions{})
				if err != nil || res.Total != 1 {
					t.Errorf("%s not searchable after its write: %v %v", d.Email.ID, res, err)
				}
				if i%5 == 0 {
					if err := ix.Delete(d.Email.ID); err != nil {
						t.Error(err)
					}
				}
			}
		}(w)
	}
	wg.Wait()
	n, err := ix.Count()
	if err != nil || n != 8*20 {
		t.Errorf("count %d (%v), want %d", n, err, 8*20)
	}
}

// Pages of broad queries are looked for in time windows first (see
// SearchQuery): paging through them must give exactly the matches in
// (time, id) order, also with uneven times (old outliers, unknown times,
// ties).
func TestWindowedPagingExact(t *testing.T) {
	ix := openTest(t)
	gen := newCorpusGen(11)
	var docs []EmailDoc
	for i := 0; i < 600; i++ {
		d := gen.email(i)
		switch {
		case i%97 == 0:
			d.Email.Session.Time = day("2001-05-05T00:00:00Z").Add(time.Duration(i) * time.Hour)
		case i%89 == 0:
			d.Email.Session.Time = time.Time{} // unknown
		case i%13 == 0:
			d.Email.Session.Time = docs[i-1].Email.Session.Time // tie
		}
		docs = append(docs, d)
	}
	if err := ix.IndexEmails(docs); err != nil {
		t.Fatal(err)
	}
	windowed := windowedPages.Load()
	defer func() {
		if windowedPages.Load() == windowed {
			t.Error("no page was found through a time window: the test does not test it")
		}
	}()
	want := func(keep func(EmailDoc) bool) []string {
		type kv struct{ key, id string }
		var all []kv
		for _, d := range docs {
			if keep(d) {
				all = append(all, kv{sortKey(EmailTime(d.Email)) + d.Email.ID, d.Email.ID})
			}
		}
		sort.Slice(all, func(i, j int) bool { return all[i].key > all[j].key })
		var ids []string
		for _, x := range all {
			ids = append(ids, x.id)
		}
		return ids
	}
	for _, tc := range []struct {
		q     string
		kinds []string
		keep  func(EmailDoc) bool
	}{
		{"", nil, func(EmailDoc) bool { return true }},
		{"", []string{KindEmail}, func(EmailDoc) bool { return true }},
		{"has:attachment", nil, func(d EmailDoc) bool { return len(d.Email.Attachments) > 0 }},
		{"-has:attachment", nil, func(d EmailDoc) bool { return len(d.Email.Attachments) == 0 }},
	} {
		exp := want(tc.keep)
		for _, limit := range []int{1, 7, 50} {
			var got []string
			var after []string
			for {
				res, err := ix.Search(context.Background(), tc.q, SearchOptions{Limit: limit, After: after, Kinds: tc.kinds})
				if err != nil {
					t.Fatal(err)
				}
				if res.Total != uint64(len(exp)) {
					t.Fatalf("%q: total %d want %d", tc.q, res.Total, len(exp))
				}
				for _, h := range res.Hits {
					got = append(got, h.ID)
				}
				if len(res.Hits) < limit {
					break
				}
				after = res.Hits[len(res.Hits)-1].Sort
			}
			if !reflect.DeepEqual(got, exp) {
				t.Errorf("%q limit %d: paging gave %d ids, first diff at %d", tc.q, limit, len(got), firstDiff(got, exp))
			}
		}
	}
}

func firstDiff(a, b []string) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// Hostile records (huge counts, invalid UTF-8, NUL bytes, control
// characters) are indexed, stay findable, and come back as valid text.
func TestHostileRecord(t *testing.T) {
	ix := openTest(t)
	e := &core.Email{
		ID:      "hostile.0",
		Session: core.SessionInfo{UID: "hostile", SourceIP: "\xff\xfe not an ip", Time: day("2026-03-01T00:00:00Z"), Helo: "\x00\x1b[31mred"},
		Subject: "bad \xff\xfe bytes \x00 and \x1b]0;title\x07 " + strings.Repeat("long ", 5000),
		From:    "<<<@@@>>>", To: []string{"", "\x00", strings.Repeat("a", 10000) + "@x.example"},
		Headers: map[string][]string{"received": nil},
	}
	for i := 0; i < 20000; i++ {
		e.IOCs = append(e.IOCs, core.IOC{Type: core.IOCDomain, Value: fmt.Sprintf("d%d.evil.example", i)})
	}
	for i := 0; i < 3000; i++ {
		e.Attachments = append(e.Attachments, core.Attachment{Filename: fmt.Sprintf("f%d\x00.exe", i), DetectedType: "application/x-dosexec"})
		e.Headers["received"] = append(e.Headers["received"], fmt.Sprintf("from x ([10.0.%d.%d])", i/250, i%250))
	}
	if err := ix.IndexEmails([]EmailDoc{{Email: e}}); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{"ioc:d5.evil.example", "ioc:d19999.evil.example", "filename:*.exe", "ip:10.0.1.1", "bytes", "domain:evil.example", "has:attachment"} {
		if got := ids(t, ix, q); !reflect.DeepEqual(got, []string{"hostile.0"}) {
			t.Errorf("%q: %v", q, got)
		}
	}
	res, err := ix.Search(context.Background(), "id:hostile.0", SearchOptions{})
	if err != nil || len(res.Hits) != 1 {
		t.Fatal(err)
	}
	h := res.Hits[0]
	for _, s := range []string{h.Subject, h.SourceIP, h.From} {
		if !utf8.ValidString(s) {
			t.Errorf("invalid UTF-8 in a hit: %q", s)
		}
	}
	if h.IOC != 20000 || h.Att != 3000 {
		t.Errorf("counts %d %d", h.IOC, h.Att)
	}
}

func TestAsYouType(t *testing.T) {
	ix := openTest(t)
	newFixture().load(t, ix)
	for q, want := range map[string][]string{
		"invoi":             {"s1.0"},
		"invoi ":            {},
		"from:bo":           {"s1.0"},
		"subject:newsl":     {"s2.0"},
		"has:att":           {"s1.0", "s2.0", "eml-abcdef"},
		"status:fa":         {"s2.0"},
		"kind:sess":         {"session/CsessX", "session/CsessY"},
		"filename:repo":     {"s2.0"},
		"shoes gre":         {"s2.0"},
		"ioc:pay[.]evil[.]": {"s1.0"},
		`"great deals`:      nil, // unterminated quote: an error while typing
	} {
		res, err := ix.Search(context.Background(), q, SearchOptions{AsYouType: true})
		if want == nil {
			if err == nil {
				t.Errorf("%q: no error", q)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", q, err)
			continue
		}
		got := []string{}
		for _, h := range res.Hits {
			got = append(got, h.ID)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("as you type %q: %v, want %v", q, got, want)
		}
	}
	// Not typing: exact words only.
	if got := ids(t, ix, "invoi"); len(got) != 0 {
		t.Errorf("invoi without as-you-type: %v", got)
	}
}

// A damaged index is replaced by an empty, stale one that Rebuild fills.
func TestDamagedIndexIsReplaced(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "index")
	f := newFixture()
	openLoaded(t, dir, f).Close()
	metas, _ := filepath.Glob(filepath.Join(dir, monthsDir, "*", "index_meta.json"))
	if len(metas) == 0 {
		t.Fatal("no month index written")
	}
	if err := os.WriteFile(metas[0], []byte("{garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	ix, err := Open(dir)
	if err != nil {
		t.Fatalf("Open of a damaged index: %v", err)
	}
	defer ix.Close()
	if !ix.Stale() || ix.Damaged() == nil {
		t.Fatalf("stale %v damaged %v", ix.Stale(), ix.Damaged())
	}
	if err := ix.Rebuild(f.source(), nil); err != nil {
		t.Fatal(err)
	}
	if got := ids(t, ix, ""); !reflect.DeepEqual(got, allNewestFirst) {
		t.Errorf("after rebuild: %v", got)
	}
}

// A bulk write raises the GC percent while it runs and puts it back.
func TestBulkGCPercent(t *testing.T) {
	if os.Getenv("GOGC") != "" {
		t.Skip("GOGC is set: bulk writes leave the GC alone")
	}
	before := debug.SetGCPercent(100)
	defer debug.SetGCPercent(before)
	ix, err := Open(filepath.Join(t.TempDir(), "index"))
	if err != nil {
		t.Fatal(err)
	}
	defer ix.Close()
	var during int
	p := ix.newBulk(func([]*builder, []string) error {
		during = debug.SetGCPercent(-1)
		debug.SetGCPercent(during)
		return nil
	}, nil)
	if err := p.add(func() *builder { return nil }, 1); err != nil {
		t.Fatal(err)
	}
	if err := p.wait(); err != nil {
		t.Fatal(err)
	}
	if during != bulkGCPercent {
		t.Errorf("GC percent during a bulk write: %d, want %d", during, bulkGCPercent)
	}
	if after := debug.SetGCPercent(100); after != 100 {
		t.Errorf("GC percent after a bulk write: %d, want 100 back", after)
	}
}
