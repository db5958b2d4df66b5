package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/smtpscope/smtpscope/collector"
	"github.com/smtpscope/smtpscope/core"
	"github.com/smtpscope/smtpscope/internal/mtatest"
)

// startCapture runs `smtpscope capture` and waits (60 s at most) for the
// line saying its sockets are open; stderr is collected in the buffer.
func startCapture(t *testing.T, wrap []string, args ...string) (*exec.Cmd, *syncBuffer) {
	t.Helper()
	argv := append(append([]string(nil), wrap...), testBinary(t), "capture")
	return startUntil(t, "capturing on", append(argv, args...)...)
}

// startUntil starts argv with its stderr kept in a syncBuffer and waits
// (60 s at most) until a line of it contains ready; it fails the test if
// the process ends first. The process is killed when the test ends.
func startUntil(t *testing.T, ready string, argv ...string) (*exec.Cmd, *syncBuffer) {
	t.Helper()
	cmd := exec.Command(argv[0], argv[1:]...)
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	buf := &syncBuffer{done: make(chan struct{})}
	started := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(pr)
		once := false
		for sc.Scan() {
			buf.add(sc.Text() + "\n")
			if !once && strings.Contains(sc.Text(), ready) {
				once = true
				close(started)
			}
		}
		close(buf.done)
	}()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	select {
	case <-started:
	case <-buf.done:
		_ = cmd.Wait()
		t.Fatalf("%s ended before %q:\n%s", argv[0], ready, buf.String())
	case <-time.After(60 * time.Second):
		t.Fatalf("no %q from %s within 60 s:\n%s", ready, argv[0], buf.String())
	}
	return cmd, buf
}

// TestCaptureSIGTERMFlushes (root): the real binary captures a session on
// lo that is still open (inside DATA) when SIGTERM comes; it exits 0
// having written that session, its message partial.
func TestCaptureSIGTERMFlushes(t *testing.T) {
	l, port := mtatest.CaptureListener(t)
	out := t.TempDir()
	cmd, stderr := startCapture(t, nil, "-i", "lo", "--ports", strconv.Itoa(port), "--out", out, "--no-sync", "--report", "0")
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := l.Accept()
		if err == nil {
			_, _ = c.Write([]byte("220 x ESMTP\r\n"))
			r := bufio.NewReader(c)
			for _, reply := range []string{"250 ok\r\n", "250 ok\r\n", "250 ok\r\n", "354 go\r\n", "", "", ""} {
				if _, err := r.ReadString('\n'); err != nil {
					break
				}
				_, _ = c.Write([]byte(reply))
			}
		}
		accepted <- c
	}()
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r := bufio.NewReader(c)
	for _, cmdLine := range []string{"", "EHLO me\r\n", "MAIL FROM:<a@example.test>\r\n", "RCPT TO:<b@example.test>\r\n", "DATA\r\n"} {
		if cmdLine != "" {
			_, _ = c.Write([]byte(cmdLine))
		}
		if _, err := r.ReadString('\n'); err != nil {
			t.Fatal(err)
		}
	}
	_, _ = c.Write([]byte("Subject: cut short\r\n\r\nthe first line, and no end\r\n"))
	// The server has read the message's lines: they went through lo, so
	// they are in the capture's ring (or read from it) before the signal.
	if sc := <-accepted; sc != nil {
		defer sc.Close()
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	select {
	case err := <-waited:
		if err != nil {
			t.Fatalf("capture: %v\n%s", err, stderr.String())
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("capture still running 60 s after SIGTERM:\n%s", stderr.String())
	}
	<-stderr.done
	ready, _ := filepath.Glob(filepath.Join(out, "*.ready"))
	if len(ready) != 1 {
		t.Fatalf("%d session files, want 1\n%s", len(ready), stderr.String())
	}
	name := strings.TrimSuffix(ready[0], ".ready")
	data, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	s, err := core.ParseSession(bytes.NewReader(data), filepath.Base(name), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Messages) != 1 || !s.Messages[0].Partial || !bytes.Contains(s.Messages[0].Data, []byte("the first line")) ||
		len(s.Info.Anomalies) != 1 || !strings.Contains(s.Info.Anomalies[0], "(shutdown)") {
		t.Fatalf("want one partial message; session file:\n%s", data)
	}
	if !strings.Contains(stderr.String(), "stopped; 1 session(s) written") {
		t.Errorf("stderr:\n%s", stderr.String())
	}
}

// TestCaptureWithoutCapNetRaw (root, setpriv): without CAP_NET_RAW the
// verb fails at once with a message naming the capability.
func TestCaptureWithoutCapNetRaw(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to drop CAP_NET_RAW with setpriv")
	}
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		t.Skip("no setpriv (util-linux)")
	}
	cmd := exec.Command(setpriv, "--inh-caps=-net_raw", "--bounding-set=-net_raw", testBinary(t), "capture", "-i", "lo", "--out", t.TempDir())
	var errb bytes.Buffer
	cmd.Stderr = &errb
	err = cmd.Run()
	if exitCode(err) == 0 && err == nil {
		t.Fatal("capture ran without CAP_NET_RAW")
	}
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 || !strings.Contains(errb.String(), "needs the CAP_NET_RAW capability") {
		t.Fatalf("err %v, stderr %q", err, errb.String())
	}
}

