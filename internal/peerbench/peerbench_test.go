package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

func TestMedianPercentile(t *testing.T) {
	for _, c := range []struct {
		xs   []float64
		p    float64
		want float64
	}{
		{[]float64{3, 1, 2}, 50, 2},
		{[]float64{4, 1, 3, 2}, 50, 2.5},
		{[]float64{5}, 50, 5},
		{[]float64{5}, 99, 5},
		{[]float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}, 0, 1},
		{[]float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}, 100, 11},
		{[]float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}, 90, 10},
		{[]float64{0, 100}, 99, 99},
	} {
		in := append([]float64(nil), c.xs...)
		if got := percentile(c.xs, c.p); math.Abs(got-c.want) > 1e-9 {
			t.Errorf("percentile(%v, %v) = %v, want %v", c.xs, c.p, got, c.want)
		}
		for i := range in {
			if in[i] != c.xs[i] {
				t.Fatalf("percentile sorted its input: %v", c.xs)
			}
		}
	}
	if !math.IsNaN(median(nil)) {
		t.Error("median of nothing is not NaN")
	}
	if got := median([]float64{9, 1, 5, 7, 3}); got != 5 {
		t.Errorf("median = %v, want 5", got)
	}
}

func TestPairRatios(t *testing.T) {
	got := pairRatios([]float64{10, 20, 30, math.NaN()}, []float64{5, 0, 10, 1, 7})
	want := []float64{2, 3} // pair 2 has b = 0, pair 4 a NaN, pair 5 no a
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("pairRatios = %v, want %v", got, want)
	}
}

func TestRates(t *testing.T) {
	runs := []Run{{Wall: 2e9, CPU: 4e9}, {Wall: 4e9, CPU: 1e9}}
	if r := rates(100, runs); r[0] != 50 || r[1] != 25 {
		t.Errorf("rates = %v", r)
	}
	if r := cpuRates(100, runs); r[0] != 25 || r[1] != 100 {
		t.Errorf("cpuRates = %v", r)
	}
	if m := maxRSS([]Run{{MaxRSS: 3}, {MaxRSS: 9}, {MaxRSS: 4}}); m != 9 {
		t.Errorf("maxRSS = %d", m)
	}
}

func TestTargets(t *testing.T) {
	for _, c := range []struct {
		t    Target
		v    float64
		want string
	}{
		{AtLeast("≥ 3×", 3), 3, "PASS"},
		{AtLeast("≥ 3×", 3), 2.99, "FAIL"},
		{AtMost("≤ 1.3×", 1.3), 1.3, "PASS"},
		{AtMost("≤ 1.3×", 1.3), 1.31, "FAIL"},
		{Below("< 50 ms", 0.05), 0.05, "FAIL"},
		{Below("< 50 ms", 0.05), 0.049, "PASS"},
		{AtLeast("≥ 3×", 3), math.NaN(), "FAIL (no value)"},
		{AtMost("≤ 1.3×", 1.3), math.Inf(1), "FAIL (no value)"},
		{ReportOnly, 123, "—"},
		{ReportOnly, math.NaN(), "—"},
	} {
		if got := (Row{Target: c.t, Value: c.v}).Result(); got != c.want {
			t.Errorf("%s with %v: %s, want %s", c.t.Text, c.v, got, c.want)
		}
	}
}

func TestTable(t *testing.T) {
	rows := []Row{
		{Measure: "`parse`", Ours: "40 MB/s", Peer: "py 2 MB/s", Ratio: "20×", Target: AtLeast("≥ 20×", 20), Value: 20},
		{Measure: "a|b", Ours: "x\ny", Peer: "-", Ratio: "1×", Target: AtMost("≤ 1.3×", 1.3), Value: 2},
		{Measure: "reindex", Ours: "1", Peer: "2", Ratio: "0.5×", Target: ReportOnly, Value: 0.5},
	}
	want := "| measure | smtpscope | peer | ratio | target | result |\n" +
		"|---|---|---|---|---|---|\n" +
		"| `parse` | 40 MB/s | py 2 MB/s | 20× | ≥ 20× | PASS |\n" +
		`| a\|b | x y | - | 1× | ≤ 1.3× | FAIL |` + "\n" +
		"| reindex | 1 | 2 | 0.5× | (report only) | — |\n"
	if got := Table(rows); got != want {
		t.Errorf("Table:\n%s\nwant:\n%s", got, want)
	}
	if n := Failed(rows); n != 1 {
		t.Errorf("Failed = %d, want 1", n)
	}
	if n := countTargets(rows); n != 2 {
		t.Errorf("countTargets = %d, want 2", n)
	}
}

