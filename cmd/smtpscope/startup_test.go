package main

import (
	"bytes"
	"os"
	"os/exec"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// initLine is one line of GODEBUG=inittrace=1: a package's initialiser
// and the heap it allocated.
var initLine = regexp.MustCompile(`(?m)^init (\S+) @[0-9.]+ ms, [0-9.]+ ms clock, ([0-9]+) bytes, ([0-9]+) allocs$`)

// TestStartUpInit: what the binary's package initialisers allocate
// before main, from the runtime's own trace of `smtpscope --version`.
// bleve's scorch package built two Levenshtein automaton builders in its
// init (1 MB, 26,000 allocations, half the instructions of --version);
// the vellum copy in internal/third_party builds them on first use, so scorch's
// init now allocates next to nothing. This module's own initialisers
// build nothing big either.
func TestStartUpInit(t *testing.T) {
	bin := testBinary(t)
	cmd := exec.Command(bin, "--version")
	cmd.Env = append(os.Environ(), "GODEBUG=inittrace=1")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("--version: %v\n%s", err, errb.String())
	}
	type pkgInit struct {
		pkg           string
		bytes, allocs int
	}
	var inits []pkgInit
	total := pkgInit{pkg: "all"}
	for _, m := range initLine.FindAllStringSubmatch(errb.String(), -1) {
		b, _ := strconv.Atoi(m[2])
		a, _ := strconv.Atoi(m[3])
		inits = append(inits, pkgInit{m[1], b, a})
		total.bytes += b
		total.allocs += a
	}
	if len(inits) < 100 {
		t.Fatalf("%d initialisers traced:\n%s", len(inits), errb.String())
	}
	sort.Slice(inits, func(i, j int) bool { return inits[i].bytes > inits[j].bytes })
	t.Logf("%d initialisers, %d bytes, %d allocations; the largest: %+v", len(inits), total.bytes, total.allocs, inits[:5])
	ours := pkgInit{pkg: modPath}
	for _, in := range inits {
		if in.pkg == "github.com/blevesearch/bleve/v2/index/scorch" && in.bytes > 64<<10 {
			t.Errorf("bleve's scorch init allocates %d bytes in %d allocations: the Levenshtein builders are built at start again", in.bytes, in.allocs)
		}
		if strings.HasPrefix(in.pkg, modPath+"/") {
			ours.bytes += in.bytes
			ours.allocs += in.allocs
		}
	}
	// Tables, regular expressions and mappings are built on first use
	// (sync.OnceValue), not by every process: this module's initialisers
	// allocated 284 kB in 4,042 allocations, now some 24 kB in 100.
	if ours.bytes > 64<<10 || ours.allocs > 1000 {
		t.Errorf("this module's initialisers allocate %d bytes in %d allocations: something is built at start that could be built on first use (GODEBUG=inittrace=1 smtpscope --version)", ours.bytes, ours.allocs)
	}
}
