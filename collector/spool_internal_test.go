package collector

import (
	"bytes"
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/smtpscope/smtpscope/collector/ace"
	bolt "go.etcd.io/bbolt"
)

func testSession(n int) []byte {
	return fmt.Appendf(nil, "192.0.2.%d:4000/tcp\n1700000000\n> EHLO a\n< EHLO 250 ok\n> MAIL FROM:<a@b.example>\n< MAIL 250 ok\n"+
		"> RCPT TO:<c@d.example>\n< RCPT 250 ok\n> DATA\n< DATA 354 go\nSubject: s%d\n\nbody %d\n> . .\n< . 250 ok\n", n%250+1, n, n)
}

// newTestCollector makes a collector on spool and data delivering to an
// in-process ACE sink.
func newTestCollector(t *testing.T) (*Collector, string, *ace.Sink) {
	t.Helper()
	tmp := t.TempDir()
	sink, err := ace.NewSink(filepath.Join(tmp, "sink"), ace.SinkOptions{})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sink)
	t.Cleanup(srv.Close)
	off := false
	spool := filepath.Join(tmp, "spool")
	cfg := &Config{Spool: spool, Data: filepath.Join(tmp, "data"), Fsync: &off, RescanInterval: Duration(100 * time.Millisecond),
		Groups: []GroupConfig{{Name: "g", Nodes: []string{srv.URL}, FullDelivery: true}}}
	c, err := New(cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	return c, spool, sink
}

func writeSpool(t *testing.T, spool, name string, data []byte, marker bool) {
	t.Helper()
	if err := os.MkdirAll(spool, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(spool, name), data, 0o644); err != nil {
		t.Fatal(err)
	}
	if marker {
		if err := os.WriteFile(filepath.Join(spool, name+readySuffix), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestOversizeSessionMovedWhole: a session file over the limit is moved
// to review/ with its bytes intact, not replaced by an empty file.
func TestOversizeSessionMovedWhole(t *testing.T) {
	c, spool, _ := newTestCollector(t)
	c.maxSession = 100
	big := bytes.Repeat([]byte("x"), 5000)
	writeSpool(t, spool, "Cbig", big, true)
	if err := c.RunOnce(context.Background(), 10*time.Second); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(c.store.dir, ReviewDir, "Cbig"))
	if err != nil || !bytes.Equal(got, big) {
		t.Fatalf("review/Cbig: %d bytes, %v; want the %d bytes of the spool file", len(got), err, len(big))
	}
	reason, _ := os.ReadFile(filepath.Join(c.store.dir, ReviewDir, "Cbig.error"))
	if !strings.Contains(string(reason), "larger than the 100 byte limit") {
		t.Errorf("reason %q", reason)
	}
}

// TestReadyNamesNotDeleted: session files whose names end in .ready are
// claimed with their own marker, and a marker holding bytes without a
// session file is left in place with an error, never deleted unread.
func TestReadyNamesNotDeleted(t *testing.T) {
	c, spool, sink := newTestCollector(t)
	writeSpool(t, spool, "q.ready", testSession(1), true)       // q.ready + q.ready.ready
	writeSpool(t, spool, "w.ready.ready", testSession(2), true) // and its marker
	orphan := testSession(3)
	writeSpool(t, spool, "r.ready", orphan, false) // no r, no r.ready.ready
	err := c.RunOnce(context.Background(), 10*time.Second)
	if err == nil || !strings.Contains(err.Error(), "could not be claimed") {
		t.Errorf("RunOnce: %v; want the entry left in the spool reported", err)
	}
	if got, rerr := os.ReadFile(filepath.Join(spool, "r.ready")); rerr != nil || !bytes.Equal(got, orphan) {
		t.Errorf("r.ready was deleted or changed: %v", rerr)
	}
	if n := sink.Accepted(); n != 2 {
		t.Errorf("ACE received %d emails, want 2 (q.ready and w.ready.ready)", n)
	}
}

// TestStaleQueueEntryIsError: a queue entry whose submission state cannot
// be updated is an error for --once, not a silent success or a loop.
func TestStaleQueueEntryIsError(t *testing.T) {
	c, _, _ := newTestCollector(t)
	if err := c.store.db.b.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bQueue).Put(queueKey("g", "ghost"), putU64(0))
	}); err != nil {
		t.Fatal(err)
	}
	err := c.RunOnce(context.Background(), 5*time.Second)
	if err == nil || !strings.Contains(err.Error(), "1 submissions still undelivered") {
		t.Fatalf("RunOnce: %v; want the stuck entry reported", err)
	}
}

// TestSetSubRefusesLossyIDs: ids that a JSON round trip would change
// never become queue keys.
func TestSetSubRefusesLossyIDs(t *testing.T) {
	c, _, _ := newTestCollector(t)
	defer c.Close()
	err := c.store.db.b.Update(func(tx *bolt.Tx) error {
		return setSub(tx, nil, &SubmissionStatus{EmailID: "bad\xff.0", Group: "g", State: StateQueued})
	})
	if err == nil {
		t.Fatal("an invalid UTF-8 id was queued")
	}
}

func TestFileNameInjective(t *testing.T) {
	seen := map[string]string{}
	for _, s := range []string{"bad\xff", "bad\xfe", "bad_", "a%FF", "a\xff", ".x", "%2Ex", "x.error", strings.Repeat("y", 300), strings.Repeat("y", 301)} {
		f := fileName(s)
		if o, ok := seen[f]; ok {
			t.Errorf("%q and %q share file name %q", o, s, f)
		}
		seen[f] = s
		if len(f) > maxFileName || strings.ContainsAny(f, "/\x00") || f == "." || f == ".." {
			t.Errorf("fileName(%q) = %q", s, f)
		}
	}
}

func FuzzFileName(f *testing.F) {
	f.Add("bad\xff", "bad\xfe")
	f.Add(".x", "%2Ex")
	f.Fuzz(func(t *testing.T, a, b string) {
		fa, fb := fileName(a), fileName(b)
		if a != b && fa == fb {
			t.Fatalf("%q and %q share file name %q", a, b, fa)
		}
		if len(fa) > maxFileName || strings.ContainsAny(fa, "/\x00") || fa == "." || fa == ".." {
			t.Fatalf("fileName(%q) = %q", a, fa)
		}
	})
}
