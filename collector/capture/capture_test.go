package capture

import (
	"bytes"
	"compress/gzip"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"github.com/smtpscope/smtpscope/core"
)

var testMsgs = [][]byte{
	[]byte("From: a@example.test\r\nTo: b@example.test\r\nSubject: one\r\n\r\nHello.\r\n.leading dot\r\n..two dots\r\n.\r\nlast line\r\n"),
	[]byte("From: a@example.test\r\nSubject: two (BDAT)\r\n\r\nBinary \x00\xff\xfe bytes, a bare LF here\nand a dot line\r\n.\r\nend\r\n"),
	[]byte("Subject: three\r\n\r\n> . .\r\n@raw 5\r\n@gap 7\r\nno final CRLF in BDAT? no, DATA: ends fine\r\n"),
}

// checkRoundTrip parses a session file with core and compares messages.
func checkRoundTrip(t *testing.T, sf *SessionFile, want [][]byte) *core.Session {
	t.Helper()
	s, err := core.ParseSession(bytes.NewReader(sf.Data), sf.UID, sf.Start)
	if err != nil {
		t.Fatalf("core cannot parse the session file: %v\n%s", err, sf.Data)
	}
	if len(sf.Messages) != len(want) || len(s.Messages) != len(want) {
		t.Fatalf("messages: direct %d, parsed %d, want %d\n%s", len(sf.Messages), len(s.Messages), len(want), sf.Data)
	}
	for i, w := range want {
		if !bytes.Equal(sf.Messages[i].Data, w) {
			t.Errorf("message %d (direct) = %q, want %q", i, sf.Messages[i].Data, w)
		}
		if !bytes.Equal(s.Messages[i].Data, w) {
			t.Errorf("message %d (parsed) = %q, want %q", i, s.Messages[i].Data, w)
		}
		if sf.Messages[i].Partial || s.Messages[i].Partial {
			t.Errorf("message %d partial", i)
		}
	}
	return s
}

func TestLinkTypesAndFormats(t *testing.T) {
	cases := []struct {
		name string
		o    synthOpts
	}{
		{"ethernet", synthOpts{}},
		{"vlan", synthOpts{vlans: 1}},
		{"qinq", synthOpts{vlans: 2}},
		{"sll", synthOpts{link: layers.LinkTypeLinuxSLL}},
		{"sll2", synthOpts{link: layers.LinkTypeLinuxSLL2}},
		{"null", synthOpts{link: layers.LinkTypeNull}},
		{"raw", synthOpts{link: layers.LinkTypeRaw}},
		{"ethernet-v6", synthOpts{v6: true}},
		{"qinq-v6", synthOpts{vlans: 2, v6: true}},
		{"sll2-v6", synthOpts{link: layers.LinkTypeLinuxSLL2, v6: true}},
		{"null-v6", synthOpts{link: layers.LinkTypeNull, v6: true}},
		{"raw-v6", synthOpts{link: layers.LinkTypeRaw, v6: true}},
		{"port-2525-small-segments", synthOpts{sport: 2525, mss: 7}},
		{"no-handshake", synthOpts{noSYN: true}},
	}
	for _, c := range cases {
		for _, ng := range []bool{false, true} {
			name := c.name
			if ng {
				name += "-pcapng"
			}
			t.Run(name, func(t *testing.T) {
				var buf bytes.Buffer
				if err := writePcap(&buf, c.o, synthSession(c.o, smtpSession(testMsgs)), ng); err != nil {
					t.Fatal(err)
				}
				sfs := runBytes(t, buf.Bytes(), Options{})
				if len(sfs) != 1 {
					t.Fatalf("%d sessions, want 1", len(sfs))
				}
				s := checkRoundTrip(t, sfs[0], testMsgs)
				wantIP := "10.0.0.1"
				if c.o.v6 {
					wantIP = "2001:db8::1"
				}
				if s.Info.SourceIP != wantIP || s.Info.SourcePort != 40000 {
					t.Errorf("source %s:%d, want %s:40000", s.Info.SourceIP, s.Info.SourcePort, wantIP)
				}
				if s.Info.Banner == "" || !strings.Contains(string(sfs[0].Data), "< > 220 mx.example.test ESMTP\n") {
					t.Errorf("greeting not written as the reply to '>':\n%s", sfs[0].Data)
				}
				if !sfs[0].Messages[1].BDAT || !strings.Contains(string(sfs[0].Data), "> BDAT ") {
					t.Errorf("second message not BDAT")
				}
			})
		}
	}
}

