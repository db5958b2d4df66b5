package capture

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/smtpscope/smtpscope/core"
)

// TestWriteDirNeverOverwrites: session files already in the spool (an
// unclaimed one with the same uid, a stale .ready, a second run of the same
// capture) are never replaced; each session gets a name of its own, its
// @uid matching the name.
func TestWriteDirNeverOverwrites(t *testing.T) {
	dir := t.TempDir()
	var buf bytes.Buffer
	o := synthOpts{}
	if err := writePcap(&buf, o, synthSession(o, smtpSession(testMsgs[:1])), false); err != nil {
		t.Fatal(err)
	}
	in := filepath.Join(dir, "in.pcap")
	if err := os.WriteFile(in, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "spool")
	if _, err := WriteDir(context.Background(), []string{in}, Options{Sync: SyncNone}, out); err != nil {
		t.Fatal(err)
	}
	names := sessionNames(t, out)
	if len(names) != 1 {
		t.Fatalf("first run: %v", names)
	}
	uid := names[0]
	// Another session that happens to have this uid, not yet claimed, and
	// a .ready left for uid-2 whose session file was taken away.
	other := []byte("10.9.9.9:1/tcp\n1700000000\n> QUIT\n")
	os.WriteFile(filepath.Join(out, uid), other, 0o640)
	os.WriteFile(filepath.Join(out, uid+"-2.ready"), nil, 0o640)
	for run := 0; run < 2; run++ {
		if _, err := WriteDir(context.Background(), []string{in}, Options{Sync: SyncNone}, out); err != nil {
			t.Fatal(err)
		}
	}
	if got, _ := os.ReadFile(filepath.Join(out, uid)); !bytes.Equal(got, other) {
		t.Errorf("the unclaimed file %s was overwritten", uid)
	}
	names = sessionNames(t, out)
	want := []string{uid, uid + "-3", uid + "-4"}
	if strings.Join(names, " ") != strings.Join(want, " ") {
		t.Fatalf("session files %v, want %v", names, want)
	}
	for _, n := range want[1:] {
		s, err := core.ParseSessionFile(filepath.Join(out, n))
		if err != nil {
			t.Fatal(err)
		}
		if s.Info.UID != n || len(s.Messages) != 1 || !bytes.Equal(s.Messages[0].Data, testMsgs[0]) {
			t.Errorf("%s: uid %q, %d messages", n, s.Info.UID, len(s.Messages))
		}
		if _, err := os.Stat(filepath.Join(out, n+".ready")); err != nil {
			t.Errorf("%s has no .ready", n)
		}
	}
}

// sessionNames lists the session files (not .ready, not temporary) of dir.
func sessionNames(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		n := e.Name()
		if strings.HasPrefix(n, ".") {
			t.Errorf("temporary file left: %s", n)
		} else if !strings.HasSuffix(n, ".ready") {
			out = append(out, n)
		}
	}
	return out
}
