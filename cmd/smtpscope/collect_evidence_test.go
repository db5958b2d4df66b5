package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/smtpscope/smtpscope/collector/capture"
	"github.com/smtpscope/smtpscope/core"
	"github.com/smtpscope/smtpscope/internal/mtatest"
)

// TestCollectPcapFlags: collect's evidence pcap flags and config keys
// give the capture the same capture.Evidence as `capture --pcap-dir
// --pcap-max-mib --pcap-max-age --pcap-keep`; the flags override the
// file (--pcap-keep 0 too), and settings without a directory or
// negative ones are refused.
func TestCollectPcapFlags(t *testing.T) {
	conf := filepath.Join(t.TempDir(), "c.toml")
	if err := os.WriteFile(conf, []byte(`spool = "s"
data = "d"
interface = ["lo"]
capture_pcap_dir = "/srv/pcap"
capture_pcap_max_mib = 7
capture_pcap_max_age = "10m"
capture_pcap_keep = 4
`), 0o600); err != nil {
		t.Fatal(err)
	}
	load := func(args ...string) (*capture.Evidence, error) {
		t.Helper()
		var cli CLI
		var stderr bytes.Buffer
		if ctx, _ := parseArgs(&cli, append([]string{"collect", "--config", conf}, args...), &stderr); ctx == nil {
			t.Fatalf("parse %q: %s", args, stderr.String())
		}
		cfg, err := cli.Collect.loadConfig()
		if err != nil {
			return nil, err
		}
		return collectEvidence(cfg), nil
	}
	ev, err := load()
	if err != nil || *ev != (capture.Evidence{Dir: "/srv/pcap", MaxSize: 7 << 20, MaxAge: 10 * time.Minute, Keep: 4}) {
		t.Fatalf("from the config: %+v, %v", ev, err)
	}
	ev, err = load("--pcap-dir", "/tmp/ev", "--pcap-max-mib", "1", "--pcap-max-age", "2s", "--pcap-keep", "0")
	if err != nil || *ev != (capture.Evidence{Dir: "/tmp/ev", MaxSize: 1 << 20, MaxAge: 2 * time.Second, Keep: 0}) {
		t.Fatalf("flags over the config: %+v, %v", ev, err)
	}
	if _, err := load("--pcap-max-mib=-1"); err == nil || !strings.Contains(err.Error(), "cannot be negative") {
		t.Errorf("--pcap-max-mib -1: %v", err)
	}
	c := &CollectCmd{Spool: "s", Data: "d", Interface: []string{"lo"}, PcapMaxMiB: 5}
	if _, err := c.loadConfig(); err == nil || !strings.Contains(err.Error(), "no capture_pcap_dir is set") {
		t.Errorf("--pcap-max-mib without --pcap-dir: %v", err)
	}
	c = &CollectCmd{Spool: "s", Data: "d", Interface: []string{"lo"}}
	if cfg, err := c.loadConfig(); err != nil || collectEvidence(cfg) != nil {
		t.Errorf("no --pcap-dir: evidence %+v, %v", collectEvidence(cfg), err)
	}
}

// startCollect starts the real binary's collect and waits for its live
// capture to run; it is killed when the test ends.
func startCollect(t *testing.T, args ...string) (*exec.Cmd, *syncBuffer) {
	t.Helper()
	return startUntil(t, "live capture running", append([]string{testBinary(t), "collect"}, args...)...)
}

// sendLoPaused sends one message to addr over SMTP, pausing after EHLO.
func sendLoPaused(t *testing.T, addr, subject string, pause time.Duration) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r := bufio.NewReader(c)
	body := fmt.Sprintf("From: a@example.test\r\nTo: b@example.test\r\nSubject: %s\r\n\r\nspread over two evidence files\r\n.\r\n", subject)
	for _, cmd := range []string{"", "EHLO client.example.test\r\n", "MAIL FROM:<a@example.test>\r\n", "RCPT TO:<b@example.test>\r\n", "DATA\r\n", body, "QUIT\r\n"} {
		if cmd != "" {
			if _, err := c.Write([]byte(cmd)); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := r.ReadString('\n'); err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(cmd, "EHLO") {
			time.Sleep(pause)
		}
	}
}

