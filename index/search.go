package index

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/search"
	"github.com/blevesearch/bleve/v2/search/query"

	"github.com/smtpscope/smtpscope/collector/api"
)

// SearchOptions shape one page of results.
type SearchOptions struct {
	// Limit is the page size (default 50, at most 10,000).
	Limit int
	// After is the Sort of the last hit of the previous page (search-after
	// paging: deep pages cost the same as the first).
	After []string
	// Facets asks for counts by sender domain, attachment type, IOC type
	// and status over all matches.
	Facets bool
	// FacetSize is how many values each facet lists (default 10).
	FacetSize int
	// Kinds restricts the document kinds (KindEmail, KindSession,
	// KindReview); empty means all.
	Kinds []string
	// Sort is SortNewest (default, "") or SortOldest, or any sort order
	// api.ParseSort reads ("size", "-iocs"...).
	Sort string
	// Histogram asks for the number of matches per hour or per day
	// (Result.Histogram), counted with the facets.
	Histogram bool
	// AsYouType parses the query with ParseQueryAsYouType (the last word
	// also matches as a prefix): for a search bar that searches as the
	// analyst types.
	AsYouType bool
	// IDs, when not nil, restricts the search to these document IDs (an
	// email's is its id): the collector's hunts evaluate a query on just
	// the emails of the batch that was committed. An empty non-nil list
	// matches nothing.
	IDs []string
}

// Sort orders.
const (
	SortNewest = "newest"
	SortOldest = "oldest"
)

// Facet names in Result.Facets.
const (
	FacetSenderDomain = "sender_domain"
	FacetAttachType   = "attachment_type"
	FacetIOCType      = "ioc_type"
	FacetStatus       = "status"
	FacetSensor       = "sensor"
)

var facetFields = map[string]string{
	FacetSenderDomain: fSenderDom,
	FacetAttachType:   fType,
	FacetIOCType:      fIOCType,
	FacetStatus:       fStatus,
	FacetSensor:       fSensor,
}

// FacetCount is one value of a facet and how many matches have it.
type FacetCount struct {
	Term  string `json:"term"`
	Count int    `json:"count"`
}

// Result is one page of a search, newest first.
type Result struct {
	// Total is the number of matches (all pages).
	Total uint64
	Hits  []Hit
	// Facets maps facet name (FacetSenderDomain...) to its top values;
	// nil unless asked for.
	Facets map[string][]FacetCount
	// Took is how long the search took.
	Took time.Duration
	// Histogram is the matches over time; nil unless asked for.
	Histogram *Histogram
}

// Hit is one match: its list row (the api.Row stored with the document;
// the full record is in the store under ID, or UID for sessions, Name for
// review entries) and its position.
type Hit struct {
	api.Row
	// Sort is the hit's position; pass the last hit's Sort as
	// SearchOptions.After for the next page.
	Sort []string `json:"sort"`
}

const (
	defaultLimit = 50
	maxLimit     = 10000
)

// Search runs a query of the query language (see ParseQuery), newest
// first (or oldest first with SortOldest). A malformed query returns a *ParseError.
func (ix *Index) Search(ctx context.Context, q string, opts SearchOptions) (*Result, error) {
	parse := ParseQuery
	if opts.AsYouType {
		parse = ParseQueryAsYouType
	}
	pq, err := parse(q)
	if err != nil {
		return nil, err
	}
	return ix.SearchQuery(ctx, pq, opts)
}

