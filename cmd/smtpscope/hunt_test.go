package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestHuntVerbs runs the real binary: `collect --once` with a config of
// two hunts tags what they match; `hunt list` shows each hunt's count,
// the same as `search hunt:NAME`; `hunt test QUERY` shows what a hunt
// would have matched (the count search gives for the query over
// emails), a query starting with '-' included; a bad query names the
// column.
func TestHuntVerbs(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test (builds the binary, runs the collector)")
	}
	dir := t.TempDir()
	bin := testBinary(t)
	spool, data := sampleSpool(t, dir)
	cfg := filepath.Join(dir, "smtpscope.toml")
	conf := fmt.Sprintf("spool = %q\ndata = %q\n\n[[hunt]]\nname = \"att\"\nquery = \"has:attachment\"\n\n"+
		"[[hunt]]\nname = \"none\"\nquery = \"subject:zzzznothing\"\n", spool, data)
	if err := os.WriteFile(cfg, []byte(conf), 0o640); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) (string, string, error) { return execBin(bin, args...) }
	if out, errs, err := run("collect", "--config", cfg, "--once", "--once-timeout", "60s", "--no-fsync"); err != nil {
		t.Fatalf("collect --once: %v\n%s%s", err, out, errs)
	}
	count := func(errs string) string {
		m := regexp.MustCompile(`(\d+) of (\d+) matches`).FindStringSubmatch(errs)
		if m == nil {
			t.Fatalf("no count in %q", errs)
		}
		return m[2]
	}
	_, errs, err := run("search", "--data", data, "--kind", "email", "has:attachment")
	if err != nil {
		t.Fatal(err)
	}
	want := count(errs)
	if want == "0" {
		t.Fatal("no sample email has an attachment")
	}
	_, errs, err = run("search", "--data", data, "hunt:att")
	if err != nil || count(errs) != want {
		t.Errorf("search hunt:att: %v, %s matches, want %s (every email with an attachment tagged)", err, count(errs), want)
	}

	out := runBin(t, bin, "hunt", "list", "--config", cfg)
	if !regexp.MustCompile(`(?m)^att\s+`+want+`\s+-\s+has:attachment$`).MatchString(out) ||
		!regexp.MustCompile(`(?m)^none\s+0\s+-\s+subject:zzzznothing$`).MatchString(out) {
		t.Errorf("hunt list:\n%s", out)
	}

	out, errs, err = run("hunt", "test", "--data", data, "--limit", "0", "has:attachment")
	if err != nil || count(errs) != want || !strings.HasPrefix(out, "ID ") || strings.Count(strings.TrimSpace(out), "\n") != atoi(t, want) {
		t.Errorf("hunt test: %v\n%s%s", err, out, errs)
	}
	_, errs, err = run("search", "--data", data, "--kind", "email", "-has:attachment")
	if err != nil {
		t.Fatal(err)
	}
	neg := count(errs)
	if _, errs, err = run("hunt", "test", "--data", data, "-has:attachment"); err != nil || count(errs) != neg {
		t.Errorf("hunt test -has:attachment: %v %s, want %s matches", err, errs, neg)
	}
	if _, errs, err = run("hunt", "test", "--data", data, "from:("); err == nil || !strings.Contains(errs, "col 6") {
		t.Errorf("bad query: %v %s", err, errs)
	}
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	var n int
	if _, err := fmt.Sscan(s, &n); err != nil {
		t.Fatal(err)
	}
	return n
}
