package capture_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/smtpscope/smtpscope/collector/capture"
	"github.com/smtpscope/smtpscope/core"
	"github.com/smtpscope/smtpscope/internal/mtatest"
)

var update = flag.Bool("update", false, "TestGenerate: write the captures to testdata/pcap and their session files to testdata/sessions/generated")

// scenario is one client run against Postfix, captured on its own.
type scenario struct {
	name       string
	deliveries int // Maildir files Postfix writes (one per recipient)
	run        func(t *testing.T, pf *mtatest.Postfix, work string) [][]byte
}

// TestGenerate is the end-to-end proof: a real Postfix on 127.0.0.1
// (virtual Maildir delivery), tcpdump on lo, swaks and the shared Python
// clients; what Postfix stored must be, byte for byte (sha256), what we
// extract from the capture, both directly and through the session file
// and core.ParseSession (the path `smtpscope parse --pcap` takes). With
// -update the captures and session files become fixtures in testdata/.
func TestGenerate(t *testing.T) {
	mtatest.RequireRoot(t)
	mtatest.Require(t, mtatest.PostfixCmd, mtatest.PostfixMaster, "swaks", "tcpdump", mtatest.Python3)
	tools := mtatest.SharedTools(t)
	_ = tools
	pf := mtatest.StartPostfix(t, mtatest.PostfixConfig{Delivery: mtatest.Maildir})
	work := t.TempDir()
	blob := make([]byte, 1500)
	if _, err := rand.Read(blob); err != nil {
		t.Fatal(err)
	}
	blobFile := filepath.Join(work, "blob.bin")
	if err := os.WriteFile(blobFile, blob, 0o644); err != nil {
		t.Fatal(err)
	}
	scenarios := []scenario{
		{"swaks-plain", 1, func(t *testing.T, pf *mtatest.Postfix, work string) [][]byte {
			mtatest.Swaks(t, pf.Addr, "--from", "alice@example.test", "--to", "bob@example.test",
				"--header", "Subject: plain", "--body", "Visit http://evil.example.test/login\n.a line that starts with a dot\n..two dots\n")
			return nil
		}},
		{"swaks-attachment", 1, func(t *testing.T, pf *mtatest.Postfix, work string) [][]byte {
			mtatest.Swaks(t, pf.Addr, "--from", "alice@example.test", "--to", "bob@example.test",
				"--header", "Subject: attachment", "--body", "see the attachment",
				"--attach-type", "application/octet-stream", "--attach-name", "report.bin", "--attach", "@"+blobFile)
			return nil
		}},
		{"swaks-pipelining", 2, func(t *testing.T, pf *mtatest.Postfix, work string) [][]byte {
			out := mtatest.Swaks(t, pf.Addr, "--from", "alice@example.test", "--to", "a@example.test,b@example.org",
				"--header", "Subject: pipelined", "--body", "two recipients, pipelined", "--pipeline")
			if !strings.Contains(out, "PIPELINING") {
				t.Errorf("server did not offer PIPELINING:\n%s", out)
			}
			return nil
		}},
		{"multi-message", 2, func(t *testing.T, pf *mtatest.Postfix, work string) [][]byte {
			mtatest.Python(t, "multi_msg_session.py", strconv.Itoa(pf.Port))
			return nil
		}},
		{"bdat", 2, func(t *testing.T, pf *mtatest.Postfix, work string) [][]byte {
			dir := filepath.Join(work, "bdat-out")
			mtatest.Python(t, "bdat_client.py", strconv.Itoa(pf.Port), dir)
			var sent [][]byte
			for _, n := range []string{"bdat-msg1.eml", "bdat-msg2.eml"} {
				b, err := os.ReadFile(filepath.Join(dir, n))
				if err != nil {
					t.Fatal(err)
				}
				sent = append(sent, b)
			}
			return sent // the client's exact bytes, a second ground truth
		}},
	}
	delivered := 0
	seen := map[string]bool{}
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			pcap := filepath.Join(work, sc.name+".pcap")
			c := mtatest.StartCapture(t, pcap, pf.Port)
			sent := sc.run(t, pf, work)
			pf.WaitDelivered(t, delivered+sc.deliveries, 60*time.Second)
			dropped, err := c.Stop()
			if err != nil || dropped != 0 {
				t.Fatalf("tcpdump: %d packets dropped by kernel, %v", dropped, err)
			}
			// Maildir names do not sort in delivery order: take the
			// files not seen before.
			var newFiles [][]byte
			for _, f := range pf.MaildirFiles() {
				if seen[f] {
					continue
				}
				seen[f] = true
				b, err := os.ReadFile(f)
				if err != nil {
					t.Fatal(err)
				}
				newFiles = append(newFiles, b)
			}
			delivered += len(newFiles)
			if len(newFiles) != sc.deliveries {
				t.Fatalf("%d new Maildir files, want %d", len(newFiles), sc.deliveries)
			}

			stored := map[string]bool{}
			for _, b := range newFiles {
				stored[sha(mtatest.ReceivedBytes(b))] = true
			}
			var sfs []*capture.SessionFile
			err = capture.Process(context.Background(), []string{pcap}, capture.Options{Ports: []int{pf.Port}, MessageData: true}, func(sf *capture.SessionFile) error {
				sfs = append(sfs, sf)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			// Keep the sessions with our server in which the client spoke:
			// the tail of StartPostfix's readiness probe (connect, close;
			// Postfix greets late) can fall inside the capture, and
			// tcpdump's "tcp port N" matches any loopback connection
			// using N as its ephemeral port.
			var ours []*capture.SessionFile
			for _, sf := range sfs {
				if bytes.Contains(sf.Data, []byte("\n@resp 127.0.0.1:"+strconv.Itoa(pf.Port)+"/tcp\n")) &&
					bytes.Contains(sf.Data, []byte("\n> ")) {
					ours = append(ours, sf)
				} else {
					t.Logf("ignoring a session that is not with our Postfix:\n%s", sf.Data)
				}
			}
			if len(ours) != 1 {
				for _, sf := range ours {
					t.Logf("session:\n%s", sf.Data)
				}
				t.Fatalf("%d sessions with our Postfix in the capture, want 1", len(ours))
			}
			sf := ours[0]
			s, err := core.ParseSession(bytes.NewReader(sf.Data), sf.UID, sf.Start)
			if err != nil {
				t.Fatalf("core.ParseSession: %v\n%s", err, sf.Data)
			}
			direct, parsed := map[string]bool{}, map[string]bool{}
			for _, m := range sf.Messages {
				direct[sha(m.Data)] = true
			}
			for _, m := range s.Messages {
				parsed[sha(m.Data)] = true
				if m.Partial {
					t.Errorf("message %d partial", m.Index)
				}
			}
			if !sameSet(stored, direct) || !sameSet(stored, parsed) {
				t.Errorf("sha256 of what Postfix stored %v\n  extracted directly %v\n  through the session file %v\n%s", keys(stored), keys(direct), keys(parsed), sf.Data)
			}
			for _, b := range sent {
				if !parsed[sha(b)] {
					t.Errorf("a message the client sent (%d bytes, sha256 %s) was not extracted", len(b), sha(b))
				}
			}
			t.Logf("%s: %d message(s), %d Maildir deliveries, sha256 equal: %v", sc.name, len(s.Messages), len(newFiles), keys(parsed))
			if *update {
				writeFixture(t, sc.name, pcap, sf, s)
			}
		})
	}
}