// SearchQuery runs an already parsed query.
func (ix *Index) SearchQuery(ctx context.Context, pq query.Query, opts SearchOptions) (*Result, error) {
	base := pq
	if len(opts.Kinds) > 0 {
		var ks []query.Query
		for _, k := range opts.Kinds {
			ks = append(ks, term(fKind, k))
		}
		pq = query.NewConjunctionQuery([]query.Query{pq, or(ks...)})
	}
	if opts.IDs != nil {
		pq = query.NewConjunctionQuery([]query.Query{pq, query.NewDocIDQuery(opts.IDs)})
	}
	limit := opts.Limit
	if limit <= 0 {
		limit = defaultLimit
	}
	limit = min(limit, maxLimit)
	spec, err := api.ParseSort(opts.Sort)
	if err != nil {
		return nil, fmt.Errorf("search: %w", err)
	}
	sortField := sortFields[spec.Field]
	newest := spec.Field == api.SortTime && spec.Desc
	var afterT int64
	if len(opts.After) > 0 {
		if len(opts.After) != 1 {
			return nil, fmt.Errorf("search: After must be a hit's Sort (1 value), got %d", len(opts.After))
		}
		if !validAfter(spec.Field, opts.After[0]) {
			return nil, fmt.Errorf("search: After[0] %q is not a hit's Sort value for sort %s", opts.After[0], spec)
		}
		afterT, _ = sortKeyTime(opts.After[0])
	}

	ix.mu.RLock()
	defer ix.mu.RUnlock()
	if ix.closed {
		return nil, fmt.Errorf("index %s: %w", ix.dir, errClosed)
	}
	start := time.Now()

	// Newest first, a query with many matches (the list with no query
	// above all) would sort every match by reading its time: first a
	// pass counts the matches (and the facets) without sorting, then the
	// page is looked for among the newest documents, in a time window
	// sized from the match density and widened until it holds a full
	// page. The window only skips documents older than every hit it
	// returns: the page is the same as without it. Every other order
	// (oldest first, a column) is one pass: matches, sort, total, facets.
	var res *bleve.SearchResult
	var total uint64
	var facetRes search.FacetResults
	if newest {
		_, all := base.(*query.MatchAllQuery)
		if total, facetRes, err = ix.count(ctx, pq, all && len(opts.Kinds) == 0, opts); err != nil {
			return nil, err
		}
		var lo, hi int64
		if total > uint64(4*limit) { // else no window: no time bounds needed
			lo, hi = ix.timeRange()
		}
		if len(opts.After) > 0 {
			hi = min(hi, afterT)
		}
		if total > uint64(4*limit) && hi > lo {
			w := int64(float64(hi-lo)*3*float64(limit)/float64(total)) + 1
			for try := 0; try < 4 && hi-w > lo; try++ {
				end := int64(maxTime)
				if len(opts.After) > 0 {
					end = afterT
				}
				wq := query.NewConjunctionQuery([]query.Query{pq, timeRange(hi-w, end)})
				r, err := ix.set.search(ctx, ix.pageRequest(wq, limit, opts.After, fTSort, true), hi-w, end)
				if err != nil {
					return nil, fmt.Errorf("index %s: search: %w", ix.dir, err)
				}
				if len(r.Hits) >= limit {
					res = r
					windowedPages.Add(1)
					break
				}
				w *= 8
			}
		}
		if res == nil {
			end := spanHi
			if len(opts.After) > 0 {
				end = afterT
			}
			r, err := ix.set.search(ctx, ix.pageRequest(pq, limit, opts.After, fTSort, true), spanLo, end)
			if err != nil {
				return nil, fmt.Errorf("index %s: search: %w", ix.dir, err)
			}
			res = r
		}
	} else {
		req := ix.pageRequest(pq, limit, opts.After, sortField, spec.Desc)
		addFacets(req, opts)
		r, err := ix.set.search(ctx, req, spanLo, spanHi)
		if err != nil {
			return nil, fmt.Errorf("index %s: search: %w", ix.dir, err)
		}
		res, total, facetRes = r, r.Total, r.Facets
	}

	out := &Result{Total: total, Took: time.Since(start), Hits: make([]Hit, 0, len(res.Hits))}
	for _, dm := range res.Hits {
		out.Hits = append(out.Hits, hitFrom(dm))
	}
	if opts.Histogram {
		out.Histogram = histogram(facetRes, total)
	}
	if opts.Facets {
		out.Facets = make(map[string][]FacetCount, len(facetRes))
		for name, fr := range facetRes {
			if _, ok := facetFields[name]; !ok {
				continue
			}
			var fcs []FacetCount
			if fr.Terms != nil {
				for _, t := range fr.Terms.Terms() {
					fcs = append(fcs, FacetCount{Term: t.Term, Count: t.Count})
				}
			}
			sort.SliceStable(fcs, func(i, j int) bool {
				if fcs[i].Count != fcs[j].Count {
					return fcs[i].Count > fcs[j].Count
				}
				return fcs[i].Term < fcs[j].Term
			})
			size := opts.FacetSize
			if size <= 0 {
				size = 10
			}
			out.Facets[name] = fcs[:min(len(fcs), size)]
		}
	}
	return out, nil
}

