//go:build linux

package capture

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/smtpscope/smtpscope/core"
)

// miniSMTP serves one SMTP session on l: accepts one message and returns
// it (dot-unstuffed) on the channel.
func miniSMTP(l net.Listener) <-chan []byte {
	out := make(chan []byte, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			close(out)
			return
		}
		defer c.Close()
		r := bufio.NewReader(c)
		w := func(s string) { _, _ = c.Write([]byte(s)) }
		w("220 mini ESMTP\r\n")
		var msg []byte
		inData := false
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				out <- msg
				return
			}
			if inData {
				if line == ".\r\n" {
					inData = false
					w("250 ok queued\r\n")
					continue
				}
				msg = append(msg, strings.TrimPrefix(line, ".")...)
				continue
			}
			switch cmd := strings.ToUpper(strings.TrimSpace(line)); {
			case strings.HasPrefix(cmd, "DATA"):
				inData = true
				w("354 go ahead\r\n")
			case strings.HasPrefix(cmd, "QUIT"):
				w("221 bye\r\n")
				out <- msg
				return
			default:
				w("250 ok\r\n")
			}
		}
	}()
	return out
}

// TestCaptureLoopback (root): CaptureDir on lo through AF_PACKET and the
// port filter sees a real TCP session between two sockets on 127.0.0.1
// and writes its session file, whose message is the bytes the server got.
func TestCaptureLoopback(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (CAP_NET_RAW) for an AF_PACKET socket on lo")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	reports := make(chan LiveStats, 100)
	type result struct {
		n   int
		err error
	}
	done := make(chan result, 1)
	go func() {
		n, err := CaptureDir(ctx, []string{"lo"}, 8<<20, Options{Ports: []int{port}}, dir, func(ls LiveStats) {
			select {
			case reports <- ls:
			default:
			}
		})
		done <- result{n, err}
	}()
	wait := func(what string, ok func(LiveStats) bool) {
		t.Helper()
		deadline := time.After(60 * time.Second)
		for {
			select {
			case ls := <-reports:
				if ok(ls) {
					return
				}
			case r := <-done:
				t.Fatalf("capture ended early: %d, %v", r.n, r.err)
			case <-deadline:
				t.Fatalf("no report with %s within 60 s", what)
			}
		}
	}
	wait("the capture running", func(LiveStats) bool { return true })
	got := miniSMTP(l)
	msg := "From: a@example.test\r\nSubject: live\r\n\r\n.leading dot\r\nbody\r\n"
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(c)
	body := "From: a@example.test\r\nSubject: live\r\n\r\n..leading dot\r\nbody\r\n.\r\n" // dot-stuffed
	for _, cmd := range []string{"", "EHLO me\r\n", "MAIL FROM:<a@example.test>\r\n", "RCPT TO:<b@example.test>\r\n", "DATA\r\n", body, "QUIT\r\n"} {
		if cmd != "" {
			if _, err := c.Write([]byte(cmd)); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := r.ReadString('\n'); err != nil {
			t.Fatal(err)
		}
	}
	c.Close()
	if server := <-got; string(server) != msg {
		t.Fatalf("server got %q", server)
	}
	wait("one session written", func(ls LiveStats) bool { return ls.Sessions >= 1 })
	cancel()
	res := <-done
	if res.err != nil || res.n != 1 {
		t.Fatalf("CaptureDir: %d sessions, %v", res.n, res.err)
	}
	files := readDir(t, dir)
	for uid, data := range files {
		s, err := core.ParseSession(bytes.NewReader(data), uid, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if len(s.Messages) != 1 || string(s.Messages[0].Data) != msg {
			t.Fatalf("session file:\n%s", data)
		}
	}
}

// TestCaptureErrors: an unknown interface and a lack of privilege are
// named clearly.
func TestCaptureErrors(t *testing.T) {
	_, err := CaptureDir(context.Background(), []string{"nosuch0"}, 0, Options{}, t.TempDir(), nil)
	if err == nil || !strings.Contains(err.Error(), `no network interface "nosuch0"`) {
		t.Errorf("unknown interface: %v", err)
	}
	if os.Geteuid() != 0 {
		_, err := CaptureDir(context.Background(), []string{"lo"}, 0, Options{}, t.TempDir(), nil)
		if !errors.Is(err, ErrNoCapNetRaw) {
			t.Errorf("without privilege: %v", err)
		}
	}
}
