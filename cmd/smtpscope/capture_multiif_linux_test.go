//go:build linux

package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/smtpscope/smtpscope/core"
)

// multiifNetns creates network namespaces smtpscope-multiif-PID-NAME for
// each name and removes them, by name, when the test ends (also on
// failure); it returns the full names by short name.
func multiifNetns(t *testing.T, names ...string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, n := range names {
		out[n] = addNetns(t, fmt.Sprintf("smtpscope-multiif-%d-%s", os.Getpid(), n))
	}
	return out
}

// stopCapture ends a capture with SIGTERM and returns its stderr.
func stopCapture(t *testing.T, cmd *exec.Cmd, errb *syncBuffer) string {
	t.Helper()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("capture: %v\n%s", err, errb.String())
	}
	<-errb.done
	return errb.String()
}

var ifaceCounts = regexp.MustCompile(`(\w+): (\d+) packets, (\d+) dropped by the kernel`)

// kernelPackets reads the final summary of a capture's stderr: the
// packets of each interface; it fails the test if the kernel dropped any
// or the merge passed a packet on before its turn.
func kernelPackets(t *testing.T, stderr string) map[string]int {
	t.Helper()
	i := strings.LastIndex(stderr, "stopped;")
	if i < 0 {
		t.Fatalf("no final summary: %s", stderr)
	}
	last := stderr[i:]
	t.Logf("capture: %s", strings.TrimSpace(last))
	out := map[string]int{}
	for _, m := range ifaceCounts.FindAllStringSubmatch(last, -1) {
		if m[3] != "0" {
			t.Fatalf("%s: the kernel dropped %s packets: %s", m[1], m[3], last)
		}
		out[m[1]], _ = strconv.Atoi(m[2])
	}
	if !strings.Contains(last, "merged by time: 0 packet(s) passed on early") {
		t.Fatalf("the merge window overflowed: %s", last)
	}
	return out
}

// openPcap opens the pcap file at path for reading, closed when the
// test ends.
func openPcap(t *testing.T, path string) *pcapgo.Reader {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	r, err := pcapgo.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// sortPcap copies the pcap in to out with its packets in time order
// (stable) and returns how many were out of order in it.
func sortPcap(t *testing.T, in, out string) int {
	t.Helper()
	r := openPcap(t, in)
	type rec struct {
		ci   gopacket.CaptureInfo
		data []byte
	}
	var recs []rec
	unordered := 0
	for {
		data, ci, err := r.ReadPacketData()
		if err != nil {
			break
		}
		if len(recs) > 0 && ci.Timestamp.Before(recs[len(recs)-1].ci.Timestamp) {
			unordered++
		}
		recs = append(recs, rec{ci, data})
	}
	sort.SliceStable(recs, func(i, j int) bool { return recs[i].ci.Timestamp.Before(recs[j].ci.Timestamp) })
	o, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	w := pcapgo.NewWriterNanos(o)
	if err := w.WriteFileHeader(r.Snaplen(), r.LinkType()); err != nil {
		t.Fatal(err)
	}
	for _, x := range recs {
		if err := w.WritePacket(x.ci, x.data); err != nil {
			t.Fatal(err)
		}
	}
	return unordered
}

// waitQuiet waits until the files (tcpdump's, written packet by packet)
// have not grown for a second: the traffic is over and tcpdump has
// written all of it. It gives up after 60 s.
func waitQuiet(t *testing.T, files ...string) {
	t.Helper()
	size := func() int64 {
		var n int64
		for _, f := range files {
			if st, err := os.Stat(f); err == nil {
				n += st.Size()
			}
		}
		return n
	}
	last, since := size(), time.Now()
	for deadline := time.Now().Add(60 * time.Second); time.Since(since) < time.Second; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%v still growing after 60 s", files)
		}
		if n := size(); n != last {
			last, since = n, time.Now()
		}
	}
}

