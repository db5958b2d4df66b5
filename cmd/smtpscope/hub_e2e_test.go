package main

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/smtpscope/smtpscope/collector"
	"github.com/smtpscope/smtpscope/collector/ace"
	"github.com/smtpscope/smtpscope/internal/natstest"
)

// hubSession is a one-message session file (ACE/Zeek format) whose
// message is unique to n; with attachment it carries one.
func hubSession(n int, attachment bool) []byte {
	body := fmt.Sprintf("Subject: note %d\nMessage-ID: <n%d@sender.example>\n\nhello %d\n", n, n, n)
	if attachment {
		body = fmt.Sprintf("Subject: invoice %d\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"b1\"\n\n"+
			"--b1\nContent-Type: text/plain\n\nsee attached\n--b1\nContent-Type: application/octet-stream\n"+
			"Content-Disposition: attachment; filename=\"inv.bin\"\nContent-Transfer-Encoding: base64\n\n%s\n--b1--\n",
			n, base64.StdEncoding.EncodeToString([]byte(fmt.Sprintf("payload %d", n))))
	}
	return []byte(fmt.Sprintf("192.0.2.%d:%d/tcp\n%d.5\n< > 220 mx.corp.example ESMTP\n> EHLO sender.example\n< EHLO 250 mx\n"+
		"> MAIL FROM:<a%d@sender.example>\n< MAIL 250 ok\n> RCPT TO:<u@corp.example>\n< RCPT 250 ok\n> DATA\n< DATA 354 go\n"+
		"From: a%d@sender.example\nTo: u@corp.example\n%s> . .\n< . 250 done\n> QUIT\n< QUIT 221 bye\n",
		n%250+1, 40000+n, 1700000000+n, n, n, body))
}