// count is the number of matches of pq (and its facets when asked);
// docCount says pq matches every document.
func (ix *Index) count(ctx context.Context, pq query.Query, docCount bool, opts SearchOptions) (uint64, search.FacetResults, error) {
	if docCount && !opts.Facets && !opts.Histogram {
		n, err := ix.set.docCount()
		if err != nil {
			return 0, nil, fmt.Errorf("index %s: %w", ix.dir, err)
		}
		return n, nil, nil
	}
	req := bleve.NewSearchRequestOptions(pq, 0, 0, false)
	req.Score = "none"
	addFacets(req, opts)
	res, err := ix.set.search(ctx, req, spanLo, spanHi)
	if err != nil {
		return 0, nil, fmt.Errorf("index %s: search: %w", ix.dir, err)
	}
	return res.Total, res.Facets, nil
}

// addFacets adds the facets opts asks for: the panel's, the histogram's.
func addFacets(req *bleve.SearchRequest, opts SearchOptions) {
	if opts.Histogram {
		addHistogramFacets(req)
	}
	if !opts.Facets {
		return
	}
	for name, field := range facetFields {
		req.AddFacet(name, bleve.NewFacetRequest(field, facetShard))
	}
}

// facetShard is how many values of each facet every month index returns
// (the top values are then picked from their sums): a facet is exact
// whenever no month has more distinct values than this.
const facetShard = 10000

// windowedPages counts pages found in a time window (for tests).
var windowedPages atomic.Int64

// pageRequest asks for one page sorted by one sort-key field, with the
// list rows.
func (ix *Index) pageRequest(q query.Query, limit int, after []string, field string, desc bool) *bleve.SearchRequest {
	req := bleve.NewSearchRequestOptions(q, limit, 0, false)
	req.Score = "none"
	req.Fields = []string{fRow}
	req.SortByCustom(search.SortOrder{
		&search.SortField{Field: field, Desc: desc, Type: search.SortFieldAsString},
	})
	if len(after) > 0 {
		req.SearchAfter = after
	}
	return req
}

// sortKeyTime reads the time (unix ns) at the start of a tsort value.
func sortKeyTime(s string) (int64, bool) {
	if !validSortKey(s) {
		return 0, false
	}
	u, err := strconv.ParseUint(s[:16], 16, 64)
	if err != nil || u > math.MaxInt64 {
		return 0, false
	}
	return int64(u), true
}

// validAfter reports whether s can be a hit's Sort value under a sort
// by field: every sort key ends with a tsort value (16 hex digits of time,
// then the ID); time's starts with it, the numeric ones with their
// fixed-width hex, status's with its rank digit.
func validAfter(field, s string) bool {
	switch field {
	case api.SortTime:
		return validSortKey(s)
	case api.SortSize:
		return len(s) > 16 && validSortKey(s) && validSortKey(s[16:])
	case api.SortAttachments, api.SortIOCs:
		return len(s) > 8 && validSortKey("00000000"+s[:8]) && validSortKey(s[8:])
	case api.SortStatus:
		return len(s) > 1 && s[0] >= '0' && s[0] <= '9' && validSortKey(s[1:])
	case api.SortSender:
		i := strings.IndexByte(s, ' ')
		return i >= 0 && validSortKey(s[i+1:])
	}
	return false
}

func validSortKey(s string) bool {
	if len(s) < 16 {
		return false
	}
	for i := 0; i < 16; i++ {
		if c := s[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

func hitFrom(dm *search.DocumentMatch) Hit {
	sortVals := dm.DecodedSort
	if len(sortVals) == 0 {
		sortVals = dm.Sort
	}
	h := Hit{Sort: append([]string(nil), sortVals...)}
	if s, ok := dm.Fields[fRow].(string); ok {
		_ = json.Unmarshal([]byte(s), &h.Row)
	}
	h.ID = dm.ID
	return h
}
