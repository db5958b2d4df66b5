package collector_test

import (
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/smtpscope/smtpscope/collector"
	"github.com/smtpscope/smtpscope/collector/ace"
	"github.com/smtpscope/smtpscope/core"
)

// These tests need YARA compiled in: go test -tags yara ./collector/
// (the Makefile sets the tag when `pkg-config --exists yara` succeeds).

func needYara(t testing.TB) {
	t.Helper()
	if !core.YaraAvailable() {
		t.Skip("YARA support not compiled in (run with -tags yara; needs libyara-dev)")
	}
}

func writeFile(t testing.TB, p, text string) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

const yaraPayloadRule = `rule payload_marker : malware {
  meta:
    author = "smtpscope test"
  strings:
    $m = "EVIL-PAYLOAD-MARKER"
  condition:
    $m
}
`

func yaraNames(ms []core.YaraMatch) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.Namespace+":"+m.Rule)
	}
	sort.Strings(out)
	return out
}

// TestYaraCollector: rules the test writes, an attachment it builds (a
// zip holding the marked file): hits in the stored record (attachment,
// zip member) and as ACE tags; SIGHUP-style Reload swaps the rules; a
// syntax error on reload is reported with file:line and keeps the rules.
func TestYaraCollector(t *testing.T) {
	needYara(t)
	tmp := t.TempDir()
	md, data, rulesDir := filepath.Join(tmp, "Maildir"), filepath.Join(tmp, "data"), filepath.Join(tmp, "rules")
	writeFile(t, filepath.Join(rulesDir, "payloads.yar"), yaraPayloadRule)
	sink, err := ace.NewSink(filepath.Join(tmp, "sink"), ace.SinkOptions{})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sink)
	defer srv.Close()

	// a syntax error at start is fatal and names file and line
	bad := writeFile(t, filepath.Join(tmp, "bad", "broken.yar"), "rule ok { condition: true }\n\nrule broken {\n  condition: $nope\n}\n")
	_, err = collector.New(&collector.Config{Data: filepath.Join(tmp, "d0"), Maildir: []string{md},
		Analysis: collector.AnalysisConfig{YaraRules: []string{bad}}}, collector.Options{})
	if err == nil || !regexpMust(regexp.QuoteMeta(bad)+`:[45]: undefined string "\$nope"`).MatchString(err.Error()) {
		t.Fatalf("New with a broken rule file: %v (want %s:LINE: undefined string)", err, bad)
	}

	cfg := func(rules ...string) *collector.Config {
		return &collector.Config{Data: data, Maildir: []string{md}, Fsync: noFsync(),
			RescanInterval: collector.Duration(100 * time.Millisecond),
			Analysis:       collector.AnalysisConfig{YaraRules: rules, YaraTimeout: collector.Duration(10 * time.Second)},
			Groups:         []collector.GroupConfig{{Name: "g", Nodes: []string{srv.URL}, FullDelivery: true}}}
	}
	col, err := collector.New(cfg(rulesDir), collector.Options{})
	if err != nil {
		t.Fatal(err)
	}
	events, unsub := col.Subscribe(100)
	defer unsub()
	stop := runCollector(t, col)
	nextRecord := func() *core.Email {
		t.Helper()
		timeout := time.After(20 * time.Second)
		for {
			select {
			case ev := <-events:
				if ev.Type == collector.EventEmail {
					return ev.Record
				}
			case <-timeout:
				t.Fatal("no email event")
			}
		}
	}

	marked := []byte("MZ\x00\x01 header EVIL-PAYLOAD-MARKER trailer \x00\xff")
	zipped := zipOf(t, map[string][]byte{"dropper.exe": marked, "clean.txt": []byte("nothing to see")})
	deliverMaildir(t, md, "1700000200.M1P1.host", rawEmail("with payload", "see attachment", "docs.zip", zipped))
	rec := nextRecord()
	hits := map[string][]string{}
	for _, a := range rec.Attachments {
		hits[a.Part] = yaraNames(a.YARA)
	}
	if strings.Join(hits["2!dropper.exe"], ",") != "payloads:payload_marker" || len(hits["2"]) != 0 || len(hits["2!clean.txt"]) != 0 {
		t.Errorf("attachment hits %v (the zip member should hit, the compressed zip and clean.txt not)", hits)
	}
	stored, err := col.Store().Record(rec.ID)
	if err != nil || len(stored.Attachments) != 3 {
		t.Fatalf("stored record: %v %+v", err, stored)
	}
	for _, a := range stored.Attachments {
		if a.Part != "2!dropper.exe" {
			continue
		}
		if len(a.YARA) != 1 {
			t.Fatalf("stored hits of %s: %+v", a.Part, a.YARA)
		}
		// "MZ\x00\x01 header " is 12 bytes
		if m := a.YARA[0]; m.Meta["author"] != "smtpscope test" || len(m.Tags) != 1 || m.Tags[0] != "malware" ||
			len(m.Strings) != 1 || m.Strings[0].Data != "EVIL-PAYLOAD-MARKER" || m.Strings[0].Offset != 12 || m.Strings[0].Identifier != "$m" {
			t.Errorf("stored match %+v", m)
		}
	}

	// reload with a second rule file: both rules apply to new mail
	writeFile(t, filepath.Join(rulesDir, "subjects.yar"), `rule subject_lure { strings: $s = "Subject: quarterly bonus" condition: $s }`)
	if err := col.Reload(cfg(rulesDir)); err != nil {
		t.Fatal(err)
	}
	deliverMaildir(t, md, "1700000201.M2P2.host", rawEmail("quarterly bonus", "EVIL-PAYLOAD-MARKER inline", "", nil))
	rec2 := nextRecord()
	if got := strings.Join(yaraNames(rec2.YARA), ","); got != "payloads:payload_marker,subjects:subject_lure" {
		t.Errorf("email hits after reload: %s", got)
	}

	// a broken file on reload: error with file:line, running rules kept
	brokenPath := writeFile(t, filepath.Join(rulesDir, "zz-broken.yar"), "rule zz {\n  strings: $a = \"x\"\n  condition: $b\n}\n")
	err = col.Reload(cfg(rulesDir))
	if err == nil || !regexpMust(regexp.QuoteMeta(brokenPath)+`:[34]: `).MatchString(err.Error()) || !strings.Contains(err.Error(), "keeping the running rules") {
		t.Errorf("reload with a broken file: %v", err)
	}
	deliverMaildir(t, md, "1700000202.M3P3.host", rawEmail("quarterly bonus again", "EVIL-PAYLOAD-MARKER", "", nil))
	rec3 := nextRecord()
	if got := strings.Join(yaraNames(rec3.YARA), ","); got != "payloads:payload_marker,subjects:subject_lure" {
		t.Errorf("hits after a failed reload: %s (the old rules should stay)", got)
	}

	waitUntil(t, "3 submissions", 20*time.Second, func() bool { return sink.Accepted() == 3 })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	subs, err := ace.ReadSubmissions(filepath.Join(tmp, "sink"))
	if err != nil {
		t.Fatal(err)
	}
	tags := map[string]string{}
	for _, s := range subs {
		id, _ := s.Analysis.Details["email_id"].(string)
		tags[id] = strings.Join(s.Analysis.Tags, ",")
	}
	want := map[string]string{
		rec.ID:  "yara:payload_marker",
		rec2.ID: "yara:payload_marker,yara:subject_lure",
		rec3.ID: "yara:payload_marker,yara:subject_lure",
	}
	for id, w := range want {
		if tags[id] != w {
			t.Errorf("ACE tags of %s = %q, want %q", id, tags[id], w)
		}
	}
}

