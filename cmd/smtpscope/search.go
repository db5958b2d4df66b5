package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/smtpscope/smtpscope/collector"
	"github.com/smtpscope/smtpscope/collector/api"
	"github.com/smtpscope/smtpscope/core"
	"github.com/smtpscope/smtpscope/index"
	"github.com/smtpscope/smtpscope/ui/sanitize"
)

// SearchCmd searches the index of a data dir.
type SearchCmd struct {
	Data            string   `help:"Data directory." env:"SMTPSCOPE_DATA" required:"" placeholder:"DIR"`
	JSON            bool     `help:"Print the email records (same schema as parse) as JSON Lines instead of a table."`
	Format          string   `default:"table" enum:"table,json,csv,ecs,zeek" help:"Output: an aligned table, JSON Lines of the rows, CSV (with a header line), or the matching emails as ECS documents or Zeek smtp.log lines each followed by its files.log lines (the event log's shapes)." placeholder:"table|json|csv|ecs|zeek"`
	FilesLog        string   `name:"files-log" help:"With --format zeek: write the files.log lines to FILE instead of after their smtp.log line." placeholder:"FILE"`
	InternalDomains []string `name:"internal-domains" sep:"," help:"With --format ecs: your mail domains (repeatable or comma-separated; subdomains count), to set email.direction as the event log does with [output] internal_domains." placeholder:"DOMAIN"`
	Limit           int      `default:"50" help:"How many matches to print, newest first (0: all)."`
	Facets          bool     `help:"Also print counts by sender domain, attachment type, IOC type and status."`
	Kind            []string `help:"Only these kinds: email, session, review (default: all; with --json: email)." enum:"email,session,review" placeholder:"KIND"`
	Query           []string `arg:"" optional:"" help:"Query (see the query language in the README); several words are joined with spaces."`
}

// errNoRecords: the store cannot be opened to read records.
var errNoRecords = errors.New("cannot read the stored records")

// searchPage is how many hits one search-after page fetches.
const searchPage = 1000

// facetBlock is one facet to print: its title and counts.
type facetBlock struct {
	title  string
	counts []index.FacetCount
}

// Run prints the matches.
func (c *SearchCmd) Run() error {
	return c.run(os.Stdout, os.Stderr, terminalTable())
}

// run prints the matches to stdout (a table drawn as topt says), the
// count and warnings to stderr.
func (c *SearchCmd) run(stdout, stderr io.Writer, topt tableOptions) (rerr error) {
	q := strings.Join(c.Query, " ")
	if _, err := index.ParseQuery(q); err != nil {
		return queryError(q, err)
	}
	if c.JSON && c.Format != "table" {
		return usageErr("--json prints the email records, --format %s the rows: give one of them", c.Format)
	}
	events := c.Format == collector.EventsECS || c.Format == collector.EventsZeek
	kinds := c.Kind
	if (c.JSON || events) && len(kinds) == 0 {
		kinds = []string{index.KindEmail}
	}
	if events && (len(kinds) != 1 || kinds[0] != index.KindEmail) {
		return usageErr("--format %s prints emails: --kind %s has none", c.Format, strings.Join(kinds, ","))
	}
	if c.FilesLog != "" && c.Format != collector.EventsZeek {
		return usageErr("--files-log is for --format zeek (its files.log lines)")
	}
	if len(c.InternalDomains) > 0 && c.Format != collector.EventsECS {
		return usageErr("--internal-domains is for --format ecs (its email.direction)")
	}
	paceSearchGC()
	ctx := context.Background()
	src, err := openSearchSource(ctx, c.Data, q, kinds)
	if err != nil {
		return err
	}
	defer src.close()

	out := bufio.NewWriter(stdout)
	defer out.Flush()
	var rows [][]string  // table
	var sensors []string // the sensor of each row of the table
	var csvw *csvWriter
	if !c.JSON && c.Format == "csv" {
		if csvw, err = newCSVWriter(out); err != nil {
			return err
		}
	}
	enc := core.NewJSONEncoder(out)
	rowEnc := json.NewEncoder(out)
	var evEnc *recordEncoder
	if events {
		filesLog, closeFiles, err := openFilesLog(c.FilesLog, c.Format)
		if err != nil {
			return err
		}
		defer func() {
			if cerr := closeFiles(); cerr != nil && rerr == nil {
				rerr = cerr
			}
		}()
		evEnc = &recordEncoder{format: c.Format, out: out, files: filesLog, created: time.Now(), internal: c.InternalDomains}
	}

	var after []string
	printed := 0
	var total uint64
	var facets []facetBlock
	for first := true; c.Limit <= 0 || printed < c.Limit; first = false {
		size := searchPage
		if c.Limit > 0 {
			size = min(size, c.Limit-printed)
		}
		hits, tot, fs, next, err := src.page(ctx, after, size, c.Facets && first)
		if err != nil {
			return queryError(q, err)
		}
		if first {
			total, facets = tot, fs
		}
		for _, h := range hits {
			switch {
			case c.JSON:
				if err := writeRecord(ctx, enc.Encode, stderr, src.record, h); err != nil {
					return err
				}
			case events:
				if err := writeRecord(ctx, func(v any) error {
					if e, ok := v.(*core.Email); ok {
						return evEnc.encode(e)
					}
					return nil // only emails are asked for
				}, stderr, src.record, h); err != nil {
					return err
				}
			case c.Format == "json":
				row := h.Row
				row.ID = rowID(h) // as the table shows it, for show
				if err := rowEnc.Encode(row); err != nil {
					return err
				}
			case c.Format == "csv":
				if err := csvw.write(rowCells(h)); err != nil {
					return err
				}
			default:
				rows = append(rows, rowCells(h))
				sensors = append(sensors, h.Sensor)
			}
			printed++
		}
		if len(hits) < size || next == nil {
			break
		}
		after = next
	}
	switch {
	case csvw != nil:
		if err := csvw.flush(); err != nil {
			return err
		}
	case !c.JSON && c.Format == "table":
		if err := writeTable(out, withSensors(rows, sensors), topt); err != nil {
			return err
		}
	}
	if err := out.Flush(); err != nil {
		return err
	}
	if !c.JSON {
		fmt.Fprintf(stderr, "%d of %d matches\n", printed, total)
	}
	if c.Facets {
		w := stdout
		if c.JSON || c.Format != "table" {
			w = stderr // keep stdout JSON Lines or CSV
		}
		printFacets(w, facets)
	}
	return nil
}

