package collector_test

import (
	"bytes"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestProcCrashIndex kills a `collect` daemon (index on, fsync on) with
// SIGKILL while it ingests, then runs `collect --once`: every email is
// searchable afterwards, and the start-up catch-up applied the store's
// marks without a full pass over the store and the index.
func TestProcCrashIndex(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test skipped in -short mode")
	}
	tmp := t.TempDir()
	spool, data := filepath.Join(tmp, "spool"), filepath.Join(tmp, "data")
	total := 0
	add := func(from, to int) {
		for n := from; n < to; n++ {
			spoolWrite(t, spool, fmt.Sprintf("Cidx%04d", n), simpleSession(n, 1), time.Time{})
			total++
		}
	}
	// a first run builds the index and records the store in it
	add(0, 20)
	if code, logs := runCollect(t, "--spool", spool, "--data", data); code != 0 {
		t.Fatalf("first collect --once: exit %d\n%s", code, logs)
	}
	add(20, 420)
	before := countEntries(spool)
	p := start(t, "collect", "--spool", spool, "--data", data)
	for deadline := time.Now().Add(10 * time.Second); countEntries(spool) > before-100 && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-p.done
	left := countEntries(spool)
	code, logs := runCollect(t, "--spool", spool, "--data", data)
	if code != 0 {
		t.Fatalf("collect --once after SIGKILL: exit %d\n%s", code, logs)
	}
	if !strings.Contains(logs, `msg="index catch-up" full=""`) {
		t.Errorf("the catch-up after SIGKILL was not from the marks alone:\n%s", logs)
	}
	out, err := exec.Command(smtpscopeBin(t), "search", "--data", data, "--json", "--limit", "0", "--kind", "email").Output()
	if err != nil {
		t.Fatalf("search: %v", err)
	}
	if n := bytes.Count(out, []byte("\n")); n != total {
		t.Errorf("%d emails searchable, want %d", n, total)
	}
	t.Logf("killed with %d of %d spool entries left; catch-up: %s", left/2, total, catchUpOf(logs))
}

func catchUpOf(logs string) string {
	for _, l := range strings.Split(logs, "\n") {
		if strings.Contains(l, "index catch-up") {
			return l
		}
	}
	return ""
}
