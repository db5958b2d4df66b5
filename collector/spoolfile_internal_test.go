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
