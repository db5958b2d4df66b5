package collector

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/smtpscope/smtpscope/collector/internal/atomicfile"
)

// DirNames is dirNames for the package's external tests.
var DirNames = dirNames

// dirNames lists dir's entries, sorted (none when dir is missing).
func dirNames(t testing.TB, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	sort.Strings(out)
	return out
}

// TestWriteWithWholeOrNothing: in both ways of writing (an unnamed file
// linked under its name where the system has them, a temporary name
// renamed elsewhere) a file appears under its name only whole, with its
// mtime; while it is being filled the unnamed way leaves no directory
// entry at all; a name taken is replaced; a failed fill leaves nothing;
// a directory removed since it was seen (retention) is made again; and no
// temporary name is left behind.
func TestWriteWithWholeOrNothing(t *testing.T) {
	for _, way := range writeWays {
		named := way == "named"
		t.Run(way, func(t *testing.T) {
			if !named && !anonLinkOK() {
				t.Skip("no /proc/self/fd: unnamed files are not linked here")
			}
			dir := filepath.Join(t.TempDir(), "2026", "12", "07")
			w := newFileWriterMode(syncPerFS)
			setWay(w, way)
			defer w.close()
			p := filepath.Join(dir, "a.json")
			mt := time.Unix(1700000000, 123456789)
			var during []string
			err := w.writeWith(p, func(f io.Writer) error {
				during = dirNames(t, dir)
				_, err := f.Write([]byte("first"))
				return err
			}, mt)
			if err != nil {
				t.Fatal(err)
			}
			if m := w.links.Mode(); way == "unnamed" && m == atomicfile.LinkUnknown || way == "unnamed-proc" && m != atomicfile.LinkProc {
				t.Errorf("%s: the way of linking descriptors is %d after a link", way, m)
			}
			if !named && len(during) != 0 {
				t.Errorf("unnamed: while filled the directory holds %v", during)
			}
			if named && (len(during) != 1 || !atomicfile.IsTemp(during[0])) {
				t.Errorf("named: while filled the directory holds %v, want one temporary name", during)
			}
			if b, err := os.ReadFile(p); err != nil || string(b) != "first" {
				t.Errorf("written: %q, %v", b, err)
			}
			if st, err := os.Stat(p); err != nil || !st.ModTime().Equal(mt) {
				t.Errorf("mtime: %v, %v, want %v", st, err, mt)
			}
			if st, _ := os.Stat(p); st.Mode().Perm() != 0o640&^umask() {
				t.Errorf("mode %v", st.Mode())
			}

			if err := w.write(p, []byte("second, longer"), time.Time{}); err != nil {
				t.Fatal(err)
			}
			if b, _ := os.ReadFile(p); string(b) != "second, longer" {
				t.Errorf("replaced: %q", b)
			}

			boom := errors.New("boom")
			q := filepath.Join(dir, "b.json")
			err = w.writeWith(q, func(f io.Writer) error {
				_, _ = f.Write([]byte("half"))
				return boom
			}, time.Time{})
			if !errors.Is(err, boom) {
				t.Errorf("failed fill: %v", err)
			}
			if got := dirNames(t, dir); len(got) != 1 || got[0] != "a.json" {
				t.Errorf("after a replacement and a failed fill the directory holds %v, want [a.json]", got)
			}

			if err := os.RemoveAll(filepath.Dir(dir)); err != nil { // retention took the month
				t.Fatal(err)
			}
			if err := w.write(q, []byte("again"), time.Time{}); err != nil {
				t.Fatalf("directory removed since it was seen: %v", err)
			}
			if b, _ := os.ReadFile(q); string(b) != "again" {
				t.Errorf("in a directory made again: %q", b)
			}
			if err := w.sync(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// writeWays are the fileWriter's ways of writing a file whole: unnamed
// files linked by linkat(AT_EMPTY_PATH) where permitted (else, found out
// on the first link, through /proc), unnamed files always linked through
// /proc (a process without CAP_DAC_READ_SEARCH), and temporary names.
var writeWays = []string{"unnamed", "unnamed-proc", "named"}

func setWay(w *fileWriter, way string) {
	w.named = way == "named"
	if way == "unnamed-proc" {
		w.links.UseProc()
	}
}

func umask() os.FileMode {
	dir, err := os.MkdirTemp("", "umask")
	if err != nil {
		return 0
	}
	defer os.RemoveAll(dir)
	p := filepath.Join(dir, "f")
	if err := os.WriteFile(p, nil, 0o777); err != nil {
		return 0
	}
	st, err := os.Stat(p)
	if err != nil {
		return 0
	}
	return 0o777 &^ st.Mode().Perm()
}

// TestLinkStoresTheInodeParsed: a spool file replaced under its name or
// removed after the parse is stored with the bytes parsed, never the
// replacement's: linking the descriptor cannot name another inode (and
// one with no name left cannot be linked: it is copied from the
// descriptor); by name the link is checked to be the parsed inode.
func TestLinkStoresTheInodeParsed(t *testing.T) {
	data := []byte("1.2.3.4:1/tcp\n1700000000\n> MAIL FROM:<a@b>\n< MAIL 250 ok\n")
	for _, way := range writeWays {
		named := way == "named"
		if !named && !anonLinkOK() {
			continue
		}
		w := newFileWriter(false)
		setWay(w, way)
		spool, store := t.TempDir(), t.TempDir()
		claim := func(name string) (*spoolFile, time.Time) { return claimSpoolFile(t, spool, name, data) }

		src, mt := claim("C1")
		other := filepath.Join(spool, "other")
		if err := os.WriteFile(other, bytes.ToUpper(data), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(other, src.path); err != nil {
			t.Fatal(err)
		}
		dst := filepath.Join(store, "replaced")
		if err := src.storeAt(w, dst, mt); err != nil {
			t.Fatal(err)
		}
		if b, _ := os.ReadFile(dst); !bytes.Equal(b, data) {
			t.Errorf("named %v: replaced after the parse: stored %q", named, b)
		}
		if st, _ := os.Stat(src.path); st != nil {
			if d, _ := os.Stat(dst); os.SameFile(st, d) {
				t.Errorf("named %v: the replacement was linked into the store", named)
			}
		}

		src, mt = claim("C2")
		if err := os.Remove(src.path); err != nil {
			t.Fatal(err)
		}
		dst = filepath.Join(store, "removed")
		if err := src.storeAt(w, dst, mt); err != nil {
			t.Fatal(err)
		}
		if b, _ := os.ReadFile(dst); !bytes.Equal(b, data) {
			t.Errorf("named %v: removed after the parse: stored %q", named, b)
		}
		if got := dirNames(t, store); len(got) != 2 {
			t.Errorf("named %v: the store holds %v", named, got)
		}
	}
}
