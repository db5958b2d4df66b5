package main

import (
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strings"

	"github.com/alecthomas/kong"
	"github.com/smtpscope/smtpscope/ui/sanitize"
)

// exitUsage is the exit status of a command line that does not parse.
const exitUsage = 2

// parseArgs parses the command line into cli. A usage error (an unknown
// verb or flag, a missing argument) is one short message on stderr naming
// the problem, with a hint, and exit status 2; the context is then nil.
func parseArgs(cli *CLI, args []string, stderr io.Writer) (*kong.Context, int) {
	if ctx := parseOneVerb(cli, args); ctx != nil {
		return ctx, 0
	}
	parser, err := newParser(cli)
	if err != nil { // the CLI's own definition: a bug
		fmt.Fprintf(stderr, "smtpscope: %v\n", err)
		return nil, 1
	}
	ctx, err := parser.Parse(queryArgs(parser, args))
	if err != nil {
		fmt.Fprint(stderr, usageMessage(parser, err, args))
		return nil, exitUsage
	}
	return ctx, 0
}

// newParser builds the kong parser of a CLI model: CLI, or the part of it
// oneVerb keeps.
func newParser(model any) (*kong.Kong, error) {
	return kong.New(model,
		kong.Name("smtpscope"),
		kong.Description("Forensic inspector for SMTP traffic: sessions, emails, attachments, IOCs; ACE submission; search; TUI."),
		kong.Vars{"version": version},
	)
}

// parseOneVerb parses a command line that begins with a verb (or is
// just --version) with a model of that verb alone, and copies the verb's
// flags and arguments into cli: kong builds its whole model before it
// reads a word, and the model of every verb (each flag's tags parsed,
// its help interpolated) was a sixth of a short `search` process's CPU.
// nil when the command line does not qualify or does not parse: the
// whole model then parses it again, and says what is wrong, or prints the
// help, exactly as before.
func parseOneVerb(cli *CLI, args []string) *kong.Context {
	model, field := oneVerb(args)
	if !model.IsValid() || asksHelp(args) {
		return nil
	}
	parser, err := newParser(model.Interface())
	if err != nil {
		return nil
	}
	ctx, err := parser.Parse(queryArgs(parser, args))
	if err != nil {
		return nil
	}
	if field != nil {
		reflect.ValueOf(cli).Elem().FieldByIndex(field.Index).Set(model.Elem().Field(1))
	}
	return ctx
}

// oneVerb returns a new value of a struct holding CLI's Version flag and
// the field of the verb args begins with (field), or the Version flag
// alone for `--version`; nil when args begins with neither.
func oneVerb(args []string) (model reflect.Value, field *reflect.StructField) {
	if len(args) == 0 {
		return reflect.Value{}, nil
	}
	t := reflect.TypeFor[CLI]()
	vf, _ := t.FieldByName("Version")
	fields := []reflect.StructField{vf}
	if len(args) > 1 || args[0] != "--version" {
		for i := range t.NumField() {
			f := t.Field(i)
			if _, isCmd := f.Tag.Lookup("cmd"); isCmd && verbName(f) == args[0] {
				field = &f
			}
		}
		if field == nil {
			return reflect.Value{}, nil
		}
		fields = append(fields, *field)
	}
	return reflect.New(reflect.StructOf(fields)), field
}

// verbName is the name kong gives the verb of a CLI field.
func verbName(f reflect.StructField) string {
	if n := f.Tag.Get("name"); n != "" {
		return n
	}
	return strings.ToLower(f.Name)
}

// asksHelp reports whether args ask for help (before a "--").
func asksHelp(args []string) bool {
	for _, a := range args {
		switch a {
		case "--":
			return false
		case "-h", "--help":
			return true
		}
	}
	return false
}