// openSearchSource opens the index of the data dir (and, when a record is
// asked for, its store), or, when a running collector or UI owns it, goes
// through that process's socket.
func openSearchSource(ctx context.Context, data, q string, kinds []string) (*searchSource, error) {
	ix, err := openIndexReadOnly(data)
	if errors.Is(err, index.ErrLocked) {
		r, rerr := api.DialRemote(ctx, data)
		if rerr != nil {
			return nil, fmt.Errorf("%w; and its socket does not answer: %v", err, rerr)
		}
		return remoteSource(r, q, kinds)
	}
	if err != nil {
		return nil, err
	}
	if ix.Stale() {
		fmt.Fprintln(os.Stderr, "warning: the index was built by another version of smtpscope; run `smtpscope reindex`")
	}
	ls := &lazyStore{dir: data}
	src := &searchSource{close: func() {
		ls.close()
		ix.Close()
	}}
	storeReaders(src, ls)
	src.page = func(ctx context.Context, after []string, size int, facets bool) ([]index.Hit, uint64, []facetBlock, []string, error) {
		res, err := ix.Search(ctx, q, index.SearchOptions{Limit: size, After: after, Facets: facets, Kinds: kinds})
		if err != nil {
			return nil, 0, nil, nil, err
		}
		var next []string
		if len(res.Hits) > 0 {
			next = res.Hits[len(res.Hits)-1].Sort
		}
		var fbs []facetBlock
		for _, ft := range facetTitles {
			if ft.name == index.FacetSensor && len(res.Facets[ft.name]) < 2 {
				continue // one sensor's store: as the UI's facet panel
			}
			if res.Facets != nil {
				fbs = append(fbs, facetBlock{ft.title, res.Facets[ft.name]})
			}
		}
		return res.Hits, res.Total, fbs, next, nil
	}
	return src, nil
}

