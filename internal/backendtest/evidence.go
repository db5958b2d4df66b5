package backendtest

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/smtpscope/smtpscope/collector/capture"
)

// EvidencePort is the server port of the captures EvidenceSpool uses
// (Postfix on 127.0.0.1).
const EvidencePort = 39099

// EvidenceSpool writes into spool the session files `smtpscope pcap`
// makes of two test captures (testdata/pcap: multi-message.pcap and
// swaks-plain.pcap, connections to the same server that differ only by
// the client port), each naming both captures as its evidence pcaps
// (@pcap lines, as `capture --pcap-dir` writes them), with their .ready.
// It returns the captures' absolute paths (copies in dir, so a test may
// remove or damage them).
func EvidenceSpool(t testing.TB, dir, spool string) []string {
	t.Helper()
	_, here, _, _ := runtime.Caller(0)
	var pcaps []string
	for _, n := range []string{"multi-message.pcap", "swaks-plain.pcap"} {
		b, err := os.ReadFile(filepath.Join(filepath.Dir(here), "..", "..", "testdata", "pcap", n))
		if err != nil {
			t.Fatal(err)
		}
		p, err := filepath.Abs(filepath.Join(dir, "smtp-"+n))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		pcaps = append(pcaps, p)
	}
	raw := filepath.Join(dir, "sessions")
	if _, err := capture.WriteDir(context.Background(), pcaps, capture.Options{Ports: []int{EvidencePort}, Sync: capture.SyncNone}, raw); err != nil {
		t.Fatal(err)
	}
	ready, _ := filepath.Glob(filepath.Join(raw, "*.ready"))
	if len(ready) < 2 {
		t.Fatalf("%d sessions in the test captures, want 2 or more", len(ready))
	}
	if err := os.MkdirAll(spool, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, r := range ready {
		name := strings.TrimSuffix(r, ".ready")
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		// After the two header lines: one @pcap line per capture.
		lines := strings.SplitAfterN(string(b), "\n", 3)
		with := lines[0] + lines[1] + "@pcap " + pcaps[0] + "\n@pcap " + pcaps[1] + "\n" + lines[2]
		dst := filepath.Join(spool, filepath.Base(name))
		if err := os.WriteFile(dst, []byte(with), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst+".ready", nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return pcaps
}
