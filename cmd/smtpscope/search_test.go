package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/smtpscope/smtpscope/collector/api"
	"github.com/smtpscope/smtpscope/core"
	"github.com/smtpscope/smtpscope/index"
)

// TestSearchIndexReindexVerbs runs the real binary: a collector stores the
// bundled sample sessions without an index, `index` builds it, `search`
// finds what it must (table, JSON records, facets, query errors with the
// column), `reindex` gives the same answers, and while a collector owns
// the data dir `search` goes through its socket and `index` names the pid.
func TestSearchIndexReindexVerbs(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test (builds the binary, runs the collector)")
	}
	dir := t.TempDir()
	bin := testBinary(t)
	spool, data := sampleSpool(t, dir)
	// A file that is not a session goes to review/.
	os.WriteFile(filepath.Join(spool, "junk"), []byte("not a session\n"), 0o640)
	os.WriteFile(filepath.Join(spool, "junk.ready"), nil, 0o640)

	run := func(args ...string) (string, string, error) { return execBin(bin, args...) }
	if out, errs, err := run("collect", "--spool", spool, "--data", data, "--once", "--once-timeout", "30s", "--no-index", "--no-fsync"); err != nil {
		t.Fatalf("collect --once: %v\n%s%s", err, out, errs)
	}
	if _, errs, err := run("index", "--data", data); err != nil || !strings.Contains(errs, "indexed") {
		t.Fatalf("index: %v\n%s", err, errs)
	}

	// Table: every email, newest first, with the review entry.
	out, errs, err := run("search", "--data", data, "--limit", "0")
	if err != nil {
		t.Fatalf("search: %v\n%s", err, errs)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if !strings.HasPrefix(lines[0], "ID ") || !strings.Contains(out, "[review] junk") {
		t.Errorf("table:\n%s", out)
	}
	all := len(lines) - 1

	// JSON records of the emails with an attachment: the parse schema.
	out, errs, err = run("search", "--data", data, "--json", "--limit", "0", "has:attachment")
	if err != nil {
		t.Fatalf("search --json: %v\n%s", err, errs)
	}
	n := 0
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(nil, 64<<20)
	for sc.Scan() {
		var e core.Email
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("JSON line: %v\n%s", err, sc.Text())
		}
		if e.ID == "" || len(e.Attachments) == 0 {
			t.Errorf("record %q has no attachment", e.ID)
		}
		n++
	}
	if n == 0 {
		t.Error("no email with an attachment found")
	}

	// Facets and deep paging.
	out, _, err = run("search", "--data", data, "--facets", "--limit", "1")
	if err != nil || !strings.Contains(out, "sender domain:") || !strings.Contains(out, "attachment type:") {
		t.Errorf("facets: %v\n%s", err, out)
	}
	// A malformed query: non-zero exit, the column and a caret.
	_, errs, err = run("search", "--data", data, "from:(")
	if err == nil || !strings.Contains(errs, "col 6: unclosed '('") || !strings.Contains(errs, "^") {
		t.Errorf("bad query: %v\n%s", err, errs)
	}

	// Reindex: the same answers.
	before, _, _ := run("search", "--data", data, "--limit", "0", "has:attachment OR kind:review")
	if _, errs, err := run("reindex", "--data", data); err != nil || !strings.Contains(errs, "reindexed") {
		t.Fatalf("reindex: %v\n%s", err, errs)
	}
	after, _, _ := run("search", "--data", data, "--limit", "0", "has:attachment OR kind:review")
	if before != after || before == "" {
		t.Errorf("reindex changed the answers:\n%s\n---\n%s", before, after)
	}

	// A running collector owns the index: search goes through its socket.
	col := exec.Command(bin, "collect", "--spool", spool, "--data", data, "--no-fsync")
	var colErr bytes.Buffer
	col.Stderr = &colErr
	if err := col.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		col.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { col.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			col.Process.Kill()
		}
	}()
	var viaSocket string
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		out, errs, err := run("search", "--data", data, "--limit", "0")
		if err == nil && strings.Contains(errs, "through the running collector") {
			viaSocket = out
			break
		}
	}
	if viaSocket == "" {
		t.Fatalf("search never went through the running collector\n%s", colErr.String())
	}
	if got := len(strings.Split(strings.TrimSpace(viaSocket), "\n")) - 1; got != all {
		t.Errorf("through the socket: %d rows, directly %d", got, all)
	}
	_, errs, err = run("index", "--data", data)
	if err == nil || !strings.Contains(errs, "pid") || !strings.Contains(errs, data) {
		t.Errorf("index while the collector runs: %v\n%s", err, errs)
	}
}

// TestSearchRowRisk: the table's RISK column is the number of risk
// reasons of an email, empty (drawn "-") for the other kinds.
func TestSearchRowRisk(t *testing.T) {
	var risks []string
	for _, r := range []api.Row{{Kind: api.KindEmail, Risk: 2, Subject: "s"}, {Kind: api.KindEmail, Subject: "t"}, {Kind: api.KindSession, UID: "C1", Reason: "rejected"}} {
		risks = append(risks, rowCells(index.Hit{Row: r})[colRisk])
	}
	if strings.Join(risks, ",") != "2,0," || tableHeader[colRisk] != "RISK" {
		t.Errorf("risk column %q (heading %q)", risks, tableHeader[colRisk])
	}
}
