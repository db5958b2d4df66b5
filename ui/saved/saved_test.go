package saved

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

func TestRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", File)
	s, err := Open(path)
	if err != nil || len(s.Names()) != 0 {
		t.Fatalf("a missing file: %v, %v", s.Names(), err)
	}
	s.SetHistory([]string{"from:a", "has:ioc\nx"})
	if _, err := s.Put("phish", "ioc:evil.example", "-size"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put("Alpha", "has:yara", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put("phish", "ioc:evil2.example", "-time"); err != nil { // replaces
		t.Fatal(err)
	}
	if err := s.Save(); err != nil {
		t.Fatal(err)
	}
	st, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	want := State{History: []string{"from:a", "has:ioc x"}, Saved: []Search{{"Alpha", "has:yara", ""}, {"phish", "ioc:evil2.example", "-time"}}}
	if fmt.Sprint(st) != fmt.Sprint(want) {
		t.Fatalf("read back %+v\nwant %+v", st, want)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, %v", fi.Mode(), err)
	}
	left, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".ui-searches-*"))
	if len(left) != 0 {
		t.Fatalf("temporary files left: %v", left)
	}
	s2, _ := Open(path)
	if !s2.Delete("phish") || s2.Delete("phish") {
		t.Fatal("delete")
	}
	if got, ok := s2.Get("Alpha"); !ok || got.Query != "has:yara" {
		t.Fatalf("get: %+v %v", got, ok)
	}
}

func TestBounds(t *testing.T) {
	dir := t.TempDir()
	s, _ := Open(filepath.Join(dir, File))
	var h []string
	for i := range MaxHistory + 30 {
		h = append(h, fmt.Sprint("q", i))
	}
	s.SetHistory(h)
	if st := s.State(); len(st.History) != MaxHistory || st.History[0] != "q30" {
		t.Fatalf("history: %d, first %q", len(st.History), st.History[0])
	}
	for i := range MaxSaved {
		if _, err := s.Put(fmt.Sprint("n", i), "q", ""); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Put("one more", "q", ""); err == nil {
		t.Fatal("more than MaxSaved accepted")
	}
	if _, err := s.Put("n7", strings.Repeat("x", MaxQuery+50), ""); err != nil {
		t.Fatal(err)
	}
	if q, _ := s.Get("n7"); utf8.RuneCountInString(q.Query) != MaxQuery {
		t.Fatalf("query of %d characters kept", utf8.RuneCountInString(q.Query))
	}
	if err := s.Save(); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(filepath.Join(dir, File)); fi.Size() > MaxFile {
		t.Fatalf("file of %d bytes", fi.Size())
	}
}

func TestBadFiles(t *testing.T) {
	dir := t.TempDir()
	for name, data := range map[string][]byte{
		"big":     []byte(`{"history":["` + strings.Repeat("a", MaxFile) + `"]}`),
		"notjson": []byte("history = [1]\n"),
		"wrong":   []byte(`{"history": 7}`),
	} {
		p := filepath.Join(dir, name+".json")
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		s, err := Open(p)
		if err == nil || !strings.Contains(err.Error(), p) {
			t.Errorf("%s: %v, want an error naming the file", name, err)
		}
		// The store of a bad file works in memory and never writes it.
		if _, err := s.Put("x", "q", ""); err != nil {
			t.Fatal(err)
		}
		if err := s.Save(); err != nil {
			t.Fatal(err)
		}
		if got, _ := os.ReadFile(p); string(got) != string(data) {
			t.Errorf("%s: a bad file was overwritten", name)
		}
	}
	// Entries with hostile or empty names, duplicates: cleaned on load.
	p := filepath.Join(dir, "hostile.json")
	b, _ := json.Marshal(State{Saved: []Search{{Name: "\x1b]52;c;AAAA\x07ok\u202e", Query: "a\nb"}, {Name: "\u200b\u200d"}, {Name: "ok", Query: "first"}, {Name: " ok\u200b", Query: "dup"}}})
	os.WriteFile(p, b, 0o600)
	st, err := Load(p)
	if err != nil || len(st.Saved) != 2 || st.Saved[0].Name != "]52;c;AAAAok" || st.Saved[0].Query != "a b" || st.Saved[1] != (Search{Name: "ok", Query: "first"}) {
		t.Fatalf("hostile file: %+v, %v", st, err)
	}
}

func TestCleanName(t *testing.T) {
	for in, want := range map[string]string{
		"  phish  campaign ":     "phish campaign",
		"\x1b[31mred\x1b[0m":     "[31mred[0m",
		"in\u202evoice\u200b":    "invoice",
		"tab\there":              "tab here",
		strings.Repeat("é", 100): strings.Repeat("é", MaxName),
		"q\ufe0f\u3164x":         "qx",
	} {
		if got, err := CleanName(in); err != nil || got != want {
			t.Errorf("CleanName(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "   ", "\x00\x07", "\u200b\u2066"} {
		if _, err := CleanName(in); err == nil {
			t.Errorf("CleanName(%q) accepted", in)
		}
	}
}

func TestPath(t *testing.T) {
	cfg := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", cfg)
	t.Setenv("HOME", cfg)
	data := t.TempDir()
	if p, err := Path(data, true); err != nil || p != filepath.Join(data, File) {
		t.Fatalf("local: %q, %v", p, err)
	}
	if p, err := Path(data, false); err != nil || p != filepath.Join(data, File) {
		t.Fatalf("attached, writable: %q, %v", p, err)
	}
	ro := filepath.Join(t.TempDir(), "ro")
	if err := os.Mkdir(ro, 0o500); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(ro, 0o700) })
	if os.Geteuid() == 0 {
		t.Skip("root writes anywhere: the read-only case needs another user")
	}
	p, err := Path(ro, false)
	if err != nil || filepath.Dir(p) != filepath.Join(cfg, "smtpscope") || !strings.HasPrefix(filepath.Base(p), "searches-") {
		t.Fatalf("attached, read-only data dir: %q, %v", p, err)
	}
	if p2, _ := Path(ro+"/", false); p2 != p {
		t.Fatalf("the same data dir gives two files: %q %q", p, p2)
	}
}

func FuzzLoad(f *testing.F) {
	f.Add([]byte(`{"history":["a"],"saved":[{"name":"x","query":"y","sort":"-size"}]}`))
	f.Add([]byte(`{"saved":[{"name":"\u001b[2J"}]}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(t.TempDir(), File)
		os.WriteFile(p, data, 0o600)
		st, err := Load(p)
		if err != nil {
			return
		}
		if len(st.History) > MaxHistory || len(st.Saved) > MaxSaved {
			t.Fatalf("unbounded: %d %d", len(st.History), len(st.Saved))
		}
		for _, s := range st.Saved {
			if n, err := CleanName(s.Name); err != nil || n != s.Name {
				t.Fatalf("name %q not clean", s.Name)
			}
		}
	})
}

func FuzzCleanName(f *testing.F) {
	for _, s := range []string{"phish", "\x1b[31m", "a\u202eb", " "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := CleanName(s)
		if err != nil {
			return
		}
		if utf8.RuneCountInString(n) > MaxName || !utf8.ValidString(n) || n != strings.TrimSpace(n) {
			t.Fatalf("CleanName(%q) = %q", s, n)
		}
		for _, r := range n {
			if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || (unicode.IsSpace(r) && r != ' ') {
				t.Fatalf("CleanName(%q) keeps %U", s, r)
			}
		}
		if again, _ := CleanName(n); again != n {
			t.Fatalf("not idempotent: %q -> %q", n, again)
		}
	})
}
