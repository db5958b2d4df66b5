package capture

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/smtpscope/smtpscope/core"
)

// manyConns writes a gzip-compressed raw-IP pcap of n short connections to
// port 25, 64 at a time in flight, 10 µs of capture time between packets
// (so that idle timeouts never help): by i%10, 4 in 10 are half-open (a
// SYN, nothing else), 3 are reset by the client after the server's
// greeting, 3 end cleanly (greeting, QUIT, 221, FIN both ways). It returns
// the number of connections that carried payload (the sessions expected).
func manyConns(t testing.TB, path string, n int) int {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	zw, _ := gzip.NewWriterLevel(f, gzip.BestSpeed)
	bw := bufio.NewWriterSize(zw, 1<<20)
	pw := pcapgo.NewWriter(bw)
	if err := pw.WriteFileHeader(65535, layers.LinkTypeRaw); err != nil {
		t.Fatal(err)
	}
	ts := time.Unix(1700000000, 0)
	write := func(b []byte) {
		ci := gopacket.CaptureInfo{Timestamp: ts, CaptureLength: len(b), Length: len(b)}
		if err := pw.WritePacket(ci, b); err != nil {
			t.Fatal(err)
		}
		ts = ts.Add(10 * time.Microsecond)
	}
	want := 0
	for base := 0; base < n; base += 64 {
		var scripts [][][]byte
		for i := base; i < base+64 && i < n; i++ {
			s := connScript(i)
			if len(s) > 1 {
				want++
			}
			scripts = append(scripts, s)
		}
		for step := 0; step < 7; step++ {
			for _, s := range scripts {
				if step < len(s) {
					write(s[step])
				}
			}
		}
	}
	if err := bw.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return want
}

// connScript returns the packets (raw IPv4) of connection i of manyConns.
func connScript(i int) [][]byte {
	cip := net.IP{10, byte(i >> 16), byte(i >> 8), byte(i)}
	sip := net.IP{192, 0, 2, 25}
	cport := uint16(1024 + i%60000)
	cseq, sseq := uint32(i*7919), uint32(i*104729)
	pkt := func(client bool, flags string, payload string) []byte {
		b := rawTCP(client, cip, sip, cport, flags, cseq, sseq, payload)
		n := uint32(len(payload))
		if strings.ContainsAny(flags, "SF") {
			n++
		}
		if client {
			cseq += n
		} else {
			sseq += n
		}
		return b
	}
	out := [][]byte{pkt(true, "S", "")}
	switch i % 10 {
	case 0, 1, 2, 3:
		return out
	case 4, 5, 6:
		return append(out, pkt(false, "SA", ""), pkt(false, "PA", "220 mx ESMTP\r\n"), pkt(true, "RA", ""))
	}
	return append(out, pkt(false, "SA", ""), pkt(false, "PA", "220 mx ESMTP\r\n"), pkt(true, "PA", "QUIT\r\n"),
		pkt(false, "PA", "221 bye\r\n"), pkt(true, "FA", ""), pkt(false, "FA", ""))
}

// rawTCP builds one IPv4 TCP packet; seq/ack are the client's and the
// server's next sequence numbers.
func rawTCP(client bool, cip, sip net.IP, cport uint16, flags string, cseq, sseq uint32, payload string) []byte {
	tcp := &layers.TCP{SrcPort: layers.TCPPort(cport), DstPort: 25, Seq: cseq, Ack: sseq, Window: 65535,
		SYN: strings.Contains(flags, "S"), ACK: strings.Contains(flags, "A"), FIN: strings.Contains(flags, "F"),
		RST: strings.Contains(flags, "R"), PSH: strings.Contains(flags, "P")}
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: cip, DstIP: sip}
	if !client {
		tcp.SrcPort, tcp.DstPort, tcp.Seq, tcp.Ack = 25, layers.TCPPort(cport), sseq, cseq
		ip.SrcIP, ip.DstIP = sip, cip
	}
	if flags == "S" {
		tcp.Ack = 0
	}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true}, ip, tcp, gopacket.Payload(payload)); err != nil {
		panic(err)
	}
	return buf.Bytes()
}

