package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/smtpscope/smtpscope/collector"
	"github.com/smtpscope/smtpscope/collector/service"
	"github.com/smtpscope/smtpscope/core"
	"github.com/smtpscope/smtpscope/internal/backendtest"
	"github.com/smtpscope/smtpscope/ui/sanitize"
)

// storeOnce runs the collector with its index once over cfg's spool
// (as collect --once does, logging nowhere) and closes it.
func storeOnce(t *testing.T, cfg *collector.Config) {
	t.Helper()
	svc, err := openService(cfg, serviceOpts{log: slog.New(slog.NewTextHandler(io.Discard, nil)), index: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.RunOnce(context.Background(), time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := svc.Close(); err != nil {
		t.Fatal(err)
	}
}

// serveService starts the service over cfg with o (logging nowhere) and
// serves its UI socket, as the collect daemon does, in the test's
// context: both stop when the test ends.
func serveService(t *testing.T, cfg *collector.Config, o serviceOpts) *service.Service {
	t.Helper()
	o.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	svc, err := openService(cfg, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Close() }) // after t.Context() is cancelled
	svc.Start(t.Context())
	serveSocket(t.Context(), cfg, svc, o.log)
	return svc
}

// storedDataDir runs the collector once (with its index) over the demo
// samples (and the .eml directories given) and returns the data dir.
func storedDataDir(t *testing.T, emlDirs ...string) string {
	t.Helper()
	tmp := t.TempDir()
	spool, data := filepath.Join(tmp, "spool"), filepath.Join(tmp, "data")
	backendtest.WriteSpool(t, spool)
	noSync := false
	cfg := &collector.Config{Spool: spool, Data: data, Fsync: &noSync, EMLDir: emlDirs}
	storeOnce(t, cfg)
	return data
}

// storedRaws returns every stored email's exact bytes by id.
func storedRaws(t *testing.T, data string) map[string][]byte {
	t.Helper()
	st, err := collector.OpenStore(data, collector.StoreOptions{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	out := map[string][]byte{}
	var ids []string
	if err := st.ListEmails(func(m *collector.EmailMeta) bool { ids = append(ids, m.ID); return true }); err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		b, err := st.Raw(id)
		if err != nil {
			t.Fatal(err)
		}
		out[id] = b
	}
	if len(out) < backendtest.Emails {
		t.Fatalf("%d emails stored, want %d at least", len(out), backendtest.Emails)
	}
	return out
}

// show runs `smtpscope show` as the command line args gives it, with
// standard output a terminal or not.
func show(t *testing.T, tty bool, args ...string) (string, error) {
	t.Helper()
	var cli CLI
	var stderr bytes.Buffer
	ctx, code := parseArgs(&cli, append([]string{"show"}, args...), &stderr)
	if ctx == nil {
		return "", exitError{code: code, err: errors.New(stderr.String())}
	}
	old := stdoutIsTerminal
	stdoutIsTerminal = func() bool { return tty }
	defer func() { stdoutIsTerminal = old }()
	var out bytes.Buffer
	err := cli.Show.run(context.Background(), &out)
	return out.String(), err
}

// export runs `smtpscope export`; it returns stdout and stderr.
func export(t *testing.T, tty bool, args ...string) (string, string, error) {
	t.Helper()
	var cli CLI
	var stderr bytes.Buffer
	ctx, code := parseArgs(&cli, append([]string{"export"}, args...), &stderr)
	if ctx == nil {
		return "", stderr.String(), exitError{code: code, err: errors.New(stderr.String())}
	}
	old := stdoutIsTerminal
	stdoutIsTerminal = func() bool { return tty }
	defer func() { stdoutIsTerminal = old }()
	var out bytes.Buffer
	err := cli.Export.run(context.Background(), &out, &stderr)
	return out.String(), stderr.String(), err
}

func wantErr(t *testing.T, what string, err error, code int, msg string) {
	t.Helper()
	if err == nil || exitCode(err) != code || !strings.Contains(err.Error(), msg) {
		t.Errorf("%s: error %v (exit %d), want exit %d with %q", what, err, exitCode(err), code, msg)
	}
}

// TestShow: show gives the stored bytes exactly (--raw, -o), the record
// (--json), the header block, the transcript, an attachment by sha256 or
// sha1, a sanitized summary, a session without email; and a clear error
// with its exit status for each wrong request.
func TestShow(t *testing.T) {
	data := storedDataDir(t)
	raws := storedRaws(t, data)
	for id, want := range raws {
		out, err := show(t, false, "--data", data, "--raw", id)
		if err != nil || sha256.Sum256([]byte(out)) != sha256.Sum256(want) {
			t.Errorf("show --raw %s: %v; %d bytes, not the stored %d", id, err, len(out), len(want))
		}
		out, err = show(t, false, "--data", data, "--json", id)
		var rec core.Email
		if err != nil || json.Unmarshal([]byte(out), &rec) != nil || rec.ID != id || rec.SHA256 != sha256hex(want) {
			t.Errorf("show --json %s: %v: id %q sha256 %q", id, err, rec.ID, rec.SHA256)
		}
	}

	// Raw bytes never reach a terminal unasked.
	_, err := show(t, true, "--data", data, "--raw", "demo-hostile.0")
	wantErr(t, "--raw to a terminal", err, exitUsage, "refusing to write the raw message")
	out, err := show(t, true, "--data", data, "--raw", "--force", "demo-hostile.0")
	if err != nil || out != string(raws["demo-hostile.0"]) {
		t.Errorf("--raw --force to a terminal: %v", err)
	}
	file := filepath.Join(t.TempDir(), "m.eml")
	if _, err := show(t, true, "--data", data, "--raw", "-o", file, "demo-invoice.0"); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(file); !bytes.Equal(b, raws["demo-invoice.0"]) {
		t.Errorf("-o FILE: %d bytes, not the stored %d", len(b), len(raws["demo-invoice.0"]))
	}
	_, err = show(t, false, "--data", data, "--raw", "-o", file, "demo-phish.0")
	wantErr(t, "-o over an existing file", err, 1, "exists; choose another -o FILE or add --force")
	if _, err := show(t, false, "--data", data, "--raw", "--force", "-o", file, "demo-phish.0"); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(file); !bytes.Equal(b, raws["demo-phish.0"]) {
		t.Errorf("-o FILE --force did not overwrite")
	}

	// The summary: escaped, with the attachments' hashes and the IOCs.
	var rec core.Email
	out, _ = show(t, false, "--data", data, "--json", "demo-invoice.0")
	if err := json.Unmarshal([]byte(out), &rec); err != nil || len(rec.Attachments) != 2 {
		t.Fatalf("record: %v, %d attachments", err, len(rec.Attachments))
	}
	out, err = show(t, false, "--data", data, "demo-invoice.0")
	for _, w := range []string{"Email:       demo-invoice.0", "MAIL FROM: billing@supplier.example.org", "Subject:   Invoice INV-2025-1187 overdue",
		"Attachments (2;", rec.Attachments[1].SHA256, rec.Attachments[1].SHA1, "application/vnd.microsoft.portable-executable", "IOCs (2)",
		"CommunityID: " + core.CommunityID("192.0.2.44", 40001, "198.51.100.25", 25)} {
		if err != nil || !strings.Contains(out, w) {
			t.Errorf("summary lacks %q (%v):\n%s", w, err, out)
		}
	}
	out, err = show(t, false, "--data", data, "demo-hostile.0")
	assertTerminalSafe(t, "show summary", out)
	if err != nil || !strings.Contains(out, `Hostile \x1b[31mRED`) || !strings.Contains(out, `invoice\u202efdp.exe`) {
		t.Errorf("hostile summary (%v):\n%s", err, out)
	}

	// Header block and transcript: escaped on stdout, exact with -o.
	out, err = show(t, false, "--data", data, "--headers", "demo-hostile.0")
	hb := headerBlock(raws["demo-hostile.0"])
	if err != nil || out != sanitize.Text(string(hb)) || !strings.Contains(out, "Subject: Hostile") || len(hb) >= len(raws["demo-hostile.0"]) {
		t.Errorf("--headers (%v):\n%s", err, out)
	}
	assertTerminalSafe(t, "show --headers", out)
	hfile := filepath.Join(t.TempDir(), "h.txt")
	if _, err := show(t, false, "--data", data, "--headers", "-o", hfile, "demo-hostile.0"); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(hfile); !bytes.Equal(b, hb) {
		t.Errorf("--headers -o: %q", b)
	}
	out, err = show(t, false, "--data", data, "--transcript", "demo-phish.0")
	if err != nil || !strings.Contains(out, "C: MAIL FROM:<security@pay-pal-secure.example.net>") || !strings.Contains(out, "S: 250") {
		t.Errorf("--transcript (%v):\n%s", err, out)
	}
	out, err = show(t, false, "--data", data, "--transcript", "demo-hostile.0")
	if err != nil {
		t.Errorf("--transcript of the hostile email: %v", err)
	}
	assertTerminalSafe(t, "show --transcript", out)

	// Attachments by sha256 and by sha1, checked; binary refused on a tty.
	for _, h := range []string{rec.Attachments[1].SHA256, strings.ToUpper(rec.Attachments[1].SHA1)} {
		out, err = show(t, false, "--data", data, "--attachment", h, "demo-invoice.0")
		if err != nil || sha256hex([]byte(out)) != rec.Attachments[1].SHA256 {
			t.Errorf("--attachment %s: %v, sha256 %s", h, err, sha256hex([]byte(out)))
		}
	}
	_, err = show(t, true, "--data", data, "--attachment", rec.Attachments[0].SHA256, "demo-invoice.0")
	wantErr(t, "--attachment to a terminal", err, exitUsage, "refusing to write attachment INV-2025-1187.zip")
	_, err = show(t, false, "--data", data, "--attachment", strings.Repeat("0", 64), "demo-invoice.0")
	wantErr(t, "unknown attachment", err, 1, "has no attachment with sha256 "+strings.Repeat("0", 64)+" (it has 2;")
	_, err = show(t, false, "--data", data, "--attachment", "abc", "demo-invoice.0")
	wantErr(t, "short hash", err, exitUsage, "full sha256 (64 hex digits) or sha1 (40)")

	// Sessions without email.
	out, err = show(t, false, "--data", data, "session/demo-rejected")
	if err != nil || !strings.Contains(out, "No email:    every recipient was refused") || !strings.Contains(out, "203.0.113.200:41000 -> ?") {
		t.Errorf("session (%v):\n%s", err, out)
	}
	out, err = show(t, false, "--data", data, "--transcript", "session/demo-rejected")
	if err != nil || !strings.Contains(out, "C: RCPT TO:") {
		t.Errorf("session --transcript (%v):\n%s", err, out)
	}
	_, err = show(t, false, "--data", data, "--raw", "session/demo-rejected")
	wantErr(t, "--raw of a session", err, exitUsage, "is a session without email")

	// Review entries.
	out, err = show(t, false, "--data", data, "review/demo-garbage.session")
	if err != nil || !strings.Contains(out, "Reason:      demo-garbage.session:1: not a session file") {
		t.Errorf("review entry (%v):\n%s", err, out)
	}
	out, err = show(t, false, "--data", data, "--raw", "review/demo-garbage.session")
	if sample, _ := os.ReadFile(filepath.Join(filepath.Dir(backendtest.Samples(t)[0]), "demo-garbage.session")); err != nil || out != string(sample) {
		t.Errorf("review --raw: %v, %q", err, out)
	}
	_, err = show(t, false, "--data", data, "--json", "review/demo-garbage.session")
	wantErr(t, "--json of a review entry", err, exitUsage, "is a review entry")

	// Unknown ids, missing data dirs, two modes at once.
	_, err = show(t, false, "--data", data, "nope.0")
	wantErr(t, "unknown id", err, 1, "nope.0: no such email, session or review entry in this data dir")
	_, err = show(t, false, "--data", data, "session/nope")
	wantErr(t, "unknown session", err, 1, "session/nope: no such email, session")
	_, err = show(t, false, "--data", filepath.Join(data, "typo"), "x")
	wantErr(t, "missing data dir", err, 1, "data dir:")
	_, err = show(t, false, "--data", data, "--raw", "--json", "x")
	wantErr(t, "two modes", err, exitUsage, "--json and --raw can't be used together")
	_, err = show(t, false, "--data", data, "")
	wantErr(t, "empty id", err, exitUsage, "no id: give an email id")

	// An archived attachment whose bytes changed is not written.
	arch := filepath.Join(data, filepath.FromSlash(collector.ArchiveRel(rec.Attachments[0].SHA1)))
	if err := os.WriteFile(arch, []byte("tampered"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err = show(t, false, "--data", data, "--attachment", rec.Attachments[0].SHA256, "demo-invoice.0")
	wantErr(t, "tampered archive", err, 1, "the bytes found have sha256 "+sha256hex([]byte("tampered"))+", not "+rec.Attachments[0].SHA256+": not written")
	if out != "" {
		t.Errorf("tampered attachment written: %q", out)
	}
}

func sha256hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// TestExport: eml, mbox and json exports carry every email of the result
// set with its exact bytes (mbox read back by parse --mbox's reader), say
// how many on stderr, keep files they did not write, and give usage errors
// for what cannot work.
func TestExport(t *testing.T) {
	data := storedDataDir(t)
	raws := storedRaws(t, data)

	dir := filepath.Join(t.TempDir(), "out")
	_, errs, err := export(t, false, "--data", data, "--format", "eml", "-o", dir)
	if err != nil || !strings.Contains(errs, "exported 7 emails (eml) to "+dir) {
		t.Fatalf("eml: %v\n%s", err, errs)
	}
	for id, want := range raws {
		b, err := os.ReadFile(filepath.Join(dir, id+".eml"))
		if err != nil || sha256hex(b) != sha256hex(want) {
			t.Errorf("%s.eml: %v, not the stored bytes", id, err)
		}
	}
	_, errs, err = export(t, false, "--data", data, "--format", "eml", "-o", dir, "has:attachment")
	if err != nil || !strings.Contains(errs, "exported 0 emails (eml)") || !strings.Contains(errs, "2 already there with the same bytes") {
		t.Errorf("eml again: %v\n%s", err, errs)
	}
	if err := os.WriteFile(filepath.Join(dir, "demo-invoice.0.eml"), []byte("other"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, _, err = export(t, false, "--data", data, "--format", "eml", "-o", dir, "has:attachment")
	wantErr(t, "eml over other bytes", err, 1, "demo-invoice.0.eml exists with other bytes")

	// mbox: the messages read back are the stored bytes, and parse --mbox
	// gives each the stored record's sha256.
	mbox := filepath.Join(t.TempDir(), "all.mbox")
	_, errs, err = export(t, false, "--data", data, "--format", "mbox", "-o", mbox, "-kind:session")
	if err != nil || !strings.Contains(errs, "exported 7 emails (mbox) to "+mbox) || strings.Contains(errs, "note:") {
		t.Fatalf("mbox: %v\n%s", err, errs)
	}
	f, err := os.Open(mbox)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := core.NewMboxReader(f, 0)
	var got []string
	for {
		msg, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, sha256hex(msg))
	}
	var want []string
	for _, b := range raws {
		want = append(want, sha256hex(b))
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("mbox messages read back:\n%v\nwant the stored\n%v", got, want)
	}
	recs, err := analyzeMbox(core.NewAnalyzer(core.DefaultOptions()), mbox)
	if err != nil || len(recs) != len(raws) {
		t.Fatalf("parse --mbox: %v, %d records", err, len(recs))
	}
	for _, rec := range recs {
		if !slices.Contains(want, rec.SHA256) {
			t.Errorf("parse --mbox record %s: sha256 %s is no stored email's", rec.ID, rec.SHA256)
		}
	}
	_, _, err = export(t, true, "--data", data, "--format", "mbox")
	wantErr(t, "mbox to a terminal", err, exitUsage, "refusing to write an mbox")
	_, _, err = export(t, false, "--data", data, "--format", "mbox", "-o", mbox)
	wantErr(t, "mbox over a file", err, 1, "exists; choose another -o FILE or add --force")

	// json: one record per line, only the emails the query finds.
	out, errs, err := export(t, false, "--data", data, "--format", "json", "has:attachment")
	if err != nil || !strings.Contains(errs, "exported 2 emails (json) to standard output") {
		t.Fatalf("json: %v\n%s", err, errs)
	}
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(nil, 16<<20)
	var ids []string
	for sc.Scan() {
		var e core.Email
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("json line: %v", err)
		}
		if sha256hex(raws[e.ID]) != e.SHA256 || len(e.Attachments) == 0 {
			t.Errorf("json record %s: not the stored email with an attachment", e.ID)
		}
		ids = append(ids, e.ID)
	}
	slices.Sort(ids)
	if !slices.Equal(ids, []string{"demo-hostile.0", "demo-invoice.0"}) {
		t.Errorf("json ids %v", ids)
	}

	_, _, err = export(t, false, "--data", data, "--format", "eml")
	wantErr(t, "eml without -o", err, exitUsage, "give the directory with -o DIR")

	// An email whose bytes are gone: a warning naming it, the others
	// exported, exit status 1.
	st, err := collector.OpenStore(data, collector.StoreOptions{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	m, err := st.Email("demo-phish.0")
	st.Close()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(data, filepath.FromSlash(m.EML))); err != nil {
		t.Fatal(err)
	}
	_, errs, err = export(t, false, "--data", data, "--format", "mbox", "-o", filepath.Join(t.TempDir(), "x.mbox"))
	wantErr(t, "a missing .eml", err, 1, "1 of 7 emails not exported")
	if !strings.Contains(errs, "warning: email demo-phish.0: ") || !strings.Contains(errs, "exported 6 emails (mbox)") || !strings.Contains(errs, "1 could not be read (see the warnings above)") {
		t.Errorf("a missing .eml:\n%s", errs)
	}
	_, _, err = export(t, false, "--data", data, "--format", "json", "from:(")
	wantErr(t, "bad query", err, 1, "col 6: unclosed '('")
	_, _, err = export(t, false, "--data", data, "--format", "xml")
	wantErr(t, "unknown format", err, exitUsage, "--format must be one of")
}

// TestShowExportThroughCollector: while a collector owns the data dir,
// show and export go through its socket and give the same bytes.
func TestShowExportThroughCollector(t *testing.T) {
	data := storedDataDir(t)
	raws := storedRaws(t, data)
	noSync := false
	cfg := &collector.Config{Spool: "-", Data: data, Fsync: &noSync}
	serveService(t, cfg, serviceOpts{noSpool: true, index: true})

	var out string
	var err error
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		out, err = show(t, false, "--data", data, "--raw", "demo-invoice.0")
		if err == nil || time.Now().After(deadline) {
			break
		}
	}
	if err != nil || out != string(raws["demo-invoice.0"]) {
		t.Fatalf("show --raw through the collector: %v", err)
	}
	out, err = show(t, false, "--data", data, "--transcript", "session/demo-rejected")
	if err != nil || !strings.Contains(out, "C: RCPT TO:") {
		t.Errorf("show --transcript of a session through the collector: %v\n%s", err, out)
	}
	_, err = show(t, false, "--data", data, "nope.0")
	wantErr(t, "unknown id through the collector", err, 1, "no such email, session or review entry")
	dir := filepath.Join(t.TempDir(), "out")
	_, errs, err := export(t, false, "--data", data, "--format", "eml", "-o", dir)
	if err != nil || !strings.Contains(errs, "exported 7 emails") {
		t.Fatalf("export through the collector: %v\n%s", err, errs)
	}
	for id, want := range raws {
		if b, err := os.ReadFile(filepath.Join(dir, id+".eml")); err != nil || !bytes.Equal(b, want) {
			t.Errorf("%s.eml through the collector: %v", id, err)
		}
	}
}

// FuzzHeaderBlock: the header block is a prefix of the message; when it
// is not all of it, it ends with its first blank line (LF or CRLF) and
// holds no earlier one.
func FuzzHeaderBlock(f *testing.F) {
	f.Add([]byte("Subject: a\r\n\r\nbody\r\n"))
	f.Add([]byte("Subject: a\n\nbody"))
	f.Add([]byte("no blank line"))
	f.Add([]byte("\n"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		hb := headerBlock(raw)
		if !bytes.HasPrefix(raw, hb) {
			t.Fatalf("%q is not a prefix of %q", hb, raw)
		}
		lines := bytes.SplitAfter(hb, []byte("\n"))
		for i, l := range lines {
			blank := len(bytes.TrimRight(l, "\r\n")) == 0 && bytes.HasSuffix(l, []byte("\n"))
			last := i == len(lines)-1 || (i == len(lines)-2 && len(lines[len(lines)-1]) == 0)
			if blank && !last {
				t.Fatalf("blank line %d inside the header block %q", i, hb)
			}
			if len(hb) < len(raw) && last && len(l) > 0 && !blank {
				t.Fatalf("cut header block %q does not end with a blank line", hb)
			}
		}
	})
}

// TestExportMboxLineEnd: a stored message without a final line end (raw
// .eml input) gains one in an mbox, and export says so.
func TestExportMboxLineEnd(t *testing.T) {
	emls := t.TempDir()
	p := filepath.Join(emls, "cut.eml")
	if err := os.WriteFile(p, []byte("Subject: no line end\r\n\r\nlast line"), 0o600); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-time.Minute) // settled: read at once
	if err := os.Chtimes(p, old, old); err != nil {
		t.Fatal(err)
	}
	data := storedDataDir(t, emls)
	mbox := filepath.Join(t.TempDir(), "x.mbox")
	_, errs, err := export(t, false, "--data", data, "--format", "mbox", "-o", mbox, "subject:line")
	if err != nil || !strings.Contains(errs, "exported 1 emails (mbox)") ||
		!strings.Contains(errs, "note: 1 messages do not end with a line end; the mbox adds one to each (--format eml keeps the exact bytes)") {
		t.Fatalf("%v\n%s", err, errs)
	}
	dir := filepath.Join(t.TempDir(), "eml")
	if _, _, err := export(t, false, "--data", data, "--format", "eml", "-o", dir, "subject:line"); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.eml"))
	if len(files) != 1 {
		t.Fatalf("eml files %v", files)
	}
	if b, _ := os.ReadFile(files[0]); string(b) != "Subject: no line end\r\n\r\nlast line" {
		t.Errorf("eml export: %q", b)
	}
}
