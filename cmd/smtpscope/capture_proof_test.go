package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/smtpscope/smtpscope/core"
	"github.com/smtpscope/smtpscope/internal/mtatest"
)

// aiosmtpdServer is a Python aiosmtpd server on an IPv4 and an IPv6
// address (one port each: argv OUT P4 P6 CERT KEY HOST4 HOST6) offering STARTTLS with a test certificate; it refuses
// recipients whose local part starts with "refuse" (550) and stores each
// message it accepts as DIR/<sha256>.eml (the bytes it received,
// dot-unstuffed).
const aiosmtpdServer = `
import asyncio, hashlib, os, signal, ssl, sys
from aiosmtpd.controller import Controller
out, p4, p6, cert, key, h4, h6 = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5], sys.argv[6], sys.argv[7]
class Handler:
    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.lower().startswith("refuse"):
            return "550 5.1.1 <%s>: recipient refused" % address
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"
    async def handle_DATA(self, server, session, envelope):
        data = envelope.original_content
        h = hashlib.sha256(data).hexdigest()
        with open(os.path.join(out, h + ".tmp"), "wb") as f:
            f.write(data)
        os.rename(os.path.join(out, h + ".tmp"), os.path.join(out, h + ".eml"))
        return "250 2.0.0 OK queued as " + h[:12]
ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
ctx.load_cert_chain(cert, key)
cs = [Controller(Handler(), hostname=h4, port=p4, tls_context=ctx, require_starttls=False),
      Controller(Handler(), hostname=h6, port=p6, tls_context=ctx, require_starttls=False)]
for c in cs:
    c.start()
print("READY", flush=True)
signal.sigwait({signal.SIGTERM, signal.SIGINT})
for c in cs:
    c.stop()
`

// testCert writes a self-signed certificate for localhost (STARTTLS).
func testCert(t *testing.T, dir string) (string, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	cert, keyf := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyf, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	return cert, keyf
}

// startProc starts a helper process and stops it by its PID when the
// test ends.
func startProc(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			done := make(chan struct{})
			go func() { _ = cmd.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(30 * time.Second):
				_ = cmd.Process.Kill()
				<-done
			}
		}
	})
}