func TestFormats(t *testing.T) {
	for _, c := range []struct {
		got, want string
	}{
		{num(0.123), "0.12"}, {num(15.94), "15.9"}, {num(271.4), "271"}, {num(2843), "2,843"},
		{num(220000), "220,000"}, {num(math.NaN()), "n/a"}, {thousands(-1234567), "-1,234,567"},
		{thousands(999), "999"}, {ms(0.188), "188 ms"}, {mib(3 << 20), "3.00 MiB"},
		{faster(6.7), "6.70× faster"}, {faster(0.2), "5.00× slower"}, {faster(0), "n/a"},
		{spread([]float64{3, 1, 2}, num), "2.00 (1.00–3.00)"}, {spread([]float64{7}, num), "7.00"},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
}

func TestParseIngest(t *testing.T) {
	out := "some noise\nmailpit emails=2707 wall_s=9.99 cpu_s=4.25 peak_rss_kb=123456 rejected=136\n"
	in, err := parseIngest(out)
	if err != nil {
		t.Fatal(err)
	}
	want := Ingest{Emails: 2707, Wall: 9.99, CPU: 4.25, PeakRSS: 123456 * 1024, Rejected: 136}
	if in != want {
		t.Errorf("parseIngest = %+v, want %+v", in, want)
	}
	// An added field is ignored; the last summary line counts.
	in, err = parseIngest("mailpit emails=1 wall_s=1 cpu_s=1\nmailpit emails=5 wall_s=2.5 cpu_s=0.5 extra=x\n")
	if err != nil || in.Emails != 5 || in.Wall != 2.5 || in.PeakRSS != 0 {
		t.Errorf("parseIngest with an extra field = %+v, %v", in, err)
	}
	for _, bad := range []string{
		"",
		"emails=5 wall_s=1 cpu_s=1",            // not the summary line
		"mailpit emails=5 cpu_s=1",             // no wall_s
		"mailpit emails=x wall_s=1 cpu_s=1",    // not a number
		"mailpit emails=5 wall_s=0.00 cpu_s=1", // no time
		"mailpit emails=5 wall_s=1 cpu_s=1 peak_rss_kb",  // not key=value
		"mailpit emails=5 wall_s=1 cpu_s=1 peak_rss_kb=", // empty value
	} {
		if in, err := parseIngest(bad); err == nil {
			t.Errorf("parseIngest(%q) = %+v, want an error", bad, in)
		}
	}
}

func TestParseSent(t *testing.T) {
	out := "rejected /tmp/x/0000003.eml {'rcpt@example.org': (550, b'no')}\n" +
		"rejected /tmp/x/0000009.eml (552, b'too big')\nsent=98 rejected=2\n"
	sent, rej, files, err := parseSent(out)
	if err != nil || sent != 98 || rej != 2 || len(files) != 2 || files[1] != "/tmp/x/0000009.eml" {
		t.Errorf("parseSent = %d %d %v %v", sent, rej, files, err)
	}
	if _, _, _, err := parseSent("Traceback (most recent call last):\n"); err == nil {
		t.Error("parseSent without a summary line: no error")
	}
}

const twoMails = "10.1.2.3:1025/tcp\n1700000000\n< > 220 mx ESMTP\n> EHLO c\n< EHLO 250 mx\n" +
	"> MAIL FROM:<a@example.test>\n< MAIL 250 Ok\n> RCPT TO:<b@example.org>\n< RCPT 250 Ok\n" +
	"> RCPT TO:<c@example.org>\n< RCPT 250 Ok\n> DATA \n< DATA 354 go\n" +
	"Subject: one\n\n.leading dot\nbody\n> . .\n< . 250 queued\n" +
	"> MAIL FROM:<x@example.test>\n< MAIL 250 Ok\n> RSET\n< RSET 250 Ok\n" +
	"> MAIL FROM:<d@example.test>\n< MAIL 250 Ok\n> RCPT TO:<e@example.org>\n< RCPT 250 Ok\n> DATA \n< DATA 354 go\n" +
	"Subject: two\n\ncut short"

func TestSplitSession(t *testing.T) {
	s := splitSession("C1", []byte(twoMails))
	if s.Client != "10.1.2.3:1025" || len(s.Mails) != 2 {
		t.Fatalf("splitSession = %+v", s)
	}
	m := s.Mails[0]
	if m.From != "<a@example.test>" || strings.Join(m.Rcpts, ",") != "<b@example.org>,<c@example.org>" ||
		string(m.Data) != "Subject: one\r\n\r\n.leading dot\r\nbody\r\n" {
		t.Errorf("first mail = %+v %q", m, m.Data)
	}
	// The RSET forgets x@; a session that ends inside DATA yields what it has.
	m = s.Mails[1]
	if m.From != "<d@example.test>" || string(m.Data) != "Subject: two\r\n\r\ncut short\r\n" {
		t.Errorf("second mail = %+v %q", m, m.Data)
	}
	if s := splitSession("x", []byte("not a session\n")); s.Client != "" || len(s.Mails) != 0 {
		t.Errorf("splitSession of a non-session = %+v", s)
	}
}

func TestDotStuff(t *testing.T) {
	for in, want := range map[string]string{
		"a\r\n.b\r\n..c\r\n": "a\r\n..b\r\n...c\r\n.\r\n",
		".x\r\n":             "..x\r\n.\r\n",
		"no end":             "no end\r\n.\r\n",
		"mid.dot\r\n":        "mid.dot\r\n.\r\n",
	} {
		if got := string(dotStuff([]byte(in))); got != want {
			t.Errorf("dotStuff(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestSynthPcap reads the synthesised capture back and checks each
// direction's reassembled bytes against the SMTP dialogue it carries.
func TestSynthPcap(t *testing.T) {
	big := strings.Repeat("0123456789abcdef", 400) // spans several segments
	ss := []Session{
		splitSession("C1", []byte(twoMails)),
		{Name: "C2", Mails: []Mail{{From: "<f@x.test>", Rcpts: []string{"<g@y.test>"}, Data: []byte("Subject: big\r\n\r\n" + big + "\r\n.\r\n")}}},
	}
	var buf bytes.Buffer
	n, err := synthPcap(&buf, ss)
	if err != nil {
		t.Fatal(err)
	}
	if n != int64(buf.Len()) {
		t.Errorf("synthPcap says %d bytes, wrote %d", n, buf.Len())
	}
	r, err := pcapgo.NewReader(&buf)
	if err != nil {
		t.Fatal(err)
	}
	streams := map[string]*bytes.Buffer{}
	syns, fins := 0, 0
	for {
		data, _, err := r.ReadPacketData()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		p := gopacket.NewPacket(data, layers.LayerTypeEthernet, gopacket.Default)
		tcp, _ := p.Layer(layers.LayerTypeTCP).(*layers.TCP)
		ip, _ := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
		if tcp == nil || ip == nil {
			t.Fatalf("packet without IPv4/TCP: %v", p)
		}
		if len(tcp.Payload) > mss {
			t.Errorf("segment of %d bytes", len(tcp.Payload))
		}
		if tcp.SYN && !tcp.ACK {
			syns++
		}
		if tcp.FIN {
			fins++
		}
		k := ip.SrcIP.String() + ":" + tcp.SrcPort.String() + ">" + ip.DstIP.String()
		if streams[k] == nil {
			streams[k] = &bytes.Buffer{}
		}
		streams[k].Write(tcp.Payload)
	}
	if syns != 2 || fins != 4 {
		t.Errorf("%d SYNs and %d FINs, want 2 and 4", syns, fins)
	}
	for i, s := range ss {
		var client, server bytes.Buffer
		for _, tn := range smtpTurns(s, i) {
			if tn.client {
				client.Write(tn.data)
			} else {
				server.Write(tn.data)
			}
		}
		ip, port := clientAddr(s, i)
		ck := ip.String() + ":" + layers.TCPPort(port).String() + ">192.0.2.25"
		sk := "192.0.2.25:" + layers.TCPPort(25).String() + ">" + ip.String()
		if got := streams[ck]; got == nil || !bytes.Equal(got.Bytes(), client.Bytes()) {
			t.Errorf("session %d: client stream differs from its dialogue", i)
		}
		if got := streams[sk]; got == nil || !bytes.Equal(got.Bytes(), server.Bytes()) {
			t.Errorf("session %d: server stream differs from its dialogue", i)
		}
		for _, m := range s.Mails {
			if !bytes.Contains(client.Bytes(), dotStuff(m.Data)) {
				t.Errorf("session %d: a message is not on the wire dot-stuffed", i)
			}
		}
	}
	if ip, port := clientAddr(ss[0], 0); ip.String() != "10.1.2.3" || port != 1025 {
		t.Errorf("clientAddr from the header = %v:%d", ip, port)
	}
}

func TestSpoolOrder(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"B.ready", "A", "B", "A.ready", "A2", "A2.ready"} {
		if err := os.WriteFile(filepath.Join(dir, n), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := spoolOrder(dir)
	if err != nil {
		t.Fatal(err)
	}
	if want := "A A.ready A2 A2.ready B B.ready"; strings.Join(got, " ") != want {
		t.Errorf("spoolOrder = %v, want %s", got, want)
	}
}

// TestSameEmailsAsPython: the .eml files Mailpit gets are the emails the
// Python pipeline reads from the same session files (sha256 for sha256).
func TestSameEmailsAsPython(t *testing.T) {
	if testing.Short() {
		t.Skip("runs mkcorpus.py and pybaseline.py")
	}
	peers := filepath.Join("..", "..", "..", "shared", "tools", "peers")
	eml := filepath.Join("..", "..", "..", "shared", "corpus", "eml")
	if _, err := os.Stat(filepath.Join(peers, "pybaseline.py")); err != nil {
		t.Skipf("../shared/tools/peers is not beside the repository (%v)", err)
	}
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("python3 not installed")
	}
	dir := t.TempDir()
	if out, err := exec.Command("python3", filepath.Join(peers, "mkcorpus.py"), eml, dir, "1").CombinedOutput(); err != nil {
		t.Fatalf("mkcorpus.py: %v: %s", err, out)
	}
	ss, size, err := readSessions(dir)
	if err != nil {
		t.Fatal(err)
	}
	if size < 1<<20 || emailCount(ss) < 20 {
		t.Fatalf("corpus of %d bytes, %d emails", size, emailCount(ss))
	}
	out, err := exec.Command("python3", filepath.Join(peers, "pybaseline.py"), dir).Output()
	if err != nil {
		t.Fatalf("pybaseline.py: %v", err)
	}
	var want []string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		var rec struct {
			SHA256 string `json:"sha256"`
		}
		if err := json.Unmarshal([]byte(l), &rec); err != nil {
			t.Fatal(err)
		}
		want = append(want, rec.SHA256)
	}
	emlDir := filepath.Join(dir, "eml")
	n, err := writeEML(ss, emlDir)
	if err != nil {
		t.Fatal(err)
	}
	if n != len(want) {
		t.Fatalf("%d .eml files, the Python pipeline read %d emails", n, len(want))
	}
	ents, _ := os.ReadDir(emlDir)
	for i, e := range ents {
		b, err := os.ReadFile(filepath.Join(emlDir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(b)
		if got := hex.EncodeToString(sum[:]); got != want[i] {
			t.Fatalf("%s: sha256 %s, the Python pipeline's email %d has %s", e.Name(), got, i, want[i])
		}
	}
}