func TestPortsOption(t *testing.T) {
	o := synthOpts{sport: 10025}
	var buf bytes.Buffer
	if err := writePcap(&buf, o, synthSession(o, smtpSession(testMsgs[:1])), false); err != nil {
		t.Fatal(err)
	}
	if n := len(runBytes(t, buf.Bytes(), Options{})); n != 0 {
		t.Errorf("port 10025 with default ports: %d sessions, want 0", n)
	}
	sfs := runBytes(t, buf.Bytes(), Options{Ports: []int{10025}})
	if len(sfs) != 1 {
		t.Fatalf("with --ports 10025: %d sessions", len(sfs))
	}
	checkRoundTrip(t, sfs[0], testMsgs[:1])
	if !strings.Contains(string(sfs[0].Data), "@resp 10.0.0.2:10025/tcp\n") {
		t.Errorf("no @resp line:\n%s", sfs[0].Data)
	}
}

func TestAuthNeverWritten(t *testing.T) {
	plain := "AGFsaWNlAHMzY3JldC1wYXNzd29yZA==" // \0alice\0s3cret-password
	user, pass := "YWxpY2U=", "czNjcmV0LXBhc3N3b3Jk"
	segs := []seg{
		{false, []byte("220 mx ESMTP\r\n")},
		{true, []byte("EHLO c\r\n")},
		{false, []byte("250-mx\r\n250 AUTH PLAIN LOGIN\r\n")},
		{true, []byte("AUTH PLAIN " + plain + "\r\n")},
		{false, []byte("535 5.7.8 bad\r\n")},
		{true, []byte("AUTH LOGIN\r\n")},
		{false, []byte("334 VXNlcm5hbWU6\r\n")},
		{true, []byte(user + "\r\n")},
		{false, []byte("334 UGFzc3dvcmQ6\r\n")},
		{true, []byte(pass + "\r\n")},
		{false, []byte("235 2.7.0 ok\r\n")},
		{true, []byte("MAIL FROM:<a@example.test>\r\nRCPT TO:<b@example.test>\r\nDATA\r\n")},
		{false, []byte("250 ok\r\n250 ok\r\n354 go\r\n")},
		{true, append(dotStuff(testMsgs[0]), ".\r\n"...)},
		{false, []byte("250 queued\r\n")},
		{true, []byte("QUIT\r\n")},
		{false, []byte("221 bye\r\n")},
	}
	for _, oneSided := range []bool{false, true} {
		ss := segs
		if oneSided {
			ss = nil
			for _, s := range segs {
				if s.client {
					ss = append(ss, s)
				}
			}
		}
		var buf bytes.Buffer
		o := synthOpts{}
		pk := synthSession(o, ss)
		if err := writePcap(&buf, o, pk, false); err != nil {
			t.Fatal(err)
		}
		sfs := runBytes(t, buf.Bytes(), Options{})
		if len(sfs) != 1 {
			t.Fatalf("one-sided=%v: %d sessions", oneSided, len(sfs))
		}
		d := string(sfs[0].Data)
		for _, secret := range []string{plain, user, pass, "s3cret"} {
			if strings.Contains(d, secret) {
				t.Errorf("one-sided=%v: credential %q written:\n%s", oneSided, secret, d)
			}
		}
		if !strings.Contains(d, "> AUTH PLAIN ****\n") || !strings.Contains(d, "> AUTH LOGIN\n") {
			t.Errorf("one-sided=%v: AUTH commands not recorded masked:\n%s", oneSided, d)
		}
		s := checkRoundTrip(t, sfs[0], testMsgs[:1])
		if !s.Info.Auth {
			t.Errorf("one-sided=%v: parser did not see AUTH", oneSided)
		}
	}
}

