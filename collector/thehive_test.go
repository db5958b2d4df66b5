package collector_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"log/slog"
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

// riskySession is one email from 198.51.100.7 with an attachment named
// like a PDF that is an executable ("invoice.pdf.exe": double_ext) and
// a link in the body.
func riskySession(payload []byte) []byte {
	body := "--b1\nContent-Type: text/plain\n\nplease pay http://pay.badcorp.biz/inv\n--b1\nContent-Type: application/octet-stream\n" +
		"Content-Disposition: attachment; filename=\"invoice.pdf.exe\"\nContent-Transfer-Encoding: base64\n\n" +
		base64.StdEncoding.EncodeToString(payload) + "\n--b1--"
	s := string(genSession("198.51.100.7", 40200, "1700002000", []genMsg{{From: "billing@evil.example",
		Rcpts: []string{"ap@corp.example", "cfo@corp.example"}, Subject: "Invoice `42` overdue", Body: body}}))
	return []byte(strings.Replace(s, "Subject: Invoice", "MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"b1\"\nSubject: Invoice", 1))
}

func theHiveConfig(spool, data, url, keyFile string) *collector.Config {
	ms := collector.Duration(20 * time.Millisecond)
	return &collector.Config{Spool: spool, Data: data, Sensor: "mx1",
		Submission: collector.SubmissionConfig{BackoffMin: ms, BackoffMax: ms, NodeBackoffMin: ms, NodeBackoffMax: ms, MaxAttempts: 5},
		Groups: []collector.GroupConfig{{Name: "hive", Kind: collector.KindTheHive, URL: url, APIKeyFile: keyFile,
			Organisation: "soc", Tags: []string{"mail-gw"}, FullDelivery: true}}}
}

