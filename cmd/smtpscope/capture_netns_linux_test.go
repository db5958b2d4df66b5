//go:build linux

package main

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
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

// newProofNetns creates the namespaces (named after the test's PID) and
// removes them, by name, when the test ends (also on failure).
func newProofNetns(t *testing.T) *proofNetns {
	t.Helper()
	p := fmt.Sprintf("smtpscope-%d-", os.Getpid())
	n := &proofNetns{c: p + "client", w: p + "wire", s: p + "server", m: p + "monitor"}
	for _, ns := range []string{n.c, n.w, n.s, n.m} {
		ipCmd(t, "netns", "add", ns)
		t.Cleanup(func() {
			if out, err := exec.Command("ip", "netns", "del", ns).CombinedOutput(); err != nil {
				t.Errorf("ip netns del %s: %v\n%s", ns, err, out)
			}
		})
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
	for _, ns := range []string{n.c, n.s} {
		if out, err := exec.Command("ip", "netns", "exec", ns, mtatest.Python3, "-c", offloadsOff).CombinedOutput(); err != nil {
			t.Fatalf("turning offloads off in %s: %v\n%s", ns, err, out)
		}
	}
	return n
}

func (n *proofNetns) exec(ns string) []string { return []string{"ip", "netns", "exec", ns} }

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
	mtatest.RequireRoot(t)
	mtatest.Require(t, "ip", "swaks", "tcpdump", mtatest.Python3)
	if err := exec.Command("ip", "netns", "list").Run(); err != nil {
		t.Skipf("ip netns is not available: %v", err)
	}
	if err := exec.Command(mtatest.Python3, "-c", "import aiosmtpd").Run(); err != nil {
		t.Skip("python3-aiosmtpd is not installed (make apt-install)")
	}
	bin := testBinary(t)
	work := t.TempDir()
	if keep := os.Getenv("SMTPSCOPE_KEEP_PROOF"); keep != "" {
		t.Cleanup(func() { _ = exec.Command("cp", "-r", work, keep).Run() })
	}
	n := newProofNetns(t)
	r := startRelay(t, n.w, [2]string{"wspan", "wspan"})
	const p4, p6 = 2525, 2587
	portsArg := fmt.Sprintf("%d,%d", p4, p6)
	stored := startAiosmtpd(t, n.exec(n.s), work, netnsServer4, netnsServer6, p4, p6)

	pcapFile := filepath.Join(work, "span.pcap")
	td, tdErr := startTcpdump(t, n.exec(n.m), "span0", pcapFile, fmt.Sprintf("tcp port %d or tcp port %d", p4, p6), "-Q", "in")
	capOut := filepath.Join(work, "capture")
	capCmd, capErr := startCapture(t, n.exec(n.m), "-i", "span0", "--ports", portsArg, "--out", capOut, "--no-sync", "--report", "0")

	aiosmtpdTraffic(t, n.exec(n.c), work, fmt.Sprintf("%s:%d", netnsServer4, p4), fmt.Sprintf("[%s]:%d", netnsServer6, p6))

	// Every frame the relay sent is on span0's ring before both stop:
	// the relay stops first, and capture drains its ring on SIGTERM.
	r.halt()
	if err := r.error(); err != nil {
		t.Fatalf("relay: %v", err)
	}
	if err := capCmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := capCmd.Wait(); err != nil {
		t.Fatalf("capture: %v\n%s", err, capErr.String())
	}
	<-capErr.done
	stopTcpdump(t, td, tdErr)
	if !strings.Contains(capErr.String(), "0 dropped by the kernel") {
		t.Fatalf("capture dropped packets: %s", capErr.String())
	}

	files := sessionFiles(t, capOut)
	checkExtracted(t, storedMessages(t, stored), files)

	runBin(t, bin, "pcap", "--out", filepath.Join(work, "pcap"), "--ports", portsArg, "--sync", "none", "-q", pcapFile)
	fromPcap := sessionFiles(t, filepath.Join(work, "pcap"))
	var names []string
	for name := range files {
		names = append(names, name)
	}
	for name := range fromPcap {
		if _, ok := files[name]; !ok {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	for _, name := range names {
		c, inCapture := files[name]
		p, inPcap := fromPcap[name]
		switch {
		case !inPcap:
			t.Errorf("session file %s: written by capture, not by pcap:\n%s", name, c)
		case !inCapture:
			t.Errorf("session file %s: written by pcap, not by capture:\n%s", name, p)
		case !bytes.Equal(c, p):
			t.Errorf("session file %s differs:\ncapture:\n%s\npcap:\n%s", name, c, p)
		}
	}
	// 6 swaks sessions, the smtplib one and the STARTTLS one.
	if len(files) != 8 {
		t.Errorf("capture wrote %d session files, want 8", len(files))
	}
	t.Logf("%d session files, byte-identical from capture and from pcap over tcpdump's capture", len(files))
}
