package index

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/blevesearch/bleve/v2/mapping"
	"github.com/blevesearch/bleve/v2/search"
	"github.com/blevesearch/bleve/v2/search/query"
	"github.com/blevesearch/bleve/v2/search/searcher"
	bindex "github.com/blevesearch/bleve_index_api"
	"github.com/glaslos/ssdeep"
)

// similar: finds emails whose ssdeep (or an attachment's) scores at least
// a threshold against a given ssdeep. ssdeep scores two digests above 0
// only when they share a 7-character run of one of their chunks at the
// same block size, so every chunk's 7-grams are indexed with their block
// size (field ssdeep7): the grams of the query select the candidates (at
// most 2 x 58 term lookups), and each candidate's stored digests (field
// ssdeep, doc values) are scored exactly; only those at or above the
// threshold match. It is a query like any other: it combines with the
// rest, pages, counts and facets.
const (
	// DefaultSimilarity is the score similar: needs without ~N.
	DefaultSimilarity = 60
	ssdeepGram        = 7
)

// parseSimilar reads "<ssdeep>" or "<ssdeep>~N" (N in 1..100).
func parseSimilar(v string) (sig string, min int, err error) {
	sig, min = v, DefaultSimilarity
	if i := strings.LastIndexByte(v, '~'); i >= 0 {
		sig = v[:i]
		if min, err = strconv.Atoi(v[i+1:]); err != nil || min < 1 || min > 100 {
			return "", 0, fmt.Errorf("score after ~ must be 1..100, got %q", v[i+1:])
		}
	}
	if _, _, _, ok := splitSSDeep(sig); !ok {
		return "", 0, fmt.Errorf("%q is not an ssdeep digest (blocksize:chunk:chunk)", sig)
	}
	return sig, min, nil
}

// splitSSDeep splits a digest into its block size and two chunks.
func splitSSDeep(s string) (bs int, c1, c2 string, ok bool) {
	parts := strings.Split(s, ":")
	if len(parts) != 3 {
		return 0, "", "", false
	}
	bs, err := strconv.Atoi(parts[0])
	if err != nil || bs < 3 || len(parts[1]) > 64 || len(parts[2]) > 64 {
		return 0, "", "", false
	}
	return bs, parts[1], parts[2], true
}

// ssdeepGrams are the index terms of a digest: "<block size>:<7-gram>"
// of both chunks (the second at twice the block size).
func ssdeepGrams(sig string) []string {
	bs, c1, c2, ok := splitSSDeep(sig)
	if !ok {
		return nil
	}
	var out []string
	add := func(size int, c string) {
		p := strconv.Itoa(size) + ":"
		for i := 0; i+ssdeepGram <= len(c); i++ {
			out = append(out, p+c[i:i+ssdeepGram])
		}
	}
	add(bs, c1)
	add(2*bs, c2)
	return out
}

// similarQuery is the compiled similar: term.
type similarQuery struct {
	sig string
	min int
}

func (q *similarQuery) Searcher(ctx context.Context, i bindex.IndexReader, m mapping.IndexMapping, opts search.SearcherOptions) (search.Searcher, error) {
	var grams []query.Query
	for _, g := range ssdeepGrams(q.sig) {
		grams = append(grams, term(fSSDeep7, g))
	}
	if len(grams) == 0 {
		return searcher.NewMatchNoneSearcher(i)
	}
	cand, err := query.NewDisjunctionQuery(grams).Searcher(ctx, i, m, opts)
	if err != nil {
		return nil, err
	}
	dvr, err := i.DocValueReader([]string{fSSDeep})
	if err != nil {
		return nil, err
	}
	return searcher.NewFilteringSearcher(ctx, cand, func(_ *search.SearchContext, d *search.DocumentMatch) bool {
		best := 0
		_ = dvr.VisitDocValues(d.IndexInternalID, func(_ string, t []byte) {
			if _, _, _, ok := splitSSDeep(string(t)); !ok {
				return // the library indexes past 64-character chunks
			}
			if s, err := ssdeep.Distance(q.sig, string(t)); err == nil {
				best = max(best, s)
			}
		})
		return best >= q.min
	}), nil
}
