package collector_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/smtpscope/smtpscope/collector"
	"github.com/smtpscope/smtpscope/core"
)

// webhookReceiver is a receiver as the README tells one to write it:
// it recomputes HMAC-SHA256(secret, timestamp + "." + body), compares
// in constant time, and refuses timestamps more than 5 minutes away.
// Then it answers the statuses queued in answers (default 204).
type webhookReceiver struct {
	secret []byte
	token  string // Authorization header expected
	mu     sync.Mutex
	answer []int
	got    []receivedHook
	bad    []string
}

type receivedHook struct {
	header http.Header
	body   []byte
}

func (rv *webhookReceiver) verify(h http.Header, body []byte, now time.Time) string {
	ts, err := strconv.ParseInt(h.Get("X-Smtpscope-Timestamp"), 10, 64)
	if err != nil {
		return "no timestamp"
	}
	if d := now.Sub(time.Unix(ts, 0)); d > 5*time.Minute || d < -5*time.Minute {
		return "timestamp outside the window"
	}
	mac := hmac.New(sha256.New, rv.secret)
	mac.Write([]byte(h.Get("X-Smtpscope-Timestamp") + "." + string(body)))
	want := "sha256=" + hex.EncodeToString(mac.Sum(nil))
	if !hmac.Equal([]byte(want), []byte(h.Get("X-Smtpscope-Signature"))) {
		return "bad signature"
	}
	return ""
}

func (rv *webhookReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rv.mu.Lock()
	defer rv.mu.Unlock()
	if why := rv.verify(r.Header, body, time.Now()); why != "" || r.Header.Get("Authorization") != rv.token {
		rv.bad = append(rv.bad, why+" auth="+r.Header.Get("Authorization"))
		http.Error(w, why, http.StatusUnauthorized)
		return
	}
	rv.got = append(rv.got, receivedHook{r.Header.Clone(), body})
	status := http.StatusNoContent
	if len(rv.answer) > 0 {
		status, rv.answer = rv.answer[0], rv.answer[1:]
	}
	w.WriteHeader(status)
}

