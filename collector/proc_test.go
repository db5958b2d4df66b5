package collector_test

// Tests against real processes: the smtpscope binary is built once in
// TestMain; `smtpscope ace-sink` and `smtpscope collect` run as child
// processes on loopback.

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	crand "crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/smtpscope/smtpscope/collector"
	"github.com/smtpscope/smtpscope/collector/ace"
	"github.com/smtpscope/smtpscope/collector/api"
	"github.com/smtpscope/smtpscope/core"
)

var (
	binDir   string
	binPath  string
	binOnce  sync.Once
	binError error
)

// TestMain removes the binary the process tests built.
func TestMain(m *testing.M) {
	if os.Getenv(rusageEnv) != "" {
		os.Exit(rusageWrapper()) // the hostile suite's measuring parent
	}
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// smtpscopeBin builds the smtpscope binary once (only the process tests
// need it; fuzz workers and in-process tests do not).
func smtpscopeBin(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		binDir, binError = os.MkdirTemp("", "smtpscope-bin-")
		if binError != nil {
			return
		}
		binPath = filepath.Join(binDir, "smtpscope")
		args := []string{"build", "-o", binPath}
		if core.YaraAvailable() {
			args = append(args, "-tags", "yara") // the same YARA support as the test binary
		}
		out, err := exec.Command("go", append(args, "../cmd/smtpscope")...).CombinedOutput()
		if err != nil {
			binError = fmt.Errorf("building smtpscope: %v\n%s", err, out)
		}
	})
	if binError != nil {
		t.Fatal(binError)
	}
	return binPath
}

type proc struct {
	cmd    *exec.Cmd
	url    string
	stderr *safeBuf
	done   chan error
	lines  chan string
}

// start runs the binary with args; stop it by PID (t.Cleanup kills it).
func start(t *testing.T, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(smtpscopeBin(t), args...), stderr: &safeBuf{}, done: make(chan error, 1)}
	p.cmd.Stderr = p.stderr
	out, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 16)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		p.done <- p.cmd.Wait()
	}()
	p.lines = lines
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			_ = p.cmd.Process.Kill()
		}
	})
	return p
}

func (p *proc) waitLine(t *testing.T, prefix string) string {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case l, ok := <-p.lines:
			if !ok {
				t.Fatalf("process exited before printing %q; stderr:\n%s", prefix, p.stderr.String())
			}
			if strings.HasPrefix(l, prefix) {
				return l
			}
		case <-timeout:
			t.Fatalf("no %q line; stderr:\n%s", prefix, p.stderr.String())
		}
	}
}

// wait waits for exit and returns the exit code.
func (p *proc) wait(t *testing.T, d time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(d):
		_ = p.cmd.Process.Kill()
		<-p.done
		t.Fatalf("process did not exit within %s; stderr:\n%s", d, p.stderr.String())
	}
	return p.cmd.ProcessState.ExitCode()
}

// safeBuf is a bytes.Buffer safe for the exec copier and the test to use.
type safeBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (w *safeBuf) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *safeBuf) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

// startSink runs `smtpscope ace-sink` on a free loopback port.
func startSink(t *testing.T, dir string, extra ...string) *proc {
	t.Helper()
	return startSinkOn(t, "127.0.0.1:0", dir, extra...)
}

func startSinkOn(t *testing.T, addr, dir string, extra ...string) *proc {
	t.Helper()
	p := start(t, append([]string{"ace-sink", "--listen", addr, "--dir", dir}, extra...)...)
	l := p.waitLine(t, "ace-sink listening on ")
	p.url = strings.TrimPrefix(l, "ace-sink listening on ")
	return p
}

func (p *proc) stop(t *testing.T) int {
	t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	return p.wait(t, 30*time.Second)
}

// runCollect runs `smtpscope collect ... --once` and returns its exit code.
func runCollect(t *testing.T, args ...string) (int, string) {
	t.Helper()
	p := start(t, append([]string{"collect", "--once"}, args...)...)
	code := p.wait(t, 120*time.Second)
	return code, p.stderr.String()
}

