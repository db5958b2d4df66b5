package index

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/smtpscope/smtpscope/collector/api"
	"github.com/smtpscope/smtpscope/core"
)

// sortCorpus is emails whose columns repeat (ties on every column, on
// time too) plus sessions and review entries, which sort as empty.
func sortCorpus(t *testing.T) *Index {
	t.Helper()
	ix := openTest(t)
	senders := []string{"Bob@evil.example", "alice@corp.example", "", "zed@x.example", "bob@evil.example", "al@corp.example"}
	states := []string{"sent", "queued", "retrying", "failed", ""}
	var docs []EmailDoc
	for i := range 30 {
		e := &core.Email{
			ID:       fmt.Sprintf("e%02d.0", i),
			Session:  core.SessionInfo{UID: fmt.Sprintf("e%02d", i), Time: time.Date(2026, 1, 1, i%7, 0, 0, 0, time.UTC)},
			Envelope: core.Envelope{MailFrom: senders[i%len(senders)]},
			Size:     int64((i * 37) % 5 * 1000),
			Subject:  "mail " + fmt.Sprint(i),
		}
		for range i % 4 {
			e.Attachments = append(e.Attachments, core.Attachment{Filename: "a.bin", Size: 1})
		}
		for j := range i % 3 {
			e.IOCs = append(e.IOCs, core.IOC{Type: core.IOCDomain, Value: fmt.Sprintf("d%d.example", j), Source: "body"})
		}
		var st map[string]string
		if s := states[i%len(states)]; s != "" {
			st = map[string]string{"prod": s, "lab": "sent"}
		}
		docs = append(docs, EmailDoc{Email: e, Status: st})
	}
	if err := ix.IndexEmails(docs); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if err := ix.IndexSession(SessionDoc{Info: core.SessionInfo{UID: fmt.Sprintf("S%d", i), Time: time.Date(2026, 1, 1, i, 30, 0, 0, time.UTC)}, Reason: "rejected"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := ix.IndexReview(ReviewDoc{Name: "junk", Reason: "no session", Time: time.Date(2026, 1, 1, 3, 0, 0, 0, time.UTC)}); err != nil {
		t.Fatal(err)
	}
	return ix
}

// columnCmp compares two rows by one list column the way a user reads
// it: numbers as numbers, the sender case-insensitively, the status by
// its worst state; ties by time, then document ID.
func columnCmp(field string) func(a, b Hit) int {
	return func(a, b Hit) int {
		var c int
		switch field {
		case api.SortTime:
		case api.SortSize:
			c = cmp.Compare(a.Size, b.Size)
		case api.SortSender:
			c = strings.Compare(strings.ToLower(a.MailFrom), strings.ToLower(b.MailFrom))
		case api.SortAttachments:
			c = cmp.Compare(a.Att, b.Att)
		case api.SortIOCs:
			c = cmp.Compare(a.IOC, b.IOC)
		case api.SortStatus:
			rank := map[string]int{"": 0, "sent": 1, "queued": 2, "retrying": 3, "failed": 4}
			worst := func(st map[string]string) int {
				w := 0
				for _, s := range st {
					w = max(w, rank[s])
				}
				return w
			}
			c = cmp.Compare(worst(a.Status), worst(b.Status))
		}
		if c == 0 {
			c = a.Time.Compare(b.Time)
		}
		if c == 0 {
			c = strings.Compare(a.ID, b.ID)
		}
		return c
	}
}

// Every column sorts both ways, and search-after paging through a sort
// gives exactly its order, each document once.
func TestSortColumns(t *testing.T) {
	ix := sortCorpus(t)
	ctx := context.Background()
	all, err := ix.Search(ctx, "", SearchOptions{Limit: 100})
	if err != nil || len(all.Hits) != 34 {
		t.Fatalf("corpus: %d hits, %v", len(all.Hits), err)
	}
	for _, field := range api.SortFields {
		for _, desc := range []bool{false, true} {
			spec := api.SortSpec{Field: field, Desc: desc}.String()
			t.Run(spec, func(t *testing.T) {
				want := slices.Clone(all.Hits)
				slices.SortFunc(want, columnCmp(field))
				if desc {
					slices.Reverse(want)
				}
				var got []string
				var after []string
				for page := 0; page < 40; page++ {
					res, err := ix.Search(ctx, "", SearchOptions{Limit: 4, After: after, Sort: spec})
					if err != nil {
						t.Fatal(err)
					}
					if res.Total != 34 {
						t.Fatalf("total %d", res.Total)
					}
					for _, h := range res.Hits {
						got = append(got, h.ID)
					}
					if len(res.Hits) < 4 {
						break
					}
					after = res.Hits[len(res.Hits)-1].Sort
				}
				wantIDs := make([]string, len(want))
				for i, h := range want {
					wantIDs[i] = h.ID
				}
				if !slices.Equal(got, wantIDs) {
					t.Errorf("paged order\n got %v\nwant %v", got, wantIDs)
				}
			})
		}
	}
}

// A query narrows a column sort; the windowed newest-first path and the
// one-pass path agree with it.
func TestSortWithQuery(t *testing.T) {
	ix := sortCorpus(t)
	res, err := ix.Search(context.Background(), "kind:email has:ioc", SearchOptions{Limit: 100, Sort: "-iocs"})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Hits) != 20 {
		t.Fatalf("%d hits, want 20", len(res.Hits))
	}
	for i := 1; i < len(res.Hits); i++ {
		if res.Hits[i].IOC > res.Hits[i-1].IOC {
			t.Fatalf("not by IOC count, descending, at %d", i)
		}
	}
}

// A status change re-sorts the email (its sort key is rebuilt with the row).
func TestSortStatusFollowsUpdates(t *testing.T) {
	ix := sortCorpus(t)
	src := &memSource{}
	e := &core.Email{ID: "late.0", Session: core.SessionInfo{UID: "late", Time: time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC)}}
	src.docs = append(src.docs, Doc{Email: &EmailDoc{Email: e}})
	ix.SetSource(src)
	if err := ix.IndexEmails([]EmailDoc{{Email: e, Status: map[string]string{"prod": "sent"}}}); err != nil {
		t.Fatal(err)
	}
	first := func() string {
		res, err := ix.Search(context.Background(), "kind:email", SearchOptions{Limit: 1, Sort: "-status"})
		if err != nil || len(res.Hits) != 1 {
			t.Fatalf("search: %v", err)
		}
		return res.Hits[0].ID
	}
	if first() == "late.0" {
		t.Fatal("a sent email sorts first by worst status")
	}
	if err := ix.UpdateStatus("late.0", map[string]string{"prod": "failed"}); err != nil {
		t.Fatal(err)
	}
	// Several failed emails: the newest failed one (late.0) comes first.
	if got := first(); got != "late.0" {
		t.Fatalf("after failing: first is %s", got)
	}
}

// A cursor from another sort, or garbage, is refused, never a panic.
func TestSortBadAfter(t *testing.T) {
	ix := sortCorpus(t)
	res, err := ix.Search(context.Background(), "", SearchOptions{Limit: 2, Sort: "size"})
	if err != nil {
		t.Fatal(err)
	}
	bad := [][]string{{"garbage"}, {""}, {"zz" + res.Hits[1].Sort[0]}, {res.Hits[1].Sort[0], "x"}}
	for _, sp := range []string{"size", "sender", "iocs", "status", "time", "attachments"} {
		for _, a := range bad {
			if _, err := ix.Search(context.Background(), "", SearchOptions{Sort: sp, After: a}); err == nil {
				t.Errorf("sort %s: After %q accepted", sp, a)
			}
		}
	}
	if _, err := ix.Search(context.Background(), "", SearchOptions{Sort: "-bogus"}); err == nil {
		t.Error("sort -bogus accepted")
	}
}
