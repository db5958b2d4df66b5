package main

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// mapRow is one line of README's package map: the packages it covers and
// what they may import (nil for "nothing of ours", any for "anything").
type mapRow struct {
	pkg   string // a package path, or a subtree "x/..."
	may   []string
	isAny bool
}

var backticked = regexp.MustCompile("`([^`]+)`")

// packageMap reads the table of README's Development section.
func packageMap(t *testing.T) []mapRow {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, sec, ok := strings.Cut(string(b), "\n## Development\n")
	if !ok {
		t.Fatal("README.md: no Development section")
	}
	sec, _, _ = strings.Cut(sec, "\n#")
	var rows []mapRow
	for _, line := range strings.Split(sec, "\n") {
		cols := strings.Split(line, "|")
		if len(cols) != 5 || !strings.HasPrefix(strings.TrimSpace(cols[1]), "`") {
			continue
		}
		r := mapRow{pkg: strings.Trim(strings.TrimSpace(cols[1]), "`"), isAny: strings.TrimSpace(cols[3]) == "anything"}
		for _, m := range backticked.FindAllStringSubmatch(strings.SplitN(cols[3], ";", 2)[0], -1) {
			r.may = append(r.may, m[1])
		}
		rows = append(rows, r)
	}
	if len(rows) < 5 {
		t.Fatalf("README.md: package map has %d rows", len(rows))
	}
	return rows
}

// covers reports whether pattern ("x" or "x/...") names pkg (relative to
// the module).
func covers(pattern, pkg string) bool {
	if dir, ok := strings.CutSuffix(pattern, "/..."); ok {
		return pkg == dir || strings.HasPrefix(pkg, dir+"/")
	}
	return pkg == pattern
}

// rowOf returns the row of pkg: its own, a subtree's, or, for a package
// under an internal/ directory, the row of the package owning it.
func rowOf(rows []mapRow, pkg string) (mapRow, bool) {
	for _, r := range rows {
		if covers(r.pkg, pkg) {
			return r, true
		}
	}
	if owner, _, ok := strings.Cut(pkg, "/internal/"); ok {
		return rowOf(rows, owner)
	}
	return mapRow{}, false
}

// allows reports whether a package of the row may import imp: its own
// subtree, or what the row lists.
func (r mapRow) allows(imp string) bool {
	if r.isAny || covers(r.pkg, imp) {
		return true
	}
	for _, m := range r.may {
		if covers(m, imp) {
			return true
		}
	}
	return false
}

// TestPackageMap: README's package map has a line for every package of
// the module, and every package imports only what its line allows.
func TestPackageMap(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list over the module")
	}
	rows := packageMap(t)
	for _, p := range modulePackages(t) {
		pkg := strings.TrimPrefix(p.ImportPath, modPath+"/")
		r, ok := rowOf(rows, pkg)
		if !ok {
			t.Errorf("README.md package map: no line for %s", pkg)
			continue
		}
		for _, imp := range p.Imports {
			if rel, ok := strings.CutPrefix(imp, modPath+"/"); ok && !r.allows(rel) {
				t.Errorf("%s imports %s, which its line in README's package map (%s) does not allow", pkg, rel, r.pkg)
			}
		}
	}
}