func sha256Hex(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

// TestCaptureProof (root) is the live capture's end-to-end proof: aiosmtpd
// (127.0.0.1 and ::1, STARTTLS offered, a refusing recipient) and Postfix
// (127.0.0.1, PIPELINING and CHUNKING) receive a dozen varied messages
// from swaks and the shared Python clients while `smtpscope capture -i lo`
// and tcpdump capture lo. Then: every message a server stored has the
// sha256 of one message core parses from capture's session files, and
// `smtpscope pcap` over tcpdump's capture writes byte-identical session
// files.
func TestCaptureProof(t *testing.T) {
	mtatest.RequireRoot(t)
	mtatest.Require(t, mtatest.PostfixCmd, mtatest.PostfixMaster, "swaks", "tcpdump", mtatest.Python3)
	if err := exec.Command(mtatest.Python3, "-c", "import aiosmtpd").Run(); err != nil {
		t.Skip("python3-aiosmtpd is not installed (make apt-install)")
	}
	bin := testBinary(t)
	work := t.TempDir()
	if keep := os.Getenv("SMTPSCOPE_KEEP_PROOF"); keep != "" {
		t.Cleanup(func() { _ = exec.Command("cp", "-r", work, keep).Run() })
	}
	p4, p6 := mtatest.FreePort(t), mtatest.FreePort(t)
	stored := startAiosmtpd(t, nil, work, "127.0.0.1", "::1", p4, p6)
	pf := mtatest.StartPostfix(t, mtatest.PostfixConfig{Delivery: mtatest.Maildir})
	ports := []int{p4, p6, pf.Port}
	portsArg := fmt.Sprintf("%d,%d,%d", p4, p6, pf.Port)

	// tcpdump first, then capture: both see all the traffic after.
	pcapFile := filepath.Join(work, "lo.pcap")
	filter := fmt.Sprintf("tcp port %d or tcp port %d or tcp port %d", p4, p6, pf.Port)
	td, tdErr := startTcpdump(t, nil, "lo", pcapFile, filter)
	capOut := filepath.Join(work, "capture")
	capCmd, capErr := startCapture(t, nil, "-i", "lo", "--ports", portsArg, "--out", capOut, "--no-sync", "--report", "0")

	a4, a6 := fmt.Sprintf("127.0.0.1:%d", p4), fmt.Sprintf("[::1]:%d", p6)
	aiosmtpdTraffic(t, nil, work, a4, a6)
	from := []string{"--from", "alice@example.test"}
	swaks := func(addr string, args ...string) string { return runSwaks(t, nil, addr, args...) }
	// Postfix: pipelining (two recipients: two deliveries), BDAT chunks
	// and a two-message session from the shared clients.
	pipeOut := swaks(pf.Addr, append(from, "--to", "a@example.test,b@example.org", "--header", "Subject: pipelined",
		"--body", "pipelined to two", "--pipeline")...)
	if !strings.Contains(pipeOut, "PIPELINING") {
		t.Errorf("Postfix did not offer PIPELINING")
	}
	mtatest.Python(t, "bdat_client.py", strconv.Itoa(pf.Port), filepath.Join(work, "bdat-out"))
	mtatest.Python(t, "multi_msg_session.py", strconv.Itoa(pf.Port))
	delivered := pf.WaitDelivered(t, 6, 60*time.Second)

	// Stop capture (SIGTERM) and tcpdump (SIGINT flushes its file).
	if err := capCmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := capCmd.Wait(); err != nil {
		t.Fatalf("capture: %v\n%s", err, capErr.String())
	}
	<-capErr.done
	time.Sleep(300 * time.Millisecond) // tcpdump's last packets (as mtatest.Capture.Stop)
	stopTcpdump(t, td, tdErr)
	if !strings.Contains(capErr.String(), "0 dropped by the kernel") {
		t.Fatalf("capture dropped packets: %s", capErr.String())
	}

	// What the servers stored.
	want := storedMessages(t, stored)
	for _, b := range delivered {
		want[sha256Hex(mtatest.ReceivedBytes(b))] = "postfix"
	}
	files := sessionFiles(t, capOut)
	checkExtracted(t, want, files, 1)
	// pcap over tcpdump's capture: the same session files. The start
	// time is each packet socket's own reading of the clock on lo: TCP
	// sent by this host carries its departure time (monotonic) where the
	// receive stamp would go, so the kernel does not stamp it once even
	// while capture holds SO_TIMESTAMPNS (TestCaptureStampsOnce covers
	// packets from a wire), and tcpdump's socket reads the clock about a
	// microsecond after ours. @ts, the header's epoch and the uid made
	// from them may differ by that; everything else is equal.
	// TestCaptureProofNamespaces, whose frames come from a wire, is the
	// byte-exact proof.
	pcapOut := filepath.Join(work, "pcap")
	runBin(t, bin, "pcap", "--out", pcapOut, "--ports", portsArg, "--sync", "none", "-q", pcapFile)
	fromPcap := byConnection(t, sessionFiles(t, pcapOut))
	fromCapture := byConnection(t, files)
	if len(fromPcap) != len(fromCapture) {
		t.Errorf("pcap wrote %d client sessions, capture %d", len(fromPcap), len(fromCapture))
	}
	for conn, c := range fromCapture {
		p, ok := fromPcap[conn]
		if !ok {
			t.Errorf("session %s: not in pcap's output", conn)
			continue
		}
		if !bytes.Equal(c.body, p.body) {
			t.Errorf("session %s differs between capture and pcap:\ncapture:\n%s\npcap:\n%s", conn, c.body, p.body)
		}
		if d := c.ts.Sub(p.ts); d < -time.Millisecond || d > time.Millisecond {
			t.Errorf("session %s: start %v (capture) vs %v (pcap)", conn, c.ts, p.ts)
		}
	}
	t.Logf("%d sessions, %d messages stored (%d by Postfix), all but the TLS one extracted; ports %v", len(files), len(want), len(delivered), ports)
}

// startAiosmtpd runs aiosmtpdServer (through wrap, e.g. `ip netns exec
// NS`) on host4:p4 and host6:p6, with a test certificate in work, and waits
// until it listens. It returns the directory the server stores messages
// in; the server is stopped by its PID when the test ends.
func startAiosmtpd(t *testing.T, wrap []string, work, host4, host6 string, p4, p6 int) string {
	t.Helper()
	stored := filepath.Join(work, "aiosmtpd")
	if err := os.MkdirAll(stored, 0o750); err != nil {
		t.Fatal(err)
	}
	cert, key := testCert(t, work)
	script := filepath.Join(work, "server.py")
	if err := os.WriteFile(script, []byte(aiosmtpdServer), 0o600); err != nil {
		t.Fatal(err)
	}
	argv := append(append([]string(nil), wrap...), mtatest.Python3, script, stored,
		strconv.Itoa(p4), strconv.Itoa(p6), cert, key, host4, host6)
	srv := exec.Command(argv[0], argv[1:]...)
	srvOut, err := srv.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var srvErr bytes.Buffer
	srv.Stderr = &srvErr
	startProc(t, srv)
	ready := make(chan bool, 1)
	go func() {
		b := make([]byte, 64)
		n, _ := srvOut.Read(b)
		ready <- strings.Contains(string(b[:n]), "READY")
	}()
	select {
	case ok := <-ready:
		if !ok {
			t.Fatalf("aiosmtpd did not start: %s", srvErr.String())
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("aiosmtpd not ready after 60 s: %s", srvErr.String())
	}
	return stored
}

// startTcpdump runs tcpdump (through wrap) on iface with filter, writing
// nanosecond stamps to file, and waits until it listens; opts (e.g.
// "-Q", "in") go after the interface. stopTcpdump ends it.
func startTcpdump(t *testing.T, wrap []string, iface, file, filter string, opts ...string) (*exec.Cmd, *syncBuffer) {
	t.Helper()
	argv := append(append([]string(nil), wrap...), "tcpdump", "-i", iface)
	argv = append(argv, opts...)
	argv = append(argv, "--time-stamp-precision", "nano", "-s", "0", "-U", "--immediate-mode", "-B", "65536", "-n", "-w", file, filter)
	td := exec.Command(argv[0], argv[1:]...)
	tdErr := &syncBuffer{done: make(chan struct{})}
	tdPipe, err := td.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	startProc(t, td)
	go func() {
		b := make([]byte, 4096)
		for {
			n, err := tdPipe.Read(b)
			tdErr.add(string(b[:n]))
			if err != nil {
				close(tdErr.done)
				return
			}
		}
	}()
	for deadline := time.Now().Add(30 * time.Second); !strings.Contains(tdErr.String(), "listening on"); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("tcpdump not listening: %s", tdErr.String())
		}
	}
	return td, tdErr
}

