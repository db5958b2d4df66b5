package capture

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestLinkAnonBothWays: an unnamed file is named by linkat(AT_EMPTY_PATH)
// where the kernel lets its opener (Linux 6.10+), and through its
// /proc/self/fd link where it does not; both give the complete file and
// refuse an existing name.
func TestLinkAnonBothWays(t *testing.T) {
	defer fdLinks.Reset()
	out, dirfd := anonTempDir(t)
	data := []byte("10.0.0.1:1/tcp\n1700000000\n> QUIT\n")
	for _, way := range []struct {
		name string
		set  func()
	}{{"auto", fdLinks.Reset}, {"proc", fdLinks.UseProc}} {
		way.set()
		tf := tempFile{dirfd: dirfd, dir: out, anon: true, fd: -1}
		if err := tf.write("S"+way.name, data, time.Time{}, false, nil); err != nil {
			t.Fatal(err)
		}
		if err := tf.link("S" + way.name); err != nil {
			t.Fatalf("%s: %v", way.name, err)
		}
		if err := tf.link("S" + way.name); !errors.Is(err, fs.ErrExist) {
			t.Errorf("%s: linking over an existing name: %v, want EEXIST", way.name, err)
		}
		tf.remove()
		if got, _ := os.ReadFile(filepath.Join(out, "S"+way.name)); !bytes.Equal(got, data) {
			t.Errorf("%s: linked file holds %q", way.name, got)
		}
	}
}