func TestStartTLS(t *testing.T) {
	tls := []byte{0x16, 0x03, 0x01, 0x00, 0x05, 'h', 'e', 'l', 'l', 'o'}
	segs := []seg{
		{false, []byte("220 mx ESMTP\r\n")},
		{true, []byte("EHLO c\r\n")},
		{false, []byte("250-mx\r\n250 STARTTLS\r\n")},
		{true, []byte("MAIL FROM:<a@example.test>\r\nRCPT TO:<b@example.test>\r\nDATA\r\n")},
		{false, []byte("250 ok\r\n250 ok\r\n354 go\r\n")},
		{true, append(dotStuff(testMsgs[0]), ".\r\n"...)},
		{false, []byte("250 queued\r\n")},
		{true, []byte("STARTTLS\r\n")},
		{false, []byte("220 2.0.0 Ready to start TLS\r\n")},
		{true, tls},
		{false, append([]byte{0x16, 0x03, 0x03}, []byte("\x00\x02hi250 not smtp\r\n")...)},
		{true, []byte("\x17\x03\x03\x00\x10MAIL FROM:<x@y>\r\nDATA\r\n")},
	}
	var buf bytes.Buffer
	o := synthOpts{}
	if err := writePcap(&buf, o, synthSession(o, segs), false); err != nil {
		t.Fatal(err)
	}
	sfs := runBytes(t, buf.Bytes(), Options{})
	if len(sfs) != 1 {
		t.Fatalf("%d sessions", len(sfs))
	}
	d := string(sfs[0].Data)
	if !strings.HasSuffix(d, "> STARTTLS \n< STARTTLS 220 2.0.0 Ready to start TLS\n") {
		t.Errorf("session does not end at the TLS handshake:\n%s", d)
	}
	s := checkRoundTrip(t, sfs[0], testMsgs[:1])
	if !s.Info.StartTLS {
		t.Errorf("parser did not see STARTTLS")
	}
}

func TestGapNeverInvents(t *testing.T) {
	msg := bytes.Repeat([]byte("0123456789abcdefghijklmnopqrstuvwxyz\r\n"), 200) // 7600 bytes
	o := synthOpts{mss: 1000}
	pk := synthSession(o, smtpSession([][]byte{msg}))
	// Drop the second data segment of the message (client, 1000 bytes).
	var kept []pkt
	seen := 0
	for _, p := range pk {
		if p.client && len(p.data) > 1000 {
			seen++
			if seen == 2 { // 1: first 1000 bytes of the message, 2: dropped
				continue
			}
		}
		kept = append(kept, p)
	}
	var buf bytes.Buffer
	if err := writePcap(&buf, o, kept, false); err != nil {
		t.Fatal(err)
	}
	var st Stats
	sfs := runBytes(t, buf.Bytes(), Options{Stats: &st})
	if len(sfs) != 1 || len(sfs[0].Messages) != 1 {
		t.Fatalf("want 1 session with 1 message, got %d sessions", len(sfs))
	}
	m := sfs[0].Messages[0]
	if !m.Partial || !m.Gap || st.GapBytes != 1000 {
		t.Errorf("partial=%v gap=%v gap bytes=%d", m.Partial, m.Gap, st.GapBytes)
	}
	want := append(append([]byte(nil), msg[:1000]...), msg[2000:]...)
	if !bytes.Equal(m.Data, want) {
		t.Errorf("gap message: %d bytes, want the %d captured bytes, in order, nothing invented", len(m.Data), len(want))
	}
	if !bytes.Contains(sfs[0].Data, []byte("\n@gap 1000\n")) {
		t.Errorf("no @gap line")
	}
	s, err := core.ParseSession(bytes.NewReader(sfs[0].Data), "x", sfs[0].Start)
	if err != nil || len(s.Messages) != 1 {
		t.Fatalf("parsed: %v", err)
	}
	if !bytes.Equal(s.Messages[0].Data, want) {
		t.Errorf("parsed gap message differs from the direct one")
	}
	if !s.Messages[0].Partial || !hasFlagStr(s.Messages[0].Flags, core.FlagGap) {
		t.Errorf("core did not flag the gap message partial/gap: %v", s.Messages[0].Flags)
	}
}

