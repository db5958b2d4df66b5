package main

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/smtpscope/smtpscope/collector/ace"
	"github.com/smtpscope/smtpscope/core"
)

// e2ePort is the SMTP port of the captures in testdata/pcap.
const e2ePort = 39099

// writeIOCPcap writes a capture of one SMTP session whose message carries
// a defanged URL (testdata/pcap has none), on e2ePort.
func writeIOCPcap(t *testing.T, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := pcapgo.NewWriter(f)
	if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	cli, srv := net.IPv4(127, 0, 0, 1), net.IPv4(127, 0, 0, 1)
	seq := map[bool]uint32{true: 1000, false: 5000} // client, server
	ts := time.Date(2026, 11, 23, 2, 0, 0, 0, time.UTC)
	send := func(fromClient, syn, ack bool, payload string) {
		sp, dp := layers.TCPPort(40000), layers.TCPPort(e2ePort)
		src, dst := cli, srv
		if !fromClient {
			sp, dp = dp, sp
		}
		ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: src, DstIP: dst}
		tcp := &layers.TCP{SrcPort: sp, DstPort: dp, Seq: seq[fromClient], SYN: syn, ACK: ack, PSH: payload != "", Window: 65535}
		if ack {
			tcp.Ack = seq[!fromClient]
		}
		_ = tcp.SetNetworkLayerForChecksum(ip)
		buf := gopacket.NewSerializeBuffer()
		eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{0, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{0, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv4}
		if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, eth, ip, tcp, gopacket.Payload(payload)); err != nil {
			t.Fatal(err)
		}
		ts = ts.Add(time.Millisecond)
		data := buf.Bytes()
		if err := w.WritePacket(gopacket.CaptureInfo{Timestamp: ts, CaptureLength: len(data), Length: len(data)}, data); err != nil {
			t.Fatal(err)
		}
		seq[fromClient] += uint32(len(payload))
		if syn {
			seq[fromClient]++
		}
	}
	send(true, true, false, "")
	send(false, true, true, "")
	send(true, false, true, "")
	msg := "From: mallory@phish.example\r\nTo: carol@example.test\r\nSubject: Quarterly payroll notice\r\n" +
		"Message-ID: <ioc-1@phish.example>\r\n\r\nPlease log in at hxxps://payroll-login[.]phish-corp[.]com/verify today.\r\n.\r\n"
	for _, x := range []struct {
		client bool
		line   string
	}{{false, "220 mx.example.test ESMTP\r\n"}, {true, "EHLO phish.example\r\n"}, {false, "250 mx.example.test\r\n"},
		{true, "MAIL FROM:<mallory@phish.example>\r\n"}, {false, "250 ok\r\n"}, {true, "RCPT TO:<carol@example.test>\r\n"},
		{false, "250 ok\r\n"}, {true, "DATA\r\n"}, {false, "354 go ahead\r\n"}, {true, msg}, {false, "250 queued\r\n"},
		{true, "QUIT\r\n"}, {false, "221 bye\r\n"}} {
		send(x.client, false, true, x.line)
	}
}

// defang writes a value as analysts paste it: every "." as "[.]".
func defang(v string) string { return strings.ReplaceAll(v, ".", "[.]") }

// TestPipelinePcapCollectOnceSearchSubmit runs the real binary the way a
// new user would: `pcap` → `collect --once` → `search` finds every email
// by attachment hash, recipient, subject word and defanged IOC; `submit`
// queues them (the index shows it at once) and the next `collect --once`
// sends them: `status:sent` finds every one.
func TestPipelinePcapCollectOnceSearchSubmit(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test (builds the binary)")
	}
	pcaps, _ := filepath.Glob(filepath.Join("..", "..", "testdata", "pcap", "*.pcap"))
	if len(pcaps) == 0 {
		t.Skip("no captures in testdata/pcap")
	}
	dir := t.TempDir()
	bin := testBinary(t)
	iocPcap := filepath.Join(dir, "ioc.pcap")
	writeIOCPcap(t, iocPcap)
	pcaps = append(pcaps, iocPcap)
	spool, data := filepath.Join(dir, "spool"), filepath.Join(dir, "data")
	if err := os.MkdirAll(spool, 0o750); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) string {
		t.Helper()
		return runBin(t, bin, args...)
	}
	run(append([]string{"pcap", "-q", "--ports", fmt.Sprint(e2ePort), "--out", spool}, pcaps...)...)
	run("collect", "--once", "--spool", spool, "--data", data, "--no-fsync")

	records := searchRecords(t, run, data, "")
	if len(records) < 8 {
		t.Fatalf("collect --once then search: %d emails, want every email of %d captures", len(records), len(pcaps))
	}
	iocs := 0
	for _, r := range records {
		var qs []string
		for _, a := range r.Attachments {
			qs = append(qs, "hash:"+a.SHA256)
		}
		for _, rc := range r.Envelope.RcptTo {
			qs = append(qs, "rcpt:"+rc)
		}
		if w := strings.Fields(r.Subject); len(w) > 0 {
			qs = append(qs, "subject:"+w[len(w)-1])
		}
		for _, i := range r.IOCs {
			qs = append(qs, "ioc:"+defang(i.Value))
			iocs++
		}
		for _, q := range qs {
			if !slices.Contains(searchIDs(t, run, data, q), r.ID) {
				t.Errorf("search %q does not find %s", q, r.ID)
			}
		}
	}
	if iocs == 0 {
		t.Error("no email with an IOC: the defanged IOC search was not exercised")
	}

	sink, err := ace.NewSink(filepath.Join(dir, "sink"), ace.SinkOptions{})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sink)
	defer srv.Close()
	cfg := filepath.Join(dir, "smtpscope.toml")
	os.WriteFile(cfg, []byte(fmt.Sprintf("[[group]]\nname = \"default\"\ncoverage = 100\nfull_delivery = true\nnodes = [%q]\n", srv.URL)), 0o600)
	idFile := filepath.Join(dir, "ids")
	var ids []string
	for _, r := range records {
		ids = append(ids, r.ID)
	}
	os.WriteFile(idFile, []byte(strings.Join(ids, "\n")+"\n"), 0o600)
	run("submit", "--data", data, "--config", cfg, "--from", idFile)
	if got := searchIDs(t, run, data, "status:queued"); len(got) != len(ids) {
		t.Errorf("after submit, status:queued finds %d of %d emails", len(got), len(ids))
	}
	run("collect", "--once", "--config", cfg, "--spool", spool, "--data", data, "--no-fsync")
	got := searchIDs(t, run, data, "status:sent")
	slices.Sort(got)
	slices.Sort(ids)
	if !slices.Equal(got, ids) {
		t.Errorf("after collect --once, status:sent finds %v, want %v", got, ids)
	}
}

// searchRecords runs `search --json` and decodes the records.
func searchRecords(t *testing.T, run func(...string) string, data, q string) []core.Email {
	t.Helper()
	var out []core.Email
	dec := json.NewDecoder(strings.NewReader(run("search", "--data", data, "--json", "--limit", "0", q)))
	for dec.More() {
		var e core.Email
		if err := dec.Decode(&e); err != nil {
			t.Fatal(err)
		}
		out = append(out, e)
	}
	return out
}

func searchIDs(t *testing.T, run func(...string) string, data, q string) []string {
	t.Helper()
	var ids []string
	for _, r := range searchRecords(t, run, data, q) {
		ids = append(ids, r.ID)
	}
	return ids
}
