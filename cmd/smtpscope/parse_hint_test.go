package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCaptureFormat tells captures from session files by their first bytes.
func TestCaptureFormat(t *testing.T) {
	dir := t.TempDir()
	files := map[string][]byte{
		"le.pcap":   {0xd4, 0xc3, 0xb2, 0xa1, 2, 0},
		"be.pcap":   {0xa1, 0xb2, 0xc3, 0xd4, 0, 2},
		"ns.pcap":   {0x4d, 0x3c, 0xb2, 0xa1},
		"x.pcapng":  {0x0a, 0x0d, 0x0d, 0x0a, 0x1c, 0},
		"session":   []byte("10.0.0.1:1025/tcp\n"),
		"short":     {0xd4},
		"empty.eml": nil,
	}
	want := map[string]string{"le.pcap": "pcap", "be.pcap": "pcap", "ns.pcap": "pcap", "x.pcapng": "pcapng"}
	for name, b := range files {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		if got := captureFormat(p); got != want[name] {
			t.Errorf("%s: %q, want %q", name, got, want[name])
		}
	}
	if got := captureFormat(filepath.Join(dir, "missing")); got != "" {
		t.Errorf("a missing file: %q", got)
	}
}

// TestParseHints: `parse` on a capture without --pcap says to use it, and
// `parse --pcap` that finds no SMTP session says so and names the ports.
func TestParseHints(t *testing.T) {
	capf := filepath.Join("..", "..", "testdata", "pcap", "swaks-plain.pcap")
	if _, err := os.Stat(capf); err != nil {
		t.Skip("no sample capture:", err)
	}
	stderr, err := runVerb(t, "parse", capf)
	if err == nil || !strings.Contains(stderr, "swaks-plain.pcap is a packet capture (pcap)") || !strings.Contains(stderr, "smtpscope parse --pcap") {
		t.Errorf("parse of a capture: err %v, stderr %q", err, stderr)
	}
	stderr, err = runVerb(t, "parse", "--pcap", "--ports", "9999,25", capf)
	if err != nil || !strings.Contains(stderr, "no SMTP session on TCP ports 9999,25 in ") || !strings.Contains(stderr, "try --ports") {
		t.Errorf("parse --pcap on other ports: err %v, stderr %q", err, stderr)
	}
}

// runVerb runs a command line in this process; it returns what went to
// stderr and the verb's error (stdout is discarded).
func runVerb(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var cli CLI
	var usage bytes.Buffer
	ctx, code := parseArgs(&cli, args, &usage)
	if ctx == nil {
		t.Fatalf("%q: exit %d: %s", args, code, usage.String())
	}
	null, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer null.Close()
	var runErr error
	stderr := captureOutput(t, &os.Stderr, func() {
		old := os.Stdout
		os.Stdout = null
		defer func() { os.Stdout = old }()
		runErr = ctx.Run()
	})
	return stderr, runErr
}
