package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/alecthomas/kong"
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

// describeNode writes what the command line and the help of a verb come
// from: its name, help, flags (with their defaults, enums, environment
// variables) and arguments, and the same of its sub-verbs.
func describeNode(b *strings.Builder, n *kong.Node, indent string) {
	fmt.Fprintf(b, "%s%s %q %q default=%v hidden=%v\n", indent, n.Name, n.Help, n.Detail, n.DefaultCmd != nil, n.Hidden)
	for _, f := range n.Flags {
		fmt.Fprintf(b, "%s  --%s -%c %q default=%q(%v) enum=%q env=%q required=%v placeholder=%q hidden=%v negated=%v\n",
			indent, f.Name, f.Short, f.Help, f.Default, f.HasDefault, f.Enum, f.Envs, f.Required, f.PlaceHolder, f.Hidden, f.Negated)
	}
	for _, p := range n.Positional {
		fmt.Fprintf(b, "%s  <%s> %q default=%q required=%v\n", indent, p.Name, p.Help, p.Default, p.Required)
	}
	for _, c := range n.Children {
		describeNode(b, c, indent+"  ")
	}
}

// TestOneVerbModel: the model of one verb that parseArgs builds for a
// command line beginning with a verb describes that verb exactly as the
// whole CLI does (flags, defaults, enums, environment, arguments,
// sub-verbs), for every verb.
func TestOneVerbModel(t *testing.T) {
	var cli CLI
	full, err := newParser(&cli)
	if err != nil {
		t.Fatal(err)
	}
	verbs := verbNames(full)
	if len(verbs) < 15 {
		t.Fatalf("%d verbs", len(verbs))
	}
	for _, n := range full.Model.Children {
		if n.Type != kong.CommandNode {
			continue
		}
		model, field := oneVerb([]string{n.Name})
		if !model.IsValid() || field == nil {
			t.Errorf("verb %s: no model of its own", n.Name)
			continue
		}
		one, err := newParser(model.Interface())
		if err != nil {
			t.Errorf("verb %s: %v", n.Name, err)
			continue
		}
		if len(one.Model.Children) != 1 {
			t.Errorf("verb %s: the model has %d verbs", n.Name, len(one.Model.Children))
			continue
		}
		var want, got strings.Builder
		describeNode(&want, n, "")
		describeNode(&got, one.Model.Children[0], "")
		describeNode(&want, &kong.Node{Flags: full.Model.Flags}, "root ")
		describeNode(&got, &kong.Node{Flags: one.Model.Flags}, "root ")
		if want.String() != got.String() {
			t.Errorf("verb %s: the model of one verb differs:\n%s\nwant:\n%s", n.Name, got.String(), want.String())
		}
	}
	for _, args := range [][]string{{}, {"--data", "d"}, {"nope"}, {"--version", "search"}} {
		if m, _ := oneVerb(args); m.IsValid() {
			t.Errorf("%q: a model of one verb", args)
		}
	}
}

// TestOneVerbParse: a command line parsed with the model of its verb
// fills the verb's flags and arguments as the whole model does; help and
// usage errors go to the whole model (the tests above check their
// messages), and so does `hunt test` with a word beginning with '-'.
func TestOneVerbParse(t *testing.T) {
	lines := [][]string{
		{"search", "--data", "d", "--limit", "5", "--format", "csv", "-status:sent", "invoice"},
		{"search", "--data=d", "--kind", "email,session", "--facets", "x"},
		{"show", "--data", "d", "demo-invoice.0"},
		{"export", "--data", "d", "--format", "eml", "-o", "out", "-kind:session", "has:attachment"},
		{"hunt", "test", "--data", "d", "invoice"},
		{"collect", "--data", "d", "--once"},
		{"ace-sink", "--listen", "127.0.0.1:0", "--dir", "d"},
	}
	for _, args := range lines {
		var viaOne, viaAll CLI
		ctx := parseOneVerb(&viaOne, args)
		if ctx == nil {
			t.Errorf("%q: not parsed with its verb's model", args)
			continue
		}
		full, err := newParser(&viaAll)
		if err != nil {
			t.Fatal(err)
		}
		fctx, err := full.Parse(queryArgs(full, args))
		if err != nil {
			t.Errorf("%q: the whole model: %v", args, err)
			continue
		}
		if ctx.Command() != fctx.Command() {
			t.Errorf("%q: command %q, the whole model %q", args, ctx.Command(), fctx.Command())
		}
		f, _ := reflect.TypeFor[CLI]().FieldByNameFunc(func(n string) bool { return strings.EqualFold(strings.ReplaceAll(args[0], "-", ""), n) })
		got := reflect.ValueOf(viaOne).FieldByIndex(f.Index).Interface()
		want := reflect.ValueOf(viaAll).FieldByIndex(f.Index).Interface()
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%q: parsed\n%+v\nthe whole model:\n%+v", args, got, want)
		}
	}
	for _, args := range [][]string{{"search", "--bogus"}, {"search", "--help"}, {"search", "-h", "x"}, {"hub", "--data", "d"}, {"hunt", "test", "--data", "d", "-status:sent"}} {
		var cli CLI
		if parseOneVerb(&cli, args) != nil {
			t.Errorf("%q: parsed with the model of one verb", args)
		}
	}
	var cli CLI
	var stderr bytes.Buffer
	if ctx, code := parseArgs(&cli, []string{"hunt", "test", "--data", "d", "-status:sent"}, &stderr); ctx == nil || code != 0 || !slices.Equal(cli.Hunt.Test.Query, []string{"-status:sent"}) || cli.Hunt.Test.Data != "d" {
		t.Errorf("hunt test through the whole model: exit %d, %+v, %s", code, cli.Hunt.Test, stderr.String())
	}
}

// TestVersionFlag: --version alone (parsed with a model of the flag
// alone) and after a verb prints the version and exits 0.
func TestVersionFlag(t *testing.T) {
	bin := testBinary(t)
	for _, args := range [][]string{{"--version"}, {"search", "--version"}} {
		if out := runBin(t, bin, args...); out != version+"\n" {
			t.Errorf("%q: %q, want %q", args, out, version+"\n")
		}
	}
}

// BenchmarkParseArgs: parsing a `search` command line with the model of
// its verb (what parseArgs does) against the whole CLI model (what it did
// before, and still does for help and usage errors).
func BenchmarkParseArgs(b *testing.B) {
	args := []string{"search", "--data", "d", "--limit", "50", "invoice"}
	b.Run("one-verb", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			var cli CLI
			if parseOneVerb(&cli, args) == nil {
				b.Fatal("not parsed")
			}
		}
	})
	b.Run("whole-model", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			var cli CLI
			p, err := newParser(&cli)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := p.Parse(queryArgs(p, args)); err != nil {
				b.Fatal(err)
			}
		}
	})
}