// remoteSource searches through a running collector's UI socket.
func remoteSource(r *api.Remote, q string, kinds []string) (*searchSource, error) {
	if len(kinds) > 1 {
		r.Close()
		return nil, errors.New("through a running collector, --kind takes one kind")
	}
	kind := ""
	if len(kinds) == 1 {
		kind = kinds[0]
	}
	fmt.Fprintln(os.Stderr, "(searching through the running collector)")
	src := &searchSource{}
	remoteReaders(src, r)
	src.page = func(ctx context.Context, after []string, size int, facets bool) ([]index.Hit, uint64, []facetBlock, []string, error) {
		res, err := r.Search(ctx, q, api.SearchOptions{Limit: size, After: after, Facets: facets, Kind: kind})
		if err != nil {
			return nil, 0, nil, nil, err
		}
		hits := make([]index.Hit, len(res.Rows))
		for i, w := range res.Rows {
			hits[i] = index.Hit{Row: w}
		}
		var fbs []facetBlock
		for _, f := range res.Facets {
			fb := facetBlock{title: f.Name}
			for _, t := range f.Terms {
				fb.counts = append(fb.counts, index.FacetCount{Term: t.Term, Count: t.Count})
			}
			fbs = append(fbs, fb)
		}
		return hits, res.Total, fbs, res.Next, nil
	}
	return src, nil
}

// queryError shows where a malformed query goes wrong.
func queryError(q string, err error) error {
	var pe *index.ParseError
	var qe *api.QueryError
	switch {
	case errors.As(err, &pe):
	case errors.As(err, &qe):
		pe = &index.ParseError{Col: qe.Col, Msg: qe.Msg}
		err = pe
	default:
		return err
	}
	// The caret goes under the escaped form of the query.
	shown := sanitize.Clip(q, 1000)
	before := sanitize.Line(q[:max(0, min(pe.Col-1, len(q)))])
	caret := strings.Repeat(" ", min(utf8.RuneCountInString(before), utf8.RuneCountInString(shown)))
	return fmt.Errorf("%v\n  %s\n  %s^", err, shown, caret)
}

// writeRecord prints the stored record of an email hit (or the hit itself
// for sessions and review entries, which have no record).
func writeRecord(ctx context.Context, encode func(any) error, stderr io.Writer, record func(context.Context, string) (*core.Email, error), h index.Hit) error {
	if h.Kind != index.KindEmail {
		return encode(h)
	}
	rec, err := record(ctx, h.ID)
	if err != nil {
		if errors.Is(err, errNoRecords) {
			return err
		}
		fmt.Fprintf(stderr, "warning: email %s is in the index but its record cannot be read: %s\n", sanitize.Clip(h.ID, 200), sanitize.Line(err.Error()))
		return nil
	}
	return encode(rec)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

var facetTitles = []struct{ name, title string }{
	{index.FacetSenderDomain, "sender domain"},
	{index.FacetAttachType, "attachment type"},
	{index.FacetIOCType, "IOC type"},
	{index.FacetStatus, "status"},
	{index.FacetSensor, "sensor"}, // only when the matches span two sensors or more
}

func printFacets(w io.Writer, facets []facetBlock) {
	for _, fb := range facets {
		fmt.Fprintf(w, "\n%s:\n", sanitize.Line(fb.title))
		fcs := append([]index.FacetCount(nil), fb.counts...)
		sort.SliceStable(fcs, func(i, j int) bool { return fcs[i].Count > fcs[j].Count })
		if len(fcs) == 0 {
			fmt.Fprintln(w, "  (none)")
		}
		for _, fc := range fcs {
			fmt.Fprintf(w, "  %7d  %s\n", fc.Count, sanitize.Clip(fc.Term, 80))
		}
	}
}

// searchMemoryLimit is the heap from which a `search` process collects
// garbage (see paceSearchGC).
const searchMemoryLimit = 256 << 20

// paceSearchGC: a `search` process lives for tens of milliseconds and
// holds a few tens of MB; the collections the default pacing runs on
// the way (each one scanning the binary's globals) cost about a fifth of
// its CPU. It collects only from searchMemoryLimit of heap on, which
// still bounds a large --json export. GOGC or GOMEMLIMIT in the
// environment are left as the user set them.
func paceSearchGC() {
	if userPacesGC() {
		return
	}
	debug.SetMemoryLimit(searchMemoryLimit)
	debug.SetGCPercent(-1)
}

// holdGCForStart paces the start of every verb as paceSearchGC does:
// parsing the command line walks the whole CLI model, and on the way the
// default pacing ran a collection (a tenth of a short `search`). The
// returned func restores what was set before (main calls it once the
// verb is known, unless the verb is search).
func holdGCForStart() (restore func()) {
	if userPacesGC() {
		return func() {}
	}
	limit := debug.SetMemoryLimit(searchMemoryLimit)
	percent := debug.SetGCPercent(-1)
	return func() {
		debug.SetGCPercent(percent)
		debug.SetMemoryLimit(limit)
	}
}
