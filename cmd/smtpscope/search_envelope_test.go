package main

import (
	"bytes"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/smtpscope/smtpscope/internal/backendtest"
)

// TestSearchRefusedAndNullSender runs the real binary on the demo
// samples: `search mailfrom:`/`rcpt:` find the session whose recipient
// the server refused (it carried no email) by the envelope it tried, and
// `search 'mailfrom:<>'` finds the bounce (MAIL FROM:<>) and nothing else.
func TestSearchRefusedAndNullSender(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test (builds the binary, runs the collector)")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "smtpscope")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	spool, data := filepath.Join(dir, "spool"), filepath.Join(dir, "data")
	backendtest.WriteSpool(t, spool)
	run := func(args ...string) string {
		t.Helper()
		var out, errb bytes.Buffer
		cmd := exec.Command(bin, args...)
		cmd.Stdout, cmd.Stderr = &out, &errb
		if err := cmd.Run(); err != nil {
			t.Fatalf("%s: %v\n%s%s", strings.Join(args, " "), err, out.String(), errb.String())
		}
		return out.String()
	}
	run("collect", "--spool", spool, "--data", data, "--once", "--once-timeout", "30s", "--no-fsync")
	rows := func(q string) []string {
		t.Helper()
		lines := strings.Split(strings.TrimSpace(run("search", "--data", data, "--limit", "0", q)), "\n")
		if len(lines) == 0 || !strings.HasPrefix(lines[0], "ID") {
			t.Fatalf("search %q: no table:\n%s", q, strings.Join(lines, "\n"))
		}
		return lines[1:]
	}
	for _, q := range []string{"rcpt:nobody@corp.example.com", "mailfrom:winner@lottery.example.net", "mailfrom:lottery.example.net rcpt:nobody"} {
		got := rows(q)
		if len(got) != 1 || !strings.Contains(got[0], "203.0.113.200") {
			t.Errorf("search %q: want the refused session from 203.0.113.200, got:\n%s", q, strings.Join(got, "\n"))
		}
	}
	got := rows("mailfrom:<>")
	if len(got) != 1 || !strings.Contains(got[0], "bounce") {
		t.Errorf("search 'mailfrom:<>': want the one bounce, got:\n%s", strings.Join(got, "\n"))
	}
}