func writeSpool(t *testing.T, spool string, sessions map[string][]byte) {
	t.Helper()
	if err := os.MkdirAll(spool, 0o750); err != nil {
		t.Fatal(err)
	}
	for name, b := range sessions {
		if err := os.WriteFile(filepath.Join(spool, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(spool, name+".ready"), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// TestHubEndToEnd: two then three sensors (`collect --once --nats`) and
// one hub (`smtpscope hub`) on an in-process JetStream server, all on
// 127.0.0.1. `search`, `show` and `submit` on the hub's data dir work
// across sensors (through the hub's socket); the same session on two
// sensors is two emails; the hub killed with SIGKILL while it stores
// and started again loses and doubles nothing.
func TestHubEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test (builds the binary)")
	}
	sink, err := ace.NewSink(filepath.Join(t.TempDir(), "sink"), ace.SinkOptions{})
	if err != nil {
		t.Fatal(err)
	}
	aceSrv := httptest.NewServer(sink)
	defer aceSrv.Close()
	r := newHubRig(t, fmt.Sprintf("[[group]]\nname = \"ace\"\ncoverage = 100\nfull_delivery = true\nnodes = [%q]\n\n[submission]\nbackoff_min = \"50ms\"\n", aceSrv.URL))
	dir, bin, run, hubData, sensor := r.dir, r.bin, r.run, r.hubData, r.sensor
	startHub := func() *exec.Cmd { return r.startHub("--ack-wait", "2s") }
	hub := startHub()
	r.waitStream()

	shared := map[string][]byte{"C0": hubSession(0, false), "C1": hubSession(1, false)}
	// s1 also has a session the server refused (no email) and a file
	// that is not a session (a review entry): both travel to the hub
	s1 := map[string][]byte{"Crefused": []byte("192.0.2.9:4000/tcp\n1700000900.5\n< > 220 mx\n> EHLO bad.example\n< EHLO 250 mx\n" +
		"> MAIL FROM:<refused@bad.example>\n< MAIL 250 ok\n> RCPT TO:<victim@corp.example>\n< RCPT 550 no such user\n> QUIT\n< QUIT 221 bye\n"),
		"Cbad": []byte("not a session file\n")}
	for k, v := range shared {
		s1[k] = v
	}
	sensor("s1", s1)
	s2 := map[string][]byte{"Catt": hubSession(7, true)}
	for k, v := range shared {
		s2[k] = v
	}
	sensor("s2", s2)
	const first, mostly = 5, 300
	ids := func(q string) []string {
		got := searchIDs(t, run, hubData, q)
		slices.Sort(got)
		return got
	}
	// count is the hub's number of emails, -1 while it does not answer
	// (starting: index open, socket not yet served)
	count := func() int {
		out, err := exec.Command(bin, "search", "--data", hubData, "--json", "--limit", "0", "").Output()
		if err != nil {
			return -1
		}
		return strings.Count(string(out), "\n")
	}
	waitUntil(t, "the hub stores every email", func() bool { return count() == first })
	all := ids("")
	att := ids("sensor:s2 has:attachment")
	if len(att) != 1 || !strings.HasPrefix(att[0], "s2/") {
		t.Fatalf("sensor:s2 has:attachment finds %v", att)
	}
	if got := ids("id:" + att[0]); !slices.Equal(got, att) {
		t.Errorf("id:%s finds %v", att[0], got)
	}
	if got := ids("sensor:s1"); len(got) != 2 || !strings.HasPrefix(got[0], "s1/") {
		t.Errorf("sensor:s1 finds %v", got)
	}
	// the refused session is found at the hub by what it tried, as on
	// the sensor; the review entry is listed by status with its sensor
	waitUntil(t, "the hub indexes s1's refused session", func() bool {
		out, err := exec.Command(bin, "search", "--data", hubData, "--kind", "session", "mailfrom:refused@bad.example").Output()
		return err == nil && strings.Contains(string(out), "s1/")
	})
	if out := run("search", "--data", hubData, "--kind", "session", "rcpt:victim@corp.example sensor:s1"); !strings.Contains(out, "s1/") {
		t.Errorf("rcpt: at the hub:\n%s", out)
	}
	if out := run("show", "--data", hubData, "session/s1/Crefused"); !strings.Contains(out, "every recipient was refused") || !strings.Contains(out, "bad.example") {
		t.Errorf("show session/s1/Crefused at the hub:\n%s", out)
	}
	if out := run("search", "--data", hubData, "--kind", "review", "sensor:s1"); !strings.Contains(out, "Cbad") {
		t.Errorf("the review entry at the hub:\n%s", out)
	}
	if out := run("status", "--data", hubData); !strings.Contains(out, "review/    1 entries") || !strings.Contains(out, "Cbad") {
		t.Errorf("status at the hub does not list s1's review entry:\n%s", out)
	}
	// the same session on two sensors: two emails
	for _, id := range ids("sensor:s1") {
		_, local, _ := strings.Cut(id, "/")
		if !slices.Contains(all, "s2/"+local) {
			t.Errorf("%s: no s2/%s beside it (all: %v)", id, local, all)
		}
	}
	// show: byte-exact raw, the record
	raw := run("show", "--data", hubData, "--raw", "--force", att[0])
	sum := sha256.Sum256([]byte(raw))
	rec := searchRecords(t, run, hubData, "sensor:s2 has:attachment")[0]
	if hex.EncodeToString(sum[:]) != rec.SHA256 || rec.Sensor != "s2" || rec.ID != att[0] {
		t.Errorf("show --raw %s: sha256 %x, record %s %s %s", att[0], sum, rec.ID, rec.Sensor, rec.SHA256)
	}
	if out := run("show", "--data", hubData, att[0]); !strings.Contains(out, "invoice 7") {
		t.Errorf("show %s:\n%s", att[0], out)
	}
	// export: the same id of two sensors is two files
	out := filepath.Join(dir, "export")
	run("export", "--data", hubData, "--format", "eml", "-o", out, "")
	files, _ := filepath.Glob(filepath.Join(out, "*.eml"))
	if len(files) != first || !slices.Contains(files, filepath.Join(out, "s1.C0.0.eml")) || !slices.Contains(files, filepath.Join(out, "s2.C0.0.eml")) {
		t.Errorf("export: %v", files)
	}
	// resubmission to the hub's ACE group, through its running queue
	run("submit", "--data", hubData, att[0])
	waitUntil(t, "the hub delivers the resubmitted email", func() bool { return slices.Equal(ids("status:sent"), att) })

	// SIGKILL while storing: a third sensor's 300 emails wait in the
	// stream; the hub is killed once some are stored, then restarted.
	if err := hub.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = hub.Wait()
	many := map[string][]byte{}
	for i := range mostly {
		many[fmt.Sprintf("M%d", i)] = hubSession(100+i, false)
	}
	sensor("s3", many)
	hub = startHub()
	// kill it while it stores: once a few of s3's files are written
	emlFiles := func() int {
		n := 0
		_ = filepath.WalkDir(filepath.Join(hubData, "emails"), func(p string, d os.DirEntry, err error) error {
			if err == nil && strings.HasSuffix(p, ".eml") {
				n++
			}
			return nil
		})
		return n
	}
	waitUntil(t, "the restarted hub stores some", func() bool { return emlFiles() > first+5 })
	if err := hub.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	t.Logf("killed the hub with %d .eml files written, %d of %d emails searchable", emlFiles(), count(), first+mostly)
	_ = hub.Wait()
	hub = startHub()
	waitUntil(t, "the hub stores every email after the kill", func() bool { return count() >= first+mostly })
	got := ids("")
	if len(got) != first+mostly || len(slices.Compact(slices.Clone(got))) != len(got) {
		t.Fatalf("after the kill: %d emails (%d distinct), want %d", len(got), len(slices.Compact(slices.Clone(got))), first+mostly)
	}
	if s3 := ids("sensor:s3"); len(s3) != mostly {
		t.Errorf("sensor:s3 finds %d, want %d", len(s3), mostly)
	}
	status := run("status", "--data", hubData, "--json")
	if !strings.Contains(status, fmt.Sprintf(`"emails": %d`, first+mostly)) && !strings.Contains(status, fmt.Sprintf(`"emails":%d`, first+mostly)) {
		t.Errorf("status: want %d emails stored:\n%s", first+mostly, status)
	}
	if err := hub.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := hub.Wait(); err != nil {
		t.Errorf("hub after SIGTERM: %v", err)
	}
}

// waitUntil polls cond (a deadline only against hanging, not a timing
// assertion).
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 60s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// hubRig is the set-up the hub's end-to-end tests share: the test
// binary, an in-process JetStream server, the hub's data dir and config
// file, and sensors that send to it with `collect --once`.
type hubRig struct {
	t                      *testing.T
	dir, bin, url, hubData string
	cfg                    string
}

// newHubRig starts the NATS server and writes config as the hub's
// config file; the hub itself starts with startHub.
func newHubRig(t *testing.T, config string) *hubRig {
	t.Helper()
	dir := t.TempDir()
	r := &hubRig{t: t, dir: dir, bin: testBinary(t), hubData: filepath.Join(dir, "hub"), cfg: filepath.Join(dir, "hub.toml")}
	r.url = natstest.Start(t, filepath.Join(dir, "js"), nil).ClientURL()
	if err := os.WriteFile(r.cfg, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	return r
}

func (r *hubRig) run(args ...string) string {
	r.t.Helper()
	return runBin(r.t, r.bin, args...)
}

// startHub starts `hub` on the rig's data dir, server and config, with
// extra flags; it is killed at the end of the test.
func (r *hubRig) startHub(extra ...string) *exec.Cmd {
	r.t.Helper()
	args := append([]string{"hub", "--data", r.hubData, "--nats", r.url, "--config", r.cfg, "--no-fsync"}, extra...)
	cmd := exec.Command(r.bin, args...)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	r.t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return cmd
}

// waitStream waits until the hub has created its stream.
func (r *hubRig) waitStream() {
	r.t.Helper()
	nc, err := nats.Connect(r.url)
	if err != nil {
		r.t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	waitUntil(r.t, "the hub creates the stream", func() bool {
		_, err := js.Stream(context.Background(), collector.HubStream)
		return err == nil
	})
}

// sensor writes sessions into a spool of its own and sends them to the
// hub's server with `collect --once` as sensor name.
func (r *hubRig) sensor(name string, sessions map[string][]byte) {
	r.t.Helper()
	spool := filepath.Join(r.dir, name, "spool")
	writeSpool(r.t, spool, sessions)
	r.run("collect", "--once", "--spool", spool, "--data", filepath.Join(r.dir, name, "data"), "--sensor", name, "--nats", r.url, "--no-fsync", "--no-index")
}