// TestCollectEvidenceRotation (root): the real binary's `collect
// --interface lo` keeps evidence pcaps rotated as its config and flags
// say (capture_pcap_max_age = "1s", --pcap-keep 2 over the config's 10).
// A session written before a pause and one spread over two files by a
// pause: each record names its files (session.pcap); the directory
// keeps the newest two; `show --pcap` through the running collector's
// socket writes the second's connection — a pcap holding exactly what
// ExtractFlow cuts — and refuses the first, its file removed by the
// rotation, naming it.
func TestCollectEvidenceRotation(t *testing.T) {
	l, port := mtatest.CaptureListener(t)
	go loSMTP(l)
	work := t.TempDir()
	spool, data, evDir := filepath.Join(work, "spool"), filepath.Join(work, "data"), filepath.Join(work, "evidence")
	conf := filepath.Join(work, "smtpscope.toml")
	if err := os.WriteFile(conf, []byte(fmt.Sprintf(`spool = %q
data = %q
interface = ["lo"]
capture_ports = [%d]
capture_pcap_dir = %q
capture_pcap_max_age = "1s"
capture_pcap_keep = 10
`, spool, data, port, evDir)), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(spool, 0o750); err != nil {
		t.Fatal(err)
	}
	cmd, stderr := startCollect(t, "--config", conf, "--no-fsync", "--pcap-keep", "2")
	bin := testBinary(t)
	sendLo(t, l.Addr().String(), "before the pause", 5)
	time.Sleep(1300 * time.Millisecond)
	sendLoPaused(t, l.Addr().String(), "over two files", 1300*time.Millisecond)

	var recs map[string]core.Email // by subject
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		out, _ := exec.Command(bin, "search", "--data", data, "--json", "--limit", "0").Output()
		recs = map[string]core.Email{}
		for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			var e core.Email
			if json.Unmarshal([]byte(line), &e) == nil && e.ID != "" {
				recs[e.Subject] = e
			}
		}
		if len(recs) == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d emails found after 60 s:\n%s", len(recs), stderr.String())
		}
	}
	first, second := recs["before the pause"], recs["over two files"]
	if len(first.Session.Pcap) != 1 || len(second.Session.Pcap) != 2 || slices.Contains(second.Session.Pcap, first.Session.Pcap[0]) {
		t.Fatalf("session.pcap: first %q, second %q; want one file, then two others", first.Session.Pcap, second.Session.Pcap)
	}
	for _, p := range append(first.Session.Pcap, second.Session.Pcap...) {
		if !strings.HasPrefix(p, evDir+"/smtp-") {
			t.Errorf("session.pcap names %s, not a file of %s", p, evDir)
		}
	}
	// --pcap-keep 2: the first file went when the third started.
	names, err := capture.EvidenceFiles(evDir)
	if err != nil || len(names) != 2 {
		t.Fatalf("evidence dir holds %q (%v), want the newest 2", names, err)
	}
	if _, err := os.Stat(first.Session.Pcap[0]); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the first file %s is still there (%v)", first.Session.Pcap[0], err)
	}

	// show --pcap through the running collector: the second's connection.
	out := filepath.Join(work, "second.pcap")
	if o, err := exec.Command(bin, "show", "--data", data, "--pcap", "-o", out, second.ID).CombinedOutput(); err != nil {
		t.Fatalf("show --pcap: %v\n%s", err, o)
	}
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var want bytes.Buffer
	si := second.Session
	n, err := capture.ExtractFlow(si.Pcap, capture.Flow{ClientIP: si.SourceIP, ClientPort: si.SourcePort, ServerIP: si.DestIP, ServerPort: si.DestPort}, &want)
	if err != nil || n < 10 || !bytes.Equal(got, want.Bytes()) {
		t.Fatalf("show --pcap wrote %d bytes; ExtractFlow %d packets, %d bytes, %v", len(got), n, want.Len(), err)
	}
	// The first: its file rotated away.
	o, err := exec.Command(bin, "show", "--data", data, "--pcap", "-o", filepath.Join(work, "first.pcap"), first.ID).CombinedOutput()
	if err == nil || !strings.Contains(string(o), first.Session.Pcap[0]+" is gone") {
		t.Errorf("show --pcap of the first: %v\n%s", err, o)
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("collect: %v\n%s", err, stderr.String())
	}
}
