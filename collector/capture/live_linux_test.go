//go:build linux

package capture

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/afpacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/smtpscope/smtpscope/core"
	"github.com/smtpscope/smtpscope/internal/mtatest"
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
	l, port := mtatest.CaptureListener(t)
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

// TestCaptureErrors: an unknown interface, an interface given twice, an
// unknown direction and a lack of privilege are named clearly.
func TestCaptureErrors(t *testing.T) {
	_, err := CaptureDir(context.Background(), []string{"nosuch0"}, 0, Options{}, t.TempDir(), nil)
	if err == nil || !strings.Contains(err.Error(), `no network interface "nosuch0"`) {
		t.Errorf("unknown interface: %v", err)
	}
	_, err = CaptureDir(context.Background(), []string{"lo", "nosuch0", "lo"}, 0, Options{}, t.TempDir(), nil)
	if err == nil || !strings.Contains(err.Error(), `interface "lo" given twice`) {
		t.Errorf("an interface twice: %v", err)
	}
	_, err = CaptureDir(context.Background(), []string{"lo"}, 0, Options{Direction: "out"}, t.TempDir(), nil)
	if err == nil || !strings.Contains(err.Error(), `direction "out": want in or both`) {
		t.Errorf("unknown direction: %v", err)
	}
	if os.Geteuid() != 0 {
		_, err := CaptureDir(context.Background(), []string{"lo"}, 0, Options{}, t.TempDir(), nil)
		if !errors.Is(err, ErrNoCapNetRaw) {
			t.Errorf("without privilege: %v", err)
		}
	}
}

// TestCaptureStampsOnce (root): a packet read through our packet socket
// and through a plain one opened beside it (as tcpdump's is, without
// receive timestamps) carries the same time, to the nanosecond: the
// kernel stamped the packet once on receive (stampOnce) rather than each
// socket reading the clock for its own copy. The packets are TCP
// segments injected on lo through a packet socket, as packets arrive
// from a wire: no local TCP stack put its departure time on them (see
// the README on lo). Linux turns stamping on from a work queue (the
// first net_enable_timestamp defers the switch), so the packets go in
// rounds until one round is stamped once, within 5 s; each packet is
// matched by its sequence number, not by its place in the ring.
func TestCaptureStampsOnce(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (CAP_NET_RAW) for AF_PACKET sockets on lo")
	}
	const port = 2525
	ours, err := openAFPacket("lo", []int{port}, 4<<20, DirectionBoth)
	if err != nil {
		t.Fatal(err)
	}
	defer ours.Close()
	if ours.stamp < 0 {
		t.Fatal("no socket holds SO_TIMESTAMPNS")
	}
	filter, err := portFilter([]int{port}, true, true)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := afpacket.NewTPacket(afpacket.OptInterface("lo"), afpacket.TPacketVersion3,
		afpacket.OptBlockSize(ringBlock), afpacket.OptNumBlocks(2), afpacket.OptFrameSize(1<<16),
		afpacket.OptPollTimeout(200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	if err := plain.SetBPF(filter); err != nil {
		t.Fatal(err)
	}
	const n = 20
	var diffs []string
	deadline := time.Now().Add(5 * time.Second)
	for round := 0; ; round++ {
		base := uint32(1_000_000 * (round + 1))
		for i := range n {
			if err := plain.WritePacketData(stampProbe(t, port, base+uint32(i*6))); err != nil {
				t.Fatal(err)
			}
		}
		a := readProbes(ours.ZeroCopyReadPacketData, base, n)
		b := readProbes(plain.ZeroCopyReadPacketData, base, n)
		if len(a) != n || len(b) != n {
			t.Fatalf("round %d: %d packets through our socket, %d through the plain one, want %d each", round, len(a), len(b), n)
		}
		diffs = diffs[:0]
		for seq, ta := range a {
			if tb, ok := b[seq]; !ok || !ta.Equal(tb) {
				diffs = append(diffs, fmt.Sprintf("seq %d: %v (ours) vs %v (plain): %v apart", seq, ta, tb, tb.Sub(ta)))
			}
		}
		if len(diffs) == 0 {
			t.Logf("round %d: %d packets stamped once", round, n)
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %d rounds in 5 s the sockets still stamp each packet apart; the last round:\n%s", round+1, strings.Join(diffs, "\n"))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stampProbe is an Ethernet frame of a TCP segment between
// documentation addresses (not local: the stack drops it without
// answering, after the packet sockets saw it) to port, with sequence
// number seq.
func stampProbe(t *testing.T, port int, seq uint32) []byte {
	t.Helper()
	eth := &layers.Ethernet{EthernetType: layers.EthernetTypeIPv4, SrcMAC: make([]byte, 6), DstMAC: make([]byte, 6)}
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP,
		SrcIP: net.IPv4(192, 0, 2, 1), DstIP: net.IPv4(198, 51, 100, 1)}
	tcp := &layers.TCP{SrcPort: 40000, DstPort: layers.TCPPort(port), Seq: seq, ACK: true, PSH: true, Window: 512}
	_ = tcp.SetNetworkLayerForChecksum(ip)
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
		eth, ip, tcp, gopacket.Payload("NOOP\r\n")); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// readProbes reads from next until it holds the n probes of one round
// (sequence numbers base, base+6, ...) or three reads time out, and
// returns each probe's time by sequence number; other packets (earlier
// rounds, other traffic to the port) are passed over.
func readProbes(next func() ([]byte, gopacket.CaptureInfo, error), base uint32, n int) map[uint32]time.Time {
	ts := map[uint32]time.Time{}
	for timeouts := 0; timeouts < 3 && len(ts) < n; {
		data, ci, err := next()
		if err != nil {
			timeouts++
			continue
		}
		p := gopacket.NewPacket(data, layers.LayerTypeEthernet, gopacket.NoCopy)
		tcp, ok := p.Layer(layers.LayerTypeTCP).(*layers.TCP)
		if !ok || tcp.Seq < base || tcp.Seq >= base+uint32(n*6) || !bytes.Equal(tcp.Payload, []byte("NOOP\r\n")) {
			continue
		}
		ts[tcp.Seq] = ci.Timestamp
	}
	return ts
}

// TestAwaitStamping: once stampOnce returns, a datagram sent over the
// loopback is stamped as it enters the stack, before the send returns
// (no privilege needed).
func TestAwaitStamping(t *testing.T) {
	fd := stampOnce()
	if fd < 0 {
		t.Skip("no UDP socket with SO_TIMESTAMPNS here")
	}
	defer closeFD(fd)
	if !awaitStamping(fd, time.Second) {
		t.Fatal("the kernel does not stamp packets on receive one second after SO_TIMESTAMPNS was set")
	}
}
