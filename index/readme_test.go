package index

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestReadmeFieldTable: the README's query-language table lists exactly
// the fields the parser knows (fieldNames is the one table).
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
	var inReadme []string
	for _, l := range strings.Split(s[start:start+end], "\n") {
		if cells := strings.SplitN(l, "|", 3); len(cells) == 3 {
			for _, m := range regexp.MustCompile("`([a-z]+):`").FindAllStringSubmatch(cells[1], -1) {
				inReadme = append(inReadme, m[1])
			}
		}
	}
	var known []string
	for n := range fieldNames {
		known = append(known, n)
	}
	slices.Sort(known)
	slices.Sort(inReadme)
	if !slices.Equal(known, slices.Compact(inReadme)) {
		t.Errorf("README table fields %v\nparser fields %v", inReadme, known)
	}
}