// TestWebhookDelivery: signed requests a receiver verifies; 2xx sent,
// 503 and 429 retried, 400 failed for good; the body is the record with
// the raw message when within raw_max; header values from the
// environment; the timestamp is part of what is signed (a replay with
// another timestamp fails verification).
func TestWebhookDelivery(t *testing.T) {
	tmp := t.TempDir()
	spool, data := filepath.Join(tmp, "spool"), filepath.Join(tmp, "data")
	secretFile := filepath.Join(tmp, "hook.secret")
	if err := os.WriteFile(secretFile, []byte("hook-SECRET\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SMTPSCOPE_TEST_HOOK_TOKEN", "Bearer tok-SECRET")
	newRV := func(answers ...int) (*webhookReceiver, *httptest.Server) {
		rv := &webhookReceiver{secret: []byte("hook-SECRET"), token: "Bearer tok-SECRET", answer: answers}
		srv := httptest.NewServer(rv)
		t.Cleanup(srv.Close)
		return rv, srv
	}
	flaky, flakySrv := newRV(503, 429, 200)
	refuse, refuseSrv := newRV(400)
	small, smallSrv := newRV()
	spoolWrite(t, spool, "Chook", simpleSession(9, 1), time.Time{})
	ms := collector.Duration(20 * time.Millisecond)
	hook := func(name, url string, rawMax collector.ByteSize) collector.GroupConfig {
		return collector.GroupConfig{Name: name, Kind: collector.KindWebhook, URL: url, SecretFile: secretFile, RawMax: rawMax,
			Headers: map[string]string{"Authorization": "env:SMTPSCOPE_TEST_HOOK_TOKEN"}, FullDelivery: true}
	}
	cfg := &collector.Config{Spool: spool, Data: data, Sensor: "mx2",
		Submission: collector.SubmissionConfig{BackoffMin: ms, BackoffMax: ms, NodeBackoffMin: ms, NodeBackoffMax: ms},
		Groups: []collector.GroupConfig{hook("flaky", flakySrv.URL+"/hook", 1<<20), hook("refuse", refuseSrv.URL, 0),
			hook("small", smallSrv.URL, 10)}}
	col, err := collector.New(cfg, collector.Options{})
	if err != nil {
		t.Fatal(err)
	}
	err = col.RunOnce(context.Background(), 60*time.Second)
	if err == nil || !strings.Contains(err.Error(), "1 submissions failed permanently") {
		t.Errorf("RunOnce: %v (want the 400 as the one permanent failure)", err)
	}
	s, err := collector.OpenStore(data, collector.StoreOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	subs, _ := s.Submissions("Chook.0")
	by := map[string]collector.SubmissionStatus{}
	for _, st := range subs {
		by[st.Group] = st
	}
	if st := by["flaky"]; st.State != collector.StateSent || st.Attempts != 3 || st.UUID != "HTTP 200" {
		t.Errorf("flaky: %+v: want sent on the third attempt (503, 429, 200)", st)
	}
	if st := by["refuse"]; st.State != collector.StateFailed || st.Attempts != 1 || !strings.Contains(st.LastError, "HTTP 400") {
		t.Errorf("refuse: %+v: want failed after one 400", st)
	}
	if st := by["small"]; st.State != collector.StateSent || st.Attempts != 1 {
		t.Errorf("small: %+v", st)
	}
	for _, rv := range []*webhookReceiver{flaky, refuse, small} {
		if len(rv.bad) > 0 {
			t.Errorf("requests failed verification: %v", rv.bad)
		}
	}
	if len(flaky.got) != 3 || len(small.got) != 1 {
		t.Fatalf("requests: flaky %d (want 3), small %d (want 1)", len(flaky.got), len(small.got))
	}
	rec, err := s.Record("Chook.0")
	if err != nil {
		t.Fatal(err)
	}
	raw, err := s.Raw("Chook.0")
	if err != nil {
		t.Fatal(err)
	}
	var b collector.WebhookBody
	if err := json.Unmarshal(flaky.got[2].body, &b); err != nil {
		t.Fatal(err)
	}
	dec, _ := base64.StdEncoding.DecodeString(b.RawBase64)
	if b.Format != "smtpscope.email/1" || b.GlobalID != "mx2/Chook.0" || b.ID != "Chook.0" || b.Sensor != "mx2" ||
		b.SHA256 != rec.SHA256 || string(dec) != string(raw) || b.Size != int64(len(raw)) {
		t.Errorf("body: %+v (raw %d bytes, want %d)", b, len(dec), len(raw))
	}
	var got struct {
		Subject string `json:"subject"`
	}
	if err := json.Unmarshal(b.Record, &got); err != nil || got.Subject != rec.Subject {
		t.Errorf("record subject %q, want %q (%v)", got.Subject, rec.Subject, err)
	}
	if h := flaky.got[2].header; h.Get("X-Smtpscope-Id") != "mx2/Chook.0" || h.Get("Content-Type") != "application/json" {
		t.Errorf("headers %v", h)
	}
	var sb collector.WebhookBody
	_ = json.Unmarshal(small.got[0].body, &sb)
	if sb.RawBase64 != "" || sb.GlobalID != "mx2/Chook.0" {
		t.Errorf("raw_max 10: raw included (%d chars) or no id %q", len(sb.RawBase64), sb.GlobalID)
	}
	// the timestamp is signed: the same signature with another
	// timestamp (a replay made to look fresh) does not verify
	h := flaky.got[2].header.Clone()
	ts, _ := strconv.ParseInt(h.Get("X-Smtpscope-Timestamp"), 10, 64)
	if why := flaky.verify(h, flaky.got[2].body, time.Unix(ts, 0)); why != "" {
		t.Fatalf("a delivered request does not verify: %s", why)
	}
	h.Set("X-Smtpscope-Timestamp", strconv.FormatInt(ts+60, 10))
	if why := flaky.verify(h, flaky.got[2].body, time.Unix(ts, 0)); why != "bad signature" {
		t.Errorf("replay with a new timestamp: %q, want bad signature", why)
	}
	if why := flaky.verify(flaky.got[2].header, flaky.got[2].body, time.Unix(ts, 0).Add(10*time.Minute)); why == "" {
		t.Error("a 10-minute-old request verifies")
	}
	if got := collector.WebhookSignature([]byte("hook-SECRET"), ts, flaky.got[2].body); got != flaky.got[2].header.Get("X-Smtpscope-Signature") {
		t.Errorf("WebhookSignature %s differs from the header", got)
	}
}

// TestWebhookConfig: a webhook needs a secret, may not set the headers
// smtpscope signs with, and header values from a missing variable stop
// the start.
func TestWebhookConfig(t *testing.T) {
	check := func(g collector.GroupConfig) string {
		cfg := &collector.Config{Spool: "s", Data: "d", Groups: []collector.GroupConfig{g}}
		cfg.ApplyDefaults()
		if err := cfg.Validate(); err != nil {
			return err.Error()
		}
		return ""
	}
	for _, c := range []struct {
		g    collector.GroupConfig
		want string
	}{
		{collector.GroupConfig{Name: "w", Kind: "webhook", URL: "https://x/h"}, "needs a signing secret"},
		{collector.GroupConfig{Name: "w", Kind: "webhook", URL: "https://x/h", SecretEnv: "A", SecretFile: "b"}, "set one"},
		{collector.GroupConfig{Name: "w", Kind: "webhook", URL: "https://x/h", SecretEnv: "A",
			Headers: map[string]string{"x-smtpscope-signature": "v"}}, "is set by smtpscope"},
		{collector.GroupConfig{Name: "w", Kind: "webhook", URL: "https://x/h", SecretEnv: "A", RawMax: -1}, "raw_max"},
		{collector.GroupConfig{Name: "w", Kind: "thehive", URL: "https://x", APIKeyEnv: "K", SecretEnv: "A"}, "are for kind = \"webhook\""},
		{collector.GroupConfig{Name: "w", Kind: "webhook", SecretEnv: "A"}, "no url"},
	} {
		if got := check(c.g); !strings.Contains(got, c.want) {
			t.Errorf("%+v: %q, want %q", c.g, got, c.want)
		}
	}
	if got := check(collector.GroupConfig{Name: "w", Kind: "webhook", URL: "https://x/h", SecretEnv: "A",
		Headers: map[string]string{"Authorization": "env:T"}}); got != "" {
		t.Errorf("valid webhook: %s", got)
	}
	tmp := t.TempDir()
	t.Setenv("SMTPSCOPE_TEST_HOOK_SECRET", "s")
	cfg := &collector.Config{Spool: filepath.Join(tmp, "s"), Data: filepath.Join(tmp, "d"),
		Groups: []collector.GroupConfig{{Name: "w", Kind: "webhook", URL: "http://127.0.0.1:1/", SecretEnv: "SMTPSCOPE_TEST_HOOK_SECRET",
			Headers: map[string]string{"X-Token": "env:SMTPSCOPE_TEST_UNSET_TOKEN"}}}}
	if _, err := collector.New(cfg, collector.Options{}); err == nil || !strings.Contains(err.Error(), "SMTPSCOPE_TEST_UNSET_TOKEN is not set") {
		t.Errorf("unset header variable: %v", err)
	}
}

// TestWebhookBodyAtHub: a hub stores a sensor's email under the global
// id <sensor>/<id> with the sensor kept; its webhook body names the
// email as the sensor's would (id the sensor's, global_id once).
func TestWebhookBodyAtHub(t *testing.T) {
	for _, c := range []struct{ id, sensor, wantID, wantGlobal string }{
		{"s2/C1.0", "s2", "C1.0", "s2/C1.0"}, // at the hub
		{"C1.0", "s2", "C1.0", "s2/C1.0"},    // on the sensor
	} {
		rec := &core.Email{ID: c.id, Sensor: c.sensor, SHA256: "ab"}
		b, err := collector.BuildWebhookBody(rec, &collector.EmailMeta{Size: 2}, "hub", 0, nil)
		if err != nil {
			t.Fatal(err)
		}
		var body collector.WebhookBody
		if err := json.Unmarshal(b, &body); err != nil {
			t.Fatal(err)
		}
		if body.ID != c.wantID || body.GlobalID != c.wantGlobal || body.Sensor != c.sensor {
			t.Errorf("record %s of %s: body id %q global_id %q sensor %q, want %q %q %q", c.id, c.sensor, body.ID, body.GlobalID, body.Sensor, c.wantID, c.wantGlobal, c.sensor)
		}
	}
}