func hasFlagStr(flags []string, f string) bool {
	for _, x := range flags {
		if x == f {
			return true
		}
	}
	return false
}

// TestOneSidedRawMessage: client-only captures whose message needs @raw (a
// bare LF). With a plain first line, that line is written as a data line
// (it starts the parser's data mode) and the rest as @raw; a first line
// that reads like an SMTP line is written as @raw right after DATA, which
// the parser takes as the data of that DATA.
func TestOneSidedRawMessage(t *testing.T) {
	for _, c := range []struct {
		name, msg, want string
	}{
		{"plain-first-line", "Subject: one-sided\r\n\r\nbare LF here\nend\r\n", "\n> DATA \nSubject: one-sided\n@raw "},
		{"smtp-like-first-line", "> looks like a command\r\n\r\nbare LF here\nend\r\n", "\n> DATA \n@raw "},
	} {
		t.Run(c.name, func(t *testing.T) {
			msg := []byte(c.msg)
			segs := []seg{
				{true, []byte("EHLO c\r\nMAIL FROM:<a@example.test>\r\nRCPT TO:<b@example.test>\r\nDATA\r\n")},
				{true, append(dotStuff(msg), ".\r\nQUIT\r\n"...)},
			}
			var buf bytes.Buffer
			o := synthOpts{}
			if err := writePcap(&buf, o, synthSession(o, segs), false); err != nil {
				t.Fatal(err)
			}
			sfs := runBytes(t, buf.Bytes(), Options{})
			if len(sfs) != 1 || len(sfs[0].Messages) != 1 || !bytes.Equal(sfs[0].Messages[0].Data, msg) {
				t.Fatalf("direct: %+v", sfs)
			}
			if !bytes.Contains(sfs[0].Data, []byte(c.want)) {
				t.Fatalf("expected %q in:\n%s", c.want, sfs[0].Data)
			}
			s, err := core.ParseSession(bytes.NewReader(sfs[0].Data), "x", sfs[0].Start)
			if err != nil {
				t.Fatal(err)
			}
			if len(s.Messages) != 1 || !bytes.Equal(s.Messages[0].Data, msg) || !hasFlagStr(s.Messages[0].Flags, core.FlagNo354) {
				t.Errorf("parsed: %d messages, first %q flags %v", len(s.Messages), s.Messages[0].Data, s.Messages[0].Flags)
			}
		})
	}
}

func TestTruncatedData(t *testing.T) {
	segs := smtpSession(testMsgs[:1])
	// Cut the session inside the message: no terminator, no QUIT.
	cut := []seg{}
	for _, s := range segs {
		cut = append(cut, s)
		if s.client && bytes.HasPrefix(s.data, []byte("From:")) {
			cut[len(cut)-1].data = s.data[:40]
			break
		}
	}
	var buf bytes.Buffer
	o := synthOpts{}
	if err := writePcap(&buf, o, synthSession(o, cut), false); err != nil {
		t.Fatal(err)
	}
	sfs := runBytes(t, buf.Bytes(), Options{})
	m := sfs[0].Messages
	if len(m) != 1 || !m[0].Partial || !bytes.Equal(m[0].Data, testMsgs[0][:40]) {
		t.Fatalf("truncated message: %+v", m)
	}
	s, err := core.ParseSession(bytes.NewReader(sfs[0].Data), "x", sfs[0].Start)
	if err != nil || len(s.Messages) != 1 || !s.Messages[0].Partial || !bytes.Equal(s.Messages[0].Data, m[0].Data) {
		t.Fatalf("parsed truncated message differs: %v\n%s", err, sfs[0].Data)
	}
}

