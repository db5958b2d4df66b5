package index

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/smtpscope/smtpscope/collector/api"
)

// TestReadmeFieldTable: the README's query-language table holds exactly
// the rows api.FieldTable generates from api.Fields, the one table the
// parser knows — both columns, in order — and every field parses.
func TestReadmeFieldTable(t *testing.T) {
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Skipf("README.md: %v", err)
	}
	s := string(b)
	start := strings.Index(s, "### Searching: the query language")
	end := strings.Index(s[start:], "Combining:")
	if start < 0 || end < 0 {
		t.Fatal("README: query language table not found")
	}
	field := regexp.MustCompile("^\\| `[a-z]+:`")
	var inReadme []string
	for _, l := range strings.Split(s[start:start+end], "\n") {
		if field.MatchString(l) {
			inReadme = append(inReadme, l)
		}
	}
	want := api.FieldTable()
	if !slices.Equal(inReadme, want) {
		t.Errorf("README's field rows differ from api.FieldTable; want:\n%s\ngot:\n%s",
			strings.Join(want, "\n"), strings.Join(inReadme, "\n"))
	}
	for _, f := range api.Fields {
		if _, err := ParseQuery(f.Name + ":x"); err != nil && strings.Contains(err.Error(), "unknown field") {
			t.Errorf("field %s: %v", f.Name, err)
		}
	}
	for _, ex := range append(api.Examples(), api.QuickFilters[:]...) {
		if _, err := ParseQuery(ex); err != nil {
			t.Errorf("example %q: %v", ex, err)
		}
	}
}
