//go:build linux

package main

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/smtpscope/smtpscope/internal/mtatest"
)

// proofNetns is the namespace test's network: a client namespace C and a
// server namespace S (one veth each, 10.201.0.1-2/24 and fd00:201::1-2)
// joined by a wire namespace W in which a relay copies every frame
// between C's and S's links and also onto a span link whose peer, span0,
// is the only interface of the monitor namespace M.
type proofNetns struct {
	c, w, s, m string // namespace names
}

const (
	netnsClient4 = "10.201.0.1"
	netnsServer4 = "10.201.0.2"
	netnsServer6 = "fd00:201::2"
)

// offloadsOff turns off TX checksum offload, TSO and GSO on eth0 (legacy
// ethtool ioctls: no ethtool on these machines), so the stack hands the
// veth whole frames with their checksums: the relay forwards them as
// they are.
const offloadsOff = `
import array, fcntl, socket, struct
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for cmd in (0x17, 0x1f, 0x24):  # ETHTOOL_STXCSUM, ETHTOOL_STSO, ETHTOOL_SGSO
    v = array.array("B", struct.pack("II", cmd, 0))
    fcntl.ioctl(s.fileno(), 0x8946, struct.pack("16sP", b"eth0", v.buffer_info()[0]))  # SIOCETHTOOL
`

func ipCmd(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// newProofNetns creates the namespaces (named after prefix and the test's
// PID) and removes them, by name, when the test ends (also on failure).
func newProofNetns(t *testing.T, prefix string) *proofNetns {
	t.Helper()
	p := fmt.Sprintf("%s-%d-", prefix, os.Getpid())
	n := &proofNetns{c: p + "client", w: p + "wire", s: p + "server", m: p + "monitor"}
	for _, ns := range []string{n.c, n.w, n.s, n.m} {
		addNetns(t, ns)
	}
	// W and M have no address: no frame of their own on the links.
	for _, ns := range []string{n.w, n.m} {
		ipCmd(t, "netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1")
	}
	ipCmd(t, "-n", n.w, "link", "add", "wc", "type", "veth", "peer", "name", "eth0", "netns", n.c)
	ipCmd(t, "-n", n.w, "link", "add", "ws", "type", "veth", "peer", "name", "eth0", "netns", n.s)
	ipCmd(t, "-n", n.w, "link", "add", "wspan", "type", "veth", "peer", "name", "span0", "netns", n.m)
	ipCmd(t, "-n", n.c, "addr", "add", netnsClient4+"/24", "dev", "eth0")
	ipCmd(t, "-n", n.c, "addr", "add", "fd00:201::1/64", "dev", "eth0", "nodad")
	ipCmd(t, "-n", n.s, "addr", "add", netnsServer4+"/24", "dev", "eth0")
	ipCmd(t, "-n", n.s, "addr", "add", netnsServer6+"/64", "dev", "eth0", "nodad")
	for _, l := range [][2]string{{n.c, "lo"}, {n.c, "eth0"}, {n.s, "lo"}, {n.s, "eth0"}, {n.w, "wc"}, {n.w, "ws"}, {n.w, "wspan"}, {n.m, "span0"}} {
		ipCmd(t, "-n", l[0], "link", "set", l[1], "up")
	}
	turnOffloadsOff(t, n.c, n.s)
	return n
}

// addNetns creates network namespace ns and removes it, by name, when
// the test ends (also on failure).
func addNetns(t *testing.T, ns string) string {
	t.Helper()
	ipCmd(t, "netns", "add", ns)
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", ns).CombinedOutput(); err != nil {
			t.Errorf("ip netns del %s: %v\n%s", ns, err, out)
		}
	})
	return ns
}

func nsExec(ns string) []string { return []string{"ip", "netns", "exec", ns} }