func TestWriteDir(t *testing.T) {
	dir := t.TempDir()
	var buf bytes.Buffer
	o := synthOpts{}
	pk := synthSession(o, smtpSession(testMsgs))
	o2 := synthOpts{cport: 40001, start: o.start}
	pk = append(pk, synthSession(o2, smtpSession(testMsgs[:1]))...)
	if err := writePcap(&buf, o, pk, false); err != nil {
		t.Fatal(err)
	}
	in := filepath.Join(dir, "in.pcap")
	if err := os.WriteFile(in, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	n, err := WriteDir(context.Background(), []string{in}, Options{}, out)
	if err != nil || n != 2 {
		t.Fatalf("WriteDir: %d, %v", n, err)
	}
	ents, _ := os.ReadDir(out)
	if len(ents) != 4 {
		t.Fatalf("%d files, want 2 sessions + 2 .ready", len(ents))
	}
	for _, e := range ents {
		name := e.Name()
		if strings.HasPrefix(name, ".") {
			t.Errorf("temp file left: %s", name)
		}
		if strings.HasSuffix(name, ".ready") {
			if _, err := os.Stat(filepath.Join(out, strings.TrimSuffix(name, ".ready"))); err != nil {
				t.Errorf(".ready without its session: %s", name)
			}
			continue
		}
		s, err := core.ParseSessionFile(filepath.Join(out, name))
		if err != nil {
			t.Errorf("%s: %v", name, err)
		} else if s.Info.UID != name {
			t.Errorf("uid %s for file %s", s.Info.UID, name)
		}
	}
	// Stable uids: the same capture gives the same names.
	out2 := filepath.Join(dir, "out2")
	if _, err := WriteDir(context.Background(), []string{in}, Options{Sync: SyncNone}, out2); err != nil {
		t.Fatal(err)
	}
	ents2, _ := os.ReadDir(out2)
	for i := range ents {
		if ents[i].Name() != ents2[i].Name() {
			t.Errorf("uids not stable: %s vs %s", ents[i].Name(), ents2[i].Name())
		}
	}
}

func TestNotACapture(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "x.pcap")
	os.WriteFile(p, []byte("this is not a capture file at all"), 0o644)
	err := Process(context.Background(), []string{p}, Options{}, func(*SessionFile) error { return nil })
	if err == nil || !strings.Contains(err.Error(), p) {
		t.Errorf("error %v does not name the file", err)
	}
}

// writeTimed writes packets with explicit timestamps (Ethernet pcap).
func writeTimed(t *testing.T, path string, pkts []pkt, ts []time.Time) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := pcapgo.NewWriter(f)
	if err := w.WriteFileHeader(262144, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	for i, p := range pkts {
		ci := gopacket.CaptureInfo{Timestamp: ts[i], CaptureLength: len(p.data), Length: len(p.data)}
		if err := w.WritePacket(ci, p.data); err != nil {
			t.Fatal(err)
		}
	}
}

func stamps(start time.Time, n int) []time.Time {
	out := make([]time.Time, n)
	for i := range out {
		out[i] = start.Add(time.Duration(i) * time.Millisecond)
	}
	return out
}

