package core

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
	"testing/iotest"
	"time"
)

// FuzzParseSession: any bytes either parse or give a SessionError naming
// the file; never a panic; message bytes are never invented (no message is
// larger than the input).
func FuzzParseSession(f *testing.F) {
	seeds, _ := filepath.Glob(filepath.Join("..", "testdata", "sessions", "*.session"))
	for _, s := range seeds {
		if b, err := os.ReadFile(s); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte("10.0.0.1:25/tcp\n1\n> BDAT 5 LAST\n@raw 5\nabcde\n< BDAT 250 ok\n"))
	f.Add([]byte("::1\n25\n1.5\n\n> DATA \n< DATA 354 go\n@raw 3\nab"))
	f.Add([]byte("> MAIL FROM:<a@b>\n> RCPT TO:<c@d>\n> DATA \nx\n> . .\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		s, err := ParseSession(bytes.NewReader(in), "fuzz-session", time.Unix(0, 0))
		// ParseSessionEnvelope: the same session without message bytes
		es, eerr := ParseSessionEnvelope(bytes.NewReader(in), "fuzz-session", time.Unix(0, 0))
		if (err == nil) != (eerr == nil) {
			t.Fatalf("ParseSession error %v, ParseSessionEnvelope error %v", err, eerr)
		}
		if err == nil {
			if len(es.Messages) != len(s.Messages) || len(es.Events) != len(s.Events) {
				t.Fatalf("ParseSessionEnvelope: %d messages %d events, ParseSession %d %d", len(es.Messages), len(es.Events), len(s.Messages), len(s.Events))
			}
			for i, m := range es.Messages {
				if m.Data != nil || !reflect.DeepEqual(m.Envelope, s.Messages[i].Envelope) {
					t.Fatalf("ParseSessionEnvelope message %d: %d bytes, envelope %+v, want none and %+v", i, len(m.Data), m.Envelope, s.Messages[i].Envelope)
				}
			}
			m1, r1 := s.TriedWithoutEmail()
			m2, r2 := es.TriedWithoutEmail()
			if !slices.Equal(m1, m2) || !slices.Equal(r1, r2) {
				t.Fatalf("TriedWithoutEmail %q %q, without message bytes %q %q", m1, r1, m2, r2)
			}
		}
		// Read a byte at a time, with the size hint (a buffer of the
		// input's size): the same session. Lines are handed on from the
		// reader's buffer when it holds them whole.
		bs, berr := ParseSessionSize(iotest.OneByteReader(bytes.NewReader(in)), "fuzz-session", time.Unix(0, 0), int64(len(in)))
		if (err == nil) != (berr == nil) || err != nil && err.Error() != berr.Error() || err == nil && !reflect.DeepEqual(s, bs) {
			t.Fatalf("read a byte at a time: %+v, %v; at once: %+v, %v", bs, berr, s, err)
		}
		if err != nil {
			if _, ok := err.(*SessionError); !ok {
				t.Fatalf("error of type %T: %v", err, err)
			}
			return
		}
		total := 0
		for i, m := range s.Messages {
			if m.Index != i {
				t.Fatalf("message %d has index %d", i, m.Index)
			}
			total += len(m.Data)
		}
		// Data lines grow by one byte each (LF -> CRLF): at most 2x.
		if total > 2*len(in)+2 {
			t.Fatalf("messages (%d bytes) larger than the input allows (%d)", total, len(in))
		}
		// The size hint only changes how message buffers are allocated.
		sized, err := ParseSessionSize(bytes.NewReader(in), "fuzz-session", time.Unix(0, 0), int64(len(in)))
		if err != nil || len(sized.Messages) != len(s.Messages) {
			t.Fatalf("with the size hint: %v, %d messages (%d without)", err, len(sized.Messages), len(s.Messages))
		}
		for i, m := range sized.Messages {
			if !bytes.Equal(m.Data, s.Messages[i].Data) {
				t.Fatalf("message %d differs with the size hint", i)
			}
		}
		NewAnalyzer(DefaultOptions()).SessionEmails(s)
		// The envelope a session tried: addresses, never the empty one,
		// each once; every accepted recipient (but <>) among them.
		mf, rc := s.Attempted()
		seen := map[string]bool{}
		for _, a := range append(append([]string{}, mf...), rc...) {
			if a == "" {
				t.Fatal("Attempted lists an empty address")
			}
		}
		for _, a := range rc {
			if seen[a] {
				t.Fatalf("Attempted lists recipient %q twice", a)
			}
			seen[a] = true
		}
		for _, m := range s.Messages {
			for _, a := range m.Envelope.RcptTo {
				if a != "" && !seen[a] {
					t.Fatalf("accepted recipient %q not in Attempted %q", a, rc)
				}
			}
		}
		// TriedWithoutEmail: a part of Attempted, in no message's envelope.
		tmf, trc := s.TriedWithoutEmail()
		for _, a := range tmf {
			if !slices.Contains(mf, a) {
				t.Fatalf("TriedWithoutEmail sender %q not in Attempted %q", a, mf)
			}
		}
		for _, a := range trc {
			if !seen[a] {
				t.Fatalf("TriedWithoutEmail recipient %q not in Attempted %q", a, rc)
			}
		}
		for _, m := range s.Messages {
			env := m.Envelope
			if env.MailFrom != "" && slices.Contains(tmf, env.MailFrom) || env.IsNullSender() && slices.Contains(tmf, NullSender) {
				t.Fatalf("TriedWithoutEmail lists message %d's sender: %q", m.Index, tmf)
			}
			for _, a := range append(slices.Clone(env.RcptTo), env.RcptRejected...) {
				if slices.Contains(trc, a) {
					t.Fatalf("TriedWithoutEmail lists message %d's recipient %q", m.Index, a)
				}
			}
		}
	})
}