// stopTcpdump stops tcpdump with SIGINT (which flushes its file) and
// fails the test if the kernel dropped packets.
func stopTcpdump(t *testing.T, td *exec.Cmd, tdErr *syncBuffer) {
	t.Helper()
	_ = td.Process.Signal(syscall.SIGINT)
	_ = td.Wait()
	<-tdErr.done
	if !strings.Contains(tdErr.String(), "\n0 packets dropped by kernel") {
		t.Fatalf("tcpdump dropped packets: %s", tdErr.String())
	}
}

// runSwaks runs swaks (through wrap) against addr (host:port).
func runSwaks(t *testing.T, wrap []string, addr string, args ...string) string {
	t.Helper()
	host, port, _ := net.SplitHostPort(addr)
	all := append(append(append([]string(nil), wrap...), "swaks", "--server", host, "--port", port, "--timeout", "30"), args...)
	out, err := exec.Command(all[0], all[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(all, " "), err, out)
	}
	return string(out)
}

// aiosmtpdTraffic sends the proof's messages to aiosmtpd at a4 (IPv4)
// and a6 (IPv6) from clients run through wrap: on each, a plain message
// with dot lines, a 3000-byte random attachment and a message with one
// refused recipient; three messages in one session over IPv6 (smtplib);
// one message over STARTTLS (IPv4). aiosmtpd stores 10 messages.
func aiosmtpdTraffic(t *testing.T, wrap []string, work, a4, a6 string) {
	t.Helper()
	blob := make([]byte, 3000)
	if _, err := rand.Read(blob); err != nil {
		t.Fatal(err)
	}
	blobFile := filepath.Join(work, "blob.bin")
	if err := os.WriteFile(blobFile, blob, 0o600); err != nil {
		t.Fatal(err)
	}
	from := []string{"--from", "alice@example.test"}
	for _, addr := range []string{a4, a6} {
		runSwaks(t, wrap, addr, append(from, "--to", "bob@example.test", "--header", "Subject: plain "+addr,
			"--body", "plain text\n.a dot line\n..two dots\n")...)
		runSwaks(t, wrap, addr, append(from, "--to", "bob@example.test", "--header", "Subject: attachment",
			"--body", "see attached", "--attach-type", "application/octet-stream", "--attach-name", "blob.bin", "--attach", "@"+blobFile)...)
		runSwaks(t, wrap, addr, append(from, "--to", "bob@example.test,refuse@example.test", "--header", "Subject: one refused recipient",
			"--body", "only bob gets this")...)
	}
	host6, port6, _ := net.SplitHostPort(a6)
	multi := fmt.Sprintf(`
import smtplib
from email.message import EmailMessage
with smtplib.SMTP(%q, %s, local_hostname="client.example.test") as s:
    for i in (1, 2, 3):
        m = EmailMessage()
        m["From"] = "multi@example.test"; m["To"] = "rcpt%%d@example.test" %% i
        m["Subject"] = "message %%d of one session" %% i
        m.set_content("body %%d\n.leading dot\n" %% i)
        s.send_message(m)
`, host6, port6)
	argv := append(append([]string(nil), wrap...), mtatest.Python3, "-c", multi)
	if out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput(); err != nil {
		t.Fatalf("multi-message client: %v\n%s", err, out)
	}
	// STARTTLS: the message travels encrypted; the capture keeps the
	// plaintext before the handshake and marks the session.
	tlsOut := runSwaks(t, wrap, a4, append(from, "--to", "bob@example.test", "--header", "Subject: over TLS", "--body", "secret", "--tls")...)
	if !strings.Contains(tlsOut, "STARTTLS") {
		t.Fatalf("no STARTTLS:\n%s", tlsOut)
	}
}

