package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/smtpscope/smtpscope/collector"
	"github.com/smtpscope/smtpscope/index"
)

// SearchCmd searches the index of a data dir.
type SearchCmd struct {
	Data   string   `help:"Data directory." env:"SMTPSCOPE_DATA" required:"" placeholder:"DIR"`
	JSON   bool     `help:"Print the email records (same schema as parse) as JSON Lines instead of a table."`
	Limit  int      `default:"50" help:"How many matches to print, newest first (0: all)."`
	Facets bool     `help:"Also print counts by sender domain, attachment type, IOC type and status."`
	Kind   []string `help:"Only these kinds: email, session, review (default: all; with --json: email)." enum:"email,session,review" placeholder:"KIND"`
	Query  []string `arg:"" optional:"" help:"Query (see the query language in the README); several words are joined with spaces."`
}

// searchPage is how many hits one search-after page fetches.
const searchPage = 1000

// Run prints the matches.
func (c *SearchCmd) Run() error {
	q := strings.Join(c.Query, " ")
	if _, err := index.ParseQuery(q); err != nil {
		return queryError(q, err)
	}
	ix, err := openIndex(c.Data)
	if err != nil {
		return err
	}
	defer ix.Close()
	if ix.Stale() {
		fmt.Fprintln(os.Stderr, "warning: the index was built by another version of smtpscope; run `smtpscope reindex`")
	}
	kinds := c.Kind
	if c.JSON && len(kinds) == 0 {
		kinds = []string{index.KindEmail}
	}
	var st *collector.Store
	if c.JSON {
		st, err = collector.OpenStore(c.Data, collector.StoreOptions{ReadOnly: true, Timeout: 500 * time.Millisecond})
		if err != nil {
			return fmt.Errorf("reading records: %w", err)
		}
		defer st.Close()
	}

	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()
	var table *tabwriter.Writer
	if !c.JSON {
		table = tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
		fmt.Fprintln(table, "TIME\tSOURCE\tFROM\tRCPT\tSUBJECT\tATT\tIOC\tYARA\tSTATUS")
	}
	enc := json.NewEncoder(out)
	enc.SetEscapeHTML(false)

	ctx := context.Background()
	var after []string
	printed := 0
	var total uint64
	var facets map[string][]index.FacetCount
	for first := true; c.Limit <= 0 || printed < c.Limit; first = false {
		size := searchPage
		if c.Limit > 0 {
			size = min(size, c.Limit-printed)
		}
		res, err := ix.Search(ctx, q, index.SearchOptions{Limit: size, After: after, Facets: c.Facets && first, Kinds: kinds})
		if err != nil {
			return queryError(q, err)
		}
		if first {
			total, facets = res.Total, res.Facets
		}
		for _, h := range res.Hits {
			if c.JSON {
				if err := writeRecord(enc, st, h); err != nil {
					return err
				}
			} else {
				writeRow(table, h)
			}
			printed++
		}
		if len(res.Hits) < size {
			break
		}
		after = res.Hits[len(res.Hits)-1].Sort
	}
	if table != nil {
		if err := table.Flush(); err != nil {
			return err
		}
	}
	if err := out.Flush(); err != nil {
		return err
	}
	if !c.JSON {
		fmt.Fprintf(os.Stderr, "%d of %d matches\n", printed, total)
	}
	if c.Facets {
		w := os.Stdout
		if c.JSON {
			w = os.Stderr // keep stdout JSON Lines
		}
		printFacets(w, facets)
	}
	return nil
}

// queryError shows where a malformed query goes wrong.
func queryError(q string, err error) error {
	var pe *index.ParseError
	if !errors.As(err, &pe) {
		return err
	}
	shown := cleanCell(q, 1000)
	caret := strings.Repeat(" ", max(0, min(pe.Col-1, utf8.RuneCountInString(shown))))
	return fmt.Errorf("%v\n  %s\n  %s^", err, shown, caret)
}

// writeRecord prints the stored record of an email hit (or the hit itself
// for sessions and review entries, which have no record).
func writeRecord(enc *json.Encoder, st *collector.Store, h index.Hit) error {
	if h.Kind != index.KindEmail {
		return enc.Encode(h)
	}
	rec, err := st.Record(h.ID)
	if err != nil {
		fmt.Fprintf(os.Stderr, "warning: email %s is in the index but its record cannot be read: %v\n", cleanCell(h.ID, 200), err)
		return nil
	}
	return enc.Encode(rec)
}

func writeRow(w io.Writer, h index.Hit) {
	when := "-"
	if !h.Time.IsZero() {
		when = h.Time.UTC().Format("2006-01-02 15:04:05")
	}
	src, from, subject := h.SourceIP, h.MailFrom, h.Subject
	if from == "" {
		from = h.From
	}
	switch h.Kind {
	case index.KindSession:
		from = "-"
		subject = "[session " + h.Reason + "] " + h.UID
	case index.KindReview:
		src, from = "-", "-"
		subject = "[review] " + h.Name + ": " + h.Reason
	}
	num := func(n int) string {
		if h.Kind != index.KindEmail {
			return "-"
		}
		return strconv.Itoa(n)
	}
	status := h.StatusText()
	if status == "" {
		status = "-"
	}
	if h.Partial {
		subject = "[partial] " + subject
	}
	fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", when, cleanCell(orDash(src), 40), cleanCell(orDash(from), 40),
		num(h.RcptCount), cleanCell(orDash(subject), 60), num(h.Attachments), num(h.IOCCount), num(h.YaraCount), cleanCell(status, 40))
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// cleanCell makes text from mail safe and short for a terminal: control
// characters (escape sequences included), tabs and newlines become
// visible escapes or spaces, invalid UTF-8 is shown as \xNN, and the result
// is cut at max characters.
func cleanCell(s string, max int) string {
	var sb strings.Builder
	n := 0
	for i := 0; i < len(s); {
		if n >= max {
			sb.WriteString("…")
			break
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&sb, `\x%02x`, s[i])
		case r == '\t' || r == '\n' || r == '\r':
			sb.WriteByte(' ')
		case unicode.IsControl(r) || r == 0x7f || unicode.Is(unicode.Cf, r):
			fmt.Fprintf(&sb, `\u%04x`, r)
		default:
			sb.WriteRune(r)
		}
		i += size
		n++
	}
	return sb.String()
}

var facetTitles = []struct{ name, title string }{
	{index.FacetSenderDomain, "sender domain"},
	{index.FacetAttachType, "attachment type"},
	{index.FacetIOCType, "IOC type"},
	{index.FacetStatus, "status"},
}

func printFacets(w io.Writer, facets map[string][]index.FacetCount) {
	for _, ft := range facetTitles {
		fmt.Fprintf(w, "\n%s:\n", ft.title)
		fcs := append([]index.FacetCount(nil), facets[ft.name]...)
		sort.SliceStable(fcs, func(i, j int) bool { return fcs[i].Count > fcs[j].Count })
		if len(fcs) == 0 {
			fmt.Fprintln(w, "  (none)")
		}
		for _, fc := range fcs {
			fmt.Fprintf(w, "  %7d  %s\n", fc.Count, cleanCell(fc.Term, 80))
		}
	}
}
