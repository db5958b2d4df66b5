package ui

import (
	"go/scanner"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"charm.land/bubbles/v2/key"

	"github.com/smtpscope/smtpscope/collector/api"
	"github.com/smtpscope/smtpscope/ui/common"
	"github.com/smtpscope/smtpscope/ui/detail"
)

// view is one state of the screen a key can reach: a component, focused.
type view struct {
	name string
	c    common.Component
}

// allViews returns every component in every state that changes its keys:
// the detail screen of each row kind on each tab, the dialog at each step.
func allViews(t *testing.T) []view {
	t.Helper()
	m := New(Options{Plain: true})
	t.Cleanup(m.Close)
	vs := []view{{"list", m.list}, {"search", m.search}, {"cmdline", m.cmd}, {"facets", m.facets}, {"timeline", m.tl}, {"help", m.help}, {"statusbar", m.bar}}
	if len(m.components()) != len(vs) {
		t.Fatalf("components() has %d components, the walk %d: walk the new one", len(m.components()), len(vs))
	}
	for _, kind := range []string{api.KindEmail, api.KindSession, api.KindReview} {
		d := detail.New(m.ctx, api.Row{ID: "x", Kind: kind})
		for _, tab := range []string{detail.TabSummary, detail.TabTranscript, detail.TabHeaders, detail.TabBody, detail.TabMIME,
			detail.TabAttachments, detail.TabIOCs, detail.TabSubmissions, detail.TabData} {
			if d.SetTab(tab); d.Tab() == tab {
				vs = append(vs, view{"detail " + kind + " " + tab, d})
			}
		}
	}
	find := detail.New(m.ctx, api.Row{ID: "x", Kind: api.KindEmail})
	find.StartFind()
	vs = append(vs, view{"detail find prompt", find})
	for st := stepScope; st <= stepPath; st++ {
		vs = append(vs, view{"dialog step " + strconv.Itoa(int(st)), &dialog{ctx: m.ctx, step: st}})
	}
	return vs
}

// TestEveryComponentHelp: every view has a hint line and a full help, every
// binding is enabled and documented, the hint line's bindings are in the
// full help, and no key is bound twice in one view (the full help is every
// key the view answers to, the global ones included).
func TestEveryComponentHelp(t *testing.T) {
	for _, v := range allViews(t) {
		short, full := v.c.ShortHelp(), v.c.FullHelp()
		if len(short) == 0 || len(full) == 0 {
			t.Errorf("%s: empty help (short %d, full %d)", v.name, len(short), len(full))
			continue
		}
		inFull := map[string]bool{}
		owner := map[string]string{}
		for _, col := range full {
			for _, b := range col {
				h := b.Help()
				id := h.Key + " " + h.Desc
				if !b.Enabled() || h.Key == "" || h.Desc == "" || len(b.Keys()) == 0 {
					t.Errorf("%s: binding %q %v is disabled or undocumented", v.name, id, b.Keys())
				}
				if inFull[id] {
					t.Errorf("%s: %q listed twice", v.name, id)
				}
				inFull[id] = true
				for _, k := range b.Keys() {
					if o, dup := owner[k]; dup {
						t.Errorf("%s: key %q is bound to both %q and %q", v.name, k, o, id)
					}
					owner[k] = id
				}
			}
		}
		for _, b := range short {
			if h := b.Help(); !inFull[h.Key+" "+h.Desc] {
				t.Errorf("%s: hint %q is not in the full help", v.name, h.Key+" "+h.Desc)
			}
		}
	}
}

// keyName matches what key.Binding calls a key of more than one
// character (tea.KeyPressMsg.String()).
var keyName = regexp.MustCompile(`^(enter|esc|escape|tab|shift\+tab|space|up|down|left|right|home|end|pgup|pgdown|backspace|delete|insert|f[0-9]+|((ctrl|alt|shift|super|meta)\+)+.+)$`)

// hintText matches a key named in prose: "esc back", "j/k select",
// "y/enter confirm", "^r", "press ? …", "z: unfold", "? help".
var hintText = regexp.MustCompile(`(^|[\s(‹·])(esc|enter|ctrl\+\w+|\^[a-z]|[a-zA-Z?]/[a-zA-Z]+)[\s):]|press [^\s]+ |(^|· )[a-z?]: |(^|\s)\?\s+[a-z]`)

// TestNoHardCodedKeys fails when a source file of ui/ (but the keymap
// itself) names a key instead of going through ui/keys: a key message's
// String() taken (but to look it up in a binding with keys.Index), a key
// name compared or switched on, a binding made outside the keymap, or a
// hint string naming a key.
func TestNoHardCodedKeys(t *testing.T) {
	var files []string
	err := filepath.WalkDir(".", func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (p == "keys" || p == "testdata") {
			return filepath.SkipDir
		}
		if strings.HasSuffix(p, ".go") && !strings.HasSuffix(p, "_test.go") {
			files = append(files, p)
		}
		return nil
	})
	if err != nil || len(files) < 10 {
		t.Fatalf("walking ui/: %d files, %v", len(files), err)
	}
	for _, p := range files {
		src, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range hardCodedKeys(src) {
			t.Errorf("%s:%s", p, f)
		}
	}
}

type tok struct {
	tok  token.Token
	lit  string
	line int
}