// pcapTCPPackets counts the TCP packets of a pcap file of Ethernet
// frames.
func pcapTCPPackets(t *testing.T, path string) int {
	t.Helper()
	r := openPcap(t, path)
	n := 0
	for {
		data, _, err := r.ReadPacketData()
		if err != nil {
			return n
		}
		if gopacket.NewPacket(data, r.LinkType(), gopacket.NoCopy).Layer(layers.LayerTypeTCP) != nil {
			n++
		}
	}
}

// TestCaptureBreakoutTap (root): a breakout tap, one monitor port per
// direction. A relay in a wire namespace joins a client and a server
// namespace (as in TestCaptureProofNamespaces) and copies the client's
// frames onto one monitor link and the server's onto another, whose
// ends, mon0 and mon1, are in the monitor namespace. `smtpscope capture
// -i mon0 -i mon1` runs there beside `tcpdump -i any` (one combined view
// of both). The capture merges the two by timestamp: its session files
// are those `smtpscope pcap` writes over tcpdump's view in time order,
// names included, byte for byte, and every stored message's sha256 is
// extracted.
func TestCaptureBreakoutTap(t *testing.T) {
	requireAiosmtpdProof(t)
	bin := testBinary(t)
	work := t.TempDir()
	ns := multiifNetns(t, "client", "wire", "server", "monitor")
	c, w, s, m := ns["client"], ns["wire"], ns["server"], ns["monitor"]
	for _, n := range []string{w, m} {
		ipCmd(t, "netns", "exec", n, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1")
	}
	ipCmd(t, "-n", w, "link", "add", "wc", "type", "veth", "peer", "name", "eth0", "netns", c)
	ipCmd(t, "-n", w, "link", "add", "ws", "type", "veth", "peer", "name", "eth0", "netns", s)
	ipCmd(t, "-n", w, "link", "add", "wtap0", "type", "veth", "peer", "name", "mon0", "netns", m)
	ipCmd(t, "-n", w, "link", "add", "wtap1", "type", "veth", "peer", "name", "mon1", "netns", m)
	ipCmd(t, "-n", c, "addr", "add", netnsClient4+"/24", "dev", "eth0")
	ipCmd(t, "-n", c, "addr", "add", "fd00:201::1/64", "dev", "eth0", "nodad")
	ipCmd(t, "-n", s, "addr", "add", netnsServer4+"/24", "dev", "eth0")
	ipCmd(t, "-n", s, "addr", "add", netnsServer6+"/64", "dev", "eth0", "nodad")
	for _, l := range [][2]string{{c, "lo"}, {c, "eth0"}, {s, "lo"}, {s, "eth0"}, {w, "wc"}, {w, "ws"}, {w, "wtap0"}, {w, "wtap1"}, {m, "mon0"}, {m, "mon1"}} {
		ipCmd(t, "-n", l[0], "link", "set", l[1], "up")
	}
	turnOffloadsOff(t, c, s)
	r := startRelay(t, w, [2]string{"wtap0", "wtap1"})
	const p4, p6 = 2525, 2587
	portsArg := fmt.Sprintf("%d,%d", p4, p6)
	stored := startAiosmtpd(t, nsExec(s), work, netnsServer4, netnsServer6, p4, p6)

	pcapFile := filepath.Join(work, "any.pcap")
	td, tdErr := startTcpdump(t, nsExec(m), "any", pcapFile, fmt.Sprintf("tcp port %d or tcp port %d", p4, p6), "-Q", "in")
	capOut := filepath.Join(work, "capture")
	capCmd, capErr := startCapture(t, nsExec(m), "-i", "mon0", "-i", "mon1", "--ports", portsArg, "--out", capOut, "--no-sync", "--report", "0")

	aiosmtpdTraffic(t, nsExec(c), work, fmt.Sprintf("%s:%d", netnsServer4, p4), fmt.Sprintf("[%s]:%d", netnsServer6, p6))

	r.halt()
	if err := r.error(); err != nil {
		t.Fatalf("relay: %v", err)
	}
	waitQuiet(t, pcapFile) // tcpdump has written every frame the relay sent
	pk := kernelPackets(t, stopCapture(t, capCmd, capErr))
	stopTcpdump(t, td, tdErr)
	if pk["mon0"] == 0 || pk["mon1"] == 0 {
		t.Fatalf("packets per interface: %v: each direction should have its port", pk)
	}

	files := sessionFiles(t, capOut)
	checkExtracted(t, storedMessages(t, stored), files, 1)

	sorted := filepath.Join(work, "any-sorted.pcap")
	unordered := sortPcap(t, pcapFile, sorted)
	runBin(t, bin, "pcap", "--out", filepath.Join(work, "pcap"), "--ports", portsArg, "--sync", "none", "-q", sorted)
	sameSessionFiles(t, files, sessionFiles(t, filepath.Join(work, "pcap")))
	if len(files) != 8 {
		t.Errorf("capture wrote %d session files, want 8", len(files))
	}
	t.Logf("%d session files from mon0 (%d packets) and mon1 (%d packets), byte-identical with pcap over tcpdump -i any in time order (%d packets out of order in tcpdump's file)",
		len(files), pk["mon0"], pk["mon1"], unordered)
}

// TestCaptureRouterLegs (root): a router namespace forwards between a
// client's and a server's (IPv4 and IPv6); `smtpscope capture -i r0 -i
// r1 --direction in` on both legs sees each forwarded packet once (on
// the leg it arrives on: as many TCP packets as tcpdump -Q in receives
// on the two) and stores each message once, intact. A capture with --direction both beside it sees
// about twice as many packets.
func TestCaptureRouterLegs(t *testing.T) {
	requireAiosmtpdProof(t)
	work := t.TempDir()
	if keep := os.Getenv("SMTPSCOPE_KEEP_PROOF"); keep != "" {
		t.Cleanup(func() { _ = exec.Command("cp", "-r", work, keep).Run() })
	}
	ns := multiifNetns(t, "client", "router", "server")
	c, rt, s := ns["client"], ns["router"], ns["server"]
	const (
		client4, client6 = "10.202.1.1", "fd00:202:1::1"
		server4, server6 = "10.202.2.1", "fd00:202:2::1"
	)
	ipCmd(t, "-n", rt, "link", "add", "r0", "type", "veth", "peer", "name", "eth0", "netns", c)
	ipCmd(t, "-n", rt, "link", "add", "r1", "type", "veth", "peer", "name", "eth0", "netns", s)
	ipCmd(t, "netns", "exec", rt, "sysctl", "-qw", "net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1")
	for _, a := range [][3]string{
		{c, "eth0", client4 + "/24"}, {c, "eth0", client6 + "/64"}, {s, "eth0", server4 + "/24"}, {s, "eth0", server6 + "/64"},
		{rt, "r0", "10.202.1.254/24"}, {rt, "r0", "fd00:202:1::fe/64"}, {rt, "r1", "10.202.2.254/24"}, {rt, "r1", "fd00:202:2::fe/64"},
	} {
		args := []string{"-n", a[0], "addr", "add", a[2], "dev", a[1]}
		if strings.Contains(a[2], ":") {
			args = append(args, "nodad")
		}
		ipCmd(t, args...)
	}
	for _, l := range [][2]string{{c, "lo"}, {c, "eth0"}, {s, "lo"}, {s, "eth0"}, {rt, "lo"}, {rt, "r0"}, {rt, "r1"}} {
		ipCmd(t, "-n", l[0], "link", "set", l[1], "up")
	}
	ipCmd(t, "-n", c, "route", "add", "default", "via", "10.202.1.254")
	ipCmd(t, "-n", c, "-6", "route", "add", "default", "via", "fd00:202:1::fe")
	ipCmd(t, "-n", s, "route", "add", "default", "via", "10.202.2.254")
	ipCmd(t, "-n", s, "-6", "route", "add", "default", "via", "fd00:202:2::fe")
	turnOffloadsOff(t, c, s)
	const p4, p6 = 2525, 2587
	portsArg := fmt.Sprintf("%d,%d", p4, p6)
	stored := startAiosmtpd(t, nsExec(s), work, server4, server6, p4, p6)

	filter := fmt.Sprintf("tcp port %d or tcp port %d", p4, p6)
	td0, td0Err := startTcpdump(t, nsExec(rt), "r0", filepath.Join(work, "r0.pcap"), filter, "-Q", "in")
	td1, td1Err := startTcpdump(t, nsExec(rt), "r1", filepath.Join(work, "r1.pcap"), filter, "-Q", "in")
	inOut, bothOut := filepath.Join(work, "in"), filepath.Join(work, "both")
	inCmd, inErr := startCapture(t, nsExec(rt), "-i", "r0", "-i", "r1", "--direction", "in", "--ports", portsArg, "--out", inOut, "--no-sync", "--report", "0", "--pcap-dir", filepath.Join(work, "evidence"))
	bothCmd, bothErr := startCapture(t, nsExec(rt), "-i", "r0", "-i", "r1", "--direction", "both", "--ports", portsArg, "--out", bothOut, "--no-sync", "--report", "0")

	aiosmtpdTraffic(t, nsExec(c), work, fmt.Sprintf("%s:%d", server4, p4), fmt.Sprintf("[%s]:%d", server6, p6))
	// The clients have returned; the last connection's FINs may still be
	// on the way (aiosmtpd closes when it gets to it).
	waitQuiet(t, filepath.Join(work, "r0.pcap"), filepath.Join(work, "r1.pcap"))

	in := kernelPackets(t, stopCapture(t, inCmd, inErr))
	both := kernelPackets(t, stopCapture(t, bothCmd, bothErr))
	stopTcpdump(t, td0, td0Err)
	stopTcpdump(t, td1, td1Err)
	// --direction in keeps (its evidence pcap) exactly the TCP packets
	// tcpdump -Q in receives on the two legs; its kernel filter also
	// passes IPv6 packets with extension headers (MLD reports here), so
	// a leg's kernel count may be higher than tcpdump's.
	evidence, _ := filepath.Glob(filepath.Join(work, "evidence", "*.pcap"))
	kept := 0
	for _, f := range evidence {
		kept += pcapTCPPackets(t, f)
	}
	received := 0
	for _, leg := range []string{"r0", "r1"} {
		n := pcapTCPPackets(t, filepath.Join(work, leg+".pcap"))
		received += n
		if in[leg] < n || n == 0 {
			t.Errorf("%s: %d packets with --direction in, tcpdump -Q in received %d TCP packets", leg, in[leg], n)
		}
	}
	if kept != received {
		t.Errorf("--direction in kept %d TCP packets, tcpdump -Q in received %d on the two legs", kept, received)
	}
	// A forwarded packet is received on one leg and sent on the other:
	// --direction both counts it twice. Not exactly: the MLD reports
	// counted above are not forwarded (link-local), and the router sends
	// its own.
	nIn, nBoth := in["r0"]+in["r1"], both["r0"]+both["r1"]
	if nBoth > 2*nIn+nIn/20 || nBoth < 2*nIn-nIn/20 {
		t.Errorf("packets: %v with --direction in, %v with both: want about twice as many with both", in, both)
	}

	files := sessionFiles(t, inOut)
	checkExtracted(t, storedMessages(t, stored), files, 1)
	count := map[string]int{}
	for name, data := range files {
		sess, err := core.ParseSession(bytes.NewReader(data), name, time.Now())
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for _, msg := range sess.Messages {
			count[sha256Hex(msg.Data)]++
		}
	}
	for h, n := range count {
		if n != 1 {
			t.Errorf("message %s stored %d times", h[:12], n)
		}
	}
	if len(files) != 8 {
		t.Errorf("capture wrote %d session files, want 8", len(files))
	}
	t.Logf("--direction in: %d session files, %d messages each once; packets %v (in) and %v (both)", len(files), len(count), in, both)
}
