package index

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		q    string
		col  int
		want string // part of the message
	}{
		{"from:", 1, "from: needs a value"},
		{"invoice from:", 9, "needs a value"},
		{"(invoice", 1, "unclosed '('"},
		{"from:(", 6, "unclosed '('"},
		{"from:(a", 6, "unclosed '('"},
		{"(a OR (b c)", 1, "unclosed '('"},
		{"a)", 2, "unbalanced ')'"},
		{"()", 2, "empty parentheses"},
		{"form:bob", 1, `unknown field "form"`},
		{`"abc`, 1, "unterminated quote"},
		{`subject:"abc`, 9, "unterminated quote"},
		{"after:yesterday", 7, "not a date"},
		{"before:2026-13-01", 8, "not a date"},
		{"larger:lots", 8, "not a size"},
		{"smaller:-5", 9, "not a size"},
		{"a OR", 3, "OR needs something on both sides"},
		{"OR a", 1, "OR needs something on both sides"},
		{"a AND", 3, "AND needs something on both sides"},
		{"AND a", 1, "AND needs something on both sides"},
		{"a OR OR b", 3, "OR needs something"},
		{"-", 1, "nothing to negate"},
		{"a - b", 3, "nothing to negate"},
		{"NOT", 1, "nothing to negate"},
		{"status:bogus", 8, `"bogus" is not one of queued, sent, retrying, failed`},
		{"has:money", 5, "is not one of"},
		{"kind:thing", 6, "is not one of"},
		{"ip:not-an-ip", 4, "not an IP address"},
		{"ip:10.0.0.0/12", 4, "only IPv4 prefixes"},
		{"ip:10.0.0.0/99", 4, "not an address or a CIDR"},
		{"from:(bob OR to:x)", 14, "inside from:( ) group"},
		{"héllo wörld )", 13, "unbalanced ')'"},
		{"after:1000-01-01", 7, "out of range"},
		{strings.Repeat("(", 40) + "a" + strings.Repeat(")", 40), 33, "nested deeper"},
		{strings.Repeat("a ", 70), 129, "more than 64 search terms"},
	} {
		_, err := ParseQuery(tc.q)
		var pe *ParseError
		if !errors.As(err, &pe) {
			t.Errorf("%q: err %v, want a ParseError", tc.q, err)
			continue
		}
		if pe.Col != tc.col || !strings.Contains(pe.Msg, tc.want) {
			t.Errorf("%q: got %q (col %d), want col %d containing %q", tc.q, err, pe.Col, tc.col, tc.want)
		}
		if !strings.HasPrefix(err.Error(), "col ") {
			t.Errorf("%q: error %q does not start with the column", tc.q, err)
		}
	}
}

func TestParseAccepts(t *testing.T) {
	for _, q := range []string{
		"", "   ", "invoice", `"two words"`, "a b c", "a OR b", "a AND b", "-a", "NOT a", "-(a OR b)",
		"((a))", "from:x@y.z", `subject:"x y"`, "from:(a OR b)", "ip:10.0.0.0/8", "ip:10.1.0.0/16",
		"ip:10.1.2.0/24", "ip:10.1.2.3/32", "ip:fe80::1", "fe80::1", "http://x.example/a", "after:7d", "before:12h",
		"after:2026-01-31T08:00", "after:2026-01", "after:2026-01-31T08:00:00+02:00", "larger:1.5M", "smaller:512",
		"larger:2MB", "larger:1GiB", "filename:*.exe", "type:pdf", "url:*x*", "status:prod:sent", `a\b`, "e-mail",
		"a-b-c", "(a)-b", "2001:db8::1",
	} {
		if _, err := ParseQuery(q); err != nil {
			t.Errorf("%q: %v", q, err)
		}
	}
}

