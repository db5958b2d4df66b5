package main

import (
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"strings"
	"testing"
)

const modPath = "github.com/smtpscope/smtpscope"

// listedPackage is what the import rules need of `go list -json`.
type listedPackage struct {
	ImportPath string
	Standard   bool
	Imports    []string
	Deps       []string
	Module     *struct{ Path string }
}

// modulePackages lists the packages of this module (not their tests) with
// their imports and transitive dependencies, as `go list -deps -json`
// reports them.
func modulePackages(t *testing.T) []listedPackage {
	t.Helper()
	cmd := exec.Command("go", "list", "-deps", "-json", "-tags", "yara", modPath+"/...")
	cmd.Dir = "../.."
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("go list: %v\n%s", err, ee.Stderr)
		}
		t.Skipf("go list: %v", err)
	}
	var pkgs []listedPackage
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for {
		var p listedPackage
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		if p.Module != nil && p.Module.Path == modPath {
			pkgs = append(pkgs, p)
		}
	}
	if len(pkgs) < 10 {
		t.Fatalf("go list found only %d packages of %s", len(pkgs), modPath)
	}
	return pkgs
}

func under(pkg, dir string) bool {
	p := modPath + "/" + dir
	return pkg == p || strings.HasPrefix(pkg, p+"/")
}

// violations lists the import rules a package breaks: only ui/ and cmd/
// import ui/...; nothing under ui/ depends (even indirectly) on bbolt or
// bleve; collector/api, the contract clients link, depends on neither.
func violations(p listedPackage) []string {
	var bad []string
	if !under(p.ImportPath, "ui") && !under(p.ImportPath, "cmd") {
		for _, imp := range p.Imports {
			if under(imp, "ui") {
				bad = append(bad, p.ImportPath+" imports "+imp)
			}
		}
	}
	if under(p.ImportPath, "ui") || under(p.ImportPath, "collector/api") {
		for _, d := range p.Deps {
			if strings.HasPrefix(d, "go.etcd.io/bbolt") || strings.HasPrefix(d, "github.com/blevesearch/") {
				bad = append(bad, p.ImportPath+" depends on "+d)
				break
			}
		}
	}
	return bad
}

// TestImportRules: the service belongs to the collector side and the UI
// is a client of its API; a package that breaks that fails here.
func TestImportRules(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list over the module")
	}
	for _, p := range modulePackages(t) {
		for _, v := range violations(p) {
			t.Error(v)
		}
	}
}

// The rules themselves catch what they are meant to catch.
func TestImportRulesDetect(t *testing.T) {
	cases := []struct {
		p    listedPackage
		want bool
	}{
		{listedPackage{ImportPath: modPath + "/collector", Imports: []string{modPath + "/ui/sanitize"}}, true},
		{listedPackage{ImportPath: modPath + "/ui/list", Deps: []string{"go.etcd.io/bbolt"}}, true},
		{listedPackage{ImportPath: modPath + "/ui", Deps: []string{"github.com/blevesearch/bleve/v2"}}, true},
		{listedPackage{ImportPath: modPath + "/collector/api", Deps: []string{"go.etcd.io/bbolt/errors"}}, true},
		{listedPackage{ImportPath: modPath + "/cmd/smtpscope", Imports: []string{modPath + "/ui"}, Deps: []string{"go.etcd.io/bbolt"}}, false},
		{listedPackage{ImportPath: modPath + "/uikit", Imports: []string{modPath + "/uikit2"}}, false},
		{listedPackage{ImportPath: modPath + "/collector/service", Deps: []string{"github.com/blevesearch/bleve/v2"}}, false},
	}
	for _, c := range cases {
		if got := len(violations(c.p)) > 0; got != c.want {
			t.Errorf("%s: violation %v, want %v", c.p.ImportPath, got, c.want)
		}
	}
}
