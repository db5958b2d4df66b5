package fakebackend

import (
	"context"
	"errors"
	"testing"
	"unicode"

	"github.com/smtpscope/smtpscope/collector/api"
)

// FuzzMemoryQuery: the Memory backend's small query parser never panics
// and reports errors with a column in characters (what the search bar and
// the CLI put their caret under, as the index does) that points at the
// clause at fault: the start of a word or of its field name, or the end
// of a "field:" that lacks its value.
func FuzzMemoryQuery(f *testing.F) {
	for _, s := range []string{"", "ioc:x", "-has:ioc bogus:1", "from:", "a:b:c", "日本 -",
		"日本 from:", "ü -bogus:1", "\u0085\x85 bogus:1", "\u00a0\xa0\u00a0\xa0 \xa0:x"} {
		f.Add(s)
	}
	mem := NewMemory("default")
	f.Fuzz(func(t *testing.T, q string) {
		_, err := mem.Search(context.Background(), q, api.SearchOptions{Facets: true})
		var qe *api.QueryError
		if !errors.As(err, &qe) {
			return
		}
		rs := []rune(q)
		if qe.Col < 1 || qe.Col > len(rs)+1 {
			t.Fatalf("column %d outside the %d characters of %q", qe.Col, len(rs), q)
		}
		// The start of a word (or of its field name after "-"), or the
		// end of a "field:".
		if qe.Col > 1 {
			if prev := rs[qe.Col-2]; !unicode.IsSpace(prev) && prev != '-' && prev != ':' {
				t.Fatalf("column %d of %q (%v) is inside a word", qe.Col, q, err)
			}
		}
		if qe.Col <= len(rs) && unicode.IsSpace(rs[qe.Col-1]) && (qe.Col == 1 || rs[qe.Col-2] != ':') {
			t.Fatalf("column %d of %q (%v) points at white space", qe.Col, q, err)
		}
	})
}