func scan(src []byte) []tok {
	fs := token.NewFileSet()
	file := fs.AddFile("x.go", -1, len(src))
	var s scanner.Scanner
	s.Init(file, src, nil, 0)
	var toks []tok
	for {
		pos, t, lit := s.Scan()
		if t == token.EOF {
			return toks
		}
		toks = append(toks, tok{t, lit, file.Line(pos)})
	}
}

func hardCodedKeys(src []byte) []string {
	toks := scan(src)
	var out []string
	flag := func(t tok, what string) { out = append(out, strconv.Itoa(t.line)+": "+what) }
	inCase := false
	for i, t := range toks {
		prev, next := tokAt(toks, i-1), tokAt(toks, i+1)
		switch {
		case t.tok == token.CASE:
			inCase = true
		case t.tok == token.COLON:
			inCase = false
		case t.tok == token.IDENT && t.lit == "msg" && next.tok == token.PERIOD && tokAt(toks, i+2).lit == "String" &&
			tokAt(toks, i+3).tok == token.LPAREN && tokAt(toks, i+4).tok == token.RPAREN && !lookup(toks, i):
			flag(t, "a key message's String() used outside the keymap")
		case t.tok == token.IDENT && t.lit == "WithKeys":
			flag(t, "a key binding made outside ui/keys")
		case t.tok == token.STRING:
			v, err := strconv.Unquote(t.lit)
			if err != nil {
				continue
			}
			compared := prev.tok == token.EQL || prev.tok == token.NEQ || next.tok == token.EQL || next.tok == token.NEQ || inCase
			if compared && keyName.MatchString(v) {
				flag(t, "key "+t.lit+" compared or switched on")
			}
			if hintText.MatchString(v) {
				flag(t, "hint string "+t.lit+" names a key")
			}
		}
	}
	return out
}

func tokAt(toks []tok, i int) tok {
	if i < 0 || i >= len(toks) {
		return tok{}
	}
	return toks[i]
}

// lookup reports whether toks[i] (msg of msg.String()) is an argument of
// keys.Index.
func lookup(toks []tok, i int) bool {
	for j := i - 1; j >= 0 && i-j < 8; j-- {
		if toks[j].lit == "Index" && tokAt(toks, j-2).lit == "keys" {
			return true
		}
	}
	return false
}

// readmeKeys is the README's key tables, generated from the components'
// full help: the global keys once, then each view's own.
func readmeKeys(t *testing.T) string {
	m := New(Options{Plain: true})
	t.Cleanup(m.Close)
	k := m.ctx.Keys
	dlg := [][]key.Binding{}
	for st := stepScope; st <= stepPath; st++ {
		dlg = append(dlg, (&dialog{ctx: m.ctx, step: st}).FullHelp()...)
	}
	global := m.bar.FullHelp()
	find := detail.New(m.ctx, api.Row{Kind: api.KindEmail})
	find.StartFind()
	tables := []struct {
		title string
		keys  [][]key.Binding
	}{
		{"Everywhere but the search bar and dialogs", global},
		{"List", m.list.FullHelp()},
		{"Facet panel (`" + k.List.Facets.Help().Key + "`)", m.facets.FullHelp()},
		{"Search bar (`" + k.List.Search.Help().Key + "`)", m.search.FullHelp()},
		{"Command line (`" + k.List.Command.Help().Key + "`)", m.cmd.FullHelp()},
		{"Detail (`" + k.List.Open.Help().Key + "`)", detail.New(m.ctx, api.Row{Kind: api.KindEmail}).FullHelp()},
		{"Find in a detail tab (`" + k.Detail.Find.Help().Key + "`)", find.FullHelp()},
		{"Resubmit and export dialogs", dlg},
		{"Help (`" + k.Global.Help.Help().Key + "`)", m.help.FullHelp()},
	}
	isGlobal := map[string]bool{}
	var b strings.Builder
	for i, tb := range tables {
		b.WriteString("\n**" + tb.title + "**\n\n| Keys | Action |\n|---|---|\n")
		seen := map[string]bool{}
		for _, col := range tb.keys {
			for _, kb := range col {
				id := kb.Help().Key + " " + kb.Help().Desc
				if isGlobal[id] || seen[id] {
					continue
				}
				seen[id], isGlobal[id] = true, i == 0
				b.WriteString("| `" + strings.Join(kb.Keys(), "` `") + "` | " + kb.Help().Desc + " |\n")
			}
		}
	}
	return b.String() + "\n"
}

// TestREADMEKeys: the README's key tables are the keymap's (go test ./ui
// -run TestREADMEKeys -update rewrites them).
func TestREADMEKeys(t *testing.T) {
	const begin, end = "<!-- keys: generated from ui/keys by TestREADMEKeys -->\n", "<!-- end of keys -->"
	path := filepath.Join("..", "README.md")
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	readme := string(src)
	i, j := strings.Index(readme, begin), strings.Index(readme, end)
	if i < 0 || j < i {
		t.Fatalf("README.md lacks the markers %q … %q around the key tables", begin, end)
	}
	want := readmeKeys(t)
	if got := readme[i+len(begin) : j]; got != want {
		if updating() {
			readme = readme[:i+len(begin)] + want + readme[j:]
			if err := os.WriteFile(path, []byte(readme), 0o644); err != nil {
				t.Fatal(err)
			}
			return
		}
		t.Fatalf("README.md key tables differ from the keymap (run go test ./ui -run TestREADMEKeys -update); want:\n%s", want)
	}
}