// storedMessages maps the sha256 of each message aiosmtpd stored in dir
// to a label; it fails unless there are the 10 aiosmtpdTraffic sends.
func storedMessages(t *testing.T, dir string) map[string]string {
	t.Helper()
	want := map[string]string{}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if h, ok := strings.CutSuffix(e.Name(), ".eml"); ok {
			want[h] = "aiosmtpd " + h[:12]
		}
	}
	if len(want) != 2*3+3+1 {
		t.Fatalf("aiosmtpd stored %d messages, want 10", len(want))
	}
	return want
}

// checkExtracted parses the session files with core's session parser and
// checks that every stored message (want: sha256 -> label) was
// extracted, none partial, except the tls messages aiosmtpd got over
// STARTTLS (encrypted on the wire), and that tls sessions are marked
// starttls.
func checkExtracted(t *testing.T, want map[string]string, files map[string][]byte, tls int) {
	t.Helper()
	got := map[string]bool{}
	tlsSessions := 0
	for name, data := range files {
		s, err := core.ParseSession(bytes.NewReader(data), name, time.Now())
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if s.Info.StartTLS {
			tlsSessions++
		}
		for _, m := range s.Messages {
			if m.Partial {
				t.Errorf("%s: message %d partial\n%s", name, m.Index, data)
			}
			got[sha256Hex(m.Data)] = true
		}
	}
	if tlsSessions != tls {
		t.Errorf("%d sessions marked starttls, want %d", tlsSessions, tls)
	}
	var missing []string
	for h, who := range want {
		if !got[h] {
			missing = append(missing, who+" "+h)
		}
	}
	sort.Strings(missing)
	// A TLS message is encrypted on the wire: a stored message no
	// capture can extract.
	fromAiosmtpd := 0
	for _, m := range missing {
		if strings.HasPrefix(m, "aiosmtpd") {
			fromAiosmtpd++
		}
	}
	if len(missing) != tls || fromAiosmtpd != tls {
		t.Fatalf("stored messages not extracted from capture's session files: %v (extracted %d; %d sent over TLS)", missing, len(got), tls)
	}
	if len(got) != len(want)-tls {
		t.Errorf("extracted %d distinct messages, stored %d (%d over TLS)", len(got), len(want), tls)
	}
}

// sessionFiles reads the session files (with a .ready) of dir.
func sessionFiles(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	ready, _ := filepath.Glob(filepath.Join(dir, "*.ready"))
	for _, r := range ready {
		name := strings.TrimSuffix(r, ".ready")
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		out[filepath.Base(name)] = b
	}
	return out
}

// connSession is a session file keyed by its connection, without the
// lines that carry its start time (header epoch, @uid, @ts).
type connSession struct {
	body []byte
	ts   time.Time
}

// byConnection keys session files by client and server address; files
// in which the client sent nothing are left out (the tail of Postfix's
// readiness probe, captured only by tcpdump, which started first).
func byConnection(t *testing.T, files map[string][]byte) map[string]connSession {
	t.Helper()
	out := map[string]connSession{}
	for name, data := range files {
		if !bytes.Contains(data, []byte("\n> ")) {
			continue
		}
		lines := strings.SplitAfter(string(data), "\n")
		var key string
		var body strings.Builder
		var ts time.Time
		for i, l := range lines {
			switch {
			case i == 0:
				key = strings.TrimSpace(l)
				body.WriteString(l)
			case i == 1:
			case strings.HasPrefix(l, "@uid "):
			case strings.HasPrefix(l, "@ts "):
				f, err := strconv.ParseFloat(strings.TrimSpace(l[4:]), 64)
				if err != nil {
					t.Fatalf("%s: %q", name, l)
				}
				ts = time.Unix(0, int64(f*1e9))
			case strings.HasPrefix(l, "@resp "):
				key += " " + strings.TrimSpace(l)
				body.WriteString(l)
			default:
				body.WriteString(l)
			}
		}
		if _, dup := out[key]; dup {
			t.Fatalf("two sessions of %s", key)
		}
		out[key] = connSession{body: []byte(body.String()), ts: ts}
	}
	return out
}