func sha(b []byte) string { return fmt.Sprintf("%x", sha256.Sum256(b)) }

func sameSet(a, b map[string]bool) bool {
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		if !b[k] {
			return false
		}
	}
	return true
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k[:16])
	}
	sort.Strings(out)
	return out
}

// fixtureExpect is what testdata/sessions/generated/<name>.expected.json
// holds: the messages Postfix stored for this session file.
type fixtureExpect struct {
	Session  string           `json:"session"`
	Pcap     string           `json:"pcap"`
	UID      string           `json:"uid"`
	Helo     string           `json:"helo"`
	Messages []fixtureMessage `json:"messages"`
}

type fixtureMessage struct {
	Index    int      `json:"index"`
	Size     int      `json:"size"`
	SHA256   string   `json:"sha256"`
	MailFrom string   `json:"mail_from"`
	RcptTo   []string `json:"rcpt_to"`
	BDAT     bool     `json:"bdat"`
}

func writeFixture(t *testing.T, name, pcap string, sf *capture.SessionFile, s *core.Session) {
	root := filepath.Join(mtatest.RepoRoot(t), "testdata")
	pdir, sdir := filepath.Join(root, "pcap"), filepath.Join(root, "sessions", "generated")
	for _, d := range []string{pdir, sdir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(pcap)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(pdir, name+".pcap"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(sdir, name+".session"), sf.Data, 0o644); err != nil {
		t.Fatal(err)
	}
	exp := fixtureExpect{Session: name + ".session", Pcap: "testdata/pcap/" + name + ".pcap", UID: sf.UID, Helo: s.Info.Helo}
	for i, m := range s.Messages {
		exp.Messages = append(exp.Messages, fixtureMessage{Index: i, Size: len(m.Data), SHA256: sha(m.Data),
			MailFrom: m.Envelope.MailFrom, RcptTo: m.Envelope.RcptTo, BDAT: sf.Messages[i].BDAT})
	}
	j, _ := json.MarshalIndent(exp, "", "  ")
	if err := os.WriteFile(filepath.Join(sdir, name+".expected.json"), append(j, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote testdata/pcap/%s.pcap, testdata/sessions/generated/%s.{session,expected.json}", name, name)
}

// TestFixtures checks the committed real-capture fixtures: each pcap in
// testdata/pcap must still give exactly its session file, and the
// messages recorded when Postfix's Maildir was the ground truth.
func TestFixtures(t *testing.T) {
	root := filepath.Join(mtatest.RepoRoot(t), "testdata")
	pcaps, _ := filepath.Glob(filepath.Join(root, "pcap", "*.pcap"))
	if len(pcaps) == 0 {
		t.Skip("no fixtures in testdata/pcap (go test -run TestGenerate -update writes them)")
	}
	for _, p := range pcaps {
		name := strings.TrimSuffix(filepath.Base(p), ".pcap")
		t.Run(name, func(t *testing.T) {
			want, err := os.ReadFile(filepath.Join(root, "sessions", "generated", name+".session"))
			if err != nil {
				t.Fatal(err)
			}
			var exp fixtureExpect
			b, err := os.ReadFile(filepath.Join(root, "sessions", "generated", name+".expected.json"))
			if err != nil || json.Unmarshal(b, &exp) != nil {
				t.Fatalf("%s.expected.json: %v", name, err)
			}
			port := 0
			var sfs []*capture.SessionFile
			// The fixtures used a free port: take it from the session file.
			for _, l := range strings.Split(string(want), "\n") {
				if strings.HasPrefix(l, "@resp ") {
					hp := strings.TrimSuffix(strings.TrimPrefix(l, "@resp "), "/tcp")
					port, _ = strconv.Atoi(hp[strings.LastIndexByte(hp, ':')+1:])
				}
			}
			err = capture.Process(context.Background(), []string{p}, capture.Options{Ports: []int{port}}, func(sf *capture.SessionFile) error {
				sfs = append(sfs, sf)
				return nil
			})
			if err != nil || len(sfs) != 1 {
				t.Fatalf("%d sessions, %v", len(sfs), err)
			}
			if !bytes.Equal(sfs[0].Data, want) {
				t.Errorf("session file for %s changed:\n%s\nwant:\n%s", name, sfs[0].Data, want)
			}
			s, err := core.ParseSession(bytes.NewReader(sfs[0].Data), sfs[0].UID, sfs[0].Start)
			if err != nil {
				t.Fatal(err)
			}
			if len(s.Messages) != len(exp.Messages) {
				t.Fatalf("%d messages, want %d", len(s.Messages), len(exp.Messages))
			}
			for i, m := range exp.Messages {
				if got := sha(s.Messages[i].Data); got != m.SHA256 {
					t.Errorf("message %d sha256 %s, want %s", i, got, m.SHA256)
				}
			}
		})
	}
}