// TestYaraReloadWhileScanning reloads the rules over and over while
// emails are analysed: no scan fails (a scan that meets closed rules runs
// again on the new ones) and every email gets the hit.
func TestYaraReloadWhileScanning(t *testing.T) {
	needYara(t)
	tmp := t.TempDir()
	dir, data, rulesDir := filepath.Join(tmp, "eml"), filepath.Join(tmp, "data"), filepath.Join(tmp, "rules")
	writeFile(t, filepath.Join(rulesDir, "payloads.yar"), yaraPayloadRule)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := func() *collector.Config {
		return &collector.Config{Data: data, EMLDir: []string{dir}, Fsync: noFsync(), Workers: 2,
			RescanInterval: collector.Duration(50 * time.Millisecond),
			Analysis:       collector.AnalysisConfig{YaraRules: []string{rulesDir}}}
	}
	col, err := collector.New(cfg(), collector.Options{})
	if err != nil {
		t.Fatal(err)
	}
	events, unsub := col.Subscribe(1000)
	defer unsub()
	old := time.Now().Add(-time.Minute)
	const n = 60
	for i := 0; i < n; i++ {
		p := writeFile(t, filepath.Join(dir, fmt.Sprintf("m%03d.eml", i)), string(rawEmail(fmt.Sprintf("m %d", i), "EVIL-PAYLOAD-MARKER", "", nil)))
		_ = os.Chtimes(p, old, old)
	}
	stop := runCollector(t, col)
	got := 0
	timeout := time.After(60 * time.Second)
	for got < n {
		if err := col.Reload(cfg()); err != nil {
			t.Fatal(err)
		}
		select {
		case ev := <-events:
			if ev.Type != collector.EventEmail {
				continue
			}
			got++
			if len(ev.Record.YARA) != 1 || len(ev.Record.Errors) != 0 {
				t.Errorf("%s: yara %v errors %v", ev.Record.ID, ev.Record.YARA, ev.Record.Errors)
			}
		case <-timeout:
			t.Fatalf("%d of %d emails", got, n)
		}
	}
	_ = stop() // Run's error is not checked here
}

