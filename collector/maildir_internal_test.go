package collector

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestMaildirCurName(t *testing.T) {
	for in, want := range map[string]string{
		"1700000000.M1P2.host":          "1700000000.M1P2.host:2,",
		"1700000000.M1P2.host:2,S":      "1700000000.M1P2.host:2,S",
		"1700000000.M1P2.host:2,FRS":    "1700000000.M1P2.host:2,FRS",
		"1700000000.M1P2.host:1,exp":    "1700000000.M1P2.host:2,",
		"1700000000.M1P2.host:2,":       "1700000000.M1P2.host:2,",
		"odd:name:2,S":                  "odd:2,",
		"1700000000.M1P2.host,S=1234":   "1700000000.M1P2.host,S=1234:2,",
		"1700000000.M1P2.host,S=12:2,T": "1700000000.M1P2.host,S=12:2,T",
	} {
		if got := maildirCurName(in); got != want {
			t.Errorf("maildirCurName(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestMaildirDeliverNoOverwrite: a name taken in cur/ is never replaced.
func TestMaildirDeliverNoOverwrite(t *testing.T) {
	dir := t.TempDir()
	for _, sub := range []string{"new", "cur"} {
		if err := os.Mkdir(filepath.Join(dir, sub), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	src := filepath.Join(dir, "new", "123.M1.host")
	_ = os.WriteFile(src, []byte("new message"), 0o600)
	taken := filepath.Join(dir, "cur", "123.M1.host:2,")
	_ = os.WriteFile(taken, []byte("older message"), 0o600)
	dst, err := maildirDeliver(src, filepath.Join(dir, "cur"), true)
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Base(dst) != "123.M1.host.1:2," {
		t.Errorf("moved to %s", dst)
	}
	if b, _ := os.ReadFile(taken); string(b) != "older message" {
		t.Errorf("existing file changed: %q", b)
	}
	if b, _ := os.ReadFile(dst); string(b) != "new message" {
		t.Errorf("moved file: %q", b)
	}
	if _, err := os.Stat(src); !os.IsNotExist(err) {
		t.Errorf("source still there: %v", err)
	}
}

func FuzzMaildirCurName(f *testing.F) {
	for _, s := range []string{"1700000000.M1P2.host", "a:2,S", "a:1,x", ":", ":2,", "", "x:2,:2,"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		got := maildirCurName(name)
		unique, info, ok := strings.Cut(got, ":")
		if !ok || !strings.HasPrefix(info, "2,") {
			t.Fatalf("maildirCurName(%q) = %q: no :2, info", name, got)
		}
		if !strings.HasPrefix(name, unique) {
			t.Fatalf("maildirCurName(%q) = %q: unique part changed", name, got)
		}
		if again := maildirCurName(got); again != got {
			t.Fatalf("not idempotent: %q -> %q -> %q", name, got, again)
		}
	})
}

// TestEMLDirReportsSkippedNames: files of an .eml input not named *.eml
// are not read, and the scan says so: one warning with their count and
// a few names, again only when the count changes (not once per file, not
// on every pass); dot files are not counted.
func TestEMLDirReportsSkippedNames(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"notes.txt", "mail.msg", ".hidden"} {
		if err := os.WriteFile(filepath.Join(dir, n), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	var logs strings.Builder
	cfg := &Config{Data: filepath.Join(t.TempDir(), "data"), EMLDir: []string{dir}}
	c, err := New(cfg, Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r := c.raw
	in := r.inputs[0]
	warnings := func() []string {
		var out []string
		for _, l := range strings.Split(logs.String(), "\n") {
			if strings.Contains(l, "are not read") {
				out = append(out, l)
			}
		}
		return out
	}
	r.scan(context.Background(), in, nil)
	r.scan(context.Background(), in, nil)
	w := warnings()
	if len(w) != 1 || !strings.Contains(w[0], "2 files in the .eml input are not read: only files named *.eml are") ||
		!strings.Contains(w[0], "notes.txt") || !strings.Contains(w[0], "mail.msg") || strings.Contains(w[0], ".hidden") {
		t.Fatalf("after two passes: %q", w)
	}
	if err := os.WriteFile(filepath.Join(dir, "third.txt"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	r.scan(context.Background(), in, nil)
	r.scan(context.Background(), in, nil)
	if w := warnings(); len(w) != 2 || !strings.Contains(w[1], "3 files in the .eml input") {
		t.Errorf("after a third file: %q", w)
	}
}