func collect(t *testing.T, files []string) []*SessionFile {
	t.Helper()
	var out []*SessionFile
	err := Process(context.Background(), files, Options{MessageData: true}, func(sf *SessionFile) error {
		out = append(out, sf)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestRotatedFiles: a session cut in two files that follow each other in
// time is one session; files that do not follow on are read separately.
func TestRotatedFiles(t *testing.T) {
	dir := t.TempDir()
	t0 := time.Unix(1700000000, 0)
	pk := synthSession(synthOpts{}, smtpSession(testMsgs))
	ts := stamps(t0, len(pk))
	half := len(pk) / 2
	a, b := filepath.Join(dir, "a.pcap"), filepath.Join(dir, "b.pcap")
	writeTimed(t, a, pk[:half], ts[:half])
	writeTimed(t, b, pk[half:], ts[half:])
	sfs := collect(t, []string{a, b})
	if len(sfs) != 1 {
		t.Fatalf("rotated files: %d sessions, want 1", len(sfs))
	}
	checkRoundTrip(t, sfs[0], testMsgs)

	// The same session twice, the second file earlier in time: two
	// sessions with distinct uids.
	c := filepath.Join(dir, "c.pcap")
	writeTimed(t, c, pk, stamps(t0.Add(-time.Hour), len(pk)))
	d := filepath.Join(dir, "d.pcap")
	writeTimed(t, d, pk, ts)
	sfs = collect(t, []string{d, c})
	if len(sfs) != 2 || sfs[0].UID == sfs[1].UID {
		t.Fatalf("unrelated files: %d sessions (uids must differ)", len(sfs))
	}
	for _, sf := range sfs {
		checkRoundTrip(t, sf, testMsgs)
	}
}

// TestIdleTimeout: a session that never closes is emitted once it has been
// idle for IdleTimeout of capture time, before later sessions complete.
func TestIdleTimeout(t *testing.T) {
	dir := t.TempDir()
	t0 := time.Unix(1700000000, 0)
	a := synthSession(synthOpts{cport: 41000}, smtpSession(testMsgs[:1]))
	a = a[:len(a)-3] // no FINs: the connection stays open
	b := synthSession(synthOpts{cport: 41001}, smtpSession(testMsgs[1:2]))
	pk := append(append([]pkt(nil), a...), b...)
	ts := append(stamps(t0, len(a)), stamps(t0.Add(10*time.Minute), len(b))...)
	p := filepath.Join(dir, "idle.pcap")
	writeTimed(t, p, pk, ts)
	sfs := collect(t, []string{p})
	if len(sfs) != 2 {
		t.Fatalf("%d sessions, want 2", len(sfs))
	}
	if !strings.HasPrefix(string(sfs[0].Data), "10.0.0.1:41000/tcp\n") {
		t.Errorf("the idle session did not come first:\n%s", sfs[0].Data)
	}
	checkRoundTrip(t, sfs[0], testMsgs[:1])
	checkRoundTrip(t, sfs[1], testMsgs[1:2])
}

// TestGzipAndSnaplen: a gzip-compressed capture reads like the plain one;
// a capture cut at a small snap length yields gaps, never invented bytes.
func TestGzipAndSnaplen(t *testing.T) {
	o := synthOpts{mss: 500}
	pk := synthSession(o, smtpSession(testMsgs[:1]))
	var plain bytes.Buffer
	if err := writePcap(&plain, o, pk, false); err != nil {
		t.Fatal(err)
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(plain.Bytes())
	zw.Close()
	sfs := runBytes(t, gz.Bytes(), Options{})
	if len(sfs) != 1 {
		t.Fatalf("gzip: %d sessions", len(sfs))
	}
	checkRoundTrip(t, sfs[0], testMsgs[:1])

	// Snap length 100: Ethernet+IP+TCP headers are 54 bytes, so each
	// segment keeps its first 46 payload bytes.
	dir := t.TempDir()
	p := filepath.Join(dir, "snap.pcap")
	f, _ := os.Create(p)
	w := pcapgo.NewWriter(f)
	w.WriteFileHeader(100, layers.LinkTypeEthernet)
	ts := time.Unix(1700000000, 0)
	for _, x := range pk {
		d := x.data
		ci := gopacket.CaptureInfo{Timestamp: ts, CaptureLength: len(d), Length: len(d)}
		if len(d) > 100 {
			d = d[:100]
			ci.CaptureLength = 100
		}
		w.WritePacket(ci, d)
		ts = ts.Add(time.Millisecond)
	}
	f.Close()
	var st Stats
	err := Process(context.Background(), []string{p}, Options{MessageData: true, Stats: &st}, func(sf *SessionFile) error {
		s, err := core.ParseSession(bytes.NewReader(sf.Data), sf.UID, sf.Start)
		if err != nil {
			t.Errorf("parse: %v", err)
			return nil
		}
		for i, m := range sf.Messages {
			if !m.Partial || !m.Gap {
				t.Errorf("message %d from a snap-length-cut capture not flagged partial/gap", i)
			}
			if len(m.Data) >= len(testMsgs[0]) {
				t.Errorf("message %d has %d bytes: more than was captured", i, len(m.Data))
			}
			if i < len(s.Messages) && !bytes.Equal(s.Messages[i].Data, m.Data) {
				t.Errorf("round trip differs")
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if st.GapBytes == 0 {
		t.Errorf("no gap bytes counted")
	}
}
