package collector_test

// Process tests of hostile names and a damaged queue database: the
// smtpscope binary against an ACE sink on loopback.

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/smtpscope/smtpscope/collector"
)

// TestInvalidUTF8NamesSubmittedOnce: spool names and @uid lines with
// invalid UTF-8 give one submission per email, the queue drains and
// --once exits 0; names differing only in invalid bytes stay two emails.
func TestInvalidUTF8NamesSubmittedOnce(t *testing.T) {
	tmp := t.TempDir()
	spool, data := filepath.Join(tmp, "spool"), filepath.Join(tmp, "data")
	sink, srv := sinkServer(t, filepath.Join(tmp, "sink"))
	same := simpleSession(1, 1)
	spoolWrite(t, spool, "bad\xff", same, time.Time{})
	spoolWrite(t, spool, "bad\xfe", same, time.Time{})
	withUID := strings.Replace(string(simpleSession(2, 1)), "\n< > 220", "\n@uid C\xffuid\n< > 220", 1)
	spoolWrite(t, spool, "Cuid", []byte(withUID), time.Time{})
	code, logs := runCollect(t, "--spool", spool, "--data", data, "--ace", srv.URL, "--once-timeout", "20s", "--no-index")
	if code != 0 {
		t.Errorf("collect --once exit %d:\n%s", code, logs)
	}
	if n := sink.Accepted(); n != 3 {
		t.Errorf("ACE received %d submissions, want exactly 3", n)
	}
	s, err := collector.OpenStore(data, collector.StoreOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	depth, _ := s.QueueDepth()
	st, _ := s.Stats()
	if depth != 0 || st.Emails != 3 || st.Sessions != 3 {
		t.Errorf("queue depth %d, %d emails, %d sessions; want 0, 3, 3", depth, st.Emails, st.Sessions)
	}
}

// queuedCount is the undelivered (queued or retrying) count of a store.
func queuedCount(t *testing.T, data string) int64 {
	t.Helper()
	s, err := collector.OpenStore(data, collector.StoreOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	counts, err := s.Counts()
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, m := range counts {
		n += m[collector.StateQueued] + m[collector.StateRetrying]
	}
	return n
}

// TestDamagedQueueDB: a truncated, emptied or overwritten queue.db is a
// clean error from OpenStore and from every verb that opens the data dir
// (no panic, no SIGBUS), and `smtpscope repair` restores the queue.
func TestDamagedQueueDB(t *testing.T) {
	tmp := t.TempDir()
	spool, data := filepath.Join(tmp, "spool"), filepath.Join(tmp, "data")
	for i := range 5 {
		spoolWrite(t, spool, "C"+string(rune('a'+i)), simpleSession(i, 2), time.Time{})
	}
	// nothing listens on port 1: every email stays queued
	code, logs := runCollect(t, "--spool", spool, "--data", data, "--ace", "http://127.0.0.1:1", "--once-timeout", "3s")
	if code != 3 {
		t.Fatalf("collect exit %d, want 3 (undelivered):\n%s", code, logs)
	}
	if out, err := exec.Command(smtpscopeBin(t), "index", "--data", data).CombinedOutput(); err != nil {
		t.Fatalf("index: %v\n%s", err, out) // so that search needs the records
	}
	before := queuedCount(t, data)
	if before != 10 {
		t.Fatalf("%d queued, want 10", before)
	}
	dbPath := filepath.Join(data, collector.DBFile)
	good, err := os.ReadFile(dbPath)
	if err != nil {
		t.Fatal(err)
	}
	damages := map[string][]byte{
		// cut inside the pages in use (half the file may hold only the
		// room bbolt grew the file by, which is no damage)
		"truncated": good[:min(len(good)/2, 4*4096)],
		"empty":     nil,
		"garbage":   bytes.Repeat([]byte("garbage!"), len(good)/8),
	}
	for name, bad := range damages {
		t.Run(name, func(t *testing.T) {
			if err := os.WriteFile(dbPath, bad, 0o640); err != nil {
				t.Fatal(err)
			}
			for _, ro := range []bool{true, false} {
				s, err := collector.OpenStore(data, collector.StoreOptions{ReadOnly: ro})
				if !errors.Is(err, collector.ErrDamaged) {
					if s != nil {
						s.Close()
					}
					t.Fatalf("OpenStore(read-only %v): %v; want ErrDamaged", ro, err)
				}
			}
			verbs := [][]string{
				{"status", "--data", data},
				{"index", "--data", data},
				{"reindex", "--data", data},
				{"search", "--data", data, "--json", "subject:msg"},
				{"submit", "--data", data, "--group", "default", "Ca.0"},
				{"collect", "--once", "--spool", spool, "--data", data, "--ace", "http://127.0.0.1:1", "--once-timeout", "2s"},
			}
			for _, v := range verbs {
				out, err := exec.Command(smtpscopeBin(t), v...).CombinedOutput()
				var ee *exec.ExitError
				crashed := errors.As(err, &ee) && (ee.ExitCode() == 2 || ee.ExitCode() < 0) ||
					bytes.Contains(out, []byte("goroutine")) || bytes.Contains(out, []byte("SIGBUS"))
				if crashed || ee == nil || !bytes.Contains(out, []byte("damaged")) {
					t.Errorf("%s: %v, want a clean damage error:\n%s", v[0], err, out)
				}
			}
			if got, _ := os.ReadFile(dbPath); !bytes.Equal(got, bad) {
				t.Error("the damaged file was changed")
			}
			out, err := exec.Command(smtpscopeBin(t), "repair", "--data", data).CombinedOutput()
			if err != nil {
				t.Fatalf("repair: %v\n%s", err, out)
			}
			if after := queuedCount(t, data); after != before {
				t.Errorf("%d queued after repair, %d before the damage:\n%s", after, before, out)
			}
			kept, _ := filepath.Glob(dbPath + ".damaged-*")
			if len(kept) == 0 {
				t.Error("the damaged file was not kept aside")
			}
			for _, k := range kept {
				os.Remove(k)
			}
		})
	}
}
