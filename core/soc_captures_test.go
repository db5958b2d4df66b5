package core

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// captureExpected is a capture fixture's <name>.expected.json: what
// Postfix received, per message (written when the fixtures were made).
type captureExpected struct {
	UID      string `json:"uid"`
	Messages []struct {
		SHA256   string   `json:"sha256"`
		MailFrom string   `json:"mail_from"`
		RcptTo   []string `json:"rcpt_to"`
	} `json:"messages"`
}

// captureEmails are the emails of the real captures in testdata
// (testdata/pcap/<name>.pcap as `smtpscope pcap` writes them,
// testdata/sessions/generated/<name>.session), analysed as a sensor
// does, each with what its capture's expected.json says.
func captureEmails(t *testing.T) ([]*Email, map[string]captureExpected) {
	t.Helper()
	paths, _ := filepath.Glob(filepath.Join("..", "testdata", "sessions", "generated", "*.session"))
	if len(paths) < 5 {
		t.Fatalf("%d capture session files in testdata/sessions/generated, want the 5 fixtures", len(paths))
	}
	an := NewAnalyzer(DefaultOptions())
	var out []*Email
	exp := map[string]captureExpected{}
	for _, p := range paths {
		s, err := ParseSessionFile(p)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		var x captureExpected
		b, err := os.ReadFile(strings.TrimSuffix(p, ".session") + ".expected.json")
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, &x); err != nil {
			t.Fatal(err)
		}
		emails := an.SessionEmails(s)
		if len(emails) != len(x.Messages) {
			t.Fatalf("%s: %d emails, its capture had %d messages", p, len(emails), len(x.Messages))
		}
		for _, e := range emails {
			e.Sensor = "mx1"
			exp[e.ID] = x
			out = append(out, e)
		}
	}
	return out, exp
}

// TestSOCOutputsOnCaptures: the Zeek smtp.log/files.log lines, the STIX
// 2.1 bundle and the MISP event of the real captures in testdata pass
// the same published-reference checks as the synthetic emails
// (checkSTIXBundle, checkMISPEvent) and carry each capture's envelope,
// connection and attachment hashes. (The ECS shape of these captures is
// checked by TestECSAgainstReference, whose emails include them.)
func TestSOCOutputsOnCaptures(t *testing.T) {
	emails, exp := captureEmails(t)
	var attachments []Attachment

	// Zeek
	for _, e := range emails {
		x := exp[e.ID]
		smtp, files := Zeek(e)
		if smtp.UID != x.UID || smtp.UID != e.Session.UID || smtp.OrigH != e.Session.SourceIP || smtp.OrigH == "" || smtp.RespP == 0 {
			t.Errorf("%s: smtp.log uid %q orig_h %q resp_p %d, want the capture's uid %q and connection", e.ID, smtp.UID, smtp.OrigH, smtp.RespP, x.UID)
		}
		m := x.Messages[e.Index]
		if smtp.MailFrom != m.MailFrom || !slices.Equal(smtp.RcptTo, m.RcptTo) || m.SHA256 != e.SHA256 {
			t.Errorf("%s: smtp.log mailfrom %q rcptto %v (sha256 %s), the capture's %q %v (%s)", e.ID, smtp.MailFrom, smtp.RcptTo, e.SHA256, m.MailFrom, m.RcptTo, m.SHA256)
		}
		fuids := map[string]ZeekFile{}
		for _, f := range files {
			if f.UID != smtp.UID || f.Source != "SMTP" || f.SHA256 == "" || len(f.MD5) != 32 || len(f.SHA1) != 40 {
				t.Errorf("%s: files.log line %+v", e.ID, f)
			}
			fuids[f.FUID] = f
		}
		if len(smtp.FUIDs) != len(files) {
			t.Errorf("%s: smtp.log fuids %v, %d files.log lines", e.ID, smtp.FUIDs, len(files))
		}
		for _, id := range smtp.FUIDs {
			if _, ok := fuids[id]; !ok {
				t.Errorf("%s: fuid %s has no files.log line", e.ID, id)
			}
		}
		for _, a := range e.Attachments {
			attachments = append(attachments, a)
			found := false
			for _, f := range files {
				found = found || (f.SHA256 == a.SHA256 && f.Filename == a.Filename)
			}
			if !found {
				t.Errorf("%s: attachment %q (%s) has no files.log line", e.ID, a.Filename, a.SHA256)
			}
		}
	}
	if len(attachments) == 0 {
		t.Fatal("no attachment in the captures (swaks-attachment has one)")
	}

	// STIX 2.1
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	var buf bytes.Buffer
	sw := NewSTIXWriter(&buf, now)
	for _, e := range emails {
		if err := sw.Add(e); err != nil {
			t.Fatal(err)
		}
	}
	if err := sw.Close(); err != nil {
		t.Fatal(err)
	}
	objs := checkSTIXBundle(t, buf.Bytes())
	observed, patterns := 0, map[string]bool{}
	for _, o := range objs {
		switch o["type"] {
		case "observed-data":
			observed++
		case "indicator":
			patterns[o["pattern"].(string)] = true
		}
	}
	if observed != len(emails) {
		t.Errorf("STIX: %d observed-data for %d emails", observed, len(emails))
	}
	for _, a := range attachments {
		if p := "[file:hashes.'SHA-256' = '" + a.SHA256 + "']"; !patterns[p] {
			t.Errorf("STIX: no indicator %s (patterns %v)", p, patterns)
		}
	}
	fromIndicators := 0
	for p := range patterns {
		if strings.HasPrefix(p, "[email-addr:value = ") {
			fromIndicators++
		}
	}
	if fromIndicators == 0 {
		t.Errorf("STIX: no email-addr indicator for the captures' From addresses (patterns %v)", patterns)
	}

	// MISP
	buf.Reset()
	mw := NewMISPWriter(&buf, now)
	for _, e := range emails {
		if err := mw.Add(e); err != nil {
			t.Fatal(err)
		}
	}
	if err := mw.Close("captures"); err != nil {
		t.Fatal(err)
	}
	ev := checkMISPEvent(t, buf.Bytes())
	emailObjs, fileSHA := 0, map[string]bool{}
	for _, o := range ev["Object"].([]any) {
		obj := o.(map[string]any)
		switch obj["name"] {
		case "email":
			emailObjs++
		case "file":
			for _, a := range obj["Attribute"].([]any) {
				if attr := a.(map[string]any); attr["type"] == "sha256" {
					fileSHA[attr["value"].(string)] = true
				}
			}
		}
	}
	if emailObjs != len(emails) {
		t.Errorf("MISP: %d email objects for %d emails", emailObjs, len(emails))
	}
	for _, a := range attachments {
		if !fileSHA[a.SHA256] {
			t.Errorf("MISP: no file object with sha256 %s", a.SHA256)
		}
	}
	srcs := map[string]bool{}
	for _, a := range ev["Attribute"].([]any) {
		if attr := a.(map[string]any); attr["type"] == "ip-src" {
			srcs[attr["value"].(string)] = true
		}
	}
	for _, e := range emails {
		if !srcs[e.Session.SourceIP] {
			t.Errorf("MISP: no ip-src %s (the SMTP client of %s)", e.Session.SourceIP, e.ID)
		}
	}
}
