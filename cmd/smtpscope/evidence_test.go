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

	"github.com/smtpscope/smtpscope/collector"
	"github.com/smtpscope/smtpscope/collector/api"
	"github.com/smtpscope/smtpscope/collector/capture"
	"github.com/smtpscope/smtpscope/collector/service"
	"github.com/smtpscope/smtpscope/internal/backendtest"
	"github.com/smtpscope/smtpscope/internal/mtatest"
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
	bin := testBinary(t)
	l, lport := mtatest.CaptureListener(t)
	go loSMTP(l)
	port := strconv.Itoa(lport)
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

// TestShowPcap: `show ID --pcap -o FILE` writes the email's connection cut
// from the evidence pcaps its session names: `smtpscope pcap` over the
// cut gives that session file again. Without -o it refuses a terminal;
// an email whose session names no pcap, or a session id, is refused with
// the reason. (The session file here is `pcap`'s over a test capture with
// an @pcap line added, as capture --pcap-dir writes it.)
func TestShowPcap(t *testing.T) {
	bin := testBinary(t)
	var srcs []string
	for _, n := range []string{"multi-message.pcap", "swaks-plain.pcap"} {
		p, err := filepath.Abs(filepath.Join("..", "..", "testdata", "pcap", n))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(p); err != nil {
			t.Skipf("no testdata/pcap/%s", n)
		}
		srcs = append(srcs, p)
	}
	work := t.TempDir()
	spool, data := filepath.Join(work, "spool"), filepath.Join(work, "data")
	// Both captures: Postfix on 127.0.0.1:39099, so the connections
	// differ only by the client port.
	runBin(t, bin, append([]string{"pcap", "--out", spool, "--ports", "39099", "--sync", "none", "-q"}, srcs...)...)
	files := sessionFiles(t, spool)
	if len(files) < 2 {
		t.Fatalf("%d sessions in the test captures, want 2 or more", len(files))
	}
	for name, b := range files {
		// After the two header lines: one @pcap line per capture.
		lines := strings.SplitAfterN(string(b), "\n", 3)
		withPcap := lines[0] + lines[1] + "@pcap " + srcs[0] + "\n@pcap " + srcs[1] + "\n" + lines[2]
		if err := os.WriteFile(filepath.Join(spool, name), []byte(withPcap), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	noSync := false
	storeOnce(t, &collector.Config{Spool: spool, Data: data, Fsync: &noSync})
	st, err := collector.OpenStore(data, collector.StoreOptions{ReadOnly: true, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	_ = st.ListEmails(func(m *collector.EmailMeta) bool { ids = append(ids, m.ID); return true })
	st.Close()
	if len(ids) < 2 {
		t.Fatalf("%d emails stored", len(ids))
	}
	for _, id := range ids {
		uid := id[:strings.LastIndexByte(id, '.')]
		out := filepath.Join(work, "cut-"+id+".pcap")
		if _, err := show(t, true, "--data", data, "--pcap", "-o", out, id); err != nil {
			t.Fatalf("show %s --pcap: %v", id, err)
		}
		again := filepath.Join(work, "again-"+id)
		runBin(t, bin, "pcap", "--out", again, "--ports", "39099", "--sync", "none", "-q", out)
		got := sessionFiles(t, again)
		want := files[uid] // as pcap wrote it, before the @pcap lines
		if len(got) != 1 || !bytes.Equal(got[uid], want) {
			t.Errorf("%s: the cut gives %d session(s); %s:\n%s\nwant:\n%s", id, len(got), uid, got[uid], want)
		}
	}
	// Binary to a terminal: refused (exit 2); piped: written.
	_, err = show(t, true, "--data", data, "--pcap", ids[0])
	wantErr(t, "--pcap to a terminal", err, 2, "refusing to write a pcap to a terminal")
	if out, err := show(t, false, "--data", data, "--pcap", ids[0]); err != nil || !strings.HasPrefix(out, "\x4d\x3c\xb2\xa1") {
		t.Errorf("--pcap to a pipe: %v, %q…", err, out[:min(len(out), 8)])
	}
	_, err = show(t, false, "--data", data, "--pcap", "session/x")
	wantErr(t, "--pcap of a session", err, 2, "--pcap writes an email's connection")
	// An email whose session names no evidence pcap.
	plain := storedDataDir(t)
	_, err = show(t, false, "--data", plain, "--pcap", "demo-invoice.0")
	wantErr(t, "--pcap without evidence", err, 1, "names no evidence pcap")
}

// TestShowPcapThroughCollector: while a collector owns the data dir,
// `show ID --pcap -o FILE` goes through its socket (GET /v1/pcap/{id})
// and writes what service.EmailPcap cuts from the evidence pcaps; once a
// file is gone, it fails naming the file (exit 1) and leaves no FILE.
func TestShowPcapThroughCollector(t *testing.T) {
	work := t.TempDir()
	spool, data := filepath.Join(work, "spool"), filepath.Join(work, "data")
	pcaps := backendtest.EvidenceSpool(t, work, spool)
	noSync := false
	cfg := &collector.Config{Spool: spool, Data: data, Fsync: &noSync}
	svc := serveService(t, cfg, serviceOpts{index: true})
	ctx := t.Context()
	var ids []string
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		ids = ids[:0]
		_ = svc.Collector().Store().ListEmails(func(m *collector.EmailMeta) bool { ids = append(ids, m.ID); return true })
		ready, _ := filepath.Glob(filepath.Join(spool, "*.ready"))
		if _, err := api.DialRemote(ctx, data); err == nil && len(ready) == 0 && len(ids) >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d emails stored, socket not answering", len(ids))
		}
	}
	for _, id := range ids {
		rec, err := svc.Email(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		var want bytes.Buffer
		if _, err := service.EmailPcap(rec, &want); err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(work, id+".pcap")
		if _, err := show(t, true, "--data", data, "--pcap", "-o", out, id); err != nil {
			t.Fatalf("show %s --pcap through the collector: %v", id, err)
		}
		if got, err := os.ReadFile(out); err != nil || !bytes.Equal(got, want.Bytes()) {
			t.Errorf("%s: show --pcap wrote %d bytes, want %d (%v)", id, len(got), want.Len(), err)
		}
	}
	if err := os.Remove(pcaps[1]); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(work, "gone.pcap")
	_, err := show(t, false, "--data", data, "--pcap", "-o", out, ids[0])
	wantErr(t, "--pcap with a file gone", err, 1, pcaps[1]+" is gone")
	if _, serr := os.Stat(out); serr == nil {
		t.Errorf("%s left behind after the error", out)
	}
}
