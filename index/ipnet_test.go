package index

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/search/query"
)

// TestCIDRMatchesAddressPrefix: ip:<a.b.0.0/16> (and /8, /24) is one term
// of the ipnet field, and finds exactly the documents whose ip field holds
// an address under the prefix (what a prefix query over every indexed
// address finds, the way it was answered before), on generated emails
// whose addresses spread over the whole IPv4 space.
func TestCIDRMatchesAddressPrefix(t *testing.T) {
	ix := openTest(t)
	gen := newCorpusGen(11)
	docs := make([]EmailDoc, 400)
	for i := range docs {
		docs[i] = gen.email(i)
	}
	if err := ix.IndexEmails(docs); err != nil {
		t.Fatal(err)
	}
	for _, d := range docs[:40] {
		ip := d.Email.Session.SourceIP
		parts := strings.Split(ip, ".")
		for bits, n := range map[int]int{8: 1, 16: 2, 24: 3} {
			p := strings.Join(parts[:n], ".")
			cidr := p + strings.Repeat(".0", 4-n) + "/" + map[int]string{8: "8", 16: "16", 24: "24"}[bits]
			q, err := ParseQuery("ip:" + cidr)
			if err != nil {
				t.Fatal(err)
			}
			if tq, ok := q.(*query.TermQuery); !ok || tq.FieldVal != fIPNet || tq.Term != p {
				t.Errorf("ip:%s compiles to %#v, want one term %q of %s", cidr, q, p, fIPNet)
			}
			got := rawIDs(t, ix, q)
			want := rawIDs(t, ix, prefix(fIP, p+"."))
			if !slices.Equal(got, want) || len(want) == 0 {
				t.Errorf("ip:%s: %v, want the addresses under %s.: %v", cidr, got, p, want)
			}
		}
	}
	if got := ipNets([]string{"10.1.2.3", "10.1.9.9", "2001:db8::1", "not-an-ip", "10.1.2.3"}); !slices.Equal(got, []string{"10", "10.1", "10.1.2", "10.1.9"}) {
		t.Errorf("ipNets: %v", got)
	}
}

// rawIDs runs a bleve query on the index as it is: the ids of every
// match (up to 10,000), sorted.
func rawIDs(t *testing.T, ix *Index, q query.Query) []string {
	t.Helper()
	req := bleve.NewSearchRequestOptions(q, 10000, 0, false)
	res, err := ix.set.search(context.Background(), req, spanLo, spanHi)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, h := range res.Hits {
		out = append(out, h.ID)
	}
	slices.Sort(out)
	return out
}
