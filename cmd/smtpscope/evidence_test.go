package main

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/smtpscope/smtpscope/collector/capture"
)

// loSMTP serves SMTP sessions on l until it is closed (every command
// answered 250, DATA 354, end of data 250, QUIT 221).
func loSMTP(l net.Listener) {
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			r := bufio.NewReader(c)
			_, _ = c.Write([]byte("220 lo ESMTP\r\n"))
			inData := false
			for {
				line, err := r.ReadString('\n')
				if err != nil {
					return
				}
				switch cmd := strings.ToUpper(strings.TrimSpace(line)); {
				case inData:
					if line == ".\r\n" {
						inData = false
						_, _ = c.Write([]byte("250 queued\r\n"))
					}
				case cmd == "DATA":
					inData = true
					_, _ = c.Write([]byte("354 go\r\n"))
				case cmd == "QUIT":
					_, _ = c.Write([]byte("221 bye\r\n"))
					return
				default:
					_, _ = c.Write([]byte("250 ok\r\n"))
				}
			}
		}()
	}
}

// sendLo sends one message over SMTP to addr, waiting for each reply.
func sendLo(t *testing.T, addr, subject string, bodyLines int) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r := bufio.NewReader(c)
	var body strings.Builder
	fmt.Fprintf(&body, "From: a@example.test\r\nTo: b@example.test\r\nSubject: %s\r\n\r\n", subject)
	for i := range bodyLines {
		fmt.Fprintf(&body, "line %d of %s, padded to make the session long enough to span packets\r\n", i, subject)
	}
	body.WriteString(".\r\n")
	for _, cmd := range []string{"", "EHLO client.example.test\r\n", "MAIL FROM:<a@example.test>\r\n", "RCPT TO:<b@example.test>\r\n", "DATA\r\n", body.String(), "QUIT\r\n"} {
		if cmd != "" {
			if _, err := c.Write([]byte(cmd)); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := r.ReadString('\n'); err != nil {
			t.Fatal(err)
		}
	}
}

// TestCaptureEvidence (root): the real binary captures three sessions on
// lo with --pcap-dir; the evidence pcap(s) exist, every session file
// names them (@pcap), and `smtpscope pcap` over the evidence writes the
// same session files (without the @pcap lines).
func TestCaptureEvidence(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (CAP_NET_RAW) to capture on lo")
	}
	bin := testBinary(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go loSMTP(l)
	port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	work := t.TempDir()
	out, evDir := filepath.Join(work, "spool"), filepath.Join(work, "evidence")
	cmd, stderr := startCapture(t, nil, "-i", "lo", "--ports", port, "--out", out, "--no-sync", "--report", "0", "--pcap-dir", evDir)
	for i := range 3 {
		sendLo(t, l.Addr().String(), fmt.Sprintf("evidence %d", i), 50*(i+1))
	}
	// The three sessions ended (FIN both ways) before the signal: they
	// are written whole, not cut.
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if r, _ := filepath.Glob(filepath.Join(out, "*.ready")); len(r) == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("3 session files not written within 60 s:\n%s", stderr.String())
		}
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("capture: %v\n%s", err, stderr.String())
	}
	<-stderr.done
	names, err := capture.EvidenceFiles(evDir)
	if err != nil || len(names) == 0 {
		t.Fatalf("evidence pcaps: %v %v\n%s", names, err, stderr.String())
	}
	var paths []string
	for _, n := range names {
		paths = append(paths, filepath.Join(evDir, n))
	}
	files := sessionFiles(t, out)
	pcapOut := filepath.Join(work, "again")
	runBin(t, bin, append([]string{"pcap", "--out", pcapOut, "--ports", port, "--sync", "none", "-q"}, paths...)...)
	again := sessionFiles(t, pcapOut)
	if len(files) != 3 || len(again) != 3 {
		t.Fatalf("capture wrote %d sessions, pcap over the evidence %d", len(files), len(again))
	}
	for name, data := range files {
		var body []byte
		var named []string
		for _, l := range bytes.SplitAfter(data, []byte("\n")) {
			if p, ok := bytes.CutPrefix(l, []byte("@pcap ")); ok {
				named = append(named, strings.TrimSpace(string(p)))
				continue
			}
			body = append(body, l...)
		}
		if !bytes.Equal(body, again[name]) {
			t.Errorf("%s: pcap over the evidence differs:\ncapture:\n%s\npcap:\n%s", name, data, again[name])
		}
		sort.Strings(named)
		if len(named) == 0 || !strings.HasPrefix(named[0], evDir+"/smtp-") {
			t.Errorf("%s names %q, want files of %s", name, named, evDir)
		}
		for _, p := range named {
			if _, err := os.Stat(p); err != nil {
				t.Errorf("%s names %s: %v", name, p, err)
			}
		}
	}
}
