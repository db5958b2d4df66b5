package index

import (
	"testing"

	"github.com/blevesearch/bleve/v2"
)

// TestFuzzyQueryWithLazyBuilder: smtpscope's copy of vellum builds
// bleve's Levenshtein automaton builders on first use, not at init
// (internal/third_party/vellum); a bleve fuzzy query, which the query language
// does not offer, still finds a word one or two edits away.
func TestFuzzyQueryWithLazyBuilder(t *testing.T) {
	ix := openTest(t)
	newFixture().load(t, ix)
	for _, c := range []struct {
		term  string
		fuzz  int
		found bool
	}{{"invoice", 0, true}, {"invoise", 1, true}, {"imvoise", 2, true}, {"imvoize", 1, false}} {
		q := bleve.NewFuzzyQuery(c.term)
		q.SetField(fSubject)
		q.SetFuzziness(c.fuzz)
		var total uint64
		for _, idx := range ix.set.all() {
			res, err := idx.Search(bleve.NewSearchRequest(q))
			if err != nil {
				t.Fatalf("%s~%d: %v", c.term, c.fuzz, err)
			}
			total += res.Total
		}
		if (total > 0) != c.found {
			t.Errorf("%s~%d: %d matches, want some: %v", c.term, c.fuzz, total, c.found)
		}
	}
}