// TestProcYaraSIGHUP: `smtpscope collect --maildir ... --yara-rules DIR`
// (no config file) recompiles the rules on SIGHUP; a broken file on
// SIGHUP is logged with file:line and the running rules stay.
func TestProcYaraSIGHUP(t *testing.T) {
	needYara(t)
	tmp := t.TempDir()
	md, data, rulesDir := filepath.Join(tmp, "Maildir"), filepath.Join(tmp, "data"), filepath.Join(tmp, "rules")
	writeFile(t, filepath.Join(rulesDir, "payloads.yar"), yaraPayloadRule)
	p := start(t, "collect", "--maildir", md, "--data", data, "--yara-rules", rulesDir, "--no-index", "--no-fsync", "--log-level", "debug")
	deliver := func(name, subject string) {
		t.Helper()
		n := len(collector.DirNames(t, filepath.Join(md, "cur")))
		deliverMaildir(t, md, name, rawEmail(subject, "EVIL-PAYLOAD-MARKER", "", nil))
		waitUntil(t, name+" processed", 30*time.Second, func() bool { return len(collector.DirNames(t, filepath.Join(md, "cur"))) == n+1 })
	}
	waitLog := func(what string) {
		t.Helper()
		waitUntil(t, "log: "+what, 30*time.Second, func() bool { return strings.Contains(p.stderr.String(), what) })
	}
	waitLog("watching raw email input")
	deliver("1700000300.M1P1.host", "before reload")
	writeFile(t, filepath.Join(rulesDir, "subjects.yar"), `rule subject_lure { strings: $s = "Subject: after reload" condition: $s }`)
	_ = p.cmd.Process.Signal(syscall.SIGHUP)
	waitLog("yara rules reloaded")
	deliver("1700000301.M2P2.host", "after reload")
	broken := writeFile(t, filepath.Join(rulesDir, "zz.yar"), "rule zz {\n  condition: $missing\n}\n")
	_ = p.cmd.Process.Signal(syscall.SIGHUP)
	waitLog("keeping the running rules")
	if !strings.Contains(p.stderr.String(), broken+":") {
		t.Errorf("reload error does not name %s:\n%s", broken, p.stderr.String())
	}
	deliver("1700000302.M3P3.host", "after reload, again")
	if code := p.stop(t); code != 0 {
		t.Fatalf("collect exited %d:\n%s", code, p.stderr.String())
	}
	st, err := collector.OpenStore(data, collector.StoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	got := map[string]string{}
	_ = st.ListEmails(func(m *collector.EmailMeta) bool {
		if rec, err := st.Record(m.ID); err == nil {
			got[rec.Subject] = strings.Join(yaraNames(rec.YARA), ",")
		}
		return true
	})
	want := map[string]string{
		"before reload":       "payloads:payload_marker",
		"after reload":        "payloads:payload_marker,subjects:subject_lure",
		"after reload, again": "payloads:payload_marker,subjects:subject_lure",
	}
	for subj, w := range want {
		if got[subj] != w {
			t.Errorf("%q: hits %q, want %q", subj, got[subj], w)
		}
	}
}