// turnOffloadsOff runs offloadsOff (eth0 sends whole frames with their
// checksums) in each namespace.
func turnOffloadsOff(t *testing.T, nss ...string) {
	t.Helper()
	for _, ns := range nss {
		if out, err := exec.Command("ip", "netns", "exec", ns, mtatest.Python3, "-c", offloadsOff).CombinedOutput(); err != nil {
			t.Fatalf("turning offloads off in %s: %v\n%s", ns, err, out)
		}
	}
}

// relay copies frames wc <-> ws and each one onto a span link first (so
// the span sees a request before the reply it causes): wc's frames onto
// the first span link, ws's onto the second (the same link for a span
// port, two for a breakout tap). Its frames are built anew by packet
// sockets: they carry no timestamp, so the kernel stamps each once when
// it arrives in M, for every packet socket there.
type relay struct {
	fds  [4]int // wc, ws, the span links of wc's and of ws's frames
	stop atomic.Bool
	wg   sync.WaitGroup
	mu   sync.Mutex
	err  error
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// startRelay opens the relay's packet sockets in namespace ns (from a
// thread that enters it; sockets stay bound to their namespace) and
// starts copying, wc's frames also onto spans[0], ws's onto spans[1]. It
// stops, by itself, when the test ends.
func startRelay(t *testing.T, ns string, spans [2]string) *relay {
	t.Helper()
	r := &relay{fds: [4]int{-1, -1, -1, -1}}
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // not unlocked on failure: the thread ends with the goroutine
		errc <- r.open(ns, spans)
	}()
	if err := <-errc; err != nil {
		r.close()
		t.Fatalf("relay: %v", err)
	}
	t.Cleanup(r.halt)
	for _, d := range [][2]int{{0, 1}, {1, 0}} {
		r.wg.Add(1)
		go r.copy(d[0], d[1])
	}
	return r
}

func (r *relay) open(ns string, spans [2]string) error {
	self, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		return err
	}
	defer self.Close()
	target, err := os.Open("/run/netns/" + ns)
	if err != nil {
		return err
	}
	defer target.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		return fmt.Errorf("setns %s: %w", ns, err)
	}
	for i, name := range []string{"wc", "ws", spans[0], spans[1]} {
		ifi, err := net.InterfaceByName(name)
		if err != nil {
			return err
		}
		proto := htons(unix.ETH_P_ALL)
		if i >= 2 {
			proto = 0 // sends only
		}
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(proto))
		if err != nil {
			return err
		}
		r.fds[i] = fd
		if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: proto, Ifindex: ifi.Index}); err != nil {
			return fmt.Errorf("bind %s: %w", name, err)
		}
		if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_IGNORE_OUTGOING, 1); err != nil {
			return err
		}
		tv := unix.NsecToTimeval((200 * time.Millisecond).Nanoseconds())
		if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
			return err
		}
	}
	if err := unix.Setns(int(self.Fd()), unix.CLONE_NEWNET); err != nil {
		return fmt.Errorf("setns back: %w", err)
	}
	runtime.UnlockOSThread()
	return nil
}

func (r *relay) fail(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err == nil {
		r.err = err
	}
}

func (r *relay) copy(in, out int) {
	defer r.wg.Done()
	buf := make([]byte, 1<<16)
	for !r.stop.Load() {
		n, err := unix.Read(r.fds[in], buf)
		if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			r.fail(fmt.Errorf("read: %w", err))
			return
		}
		for _, fd := range []int{r.fds[2+in], r.fds[out]} {
			if _, err := unix.Write(fd, buf[:n]); err != nil {
				r.fail(fmt.Errorf("write of a %d-byte frame: %w", n, err))
				return
			}
		}
	}
}

// halt stops the copying and returns the first error of the relay.
func (r *relay) halt() {
	r.stop.Store(true)
	r.wg.Wait()
	r.close()
}

func (r *relay) close() {
	for i, fd := range r.fds {
		if fd >= 0 {
			unix.Close(fd)
			r.fds[i] = -1
		}
	}
}

