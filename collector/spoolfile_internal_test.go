package collector

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestSpoolFileReadTwice: a claimed session file is parsed and hashed in
// one read and copied in another, never held whole in memory; the copy
// is exactly the parsed bytes, and a file that changed in between (a
// misbehaving writer) is refused, not stored.
func TestSpoolFileReadTwice(t *testing.T) {
	msg := "Subject: x\r\n\r\nbody\r\n"
	data := []byte("1.2.3.4:1/tcp\n1700000000\n> MAIL FROM:<a@b>\n< MAIL 250 ok\n> DATA\n< DATA 354 go\n@raw " +
		"20\n" + msg + "\n> . .\n< . 250 ok\n")
	path := filepath.Join(t.TempDir(), "C1")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := openNoFollow(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	src := &spoolFile{f: f, path: path, limit: 1 << 20}
	sess, perr, err := src.parse("C1", time.Time{})
	if err != nil || perr != nil {
		t.Fatal(err, perr)
	}
	sum := sha256.Sum256(data)
	if src.size != int64(len(data)) || src.sha != hex.EncodeToString(sum[:]) {
		t.Errorf("size %d sha %s; want %d %x", src.size, src.sha, len(data), sum)
	}
	if len(sess.Messages) != 1 || string(sess.Messages[0].Data) != msg {
		t.Fatalf("messages: %+v", sess.Messages)
	}
	var out bytes.Buffer
	if err := src.copyTo(&out); err != nil || !bytes.Equal(out.Bytes(), data) {
		t.Fatalf("copy: %v (%d bytes)", err, out.Len())
	}
	changed := bytes.Replace(data, []byte("body"), []byte("BODY"), 1)
	if err := os.WriteFile(path, changed, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := src.copyTo(&bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "changed") {
		t.Errorf("file changed after parse: copy error %v", err)
	}

	// larger than the limit: parse reads limit+1 bytes and says so
	big := &spoolFile{f: f, path: path, limit: 16}
	if _, _, err := big.parse("C1", time.Time{}); err != nil || big.size != 17 {
		t.Errorf("over the limit: err %v, size %d (want 17)", err, big.size)
	}
}

// TestSpoolFileStoreAt: a claimed file is stored as a hard link to the
// file parsed when it can be, else copied; a file rewritten in place
// after the parse (same size, new time) is neither linked nor copied.
func TestSpoolFileStoreAt(t *testing.T) {
	data := []byte("1.2.3.4:1/tcp\n1700000000\n> MAIL FROM:<a@b>\n< MAIL 250 ok\n")
	claim := func(t *testing.T, dir string) (*spoolFile, time.Time) { return claimSpoolFile(t, dir, "C1", data) }
	store := t.TempDir()
	w := newFileWriter(false)

	src, mt := claim(t, t.TempDir())
	dst := filepath.Join(store, "linked")
	if err := src.storeAt(w, dst, mt); err != nil {
		t.Fatal(err)
	}
	a, _ := os.Stat(src.path)
	b, _ := os.Stat(dst)
	if !os.SameFile(a, b) {
		t.Error("same file system: the stored file is not a link to the spool file")
	}

	src, mt = claim(t, t.TempDir())
	changed := bytes.Replace(data, []byte("250 ok"), []byte("250 OK"), 1)
	if err := os.WriteFile(src.path, changed, 0o644); err != nil {
		t.Fatal(err)
	}
	later := mt.Add(2 * time.Second)
	if err := os.Chtimes(src.path, later, later); err != nil {
		t.Fatal(err)
	}
	if err := src.storeAt(w, filepath.Join(store, "changed"), mt); err == nil || !strings.Contains(err.Error(), "changed") {
		t.Errorf("file rewritten after the parse: %v", err)
	}
	if _, err := os.Lstat(filepath.Join(store, "changed")); !os.IsNotExist(err) {
		t.Errorf("a changed file was stored: %v", err)
	}

	// Another file system (tmpfs /dev/shm when it is one): a copy.
	shm, err := os.MkdirTemp("/dev/shm", "smtpscope-test-")
	if err != nil {
		t.Skip("no /dev/shm for a second file system:", err)
	}
	defer os.RemoveAll(shm)
	var s1, s2 unix.Stat_t
	if unix.Stat(shm, &s1) != nil || unix.Stat(store, &s2) != nil || s1.Dev == s2.Dev {
		t.Skip("/dev/shm is on the test's file system: no copy path to test")
	}
	src, mt = claim(t, shm)
	dst = filepath.Join(store, "copied")
	if err := src.storeAt(w, dst, mt); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(dst)
	a, _ = os.Stat(src.path)
	b, _ = os.Stat(dst)
	if err != nil || !bytes.Equal(got, data) || os.SameFile(a, b) || !b.ModTime().Equal(mt) {
		t.Errorf("copy across file systems: %v, %d bytes, same inode %v, mtime %v want %v", err, len(got), os.SameFile(a, b), b.ModTime(), mt)
	}
}

// claimSpoolFile writes data as dir/name and claims it as the collector
// does: opened without following links and parsed; it returns the claim
// and the file's modification time.
func claimSpoolFile(t *testing.T, dir, name string, data []byte) (*spoolFile, time.Time) {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	st, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := openNoFollow(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	src := &spoolFile{f: f, path: path, limit: 1 << 20}
	if _, _, err := src.parse(name, st.ModTime()); err != nil {
		t.Fatal(err)
	}
	return src, st.ModTime()
}
