package collector_test

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/smtpscope/smtpscope/collector"
)

// TestProcCrashGroupCommit kills a `collect` daemon (fsync on, group
// commit) with SIGKILL at random moments while a spool of 1,200 sessions
// (1,440 emails) is worked through, several times, and after every kill
// checks that no spool entry was released before the commit holding its
// emails: every session file gone from the spool (or whose .ready is
// gone) is in the store with all its emails and their .eml files. A
// final run drains the spool; then every email is stored exactly once
// (no second id for the same message), every session once, none lost,
// and the queue holds exactly one entry per email for the configured
// group (its node is down, so nothing leaves the queue).
func TestProcCrashGroupCommit(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test skipped in -short mode")
	}
	tmp := t.TempDir()
	spool, data := filepath.Join(tmp, "spool"), filepath.Join(tmp, "data")
	cfg := writeConfig(t, tmp, fmt.Sprintf(`
spool = %q
data = %q
rescan_interval = "200ms"
fsync = true

[submission]
backoff_min = "1s"
backoff_max = "2s"

[[group]]
name = "q"
nodes = ["http://%s"]
`, spool, data, freeAddr(t)))
	const sessions, kills = 1200, 8
	want := map[string][]string{} // session name -> email ids
	for i := 0; i < sessions; i++ {
		msgs := 1
		if i%5 == 0 {
			msgs = 2
		}
		name := fmt.Sprintf("Cgroup%05d", i)
		spoolWrite(t, spool, name, simpleSession(i, msgs), time.Time{})
		for m := 0; m < msgs; m++ {
			want[name] = append(want[name], fmt.Sprintf("%s.%d", name, m))
		}
	}
	// released reports the session files whose spool entry was released
	// (the file or its marker gone).
	released := func() []string {
		var out []string
		for name := range want {
			_, ferr := os.Lstat(filepath.Join(spool, name))
			_, rerr := os.Lstat(filepath.Join(spool, name+".ready"))
			if ferr != nil || rerr != nil {
				out = append(out, name)
			}
		}
		return out
	}
	// committed checks that every released entry is in the store.
	committed := func(when string, names []string) {
		t.Helper()
		st, err := collector.OpenStore(data, collector.StoreOptions{ReadOnly: true})
		if err != nil {
			t.Fatalf("%s: %v", when, err)
		}
		defer st.Close()
		for _, name := range names {
			sm, err := st.Session(name)
			if err != nil || sm == nil {
				t.Fatalf("%s: spool entry %s released but its session is not committed (%v)", when, name, err)
			}
			for _, id := range want[name] {
				raw, err := st.Raw(id)
				if err != nil || !strings.Contains(string(raw), "Subject: msg ") {
					t.Fatalf("%s: spool entry %s released but email %s is not stored (%v)", when, name, id, err)
				}
			}
		}
	}
	rng := rand.New(rand.NewPCG(14, uint64(time.Now().UnixNano())))
	prevReleased := 0
	for k := 0; k < kills; k++ {
		before := len(released())
		p := start(t, "collect", "--config", cfg, "--no-index")
		// kill once it has released something new (or after 5 s), at a
		// random moment within the next 800 ms: groups are being written,
		// synced and committed
		for deadline := time.Now().Add(5 * time.Second); len(released()) == before && time.Now().Before(deadline); {
			time.Sleep(2 * time.Millisecond)
		}
		time.Sleep(time.Duration(rng.IntN(800)) * time.Millisecond)
		if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		<-p.done
		rel := released()
		committed(fmt.Sprintf("after kill %d", k+1), rel)
		t.Logf("kill %d: %d of %d spool entries released", k+1, len(rel), sessions)
		prevReleased = len(rel)
		if prevReleased == sessions {
			break
		}
	}
	// restart and let it drain the spool (once it runs: a SIGTERM before
	// its handler is installed would kill it)
	p := start(t, "collect", "--config", cfg, "--no-index")
	for deadline := time.Now().Add(90 * time.Second); countEntries(spool) > 0 || !strings.Contains(p.stderr.String(), "watching spool"); {
		if time.Now().After(deadline) {
			t.Fatalf("spool not drained after 90 s: %d entries left\n%s", countEntries(spool), p.stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if code := p.stop(t); code != 0 {
		t.Fatalf("collect exit %d:\n%s", code, p.stderr.String())
	}
	committed("after the final run", released())

	st, err := collector.OpenStore(data, collector.StoreOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	wantIDs := map[string]bool{}
	for _, ids := range want {
		for _, id := range ids {
			wantIDs[id] = true
		}
	}
	seen := map[string]int{}
	if err := st.ListEmails(func(em *collector.EmailMeta) bool {
		seen[em.ID]++
		if !wantIDs[em.ID] {
			t.Errorf("unexpected email %q (stored twice under another id?)", em.ID)
		}
		subs, err := st.Submissions(em.ID)
		if err != nil || len(subs) != 1 || subs[0].Group != "q" || (subs[0].State != collector.StateQueued && subs[0].State != collector.StateRetrying) {
			t.Errorf("email %s: queue entries %+v (%v), want one queued for group q", em.ID, subs, err)
		}
		return true
	}); err != nil {
		t.Fatal(err)
	}
	for id := range wantIDs {
		if seen[id] != 1 {
			t.Errorf("email %s listed %d times", id, seen[id])
		}
	}
	nsess := 0
	if err := st.ListSessions(func(sm *collector.SessionMeta) bool {
		nsess++
		if _, ok := want[sm.Key]; !ok {
			t.Errorf("unexpected session key %q (stored twice?)", sm.Key)
		}
		return true
	}); err != nil {
		t.Fatal(err)
	}
	stats, err := st.Stats()
	if err != nil {
		t.Fatal(err)
	}
	depth, err := st.QueueDepth()
	if err != nil {
		t.Fatal(err)
	}
	if nsess != sessions || stats.Sessions != sessions || stats.Emails != int64(len(wantIDs)) || depth != len(wantIDs) {
		t.Errorf("store: %d sessions listed, stats %+v, queue depth %d; want %d sessions, %d emails, depth %d",
			nsess, stats, depth, sessions, len(wantIDs), len(wantIDs))
	}
	t.Logf("group commit crash test: %d sessions, %d emails, SIGKILLs until all were released or %d; %d entries claimed again after a kill",
		sessions, len(wantIDs), kills, stats.DuplicateClaims)
}