func (r *relay) error() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}

// requireProofNetns skips the test without root, ip netns or the tools.
func requireProofNetns(t *testing.T, tools ...string) {
	t.Helper()
	mtatest.RequireRoot(t)
	mtatest.Require(t, append([]string{"ip", "tcpdump", mtatest.Python3}, tools...)...)
	if err := exec.Command("ip", "netns", "list").Run(); err != nil {
		t.Skipf("ip netns is not available: %v", err)
	}
}

// requireAiosmtpdProof skips a namespace proof with aiosmtpd and swaks
// that cannot run here, naming what is missing.
func requireAiosmtpdProof(t *testing.T) {
	t.Helper()
	requireProofNetns(t, "swaks")
	if err := exec.Command(mtatest.Python3, "-c", "import aiosmtpd").Run(); err != nil {
		t.Skip("python3-aiosmtpd is not installed (make apt-install)")
	}
}

// keepProof copies the test's work directory to $SMTPSCOPE_KEEP_PROOF
// when the test ends, if that is set.
func keepProof(t *testing.T, work string) {
	if keep := os.Getenv("SMTPSCOPE_KEEP_PROOF"); keep != "" {
		t.Cleanup(func() { _ = exec.Command("cp", "-r", work, keep).Run() })
	}
}

// spanCaptures are `smtpscope capture -i span0` and `tcpdump -i span0 -Q
// in` running side by side in the monitor namespace.
type spanCaptures struct {
	ports, pcapFile, capOut, pcapOut string
	td, capCmd                       *exec.Cmd
	tdErr, capErr                    *syncBuffer
}

// startSpanCaptures starts tcpdump, then capture, on span0 for the TCP
// ports, writing under work.
func startSpanCaptures(t *testing.T, n *proofNetns, work string, ports ...int) *spanCaptures {
	t.Helper()
	var list, filter []string
	for _, p := range ports {
		list = append(list, strconv.Itoa(p))
		filter = append(filter, fmt.Sprintf("tcp port %d", p))
	}
	c := &spanCaptures{ports: strings.Join(list, ","), pcapFile: filepath.Join(work, "span.pcap"),
		capOut: filepath.Join(work, "capture"), pcapOut: filepath.Join(work, "pcap")}
	c.td, c.tdErr = startTcpdump(t, nsExec(n.m), "span0", c.pcapFile, strings.Join(filter, " or "), "-Q", "in")
	c.capCmd, c.capErr = startCapture(t, nsExec(n.m), "-i", "span0", "--ports", c.ports, "--out", c.capOut, "--no-sync", "--report", "0")
	return c
}

// stop halts the relay first, so that every frame it sent is on span0's
// ring before both captures stop (capture drains its ring on SIGTERM),
// then capture and tcpdump; it fails the test if either dropped packets
// and returns capture's session files.
func (c *spanCaptures) stop(t *testing.T, r *relay) map[string][]byte {
	t.Helper()
	r.halt()
	if err := r.error(); err != nil {
		t.Fatalf("relay: %v", err)
	}
	if err := c.capCmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := c.capCmd.Wait(); err != nil {
		t.Fatalf("capture: %v\n%s", err, c.capErr.String())
	}
	<-c.capErr.done
	stopTcpdump(t, c.td, c.tdErr)
	if !strings.Contains(c.capErr.String(), "0 dropped by the kernel") {
		t.Fatalf("capture dropped packets: %s", c.capErr.String())
	}
	return sessionFiles(t, c.capOut)
}

// samePcap runs `smtpscope pcap` over tcpdump's file and fails the test
// unless it writes the session files capture wrote, names included,
// byte for byte.
func (c *spanCaptures) samePcap(t *testing.T, bin string, files map[string][]byte) {
	t.Helper()
	runBin(t, bin, "pcap", "--out", c.pcapOut, "--ports", c.ports, "--sync", "none", "-q", c.pcapFile)
	sameSessionFiles(t, files, sessionFiles(t, c.pcapOut))
}

