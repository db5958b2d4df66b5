package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestUsageErrors: a command line that does not parse is one short
// message on stderr (the problem, then where the help is) and exit status
// 2; an unknown first word is an unknown verb, with the closest one.
func TestUsageErrors(t *testing.T) {
	cases := []struct {
		args []string
		want []string // substrings of stderr
	}{
		{[]string{"serch", "invoice"}, []string{`unknown verb "serch"`, `did you mean "search"?`, "verbs: ui, demo,", "smtpscope --help"}},
		{[]string{"rep"}, []string{`unknown verb "rep"`, `did you mean "repair"?`}},
		{[]string{"zzzzzz"}, []string{`unknown verb "zzzzzz"`, "verbs:"}},
		{[]string{"evil\x1b[2Jverb"}, []string{`unknown verb "evil`}},
		{[]string{"search", "--bogus"}, []string{"smtpscope search: unknown flag --bogus", "see 'smtpscope search --help'"}},
		{[]string{"collect", "--workers", "x"}, []string{"smtpscope collect: --workers:", `"x"`, "smtpscope collect --help"}},
		{[]string{"hub", "--data", "d"}, []string{"smtpscope hub: missing flags: --nats", "smtpscope hub --help"}},
		{[]string{"pcap"}, []string{"smtpscope pcap: expected", "smtpscope pcap --help"}},
		{[]string{"--nope"}, []string{"smtpscope: unknown flag --nope", "smtpscope --help"}},
	}
	for _, c := range cases {
		var cli CLI
		var stderr bytes.Buffer
		ctx, code := parseArgs(&cli, c.args, &stderr)
		got := stderr.String()
		if ctx != nil || code != exitUsage {
			t.Errorf("%q: context %v, exit %d; want a usage error (exit %d)", c.args, ctx != nil, code, exitUsage)
		}
		for _, w := range c.want {
			if !strings.Contains(got, w) {
				t.Errorf("%q: stderr %q lacks %q", c.args, got, w)
			}
		}
		if n := strings.Count(got, "\n"); n > 2 || strings.Contains(got, "Usage:") || strings.ContainsRune(got, '\x1b') {
			t.Errorf("%q: not one short, clean message: %q", c.args, got)
		}
	}
	var cli CLI
	var stderr bytes.Buffer
	if ctx, code := parseArgs(&cli, []string{"search", "--data", "d", "invoice"}, &stderr); ctx == nil || code != 0 || stderr.Len() > 0 {
		t.Errorf("a good command line: context %v, exit %d, stderr %q", ctx != nil, code, stderr.String())
	}
}

func TestClosestVerb(t *testing.T) {
	verbs := []string{"ui", "demo", "parse", "pcap", "collect", "status", "search", "index", "reindex", "repair"}
	for word, want := range map[string]string{"serch": "search", "pcpa": "pcap", "colect": "collect", "stat": "status", "Index": "index", "x": "", "uu": "ui", "qqqqqqq": ""} {
		if got := closest(word, verbs); got != want {
			t.Errorf("closest(%q) = %q, want %q", word, got, want)
		}
	}
}

// TestSearchHyphenQuery: a query word may begin with '-' (negation), in
// any place among the flags; flags keep their values.
func TestSearchHyphenQuery(t *testing.T) {
	cases := []struct {
		args  []string
		query []string
		limit int
		data  string
	}{
		{[]string{"search", "--data", "d", "-status:sent"}, []string{"-status:sent"}, 50, "d"},
		{[]string{"search", "-status:sent", "--limit", "5", "invoice", "--data=d"}, []string{"-status:sent", "invoice"}, 5, "d"},
		{[]string{"search", "--data", "d", "--json", "-(kind:session", "OR", "kind:review)"}, []string{"-(kind:session", "OR", "kind:review)"}, 50, "d"},
		{[]string{"search", "--data", "d", "--", "--weird", "-x"}, []string{"--weird", "-x"}, 50, "d"},
		{[]string{"search", "--data", "d", "plain", "words"}, []string{"plain", "words"}, 50, "d"},
	}
	for _, c := range cases {
		var cli CLI
		var stderr bytes.Buffer
		ctx, code := parseArgs(&cli, c.args, &stderr)
		if ctx == nil || code != 0 {
			t.Errorf("%q: exit %d: %s", c.args, code, stderr.String())
			continue
		}
		if !slices.Equal(cli.Search.Query, c.query) || cli.Search.Limit != c.limit || cli.Search.Data != c.data {
			t.Errorf("%q: query %q limit %d data %q; want %q %d %q", c.args, cli.Search.Query, cli.Search.Limit, cli.Search.Data, c.query, c.limit, c.data)
		}
	}
	var cli CLI
	var stderr bytes.Buffer
	if _, code := parseArgs(&cli, []string{"search", "-status:sent", "--bogus"}, &stderr); code != exitUsage || !strings.Contains(stderr.String(), "unknown flag --bogus") {
		t.Errorf("an unknown flag beside a negated word: exit %d, %q", code, stderr.String())
	}
}

// TestUIDataDirMustExist: `ui --data TYPO` is an error (exit status 2)
// naming the path, not an empty store; --create makes it.
func TestUIDataDirMustExist(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "typo")
	err := dataDirExists(missing, false)
	if exitCode(err) != exitUsage || !strings.Contains(fmt.Sprint(err), missing) || !strings.Contains(fmt.Sprint(err), "--create") {
		t.Errorf("missing data dir: %v (exit %d)", err, exitCode(err))
	}
	if _, serr := os.Stat(missing); !errors.Is(serr, os.ErrNotExist) {
		t.Errorf("the check made %s", missing)
	}
	if err := dataDirExists(missing, true); err != nil {
		t.Errorf("--create: %v", err)
	}
	if err := dataDirExists(t.TempDir(), false); err != nil {
		t.Errorf("an existing data dir: %v", err)
	}
}

// TestExportQueryArgs: export takes the query words as search does, a
// word beginning with '-' included, and its short flag -o keeps its value.
func TestExportQueryArgs(t *testing.T) {
	var cli CLI
	var stderr bytes.Buffer
	ctx, code := parseArgs(&cli, []string{"export", "--data", "d", "--format", "eml", "-o", "out", "-kind:session", "has:attachment"}, &stderr)
	if ctx == nil || code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	if e := cli.Export; filepath.Base(e.Output) != "out" || e.Format != "eml" || !slices.Equal(e.Query, []string{"-kind:session", "has:attachment"}) {
		t.Errorf("parsed %+v", e)
	}
}