// usageMessage is what a usage error prints: the problem, then where the
// help is. An unknown first word is an unknown verb (not an argument of
// the default verb), with the closest verb when one is close.
func usageMessage(parser *kong.Kong, err error, args []string) string {
	verbs := verbNames(parser)
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") && !slices.Contains(verbs, args[0]) {
		msg := fmt.Sprintf("smtpscope: unknown verb %q", sanitize.Text(args[0]))
		if v := closest(args[0], verbs); v != "" {
			msg += fmt.Sprintf(" (did you mean %q?)", v)
		}
		return msg + "\nverbs: " + strings.Join(verbs, ", ") + "; see 'smtpscope --help'\n"
	}
	verb := ""
	var pe *kong.ParseError
	if errors.As(err, &pe) && pe.Context != nil && pe.Context.Selected() != nil {
		verb = pe.Context.Selected().Name
	}
	if verb == "" {
		return fmt.Sprintf("smtpscope: %s\nsee 'smtpscope --help'\n", sanitize.Text(err.Error()))
	}
	return fmt.Sprintf("smtpscope %s: %s\nsee 'smtpscope %s --help'\n", verb, sanitize.Text(err.Error()), verb)
}

// verbNames lists the verbs, in the order of the help.
func verbNames(parser *kong.Kong) []string {
	var out []string
	for _, n := range parser.Model.Children {
		if n.Type == kong.CommandNode {
			out = append(out, n.Name)
		}
	}
	return out
}

// closest returns the verb nearest to word: a verb it begins, or one at
// most two edits away (fewer than word has letters); "" when none is that
// close.
func closest(word string, verbs []string) string {
	w := strings.ToLower(word)
	best, bestD := "", 3
	for _, v := range verbs {
		if len(w) >= 2 && strings.HasPrefix(v, w) {
			return v
		}
		if d := editDistance(w, v); d < bestD && d < len(w) {
			best, bestD = v, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance of two short words (bytes).
func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 1 << 30
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// queryArgs lets a query of search or export begin with '-' (`search -status:sent`,
// the query language's negation): after the verb, its flags (with their
// values) go first, then "--", then every other word in order, so that
// kong reads "-status:sent" as a word of the query, not as short flags.
// Command lines without such a word are returned as they are.
func queryArgs(parser *kong.Kong, args []string) []string {
	i := 0
	for i < len(args) && strings.HasPrefix(args[i], "-") {
		i++
	}
	if i+1 < len(args) && args[i] == "hunt" && args[i+1] == "test" {
		// `hunt test -status:sent`: as search, after both words
		return append(append(slices.Clone(args[:i+1]), "test"), queryArgs(parser, append([]string{"search"}, args[i+2:]...))[1:]...)
	}
	if i == len(args) || (args[i] != "search" && args[i] != "export") {
		return args
	}
	var node *kong.Node
	for _, n := range parser.Model.Children {
		if n.Name == args[i] {
			node = n
		}
	}
	var flags, words []string
	hyphen := false
	for j := i + 1; j < len(args); j++ {
		a := args[j]
		switch {
		case a == "--":
			words = append(words, args[j+1:]...)
			j = len(args)
		case strings.HasPrefix(a, "--") || a == "-h":
			flags = append(flags, a)
			if name, _, eq := strings.Cut(strings.TrimPrefix(a, "--"), "="); !eq && takesValue(node, name) && j+1 < len(args) {
				j++
				flags = append(flags, args[j])
			}
		case len(a) == 2 && shortFlag(node, rune(a[1])) != "":
			flags = append(flags, a)
			if takesValue(node, shortFlag(node, rune(a[1]))) && j+1 < len(args) {
				j++
				flags = append(flags, args[j])
			}
		default:
			hyphen = hyphen || (len(a) > 1 && a[0] == '-')
			words = append(words, a)
		}
	}
	if !hyphen {
		return args
	}
	out := append([]string{}, args[:i+1]...)
	out = append(out, flags...)
	out = append(out, "--")
	return append(out, words...)
}

// takesValue reports whether the flag --name of node (or of the whole
// CLI) takes a value; an unknown flag is left for kong to report.
func takesValue(node *kong.Node, name string) bool {
	for n := node; n != nil; n = n.Parent {
		for _, f := range n.Flags {
			if f.Name == name {
				return !f.IsBool() && !f.IsCounter()
			}
		}
	}
	return false
}

// shortFlag returns the name of node's flag with the short form -r ("":
// none).
func shortFlag(node *kong.Node, r rune) string {
	for n := node; n != nil; n = n.Parent {
		for _, f := range n.Flags {
			if f.Short == r {
				return f.Name
			}
		}
	}
	return ""
}