// The structure the parser builds: precedence (AND binds tighter than OR),
// negation, grouping.
func TestParseStructure(t *testing.T) {
	for _, tc := range []struct{ q, want string }{
		{"a b OR c", "or(and(a,b),c)"},
		{"a OR b c", "or(a,and(b,c))"},
		{"a AND b OR c AND d", "or(and(a,b),and(c,d))"},
		{"a (b OR c)", "and(a,or(b,c))"},
		{"-a b", "and(not(a),b)"},
		{"-(a OR b) c", "and(not(or(a,b)),c)"},
		{"NOT NOT a", "not(not(a))"},
		{`from:"x y" z`, `and(from:"x y",z)`},
		{"from:(a OR b)", "or(from:a,from:b)"},
		{"from:(a b)", "and(from:a,from:b)"},
		{`"a(b)"`, `"a(b)"`},
		{`"say \"hi\""`, `"say "hi""`},
	} {
		n, err := parseAST(tc.q)
		if err != nil {
			t.Errorf("%q: %v", tc.q, err)
			continue
		}
		if got := dump(n); got != tc.want {
			t.Errorf("%q: got %s, want %s", tc.q, got, tc.want)
		}
	}
}

func dump(n node) string {
	switch n := n.(type) {
	case *orNode:
		return "or(" + dumpAll(n.kids) + ")"
	case *andNode:
		return "and(" + dumpAll(n.kids) + ")"
	case *notNode:
		return "not(" + dump(n.kid) + ")"
	case *termNode:
		v := n.value
		if n.quoted {
			v = `"` + v + `"`
		}
		if n.field != "" {
			return n.field + ":" + v
		}
		return v
	}
	return "?"
}

func dumpAll(ns []node) string {
	var parts []string
	for _, n := range ns {
		parts = append(parts, dump(n))
	}
	return strings.Join(parts, ",")
}

func TestRelativeTimes(t *testing.T) {
	now := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	q, err := parseQueryAt("after:7d", now)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := json.Marshal(q)
	want, _ := json.Marshal(timeRange(now.Add(-7*24*time.Hour).UnixNano(), maxTime))
	if string(got) != string(want) {
		t.Errorf("after:7d gave %s, want %s", got, want)
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"2M": 2 << 20, "500k": 500 << 10, "1.5MB": 3 << 19, "1024": 1024, "1GiB": 1 << 30, "10b": 10} {
		got, err := parseSize(in)
		if err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
}

// FuzzParseQuery: any input either parses into a query bleve can encode,
// or fails with a ParseError whose position is inside the input. Never a
// panic, never another error type.
func FuzzParseQuery(f *testing.F) {
	for _, tc := range fixtureQueries {
		f.Add(tc.q)
	}
	for _, s := range []string{"(", ")", `"`, "-", "a OR", "from:", "from:(", `from:"`, "((((a", "-(-(-a))",
		"ip:1.2.3.4/8", "after:99999999d", "larger:1e400", "\xff\xfe", "a\x00b", "héllo", "NOT NOT NOT", "a AND OR b",
		"status:prod:", "type:", "filename:*", "url:*", "has:", "-\"\"", `""`, "x:y", "IP:1.2.3.4", "FROM:bob"} {
		f.Add(s)
	}
	// Every query that parses also runs, against the fixture: bleve must
	// not panic on what we give it (wildcards, ranges, odd bytes).
	ix, err := Open(filepath.Join(f.TempDir(), "index"))
	if err != nil {
		f.Fatal(err)
	}
	defer ix.Close()
	newFixture().load(f, ix)
	f.Fuzz(func(t *testing.T, q string) {
		// As-you-type parsing accepts what ParseQuery accepts, and more
		// only through completions; it must never panic either.
		if pq, err := ParseQueryAsYouType(q); err == nil {
			if _, err := json.Marshal(pq); err != nil {
				t.Fatalf("%q (as you type): query does not encode: %v", q, err)
			}
		} else {
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("%q (as you type): error %v is not a ParseError", q, err)
			}
		}
		pq, err := ParseQuery(q)
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("%q: error %v is not a ParseError", q, err)
			}
			if pe.Pos < 0 || pe.Pos > len(q) || pe.Col < 1 || pe.Col > utf8.RuneCountInString(q)+1 {
				t.Fatalf("%q: position %d col %d outside the query", q, pe.Pos, pe.Col)
			}
			return
		}
		if pq == nil {
			t.Fatalf("%q: nil query without error", q)
		}
		if _, err := json.Marshal(pq); err != nil {
			t.Fatalf("%q: query does not encode: %v", q, err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := ix.SearchQuery(ctx, pq, SearchOptions{Limit: 5, Facets: true}); err != nil && ctx.Err() != nil {
			t.Fatalf("%q: search did not finish: %v", q, err)
		}
	})
}