// FuzzAnalyze: any message bytes give a complete record, never a panic
// (AnalyzeBytes records internal errors instead of panicking: that would
// be a bug, so the fuzzer fails on it), and every anomaly code in it is
// a documented one (AnomalyCodes).
func FuzzAnalyze(f *testing.F) {
	f.Add([]byte("Subject: x\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: message/rfc822\r\n\r\nSubject: y\r\n\r\nhi\r\n--b--\r\n"))
	f.Add([]byte("Content-Type: text/plain; charset=koi8-r\r\nContent-Transfer-Encoding: base64\r\n\r\n8NLJ18XU\r\n"))
	f.Add([]byte("Content-Disposition: attachment; filename*0*=utf-8''a%C3; filename*1*=%A9.txt\r\n\r\nx"))
	for _, c := range anomalyCases {
		f.Add([]byte(c.msg))
	}
	crafted, _ := filepath.Glob("testdata/crafted/*.eml") // one per fidelity defect class
	for _, name := range crafted {
		if b, err := os.ReadFile(name); err == nil {
			f.Add(b)
		}
	}
	a := NewAnalyzer(DefaultOptions())
	split := NewAnalyzer(DefaultOptions())
	withEnmimeReader(a) // the reference reader (enmime_ref_test.go); split is the analyzer's
	f.Fuzz(func(t *testing.T, in []byte) {
		orig := append([]byte(nil), in...)
		if e := split.AnalyzeBytes(in); !bytes.Equal(in, orig) {
			t.Fatalf("the split path modified the message bytes")
		} else {
			for _, er := range e.Errors {
				if bytes.Contains([]byte(er), []byte("internal error")) {
					t.Fatalf("panic inside analysis (split path): %s", er)
				}
			}
			checkCodes(t, e)
		}
		e := a.AnalyzeBytes(in)
		for _, er := range e.Errors {
			if bytes.Contains([]byte(er), []byte("internal error")) {
				t.Fatalf("panic inside analysis: %s", er)
			}
		}
		checkCodes(t, e)
		if e.Size != int64(len(in)) || len(e.SHA256) != 64 {
			t.Fatalf("bad record")
		}
		for _, at := range e.Attachments {
			if at.Size > int64(len(in)) {
				t.Fatalf("attachment larger than the email")
			}
		}
	})
}

// FuzzEventShapes: any message, as analysed, gives one ECS document and
// Zeek smtp.log/files.log lines that encode as JSON, whatever its header
// fields hold (address lists, Received fields, X-Originating-IP).
func FuzzEventShapes(f *testing.F) {
	f.Add([]byte("From: \"a, b\" <a@b.example>, c@d\r\nTo: x@y, \"q\\\"z\" <z@w>\r\nReceived: from a ([10.0.0.1]) by b (1.2.3.4)\r\nX-Originating-IP: [2001:db8::1]\r\nSubject: s\r\n\r\nbody\r\n"))
	f.Add([]byte("Received: [IPv6:::1] (::ffff:1.2.3.4) {5.6.7.8}\r\nCc: <<<,,,>>>\r\n\r\n"))
	an := NewAnalyzer(DefaultOptions())
	f.Fuzz(func(t *testing.T, msg []byte) {
		e := an.AnalyzeBytes(msg)
		// as if carried in a session, so the session-only fields are made too
		e.NoSession, e.Session = false, SessionInfo{UID: "C1", SourceIP: "192.0.2.1", SourcePort: 1025, DestIP: "192.0.2.2", DestPort: 25}
		if _, err := json.Marshal(ECS(e, time.Unix(0, 0))); err != nil {
			t.Fatalf("ECS: %v", err)
		}
		s, files := Zeek(e)
		if _, err := json.Marshal(s); err != nil {
			t.Fatalf("zeek smtp: %v", err)
		}
		if len(s.FUIDs) != len(files) {
			t.Fatalf("%d fuids, %d files.log lines", len(s.FUIDs), len(files))
		}
		for _, ip := range append(append([]string{}, s.Path...), s.XOriginatingIP) {
			if ip != "" {
				if _, err := netip.ParseAddr(ip); err != nil {
					t.Fatalf("path/x_originating_ip %q is no address", ip)
				}
			}
		}
	})
}
