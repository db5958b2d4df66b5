package core

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// TestGeneratedSessions parses the session files made from real captures
// (Postfix + swaks/python clients on loopback, see
// testdata/sessions/generated/README.md) and checks every message against
// what Postfix stored: size, sha256 and envelope.
func TestGeneratedSessions(t *testing.T) {
	exps, _ := filepath.Glob(filepath.Join("..", "testdata", "sessions", "generated", "*.expected.json"))
	if len(exps) < 5 {
		t.Fatalf("only %d generated fixtures found", len(exps))
	}
	a := NewAnalyzer(DefaultOptions())
	for _, ej := range exps {
		name := strings.TrimSuffix(filepath.Base(ej), ".expected.json")
		t.Run(name, func(t *testing.T) {
			var exp struct {
				UID      string `json:"uid"`
				Helo     string `json:"helo"`
				Messages []struct {
					Index    int      `json:"index"`
					Size     int64    `json:"size"`
					SHA256   string   `json:"sha256"`
					MailFrom string   `json:"mail_from"`
					RcptTo   []string `json:"rcpt_to"`
					BDAT     bool     `json:"bdat"`
				} `json:"messages"`
			}
			b, err := os.ReadFile(ej)
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(b, &exp); err != nil {
				t.Fatal(err)
			}
			s, err := ParseSessionFile(filepath.Join(filepath.Dir(ej), name+".session"))
			if err != nil {
				t.Fatal(err)
			}
			if s.Info.UID != exp.UID || s.Info.Helo != exp.Helo || s.Info.SourceIP != "127.0.0.1" || s.Info.DestIP != "127.0.0.1" {
				t.Errorf("session info %+v", s.Info)
			}
			emails := a.SessionEmails(s)
			if len(emails) != len(exp.Messages) {
				t.Fatalf("%d emails, want %d", len(emails), len(exp.Messages))
			}
			for i, m := range exp.Messages {
				e := emails[i]
				if e.Size != m.Size || e.SHA256 != m.SHA256 || e.Partial {
					t.Errorf("message %d: size %d sha256 %s partial %v; want %d %s", i, e.Size, e.SHA256, e.Partial, m.Size, m.SHA256)
				}
				if e.Envelope.MailFrom != m.MailFrom || !reflect.DeepEqual(e.Envelope.RcptTo, m.RcptTo) {
					t.Errorf("message %d: envelope %+v, want %s %v", i, e.Envelope, m.MailFrom, m.RcptTo)
				}
				if hasFlag(e.Flags, FlagBDAT) != m.BDAT {
					t.Errorf("message %d: bdat flag %v", i, e.Flags)
				}
				if e.ServerReply == nil || e.ServerReply.Code != 250 {
					t.Errorf("message %d: server reply %+v", i, e.ServerReply)
				}
			}
		})
	}
}