func writeKey(t *testing.T, dir, key string) string {
	t.Helper()
	p := filepath.Join(dir, "hive.key")
	if err := os.WriteFile(p, []byte(key+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestTheHiveDelivery: an email reaches the stand-in TheHive as one
// alert that passes its checks: sourceRef the global id, title from the
// subject, severity from the risk, tags with the sensor and risk codes,
// observables for the addresses, subject, client IP, URL, domain,
// attachment hashes and the attachment itself as a file observable
// whose bytes are the attachment's. Two 500s first: retried, then sent.
func TestTheHiveDelivery(t *testing.T) {
	tmp := t.TempDir()
	spool, data := filepath.Join(tmp, "spool"), filepath.Join(tmp, "data")
	hive := thehivesink.New("s3cret-key")
	hive.Organisation = "soc"
	hive.FailNext(2)
	srv := httptest.NewServer(hive)
	defer srv.Close()
	payload := []byte("MZ\x90\x00\x03\x00\x00\x00 this program cannot be run in DOS mode")
	spoolWrite(t, spool, "Chive", riskySession(payload), time.Time{})
	logs := &syncBuf{}
	col, err := collector.New(theHiveConfig(spool, data, srv.URL, writeKey(t, tmp, "s3cret-key")),
		collector.Options{Logger: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	if err := col.RunOnce(context.Background(), 60*time.Second); err != nil {
		t.Fatalf("RunOnce: %v", err)
	}
	alerts := hive.Alerts()
	if len(alerts) != 1 {
		t.Fatalf("%d alerts (refused: %v)", len(alerts), hive.Refused())
	}
	a := alerts[0]
	if a.SourceRef != "mx1/Chive.0" || a.Type != "smtpscope" || a.Source != "smtpscope" || a.Organisation != "soc" {
		t.Errorf("alert identity: type %q source %q sourceRef %q org %q", a.Type, a.Source, a.SourceRef, a.Organisation)
	}
	if a.Title != "Email: Invoice `42` overdue" {
		t.Errorf("title %q", a.Title)
	}
	if a.Severity < 2 {
		t.Errorf("severity %d for a risky email", a.Severity)
	}
	for _, tag := range []string{"smtpscope", "mail-gw", "sensor:mx1", "risk:double_ext"} {
		if !slices.Contains(a.Tags, tag) {
			t.Errorf("tag %q missing from %v", tag, a.Tags)
		}
	}
	// the backticks of the subject cannot break out of the code span
	for _, want := range []string{"MAIL FROM: `billing@evil.example`", "`ap@corp.example`, `cfo@corp.example`",
		"`198.51.100.7` port 40200", "`double_ext`", "Subject: `Invoice '42' overdue`", "`invoice.pdf.exe`"} {
		if !strings.Contains(a.Description, want) {
			t.Errorf("description lacks %q:\n%s", want, a.Description)
		}
	}
	sum := sha256.Sum256(payload)
	paySHA := hex.EncodeToString(sum[:])
	has := func(dt, data string) bool {
		return slices.ContainsFunc(a.Observables, func(o thehivesink.Observable) bool { return o.DataType == dt && o.Data == data })
	}
	for _, o := range [][2]string{{"mail", "billing@evil.example"}, {"mail", "ap@corp.example"}, {"mail", "cfo@corp.example"},
		{"mail-subject", "Invoice `42` overdue"}, {"ip", "198.51.100.7"}, {"url", "http://pay.badcorp.biz/inv"},
		{"domain", "pay.badcorp.biz"}, {"hash", paySHA}} {
		if !has(o[0], o[1]) {
			t.Errorf("observable %s %q missing from %+v", o[0], o[1], a.Observables)
		}
	}
	files := 0
	for _, o := range a.Observables {
		if o.DataType == "file" {
			files++
			if o.FileSHA256 != paySHA || o.FileSize != int64(len(payload)) || o.FileName != "invoice.pdf.exe" {
				t.Errorf("file observable %+v: want the attachment's %d bytes, sha256 %s", o, len(payload), paySHA)
			}
		}
	}
	if files != 1 {
		t.Errorf("%d file observables, want 1", files)
	}
	s, err := collector.OpenStore(data, collector.StoreOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	subs, _ := s.Submissions("Chive.0")
	if len(subs) != 1 || subs[0].State != collector.StateSent || subs[0].UUID != a.ID || subs[0].Attempts != 3 {
		t.Errorf("submission %+v: want sent as %s after 3 attempts (two 500s)", subs, a.ID)
	}
	if strings.Contains(logs.String(), "s3cret-key") {
		t.Error("the API key is in the log")
	}
}

// TestTheHiveIdempotent: TheHive creates the alert but its answer is
// lost (as when the collector dies before recording it): the resend is
// refused as a duplicate of type+source+sourceRef, which counts as sent
// — one alert in TheHive, not two. Both duplicate answers (400 as
// TheHive gives, 409) are accepted.
func TestTheHiveIdempotent(t *testing.T) {
	for _, dupStatus := range []int{0, 409} {
		tmp := t.TempDir()
		spool, data := filepath.Join(tmp, "spool"), filepath.Join(tmp, "data")
		hive := thehivesink.New("k")
		hive.Organisation = "soc"
		hive.DuplicateStatus = dupStatus
		hive.DropNext(1)
		srv := httptest.NewServer(hive)
		spoolWrite(t, spool, "Cdup", simpleSession(3, 1), time.Time{})
		col, err := collector.New(theHiveConfig(spool, data, srv.URL, writeKey(t, tmp, "k")), collector.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if err := col.RunOnce(context.Background(), 60*time.Second); err != nil {
			t.Fatalf("RunOnce: %v", err)
		}
		srv.Close()
		if n := len(hive.Alerts()); n != 1 {
			t.Errorf("duplicate status %d: %d alerts, want 1", dupStatus, n)
		}
		refused := hive.Refused()
		if len(refused) != 1 || !strings.Contains(refused[0], "already exists") {
			t.Errorf("duplicate status %d: refusals %v: want the one duplicate", dupStatus, refused)
		}
		s, err := collector.OpenStore(data, collector.StoreOptions{ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		subs, _ := s.Submissions("Cdup.0")
		s.Close()
		if len(subs) != 1 || subs[0].State != collector.StateSent || !strings.HasPrefix(subs[0].UUID, "duplicate of mx1/Cdup.0") {
			t.Errorf("duplicate status %d: submission %+v", dupStatus, subs)
		}
	}
}

// TestTheHiveRefusals: a wrong key is retried (it can be fixed; the
// refusal is recorded), an alert TheHive refuses for its content would
// fail for good — here a TLP TheHive accepts but an organisation the key
// lacks gives 403, retried until max attempts.
func TestTheHiveRefusals(t *testing.T) {
	tmp := t.TempDir()
	spool, data := filepath.Join(tmp, "spool"), filepath.Join(tmp, "data")
	hive := thehivesink.New("right")
	srv := httptest.NewServer(hive)
	defer srv.Close()
	spoolWrite(t, spool, "Ckey", simpleSession(4, 1), time.Time{})
	cfg := theHiveConfig(spool, data, srv.URL, writeKey(t, tmp, "wrong"))
	cfg.Groups[0].FullDelivery = false
	cfg.Submission.MaxAttempts = 2
	col, err := collector.New(cfg, collector.Options{})
	if err != nil {
		t.Fatal(err)
	}
	_ = col.RunOnce(context.Background(), 60*time.Second)
	s, err := collector.OpenStore(data, collector.StoreOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	subs, _ := s.Submissions("Ckey.0")
	if len(subs) != 1 || subs[0].State != collector.StateFailed || subs[0].Attempts != 2 || !strings.Contains(subs[0].LastError, "HTTP 401") {
		t.Errorf("wrong key: %+v: want 2 attempts (401 retried), then failed", subs)
	}
	if len(hive.Alerts()) != 0 {
		t.Error("an alert was created with a wrong key")
	}
}

// TestTheHiveConfig: the kind's settings are checked at load.
func TestTheHiveConfig(t *testing.T) {
	bad := func(g collector.GroupConfig) string {
		cfg := &collector.Config{Spool: "s", Data: "d", Groups: []collector.GroupConfig{g}}
		cfg.ApplyDefaults()
		err := cfg.Validate()
		if err == nil {
			return ""
		}
		return err.Error()
	}
	five, neg := 5, -1
	for _, c := range []struct {
		g    collector.GroupConfig
		want string
	}{
		{collector.GroupConfig{Name: "h", Kind: "thehive", APIKeyEnv: "K"}, "no url"},
		{collector.GroupConfig{Name: "h", Kind: "thehive", URL: "ftp://x", APIKeyEnv: "K"}, "want an http:// or https:// URL"},
		{collector.GroupConfig{Name: "h", Kind: "thehive", URL: "http://x"}, "needs an API key"},
		{collector.GroupConfig{Name: "h", Kind: "thehive", URL: "http://x", APIKeyEnv: "K", TLP: &five}, "tlp 5"},
		{collector.GroupConfig{Name: "h", Kind: "thehive", URL: "http://x", APIKeyEnv: "K", PAP: &neg}, "pap -1"},
		{collector.GroupConfig{Name: "h", Kind: "thehive", URL: "http://x", APIKeyEnv: "K", Nodes: []string{"http://y"}}, "takes url, not nodes"},
		{collector.GroupConfig{Name: "h", Nodes: []string{"http://y"}, Organisation: "o"}, "are for kind = \"thehive\""},
		{collector.GroupConfig{Name: "h", Kind: "hive", URL: "http://x"}, "want ace, nats, thehive or webhook"},
	} {
		if got := bad(c.g); !strings.Contains(got, c.want) {
			t.Errorf("%+v: error %q, want %q", c.g, got, c.want)
		}
	}
	if got := bad(collector.GroupConfig{Name: "h", Kind: "thehive", URL: "http://u:pw@x", APIKeyEnv: "K"}); got != "" {
		t.Errorf("valid group: %s", got)
	}
	// the key variable must be set when the collector starts
	tmp := t.TempDir()
	cfg := &collector.Config{Spool: filepath.Join(tmp, "s"), Data: filepath.Join(tmp, "d"),
		Groups: []collector.GroupConfig{{Name: "h", Kind: "thehive", URL: "http://127.0.0.1:1", APIKeyEnv: "SMTPSCOPE_TEST_UNSET_KEY"}}}
	if _, err := collector.New(cfg, collector.Options{}); err == nil || !strings.Contains(err.Error(), "SMTPSCOPE_TEST_UNSET_KEY is not set") {
		t.Errorf("unset key variable: %v", err)
	}
}

// FuzzTheHiveAlert: whatever the mail says, the alert's Markdown keeps
// its shape (the same lines as with plain values: no value adds a line
// or leaves its code span), the title is one line, and the alert is
// valid JSON for the stand-in's checks.
func FuzzTheHiveAlert(f *testing.F) {
	f.Add("Invoice `42`", "a@b.example", "x\ny", "evidence")
	f.Add("\u202eexe.pdf", "``", "\r\n# heading", "[link](http://x)")
	f.Fuzz(func(t *testing.T, subject, from, rcpt, evidence string) {
		mk := func(subject, from, rcpt, evidence string) collector.TheHiveAlert {
			rec := &core.Email{ID: "C1.0", Subject: subject, From: from, Envelope: core.Envelope{MailFrom: from, RcptTo: []string{rcpt}},
				Risks:       []core.Risk{{Code: core.RiskDoubleExt, Evidence: evidence}},
				Attachments: []core.Attachment{{Filename: subject, ContentType: from, SHA256: "ab", MD5: "cd"}}}
			a, _ := collector.BuildTheHiveAlert(rec, &collector.EmailMeta{}, collector.GroupConfig{}, "s", nil)
			return a
		}
		plain := mk("s", "f", "r", "e")
		got := mk(subject, from, rcpt, evidence)
		pl, gl := strings.Split(plain.Description, "\n"), strings.Split(got.Description, "\n")
		if len(pl) != len(gl) {
			t.Fatalf("description has %d lines, want %d:\n%s", len(gl), len(pl), got.Description)
		}
		for i := range pl {
			// an empty value is "-", not a code span
			if n := strings.Count(gl[i], "`"); n > strings.Count(pl[i], "`") || n%2 != 0 {
				t.Fatalf("line %d %q: a value left its code span", i, gl[i])
			}
		}
		if strings.ContainsAny(got.Title, "\r\n") || got.Severity < 1 || got.Severity > 4 {
			t.Fatalf("title %q severity %d", got.Title, got.Severity)
		}
	})
}