// syncBuffer collects a process's stderr lines for several goroutines.
type syncBuffer struct {
	mu   sync.Mutex
	b    strings.Builder
	done chan struct{}
}

func (s *syncBuffer) add(line string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.b.WriteString(line)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestCollectInterface (root): `collect --interface lo` is the whole
// sensor: the session captured on lo is written into the spool, stored as
// an email, and `status` shows the capture's loss accounting.
func TestCollectInterface(t *testing.T) {
	l, port := mtatest.CaptureListener(t)
	dir := t.TempDir()
	spool, data := filepath.Join(dir, "spool"), filepath.Join(dir, "data")
	if err := os.MkdirAll(spool, 0o750); err != nil {
		t.Fatal(err)
	}
	bin := testBinary(t)
	evDir := filepath.Join(dir, "evidence")
	cmd, errb := startCollect(t, "--spool", spool, "--data", data, "--interface", "lo",
		"--capture-ports", strconv.Itoa(port), "--no-fsync", "--no-index", "--pcap-dir", evDir)
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		_, _ = c.Write([]byte("220 x ESMTP\r\n"))
		r := bufio.NewReader(c)
		data := false
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			switch {
			case data && line == ".\r\n":
				data = false
				_, _ = c.Write([]byte("250 queued\r\n"))
			case data:
			case strings.HasPrefix(line, "DATA"):
				data = true
				_, _ = c.Write([]byte("354 go\r\n"))
			case strings.HasPrefix(line, "QUIT"):
				_, _ = c.Write([]byte("221 bye\r\n"))
				return
			default:
				_, _ = c.Write([]byte("250 ok\r\n"))
			}
		}
	}()
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(c)
	for _, line := range []string{"", "EHLO me\r\n", "MAIL FROM:<a@example.test>\r\n", "RCPT TO:<b@example.test>\r\n", "DATA\r\n",
		"From: a@example.test\r\nSubject: sensor\r\n\r\ncaptured by the collector\r\n.\r\n", "QUIT\r\n"} {
		if line != "" {
			_, _ = c.Write([]byte(line))
		}
		if _, err := r.ReadString('\n'); err != nil {
			t.Fatal(err)
		}
	}
	c.Close()
	var out string
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		o, err := exec.Command(bin, "status", "--data", data).CombinedOutput()
		out = string(o)
		if err == nil && strings.Contains(out, "capture    1 sessions written") && strings.Contains(out, "stored     1 sessions, 1 emails") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("status after 60 s:\n%s\ncollect:\n%s", out, errb.String())
		}
	}
	if !strings.Contains(out, "capture    lo: ") || !strings.Contains(out, "dropped by the kernel") || !strings.Contains(out, "limits hit: 0 half-open") {
		t.Errorf("status:\n%s", out)
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("collect: %v\n%s", err, errb.String())
	}
	// --pcap-dir: the stored email names its evidence pcap, which exists.
	st, err := collector.OpenStore(data, collector.StoreOptions{ReadOnly: true, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	_ = st.ListEmails(func(m *collector.EmailMeta) bool { ids = append(ids, m.ID); return true })
	st.Close()
	if len(ids) != 1 {
		t.Fatalf("%d emails stored", len(ids))
	}
	var rec core.Email
	if err := json.Unmarshal([]byte(runBin(t, bin, "show", "--data", data, "--json", ids[0])), &rec); err != nil {
		t.Fatal(err)
	}
	if len(rec.Session.Pcap) != 1 || !strings.HasPrefix(rec.Session.Pcap[0], evDir+"/smtp-") {
		t.Fatalf("session.pcap %q, want one file of %s", rec.Session.Pcap, evDir)
	}
	if _, err := os.Stat(rec.Session.Pcap[0]); err != nil {
		t.Fatal(err)
	}
	if sum := runBin(t, bin, "show", "--data", data, ids[0]); !strings.Contains(sum, "Pcap:        "+rec.Session.Pcap[0]) {
		t.Errorf("show lacks the Pcap line:\n%s", sum)
	}
}
