package index

import (
	"context"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/smtpscope/smtpscope/core"
)

// TestRiskQueries: analysed emails are found by each risk code (is:) and
// by their number of reasons (risk:N is "at least N"), and the row
// carries the count for the list.
func TestRiskQueries(t *testing.T) {
	a := core.NewAnalyzer(core.DefaultOptions())
	msgs := map[string]string{
		// display_name_spoof + reply_to_mismatch + link_mismatch
		"three": "From: \"paypal.com\" <x@evil.example>\r\nReply-To: y@collect.example.net\r\nSubject: a\r\n" +
			"Content-Type: text/html\r\n\r\n<a href=\"http://evil.example/\">https://www.paypal.com/</a>\r\n",
		// reply_to_mismatch only
		"one":   "From: Shop <a@shop.example.com>\r\nReply-To: b@other.example.org\r\nSubject: b\r\n\r\nhi\r\n",
		"clean": "From: Shop <a@shop.example.com>\r\nSubject: c\r\n\r\nhi\r\n",
	}
	var docs []EmailDoc
	want := map[string]int{}
	for id, m := range msgs {
		e := a.AnalyzeBytes([]byte(m))
		e.ID = id
		want[id] = len(e.Risks)
		docs = append(docs, EmailDoc{Email: e})
	}
	if want["three"] != 3 || want["one"] != 1 || want["clean"] != 0 {
		t.Fatalf("risks per email %v", want)
	}
	ix := openTest(t)
	if err := ix.IndexEmails(docs); err != nil {
		t.Fatal(err)
	}
	sorted := func(q string) []string {
		got := ids(t, ix, q)
		slices.Sort(got)
		return got
	}
	for q, w := range map[string][]string{
		"is:display_name_spoof": {"three"},
		"is:link_mismatch":      {"three"},
		"is:reply_to_mismatch":  {"one", "three"},
		"risk:1":                {"one", "three"},
		"risk:2":                {"three"},
		"risk:3":                {"three"},
		"risk:4":                {},
		"-risk:1":               {"clean"},
	} {
		if got := sorted(q); !reflect.DeepEqual(got, w) {
			t.Errorf("%s: %v, want %v", q, got, w)
		}
	}
	for _, bad := range []string{"risk:0", "risk:x", "risk:99"} {
		_, err := ix.Search(context.Background(), bad, SearchOptions{})
		if err == nil || !strings.Contains(err.Error(), "risk:") {
			t.Errorf("%s: error %v", bad, err)
		}
	}
	res, err := ix.Search(context.Background(), "", SearchOptions{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range res.Hits {
		if h.Risk != want[h.ID] {
			t.Errorf("row %s: risk %d, want %d", h.ID, h.Risk, want[h.ID])
		}
	}
}