// byEmail groups the sink's stored submissions by email id.
func byEmail(t *testing.T, dir string) map[string][]ace.StoredSubmission {
	t.Helper()
	subs, err := ace.ReadSubmissions(dir)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	out := map[string][]ace.StoredSubmission{}
	for _, s := range subs {
		id, _ := s.Analysis.Details["email_id"].(string)
		out[id] = append(out[id], s)
	}
	return out
}

func writeConfig(t *testing.T, dir, body string) string {
	t.Helper()
	p := filepath.Join(dir, "smtpscope.toml")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// fastRetryConfig is the config of the outage tests: the spool and data
// dirs, metrics on metrics, quick backoffs, and the group "default" (full
// delivery) on the one node node; extra is appended (more groups).
func fastRetryConfig(spool, data, metrics, node, extra string) string {
	return fmt.Sprintf(`
spool = %q
data = %q
rescan_interval = "200ms"
metrics_listen = %q

[submission]
backoff_min = "100ms"
backoff_max = "400ms"
ping_interval = "1s"
node_backoff_min = "100ms"
node_backoff_max = "400ms"

[[group]]
name = "default"
full_delivery = true
nodes = ["http://%s"]
`, spool, data, metrics, node) + extra
}

func TestProcSubmissionFields(t *testing.T) {
	tmp := t.TempDir()
	spool, data, sinkDir := filepath.Join(tmp, "spool"), filepath.Join(tmp, "data"), filepath.Join(tmp, "sink")
	if err := os.MkdirAll(spool, 0o755); err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(tmp, "key")
	if err := os.WriteFile(keyFile, []byte("k3y-for-test\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	sink := startSink(t, sinkDir, "--api-key-file", keyFile)

	mtime := time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC) // must not be the event time
	rcpts := []string{"r1@corp.example", "r2@corp.example", "nobody@corp.example", "r3@corp.example", "r4@corp.example", "r5@corp.example"}
	files := map[string][]byte{
		"C5rcpt": genSession("203.0.113.9", 50001, "1700000000.5", []genMsg{{From: "Spam@Evil.Example", Rcpts: rcpts,
			Reject: map[string]bool{"nobody@corp.example": true}, Subject: "five", Body: "hello"}}),
		"C2msg": genSession("203.0.113.10", 50002, "1700000100.000001", []genMsg{
			{From: "a@evil.example", Rcpts: []string{"x@corp.example"}, Subject: "first", Body: "one"},
			{From: "b@evil.example", Rcpts: []string{"y@corp.example"}, Subject: "second", Body: "two"}}),
		"Crej": genSession("203.0.113.11", 50003, "1700000200", []genMsg{{From: "c@evil.example", Rcpts: []string{"z@corp.example"},
			Subject: "refused", Body: "malspam", EndCode: 554}}),
		"Cv6": genSession("2001:db8::25", 50004, "1700000300", []genMsg{{From: "", Rcpts: []string{"w@corp.example"}, Subject: "v6", Body: "x"}}),
	}
	for name, b := range files {
		spoolWrite(t, spool, name, b, mtime)
	}
	cfg := writeConfig(t, tmp, fmt.Sprintf(`
[submission]
api_key_file = %q
tool_instance = "sensor-test"
backoff_min = "100ms"
backoff_max = "500ms"

[[group]]
name = "prod"
company_id = 3
nodes = [%q]
`, keyFile, sink.url))
	code, logs := runCollect(t, "--spool", spool, "--data", data, "--config", cfg, "--once-timeout", "30s")
	if code != 0 {
		t.Fatalf("collect exit %d:\n%s", code, logs)
	}
	if strings.Contains(logs, "k3y-for-test") {
		t.Error("the API key appears in the logs")
	}
	got := byEmail(t, sinkDir)
	if len(got) != 5 {
		t.Fatalf("sink has %d emails, want 5: %v", len(got), keys(got))
	}
	for id, subs := range got {
		if len(subs) != 1 {
			t.Errorf("%s submitted %d times", id, len(subs))
		}
	}
	// two submissions for the two-message session, one per message
	if len(got["C2msg.0"]) != 1 || len(got["C2msg.1"]) != 1 {
		t.Errorf("two-message session: %v", keys(got))
	}

	s := got["C5rcpt.0"][0]
	a := s.Analysis
	if a.AnalysisMode != "email" || a.Type != "bro - smtp" || a.Tool != "smtpscope" || a.ToolInstance != "sensor-test" ||
		a.CompanyID != 3 || a.Queue != "default" || a.Description != "BRO SMTP Scanner Detection - C5rcpt" {
		t.Errorf("analysis header: %+v", a)
	}
	if a.EventTime != "2023-11-14T22:13:20.500000+0000" {
		t.Errorf("event_time %q, want the capture time 2023-11-14T22:13:20.500000+0000", a.EventTime)
	}
	for _, k := range []string{"analysis_mode", "tool", "tool_instance", "type", "company_id", "description", "event_time", "details", "observables", "tags", "queue", "instructions"} {
		if _, ok := s.Raw[k]; !ok {
			t.Errorf("analysis JSON lacks %q", k)
		}
	}
	var rcptObs []string
	var fileObs []string
	for _, o := range a.Observables {
		switch {
		case o.Type == "email_address" && len(o.Tags) == 1 && o.Tags[0] == "smtp_rcpt_to":
			rcptObs = append(rcptObs, o.Value)
		case o.Type == "email_address" && len(o.Tags) == 1 && o.Tags[0] == "smtp_mail_from":
			if o.Value != "Spam@evil.example" {
				t.Errorf("mail from observable %q", o.Value)
			}
		case o.Type == "ipv4":
			if o.Value != "203.0.113.9" || o.Tags[0] != "sender_ip" {
				t.Errorf("ipv4 observable %+v", o)
			}
		case o.Type == "file":
			fileObs = append(fileObs, o.Value)
		}
	}
	if strings.Join(rcptObs, ",") != "r1@corp.example,r2@corp.example,r3@corp.example,r4@corp.example,r5@corp.example" {
		t.Errorf("rcpt observables %v (want the 5 accepted)", rcptObs)
	}
	if strings.Join(s.Meta.Parts, ",") != "analysis,file,file" {
		t.Errorf("multipart parts %v", s.Meta.Parts)
	}
	var sent []string
	for _, f := range s.Meta.Files {
		sent = append(sent, f.Filename)
	}
	if strings.Join(sent, ",") != strings.Join(fileObs, ",") || strings.Join(fileObs, ",") != "C5rcpt,C5rcpt.0.email.rfc822" {
		t.Errorf("file parts %v, file observables %v", sent, fileObs)
	}
	sessBytes, _ := os.ReadFile(filepath.Join(s.Dir, "files", "C5rcpt"))
	if !bytes.Equal(sessBytes, files["C5rcpt"]) {
		t.Errorf("session file part differs from the spool file")
	}
	emlBytes, _ := os.ReadFile(filepath.Join(s.Dir, "files", "C5rcpt.0.email.rfc822"))
	if !bytes.HasPrefix(emlBytes, []byte("From: Spam@Evil.Example\r\nTo: ")) || !bytes.HasSuffix(emlBytes, []byte("hello\r\n")) {
		t.Errorf("email part: %q", emlBytes)
	}
	if len(a.Tags) != 0 {
		t.Errorf("tags %v on an accepted message", a.Tags)
	}
	if rej := got["Crej.0"][0].Analysis; len(rej.Tags) != 1 || rej.Tags[0] != "smtp_rejected" {
		t.Errorf("refused message tags %v", rej.Tags)
	}
	for _, o := range got["Cv6.0"][0].Analysis.Observables {
		if o.Type == "ipv4" || o.Tags != nil && o.Tags[0] == "smtp_mail_from" {
			t.Errorf("IPv6/null-sender session has observable %+v", o)
		}
	}
	if et := got["C2msg.1"][0].Analysis.EventTime; et != "2023-11-14T22:15:00.000001+0000" {
		t.Errorf("C2msg event_time %q", et)
	}

	// status of the data dir (no collector running)
	out, err := exec.Command(smtpscopeBin(t), "status", "--data", data, "--config", cfg).CombinedOutput()
	if err != nil || !bytes.Contains(out, []byte("prod")) || !regexpMatch(`prod\s+yes\s+100%\s+0\s+0\s+5\s+0`, out) {
		t.Errorf("status: %v\n%s", err, out)
	}

	out, err = exec.Command(smtpscopeBin(t), "status", "--data", data, "--email", "C5rcpt.0").CombinedOutput()
	if err != nil || !regexpMatch(`C5rcpt\.0\s+prod\s+sent\s+1\s+`+got["C5rcpt.0"][0].UUID, out) {
		t.Errorf("status --email: %v\n%s", err, out)
	}

	// manual resubmission while no collector runs, then delivery
	out, err = exec.Command(smtpscopeBin(t), "submit", "--data", data, "--config", cfg, "--group", "prod", "C2msg.0").CombinedOutput()
	if err != nil || !bytes.Contains(out, []byte("queued 1")) {
		t.Fatalf("submit: %v\n%s", err, out)
	}
	if code, logs := runCollect(t, "--spool", spool, "--data", data, "--config", cfg); code != 0 {
		t.Fatalf("collect after submit: %d\n%s", code, logs)
	}
	if n := len(byEmail(t, sinkDir)["C2msg.0"]); n != 2 {
		t.Errorf("C2msg.0 reached the sink %d times after resubmission, want 2", n)
	}
	out, _ = exec.Command(smtpscopeBin(t), "submit", "--data", data, "--config", cfg, "nosuch.0").CombinedOutput()
	if !bytes.Contains(out, []byte("unknown email ids: nosuch.0")) {
		t.Errorf("unknown id: %s", out)
	}
	sink.stop(t)
}

// killWhileClaiming starts `collect --config cfg` and kills it
// (SIGKILL) while it works: once it has claimed something from spool
// (fewer entries than at its start) or after 3 s of start-up, at a
// random moment (rng) within the next 250 ms. It returns when the
// process is gone.
func killWhileClaiming(t *testing.T, rng *rand.Rand, spool, cfg string) {
	t.Helper()
	before := countEntries(spool)
	p := start(t, "collect", "--config", cfg)
	for deadline := time.Now().Add(3 * time.Second); countEntries(spool) >= before && before > 0 && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(time.Duration(rng.IntN(250)) * time.Millisecond)
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-p.done
}

func countEntries(dir string) int {
	ents, _ := os.ReadDir(dir)
	return len(ents)
}

func regexpMatch(re string, b []byte) bool {
	return regexpMust(re).Match(b)
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func TestProcBadInput(t *testing.T) {
	tmp := t.TempDir()
	spool, data, sinkDir := filepath.Join(tmp, "spool"), filepath.Join(tmp, "data"), filepath.Join(tmp, "sink")
	if err := os.MkdirAll(spool, 0o755); err != nil {
		t.Fatal(err)
	}
	sink := startSink(t, sinkDir)
	bin := make([]byte, 4096)
	for i := range bin {
		bin[i] = byte(rand.IntN(256))
	}
	bin[0] = 0x7f // never a header or SMTP line
	bad := map[string][]byte{
		"empty":     {},
		"binary":    bin,
		"truncated": []byte("10.0.0.1:491"),
		"noheader":  []byte("\x00\x01garbage\n"),
	}
	for name, b := range bad {
		spoolWrite(t, spool, name, b, time.Time{})
	}
	for i := 0; i < 3; i++ {
		spoolWrite(t, spool, fmt.Sprintf("Cgood%d", i), simpleSession(i, 1), time.Time{})
	}
	// a symlink is never followed (it could point at any file)
	secret := filepath.Join(tmp, "secret")
	if err := os.WriteFile(secret, simpleSession(99, 1), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(secret, filepath.Join(spool, "Clink")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(spool, "Clink.ready"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	code, logs := runCollect(t, "--spool", spool, "--data", data, "--ace", sink.url)
	if code != 0 {
		t.Fatalf("collect exit %d:\n%s", code, logs)
	}
	for name, b := range bad {
		got, err := os.ReadFile(filepath.Join(data, "review", name))
		if err != nil || !bytes.Equal(got, b) {
			t.Errorf("review/%s: %v", name, err)
		}
		reason, err := os.ReadFile(filepath.Join(data, "review", name+".error"))
		if err != nil || !bytes.HasPrefix(reason, []byte(name)) || len(bytes.TrimSpace(reason)) <= len(name)+2 {
			t.Errorf("review/%s.error: %q %v", name, reason, err)
		}
	}
	// the link itself is moved to review/, its target neither copied nor deleted
	if fi, err := os.Lstat(filepath.Join(data, "review", "Clink")); err != nil || fi.Mode().Type() != os.ModeSymlink {
		t.Errorf("review/Clink: %v %v (the symlink must be moved whole)", fi, err)
	}
	if _, err := os.Stat(secret); err != nil {
		t.Errorf("symlink target: %v", err)
	}
	if r, _ := os.ReadFile(filepath.Join(data, "review", "Clink.error")); !bytes.Contains(r, []byte("not a regular file")) {
		t.Errorf("review/Clink.error: %q", r)
	}
	got := byEmail(t, sinkDir)
	if len(got) != 3 {
		t.Errorf("sink has %v, want the 3 good emails", keys(got))
	}
	if ents, _ := os.ReadDir(spool); len(ents) != 0 {
		t.Errorf("spool not drained: %d entries", len(ents))
	}
	out, err := exec.Command(smtpscopeBin(t), "status", "--data", data).CombinedOutput()
	if err != nil || !bytes.Contains(out, []byte("review/    5 entries")) || !bytes.Contains(out, []byte("empty session file")) {
		t.Errorf("status: %v\n%s", err, out)
	}
	sink.stop(t)
}

// freeAddr returns a loopback address nothing listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func statusJSON(t *testing.T, data string) *collector.Status {
	t.Helper()
	out, err := exec.Command(smtpscopeBin(t), "status", "--data", data, "--json").Output()
	if err != nil {
		return nil
	}
	var st collector.Status
	if err := json.Unmarshal(out, &st); err != nil {
		t.Fatalf("status --json: %v\n%s", err, out)
	}
	return &st
}

func groupCount(st *collector.Status, group, state string) int64 {
	if st == nil {
		return -1
	}
	for _, g := range st.Groups {
		if g.Name == group {
			return g.Counts[state]
		}
	}
	return 0
}

func TestProcOutage(t *testing.T) {
	tmp := t.TempDir()
	spool, data, sinkDir := filepath.Join(tmp, "spool"), filepath.Join(tmp, "data"), filepath.Join(tmp, "sink")
	if err := os.MkdirAll(spool, 0o755); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	metrics := freeAddr(t)
	cfg := writeConfig(t, tmp, fastRetryConfig(spool, data, metrics, addr, ""))
	col := start(t, "collect", "--config", cfg, "--log-format", "json")
	const n = 12
	for i := 0; i < n; i++ {
		spoolWrite(t, spool, fmt.Sprintf("Cout%02d", i), simpleSession(i, 1), time.Time{})
	}
	// sink down: every email waits (queued, or retrying if it was tried
	// before the node was found down), none lost; the node shows down
	deadline := time.Now().Add(30 * time.Second)
	for {
		st := statusJSON(t, data)
		waiting := groupCount(st, "default", collector.StateQueued) + groupCount(st, "default", collector.StateRetrying)
		if st != nil && waiting == n && len(st.Groups) == 1 && len(st.Groups[0].Nodes) == 1 && !st.Groups[0].Nodes[0].Healthy {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("emails not waiting: %+v\n%s", st, col.stderr.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	resp, err := http.Get("http://" + metrics + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	var mb bytes.Buffer
	_, _ = mb.ReadFrom(resp.Body)
	resp.Body.Close()
	for _, want := range []string{"smtpscope_sessions_total 12", "smtpscope_emails_total 12", "smtpscope_queue_depth 12"} {
		if !strings.Contains(mb.String(), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	// sink back on the same address: the queue drains
	sink := startSinkOn(t, addr, sinkDir)
	deadline = time.Now().Add(30 * time.Second)
	for len(byEmail(t, sinkDir)) < n {
		if time.Now().After(deadline) {
			t.Fatalf("queue did not drain: sink has %d of %d\n%s", len(byEmail(t, sinkDir)), n, col.stderr.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	if code := col.stop(t); code != 0 {
		t.Errorf("collect exit %d after SIGTERM:\n%s", code, col.stderr.String())
	}
	st := statusJSON(t, data)
	if groupCount(st, "default", collector.StateSent) != n || st.QueueDepth != 0 {
		t.Errorf("after drain: %+v", st)
	}
	for id, subs := range byEmail(t, sinkDir) {
		if len(subs) != 1 {
			t.Errorf("%s delivered %d times", id, len(subs))
		}
	}
	sink.stop(t)
}

// TestProcRunningStatusAndSubmit: status and submit reach a running
// collector over its socket, with the index on and with --no-index (the
// socket is the one control channel either way).
func TestProcRunningStatusAndSubmit(t *testing.T) {
	for _, mode := range [][]string{nil, {"--no-index"}} {
		t.Run(strings.Join(append([]string{"index"}, mode...), ""), func(t *testing.T) { runningStatusAndSubmit(t, mode) })
	}
}

func runningStatusAndSubmit(t *testing.T, extra []string) {
	tmp := t.TempDir()
	spool, data, sinkDir := filepath.Join(tmp, "spool"), filepath.Join(tmp, "data"), filepath.Join(tmp, "sink")
	sink := startSink(t, sinkDir)
	col := start(t, append([]string{"collect", "--spool", spool, "--data", data, "--ace", sink.url}, extra...)...)
	if err := os.MkdirAll(spool, 0o755); err != nil {
		t.Fatal(err)
	}
	spoolWrite(t, spool, "Crun", simpleSession(1, 1), time.Time{})
	deadline := time.Now().Add(20 * time.Second)
	for len(byEmail(t, sinkDir)["Crun.0"]) != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("not delivered:\n%s", col.stderr.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	// status asks the running collector over its socket; when the socket
	// does not answer (moved away here), it reads the snapshot.
	waitStatus := func(how string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			out, err := exec.Command(smtpscopeBin(t), "status", "--data", data).CombinedOutput()
			if err == nil && bytes.Contains(out, []byte("collector running (pid")) && bytes.Contains(out, []byte(how)) &&
				regexpMatch(`default\s+yes\s+100%\s+0\s+0\s+1\s+0`, out) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("status while running (want %q): %v\n%s", how, err, out)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	waitStatus("live from its socket")
	sock := api.SocketPath(data)
	if err := os.Rename(sock, sock+".moved"); err != nil {
		t.Fatal(err)
	}
	waitStatus("snapshot from")
	if err := os.Rename(sock+".moved", sock); err != nil {
		t.Fatal(err)
	}
	// submit hands the request to the running collector
	out, err := exec.Command(smtpscopeBin(t), "submit", "--data", data, "Crun.0").CombinedOutput()
	if err != nil || !bytes.Contains(out, []byte("a collector is running")) || !bytes.Contains(out, []byte("queued 1 submissions")) {
		t.Fatalf("submit while running: %v\n%s", err, out)
	}
	deadline = time.Now().Add(20 * time.Second)
	for len(byEmail(t, sinkDir)["Crun.0"]) != 2 {
		if time.Now().After(deadline) {
			t.Fatalf("resubmission not delivered:\n%s", col.stderr.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	// a second collector on the same data dir fails clearly
	code, logs := runCollect(t, "--spool", spool, "--data", data)
	if code == 0 || !strings.Contains(logs, "in use by a running collector") {
		t.Errorf("second collector: %d %s", code, logs)
	}
	col.stop(t)
	sink.stop(t)
}

// TestProcCrash kills `collect` with SIGKILL at random moments while it
// works through 500 session files, restarts it, and checks that every
// email reached the sink at least once.
func TestProcCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test skipped in -short mode")
	}
	tmp := t.TempDir()
	spool, data, sinkDir := filepath.Join(tmp, "spool"), filepath.Join(tmp, "data"), filepath.Join(tmp, "sink")
	if err := os.MkdirAll(spool, 0o755); err != nil {
		t.Fatal(err)
	}
	sink := startSink(t, sinkDir)
	cfg := writeConfig(t, tmp, fmt.Sprintf(`
spool = %q
data = %q
rescan_interval = "200ms"
workers = 2

[submission]
backoff_min = "50ms"
backoff_max = "200ms"

[[group]]
name = "default"
full_delivery = true
concurrency = 4
nodes = [%q]
`, spool, data, sink.url))
	const sessions, kills = 500, 25
	want := map[string]bool{}
	next := 0
	addSessions := func(k int) {
		for i := 0; i < k && next < sessions; i++ {
			msgs := 1
			if next%5 == 0 {
				msgs = 2
			}
			name := fmt.Sprintf("Ccrash%04d", next)
			spoolWrite(t, spool, name, simpleSession(next, msgs), time.Time{})
			for m := 0; m < msgs; m++ {
				want[fmt.Sprintf("%s.%d", name, m)] = true
			}
			next++
		}
	}
	rng := rand.New(rand.NewPCG(42, uint64(time.Now().UnixNano())))
	killed := 0
	for killed < kills {
		addSessions(sessions / kills)
		killWhileClaiming(t, rng, spool, cfg)
		killed++
	}
	addSessions(sessions)
	code, logs := runCollect(t, "--config", cfg, "--once-timeout", "90s")
	if code != 0 {
		t.Fatalf("final collect exit %d:\n%s", code, logs)
	}
	got := byEmail(t, sinkDir)
	var missing []string
	dups := 0
	for id := range want {
		if len(got[id]) == 0 {
			missing = append(missing, id)
		}
		if len(got[id]) > 1 {
			dups += len(got[id]) - 1
		}
	}
	for id := range got {
		if !want[id] {
			t.Errorf("unexpected email %q at the sink", id)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("%d emails never reached the sink: %v", len(missing), missing)
	}
	st := statusJSON(t, data)
	if st == nil || st.Stats.Emails != int64(len(want)) || st.QueueDepth != 0 {
		t.Errorf("store after crash test: %+v", st)
	}
	if ents, _ := os.ReadDir(spool); len(ents) != 0 {
		t.Errorf("spool not drained: %d entries", len(ents))
	}
	t.Logf("crash test: %d sessions, %d emails, %d SIGKILLs; every email at the sink; %d duplicate submissions; %d spool entries claimed again after a kill",
		sessions, len(want), killed, dups, st.Stats.DuplicateClaims)
	sink.stop(t)
}

func TestProcReloadSIGHUP(t *testing.T) {
	tmp := t.TempDir()
	spool, data, sinkDir := filepath.Join(tmp, "spool"), filepath.Join(tmp, "data"), filepath.Join(tmp, "sink")
	if err := os.MkdirAll(spool, 0o755); err != nil {
		t.Fatal(err)
	}
	sink := startSink(t, sinkDir)
	conf := func(groups ...string) string {
		var b strings.Builder
		fmt.Fprintf(&b, "spool = %q\ndata = %q\nrescan_interval = \"200ms\"\n", spool, data)
		for _, g := range groups {
			fmt.Fprintf(&b, "[[group]]\nname = %q\nnodes = [%q]\n", g, sink.url)
		}
		return b.String()
	}
	cfg := writeConfig(t, tmp, conf("a"))
	col := start(t, "collect", "--config", cfg)
	spoolWrite(t, spool, "Chup1", simpleSession(1, 1), time.Time{})
	deadline := time.Now().Add(20 * time.Second)
	for len(byEmail(t, sinkDir)["Chup1.0"]) != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("not delivered:\n%s", col.stderr.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	writeConfig(t, tmp, conf("a", "b"))
	if err := col.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(10 * time.Second)
	for !strings.Contains(col.stderr.String(), "configuration reloaded") {
		if time.Now().After(deadline) {
			t.Fatalf("no reload:\n%s", col.stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	spoolWrite(t, spool, "Chup2", simpleSession(2, 1), time.Time{})
	deadline = time.Now().Add(20 * time.Second)
	for len(byEmail(t, sinkDir)["Chup2.0"]) != 2 {
		if time.Now().After(deadline) {
			t.Fatalf("Chup2.0 not delivered to both groups:\n%s", col.stderr.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	// a broken config is refused and the collector keeps running
	writeConfig(t, tmp, "spool = [")
	_ = col.cmd.Process.Signal(syscall.SIGHUP)
	deadline = time.Now().Add(10 * time.Second)
	for !strings.Contains(col.stderr.String(), "config not reloaded") {
		if time.Now().After(deadline) {
			t.Fatalf("bad config not reported:\n%s", col.stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if code := col.stop(t); code != 0 {
		t.Errorf("exit %d", code)
	}
	if n := len(byEmail(t, sinkDir)["Chup1.0"]); n != 1 {
		t.Errorf("Chup1.0 delivered %d times after reload, want 1", n)
	}
	sink.stop(t)
}

// writeCert makes a self-signed certificate for 127.0.0.1.
func writeCert(t *testing.T, dir string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), crand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "ace-sink test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, IsCA: true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(crand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

func TestProcTLS(t *testing.T) {
	tmp := t.TempDir()
	spool, data, sinkDir := filepath.Join(tmp, "spool"), filepath.Join(tmp, "data"), filepath.Join(tmp, "sink")
	cert, key := writeCert(t, tmp)
	sink := startSink(t, sinkDir, "--tls-cert", cert, "--tls-key", key)
	if !strings.HasPrefix(sink.url, "https://") {
		t.Fatalf("sink url %s", sink.url)
	}
	spoolWrite(t, spool, "Ctls", simpleSession(3, 1), time.Time{})
	// verification is on: an unknown CA is refused and nothing is delivered
	code, logs := runCollect(t, "--spool", spool, "--data", data, "--ace", sink.url, "--once-timeout", "3s", "--no-index")
	// (status 3 once main.go unwraps kong's errors.Join; non-zero either way)
	if code == 0 || !strings.Contains(logs, "certificate signed by unknown authority") || len(byEmail(t, sinkDir)) != 0 {
		t.Fatalf("without the CA: exit %d, sink %v\n%s", code, keys(byEmail(t, sinkDir)), logs)
	}
	// with the CA bundle the queued email goes through
	code, logs = runCollect(t, "--spool", spool, "--data", data, "--ace", sink.url, "--ace-ca", cert, "--no-index")
	if code != 0 || len(byEmail(t, sinkDir)["Ctls.0"]) != 1 {
		t.Fatalf("with the CA: exit %d\n%s", code, logs)
	}
	sink.stop(t)
}