// sameSessionFiles fails the test unless both sets hold the same session
// files, names included, byte for byte.
func sameSessionFiles(t *testing.T, capture, pcap map[string][]byte) {
	t.Helper()
	var names []string
	for name := range capture {
		names = append(names, name)
	}
	for name := range pcap {
		if _, ok := capture[name]; !ok {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	for _, name := range names {
		c, inCapture := capture[name]
		p, inPcap := pcap[name]
		switch {
		case !inPcap:
			t.Errorf("session file %s: written by capture, not by pcap:\n%s", name, c)
		case !inCapture:
			t.Errorf("session file %s: written by pcap, not by capture:\n%s", name, p)
		case !bytes.Equal(c, p):
			t.Errorf("session file %s differs:\ncapture:\n%s\npcap:\n%s", name, c, p)
		}
	}
}

// TestCaptureProofNamespaces (root) is the live capture's byte-exact
// proof. The client (swaks, smtplib) and aiosmtpd (IPv4 and IPv6,
// STARTTLS offered, a refusing recipient) run in their own network
// namespaces; a relay joins them and copies every frame onto a span
// link, as a network tap does. `smtpscope capture -i span0` and
// `tcpdump -i span0 -Q in` run in the monitor namespace, where every
// frame is received once on one interface and stamped once by the
// kernel. Then: every stored message has the sha256 of a message core
// parses from capture's session files (except the STARTTLS one), and
// `smtpscope pcap` over tcpdump's file writes the same session files,
// names included, byte for byte.
func TestCaptureProofNamespaces(t *testing.T) {
	requireAiosmtpdProof(t)
	bin := testBinary(t)
	work := t.TempDir()
	keepProof(t, work)
	n := newProofNetns(t, "smtpscope")
	r := startRelay(t, n.w, [2]string{"wspan", "wspan"})
	const p4, p6 = 2525, 2587
	stored := startAiosmtpd(t, nsExec(n.s), work, netnsServer4, netnsServer6, p4, p6)
	sc := startSpanCaptures(t, n, work, p4, p6)

	aiosmtpdTraffic(t, nsExec(n.c), work, fmt.Sprintf("%s:%d", netnsServer4, p4), fmt.Sprintf("[%s]:%d", netnsServer6, p6))

	files := sc.stop(t, r)
	checkExtracted(t, storedMessages(t, stored), files, 1)
	sc.samePcap(t, bin, files)
	// 6 swaks sessions, the smtplib one and the STARTTLS one.
	if len(files) != 8 {
		t.Errorf("capture wrote %d session files, want 8", len(files))
	}
	t.Logf("%d session files, byte-identical from capture and from pcap over tcpdump's capture", len(files))
}

// bdatClient (argv HOST PORT) sends two messages with BDAT (RFC 3030) in
// one session: the first in three chunks in lock-step (split mid-line),
// the second as MAIL, RCPT and `BDAT n LAST` with its data in one write
// (pipelined). It exits non-zero, with the reply, unless the server
// offers CHUNKING and accepts every command.
const bdatClient = `
import os, socket, sys
from email.message import EmailMessage
host, port = sys.argv[1], int(sys.argv[2])
s = socket.create_connection((host, port)); f = s.makefile("rb")
def reply():
    lines = []
    while True:
        l = f.readline(); lines.append(l)
        if not l: sys.exit("connection closed: %r" % lines)
        if l[3:4] != b"-": break
    if not lines[-1].startswith(b"2"): sys.exit("refused: %r" % lines)
    return lines
reply()
s.sendall(b"EHLO bdat.example.test\r\n")
ehlo = reply()
if not any(b"CHUNKING" in l for l in ehlo): sys.exit("CHUNKING not offered: %r" % ehlo)
msgs = []
for i in (1, 2):
    m = EmailMessage(); m["From"] = "bdat@example.test"; m["To"] = "rcpt%d@example.test" % i
    m["Subject"] = "BDAT message %d to %s" % (i, host)
    m.set_content("BDAT body %d\n.a dot line, not stuffed in BDAT\n" % i)
    m.add_attachment(os.urandom(700), maintype="application", subtype="octet-stream", filename="bdat%d.bin" % i)
    msgs.append(m.as_bytes(policy=m.policy.clone(linesep="\r\n")))
s.sendall(b"MAIL FROM:<bdat@example.test>\r\n"); reply()
s.sendall(b"RCPT TO:<rcpt1@example.test>\r\n"); reply()
raw = msgs[0]; a, b = len(raw) // 3, 2 * len(raw) // 3
for chunk, last in ((raw[:a], b""), (raw[a:b], b""), (raw[b:], b" LAST")):
    s.sendall(b"BDAT %d%s\r\n" % (len(chunk), last) + chunk); reply()
raw = msgs[1]
s.sendall(b"MAIL FROM:<bdat@example.test>\r\nRCPT TO:<rcpt2@example.test>\r\nBDAT %d LAST\r\n" % len(raw) + raw)
reply(); reply(); reply()
s.sendall(b"QUIT\r\n"); reply(); s.close()
`

// twoMessageClient (argv HOST PORT) sends two messages, each with an
// attachment and a dot line, in one session with smtplib (DATA).
const twoMessageClient = `
import smtplib, sys
from email.message import EmailMessage
host, port = sys.argv[1], int(sys.argv[2])
with smtplib.SMTP(host, port, local_hostname="client.example.test") as s:
    for i in (1, 2):
        m = EmailMessage()
        m["From"] = "multi@example.test"; m["To"] = "rcpt%d@example.test" % i
        m["Subject"] = "message %d of one session to %s" % (i, host)
        m.set_content("body %d\n.leading dot line\n" % i)
        m.add_attachment(("attachment %d\n" % i).encode(), maintype="application", subtype="octet-stream", filename="att%d.bin" % i)
        s.send_message(m)
`

// runPython runs a Python script (through wrap) with args.
func runPython(t *testing.T, wrap []string, script string, args ...string) {
	t.Helper()
	argv := append(append(append([]string(nil), wrap...), mtatest.Python3, "-c", script), args...)
	if out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput(); err != nil {
		t.Fatalf("%s %v: %v\n%s", mtatest.Python3, args, err, out)
	}
}

// postfixTraffic sends Postfix at addr (host:port), from clients run
// through wrap, four sessions: a two-recipient message pipelined by
// swaks, a 3000-byte random attachment (swaks), two messages with BDAT
// (one in three chunks, one pipelined) and two messages in one session
// (smtplib). Postfix delivers 7 messages (6 distinct).
func postfixTraffic(t *testing.T, wrap []string, work, addr string) {
	t.Helper()
	blob := make([]byte, 3000)
	if _, err := rand.Read(blob); err != nil {
		t.Fatal(err)
	}
	blobFile := filepath.Join(work, "postfix-blob.bin")
	if err := os.WriteFile(blobFile, blob, 0o600); err != nil {
		t.Fatal(err)
	}
	from := []string{"--from", "alice@example.test"}
	out := runSwaks(t, wrap, addr, append(from, "--to", "a@example.test,b@example.org", "--header", "Subject: pipelined to "+addr,
		"--body", "pipelined to two\n.a dot line\n", "--pipeline")...)
	if !strings.Contains(out, "PIPELINING") {
		t.Errorf("Postfix at %s did not offer PIPELINING:\n%s", addr, out)
	}
	runSwaks(t, wrap, addr, append(from, "--to", "bob@example.test", "--header", "Subject: attachment to "+addr,
		"--body", "see attached", "--attach-type", "application/octet-stream", "--attach-name", "blob.bin", "--attach", "@"+blobFile)...)
	host, port, _ := net.SplitHostPort(addr)
	runPython(t, wrap, bdatClient, host, port)
	runPython(t, wrap, twoMessageClient, host, port)
}

// TestCaptureProofNamespacesPostfix (root) is the byte-exact proof for
// Postfix's PIPELINING and CHUNKING: a Postfix instance of its own
// (configuration, queue and data under the test's directory) runs in the
// server namespace on 10.201.0.2 and fd00:201::2 and delivers into a
// Maildir; postfixTraffic's clients run in the client namespace, over
// IPv4 and IPv6, while capture and tcpdump watch the span. Then: every
// message Postfix delivered (less the header fields its delivery adds)
// has the sha256 of a message core parses from capture's session files,
// none partial, the session files show the pipelined commands and the
// BDAT chunks, and `smtpscope pcap` over tcpdump's file writes the same
// session files, names included, byte for byte.
func TestCaptureProofNamespacesPostfix(t *testing.T) {
	requireProofNetns(t, "ss", "swaks", mtatest.PostfixCmd, mtatest.PostfixMaster)
	bin := testBinary(t)
	work := t.TempDir()
	keepProof(t, work)
	n := newProofNetns(t, "smtpscope-postfix")
	r := startRelay(t, n.w, [2]string{"wspan", "wspan"})
	pf := mtatest.StartPostfix(t, mtatest.PostfixConfig{Delivery: mtatest.Maildir, Dir: filepath.Join(work, "postfix"),
		Netns: n.s, Listen: []string{netnsServer4, netnsServer6}, Networks: []string{"10.201.0.0/24", "[fd00:201::]/64"}})
	sc := startSpanCaptures(t, n, work, pf.Port)

	for _, addr := range pf.Addrs {
		postfixTraffic(t, nsExec(n.c), work, addr)
	}
	delivered := pf.WaitDelivered(t, 14, 60*time.Second)

	files := sc.stop(t, r)
	if err := pf.Stop(); err != nil {
		t.Error(err)
	}
	want := map[string]string{}
	for _, b := range delivered {
		h := sha256Hex(mtatest.ReceivedBytes(b))
		want[h] = "postfix " + h[:12]
	}
	if len(delivered) != 14 || len(want) != 12 {
		t.Errorf("Postfix delivered %d messages (%d distinct), want 14 (12)", len(delivered), len(want))
	}
	checkExtracted(t, want, files, 0)
	sc.samePcap(t, bin, files)
	if len(files) != 8 {
		t.Errorf("capture wrote %d session files, want 8 (4 over IPv4, 4 over IPv6)", len(files))
	}
	checkPipelinedBDAT(t, files)
	t.Logf("%d session files, byte-identical from capture and from pcap over tcpdump's capture; %d messages delivered by Postfix", len(files), len(delivered))
}

// pipelinedMailRcpt is a MAIL command followed by a RCPT command with no
// reply between them in a session file: the client pipelined them.
var pipelinedMailRcpt = regexp.MustCompile(`\n> MAIL FROM:[^\n]*\n> RCPT TO:`)

// checkPipelinedBDAT checks that the session files show what the Postfix
// proof claims to cover: commands pipelined (swaks and the BDAT client,
// over both families) and BDAT (the BDAT client's sessions).
func checkPipelinedBDAT(t *testing.T, files map[string][]byte) {
	t.Helper()
	pipelined, bdat := 0, 0
	for _, f := range files {
		if pipelinedMailRcpt.Match(f) {
			pipelined++
		}
		if bytes.Contains(f, []byte("\n> BDAT ")) {
			bdat++
		}
	}
	if pipelined != 4 || bdat != 2 {
		t.Errorf("%d sessions with pipelined MAIL and RCPT (want 4), %d with BDAT (want 2)", pipelined, bdat)
	}
}
