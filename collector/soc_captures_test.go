package collector_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/smtpscope/smtpscope/collector"
	"github.com/smtpscope/smtpscope/core"
	"github.com/smtpscope/smtpscope/internal/thehivesink"
)

// TestDeliveryKindsOnCaptures: the real captures in testdata (the
// session files `smtpscope pcap` writes for testdata/pcap/*.pcap) go
// through a collector with a TheHive group and a webhook group. Every
// email becomes exactly one TheHive alert the stand-in accepts (sourceRef
// its global id, the capture's envelope as mail observables, the SMTP
// client as ip, the attachment's sha256 as hash and its bytes as a file
// observable) and exactly one signed webhook request the receiver
// verifies, whose raw message has the sha256 Postfix stored for that
// capture (expected.json).
func TestDeliveryKindsOnCaptures(t *testing.T) {
	tmp := t.TempDir()
	spool, data := filepath.Join(tmp, "spool"), filepath.Join(tmp, "data")
	paths, _ := filepath.Glob(filepath.Join("..", "testdata", "sessions", "generated", "*.session"))
	if len(paths) < 5 {
		t.Fatalf("%d capture session files in testdata/sessions/generated, want the 5 fixtures", len(paths))
	}
	type expMsg struct {
		SHA256   string   `json:"sha256"`
		MailFrom string   `json:"mail_from"`
		RcptTo   []string `json:"rcpt_to"`
	}
	want := map[string]expMsg{} // raw sha256 -> the message Postfix received
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		spoolWrite(t, spool, strings.TrimSuffix(filepath.Base(p), ".session"), b, time.Time{})
		var x struct{ Messages []expMsg }
		if b, err = os.ReadFile(strings.TrimSuffix(p, ".session") + ".expected.json"); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, &x); err != nil {
			t.Fatal(err)
		}
		for _, m := range x.Messages {
			want[m.SHA256] = m
		}
	}

	hive := thehivesink.New("cap-key")
	hiveSrv := httptestServer(t, hive)
	secretFile := filepath.Join(tmp, "hook.secret")
	if err := os.WriteFile(secretFile, []byte("cap-SECRET\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	rv := &webhookReceiver{secret: []byte("cap-SECRET")}
	hookSrv := httptestServer(t, rv)
	cfg := theHiveConfig(spool, data, hiveSrv, writeKey(t, tmp, "cap-key"))
	cfg.Groups[0].Organisation = ""
	cfg.Groups = append(cfg.Groups, collector.GroupConfig{Name: "hook", Kind: collector.KindWebhook, URL: hookSrv,
		SecretFile: secretFile, RawMax: 1 << 20, FullDelivery: true})
	col, err := collector.New(cfg, collector.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := col.RunOnce(context.Background(), 60*time.Second); err != nil {
		t.Fatalf("RunOnce: %v", err)
	}

	// the stored emails are the captures' messages
	s, err := collector.OpenStore(data, collector.StoreOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	records := map[string]*core.Email{} // global id -> record
	if err := s.ListEmails(func(m *collector.EmailMeta) bool {
		rec, err := s.Record(m.ID)
		if err != nil {
			t.Fatal(err)
		}
		records[core.GlobalID("mx1", m.ID)] = rec
		return true
	}); err != nil {
		t.Fatal(err)
	}
	if len(records) != len(want) {
		t.Fatalf("%d emails stored from the captures, their expected.json list %d messages", len(records), len(want))
	}

	// TheHive: one accepted alert per email
	if r := hive.Refused(); len(r) != 0 {
		t.Errorf("the TheHive stand-in refused: %v", r)
	}
	alerts := hive.Alerts()
	if len(alerts) != len(records) {
		t.Errorf("%d alerts for %d emails", len(alerts), len(records))
	}
	attachments := 0
	for _, a := range alerts {
		rec := records[a.SourceRef]
		if rec == nil {
			t.Errorf("alert with sourceRef %q: no such email", a.SourceRef)
			continue
		}
		m := want[rec.SHA256]
		has := func(dt, data string) bool {
			return slices.ContainsFunc(a.Observables, func(o thehivesink.Observable) bool { return o.DataType == dt && o.Data == data })
		}
		for _, addr := range append([]string{m.MailFrom}, m.RcptTo...) {
			if !has("mail", addr) {
				t.Errorf("%s: no mail observable %q (the capture's envelope)", a.SourceRef, addr)
			}
		}
		if !has("ip", rec.Session.SourceIP) || !slices.Contains(a.Tags, "sensor:mx1") {
			t.Errorf("%s: no ip observable %s or sensor tag (tags %v)", a.SourceRef, rec.Session.SourceIP, a.Tags)
		}
		for _, att := range rec.Attachments {
			attachments++
			if !has("hash", att.SHA256) {
				t.Errorf("%s: no hash observable for attachment %s", a.SourceRef, att.SHA256)
			}
			if !slices.ContainsFunc(a.Observables, func(o thehivesink.Observable) bool {
				return o.DataType == "file" && o.FileSHA256 == att.SHA256 && o.FileSize == att.Size
			}) {
				t.Errorf("%s: no file observable with the attachment's bytes (%s, %d bytes)", a.SourceRef, att.SHA256, att.Size)
			}
		}
	}
	if attachments == 0 {
		t.Error("no attachment in the captures' alerts (swaks-attachment has one)")
	}

	// webhook: one verified request per email, the exact message
	rv.mu.Lock()
	got, bad := rv.got, rv.bad
	rv.mu.Unlock()
	if len(bad) != 0 {
		t.Errorf("the receiver refused: %v", bad)
	}
	if len(got) != len(records) {
		t.Errorf("%d webhook requests for %d emails", len(got), len(records))
	}
	seen := map[string]bool{}
	for _, h := range got {
		var body collector.WebhookBody
		if err := json.Unmarshal(h.body, &body); err != nil {
			t.Fatalf("webhook body: %v", err)
		}
		raw, err := base64.StdEncoding.DecodeString(body.RawBase64)
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(raw)
		m, ok := want[hex.EncodeToString(sum[:])]
		if !ok || body.SHA256 != m.SHA256 || records[body.GlobalID] == nil || h.header.Get("X-Smtpscope-Id") != body.GlobalID {
			t.Errorf("webhook %s: raw sha256 %x is not a captured message's (body sha256 %s, id header %q)",
				body.GlobalID, sum, body.SHA256, h.header.Get("X-Smtpscope-Id"))
		}
		var rec core.Email
		if err := json.Unmarshal(body.Record, &rec); err != nil || rec.Envelope.MailFrom != m.MailFrom || !slices.Equal(rec.Envelope.RcptTo, m.RcptTo) {
			t.Errorf("webhook %s: record envelope %q %v, the capture's %q %v (%v)", body.GlobalID, rec.Envelope.MailFrom, rec.Envelope.RcptTo, m.MailFrom, m.RcptTo, err)
		}
		seen[body.GlobalID] = true
	}
	if len(seen) != len(records) {
		t.Errorf("webhook requests name %d distinct emails of %d", len(seen), len(records))
	}
}

// httptestServer serves h on loopback until the test ends; its URL.
func httptestServer(t *testing.T, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}
