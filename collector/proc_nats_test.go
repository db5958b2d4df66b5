package collector_test

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/smtpscope/smtpscope/collector"
)

// TestProcCrashNATS kills `collect` with SIGKILL at random moments while
// it publishes to an in-process JetStream server, restarts it, and
// checks that the stream holds every email exactly once: a publish whose
// state commit a kill lost is sent again with the same Nats-Msg-Id and
// de-duplicated by JetStream, never lost.
func TestProcCrashNATS(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test skipped in -short mode")
	}
	tmp := t.TempDir()
	srv := startNATS(t, -1, filepath.Join(tmp, "js"), 0)
	js := jsClient(t, srv.ClientURL(), true)
	spool, data := filepath.Join(tmp, "spool"), filepath.Join(tmp, "data")
	if err := os.MkdirAll(spool, 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := writeConfig(t, tmp, fmt.Sprintf(`
spool = %q
data = %q
sensor = "s1"
rescan_interval = "200ms"
workers = 2

[submission]
backoff_min = "50ms"
backoff_max = "200ms"

[[group]]
name = "hub"
kind = "nats"
full_delivery = true
concurrency = 4
nodes = [%q]
`, spool, data, srv.ClientURL()))
	const sessions, kills = 200, 10
	next, emails := 0, 0
	addSessions := func(k int) {
		for i := 0; i < k && next < sessions; i++ {
			msgs := 1 + next%2
			spoolWrite(t, spool, fmt.Sprintf("Cnats%04d", next), simpleSession(next, msgs), time.Time{})
			emails += msgs
			next++
		}
	}
	rng := rand.New(rand.NewPCG(7, uint64(time.Now().UnixNano())))
	for range kills {
		addSessions(sessions / kills)
		killWhileClaiming(t, rng, spool, cfg)
	}
	addSessions(sessions)
	if code, logs := runCollect(t, "--config", cfg, "--once-timeout", "90s"); code != 0 {
		t.Fatalf("final collect exit %d:\n%s", code, logs)
	}
	st, err := collector.OpenStore(data, collector.StoreOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if n := sentCount(t, st, collector.StateSent); n != int64(emails) {
		t.Errorf("%d sent, want %d", n, emails)
	}
	msgs := readStream(t, js)
	checkPublished(t, st, msgs) // one message per stored email, byte-exact
	if len(msgs) != emails {
		t.Errorf("stream holds %d messages for %d emails", len(msgs), emails)
	}
	dups := 0
	_ = st.ListEmails(func(m *collector.EmailMeta) bool {
		if subs, _ := st.Submissions(m.ID); len(subs) == 1 && strings.HasSuffix(subs[0].UUID, "(duplicate)") {
			dups++
		}
		return true
	})
	t.Logf("NATS crash test: %d sessions, %d emails, %d SIGKILLs; each email once in the stream; %d re-published and acknowledged as duplicates",
		sessions, emails, kills, dups)
}