// memResult is what the child process of TestBoundedMemory reports.
type memResult struct {
	HWMKiB   int64
	Sessions int
	Stats    Stats
}

const memChildEnv = "SMTPSCOPE_CAPTURE_MEM_CHILD"

// memChild runs in the re-executed test binary: it processes the capture
// with default options and prints a memResult. A watchdog stops it when its
// resident set passes the limit, so that a regression cannot take the
// machine down.
func memChild(path string) {
	limit, _ := strconv.ParseInt(os.Getenv(memChildEnv+"_LIMIT_KIB"), 10, 64)
	go func() {
		for {
			if rss := procStatusKiB("VmRSS"); limit > 0 && rss > limit {
				fmt.Printf("RSS %d KiB over the limit %d KiB\n", rss, limit)
				os.Exit(3)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	var st Stats
	n := 0
	err := Process(context.Background(), []string{path}, Options{Stats: &st}, func(sf *SessionFile) error {
		if len(sf.Data) == 0 {
			return fmt.Errorf("empty session %s", sf.UID)
		}
		n++
		return nil
	})
	if err != nil {
		fmt.Println(err)
		os.Exit(2)
	}
	st.Warnings = nil
	b, _ := json.Marshal(memResult{HWMKiB: procStatusKiB("VmHWM"), Sessions: n, Stats: st})
	fmt.Printf("RESULT %s\n", b)
	os.Exit(0)
}

// procStatusKiB reads one "Vm...: N kB" line of /proc/self/status.
func procStatusKiB(field string) int64 {
	b, _ := os.ReadFile("/proc/self/status")
	for _, l := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(l, field+":"); ok {
			v, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return v
		}
	}
	return 0
}

func runMemChild(t *testing.T, path string, limitKiB int64) memResult {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestBoundedMemory$")
	cmd.Env = append(os.Environ(), memChildEnv+"="+path, memChildEnv+"_LIMIT_KIB="+strconv.FormatInt(limitKiB, 10))
	out, err := cmd.CombinedOutput()
	i := bytes.Index(out, []byte("RESULT "))
	if err != nil || i < 0 {
		t.Fatalf("child on %s: %v\n%s", filepath.Base(path), err, out)
	}
	var r memResult
	if err := json.Unmarshal(bytes.TrimSpace(out[i+7:]), &r); err != nil {
		t.Fatal(err)
	}
	return r
}

// TestBoundedMemory: the memory of a run does not grow with the number of
// connections. 200,000 and then 400,000 short connections (all within a
// few seconds of capture time) are processed in a child process with the
// default limits; its peak RSS must stay far below the ~9.6 KB per
// connection the unbounded engine needed (1.9 GB for 200,000) and roughly
// flat when the count doubles. Every connection that carried payload must
// still be written, and the half-open cap must have been hit and counted.
func TestBoundedMemory(t *testing.T) {
	if p := os.Getenv(memChildEnv); p != "" {
		memChild(p)
	}
	if testing.Short() {
		t.Skip("generates and reads 600,000 connections")
	}
	if _, err := os.Stat("/proc/self/status"); err != nil {
		t.Skip("needs /proc/self/status to measure peak RSS")
	}
	dir := t.TempDir()
	const n = 200000
	const limitKiB = 400 << 10 // the watchdog; the assertions below are tighter
	var res [2]memResult
	for k, count := range []int{n, 2 * n} {
		path := filepath.Join(dir, fmt.Sprintf("conns-%d.pcap.gz", count))
		want := manyConns(t, path, count)
		r := runMemChild(t, path, limitKiB)
		os.Remove(path)
		if r.Sessions != want {
			t.Errorf("%d connections: %d sessions written, want %d", count, r.Sessions, want)
		}
		if r.Stats.HalfOpenEvicted == 0 {
			t.Errorf("%d connections: half-open cap not counted (stats %+v)", count, r.Stats)
		}
		if r.Stats.PeakFlows > DefaultMaxHalfOpen+256 {
			t.Errorf("%d connections: %d open at once: connections ended by FIN or RST are not freed", count, r.Stats.PeakFlows)
		}
		t.Logf("%d connections: peak RSS %d MiB, stats %+v", count, r.HWMKiB>>10, r.Stats)
		res[k] = r
	}
	if res[0].HWMKiB > 250<<10 {
		t.Errorf("peak RSS %d MiB for %d connections: not bounded", res[0].HWMKiB>>10, n)
	}
	if growth := res[1].HWMKiB - res[0].HWMKiB; growth > res[0].HWMKiB/4+(16<<10) {
		t.Errorf("peak RSS grew by %d MiB (from %d MiB) when the connections doubled", growth>>10, res[0].HWMKiB>>10)
	}
}

// TestMaxFlowsEvicts: with MaxFlows 2, three connections open at once (no
// FIN) make the least recently active one be written early, flagged and
// counted; every session is still written, complete.
func TestMaxFlowsEvicts(t *testing.T) {
	var pk []pkt
	for i := 0; i < 3; i++ {
		s := synthSession(synthOpts{cport: uint16(41000 + i)}, smtpSession(testMsgs[:1]))
		pk = append(pk, s[:len(s)-3]...) // no FINs
	}
	var buf bytes.Buffer
	if err := writePcap(&buf, synthOpts{}, pk, false); err != nil {
		t.Fatal(err)
	}
	var st Stats
	sfs := runBytes(t, buf.Bytes(), Options{MaxFlows: 2, Stats: &st})
	if len(sfs) != 3 || st.FlowsEvicted == 0 {
		t.Fatalf("%d sessions, %d evicted", len(sfs), st.FlowsEvicted)
	}
	if sfs[0].Cut != CutFlowLimit || !strings.HasPrefix(string(sfs[0].Data), "10.0.0.1:41000/tcp\n") {
		t.Errorf("first session written: cut %q\n%s", sfs[0].Cut, sfs[0].Data)
	}
	for _, sf := range sfs {
		checkRoundTrip(t, sf, testMsgs[:1])
	}
}

// TestMaxFlowBytesCuts: a session larger than MaxFlowBytes is written as
// soon as it reaches it, flagged and counted, its message partial; the
// bytes that follow are counted, not kept.
func TestMaxFlowBytesCuts(t *testing.T) {
	line := "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde\r\n"
	msg := []byte("Subject: big\r\n\r\n" + strings.Repeat(line, 2000) + "the end\r\n")
	var buf bytes.Buffer
	o := synthOpts{}
	if err := writePcap(&buf, o, synthSession(o, smtpSession([][]byte{msg})), false); err != nil {
		t.Fatal(err)
	}
	var st Stats
	sfs := runBytes(t, buf.Bytes(), Options{MaxFlowBytes: 40 << 10, Stats: &st})
	if len(sfs) != 1 || st.FlowBytesCuts != 1 || sfs[0].Cut != CutFlowBytes {
		t.Fatalf("%d session files, %d cuts", len(sfs), st.FlowBytesCuts)
	}
	s, err := core.ParseSession(bytes.NewReader(sfs[0].Data), sfs[0].UID, sfs[0].Start)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Messages) != 1 || !s.Messages[0].Partial || !bytes.HasPrefix(msg, s.Messages[0].Data) {
		t.Fatalf("the cut message is not a partial prefix of the original")
	}
	if kept := int64(len(s.Messages[0].Data)); kept+st.CutBytes < int64(len(msg)) || st.CutBytes == 0 {
		t.Errorf("%d bytes kept + %d counted after the cut < %d sent", kept, st.CutBytes, len(msg))
	}
}
