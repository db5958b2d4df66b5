package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/smtpscope/smtpscope/collector"
	"github.com/smtpscope/smtpscope/internal/backendtest"
)

// jsonLines decodes NDJSON text, failing on any line that is not one
// object; each object is re-encoded canonically (sorted keys), without
// event.created when drop is set (the one field that says when the event
// was made), and the list sorted.
func jsonLines(t *testing.T, what, text string, drop bool) []string {
	t.Helper()
	var out []string
	for i, l := range strings.Split(strings.TrimRight(text, "\n"), "\n") {
		if l == "" {
			continue
		}
		m := map[string]any{}
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("%s: line %d is not a JSON object: %v\n%s", what, i+1, err, l)
		}
		if ev, ok := m["event"].(map[string]any); ok && drop {
			delete(ev, "created")
		}
		b, _ := json.Marshal(m)
		out = append(out, string(b))
	}
	slices.Sort(out)
	return out
}

// TestEventFormatsOneEncoder: `search --format ecs|zeek` prints the very
// lines `collect --events` wrote for the same stored emails (ECS: but for
// event.created, the time each was made), and `parse --format` prints the
// same shapes for session files: the event log, search and parse share
// one encoder.
func TestEventFormatsOneEncoder(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test (builds the binary, runs the collector)")
	}
	bin := testBinary(t)
	run := func(args ...string) (string, string, error) { return execBin(bin, args...) }
	read := func(p string) string {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	for _, format := range []string{collector.EventsECS, collector.EventsZeek} {
		dir := t.TempDir()
		spool, data, logf := filepath.Join(dir, "spool"), filepath.Join(dir, "data"), filepath.Join(dir, "log", "smtp.log")
		backendtest.WriteSpool(t, spool)
		if out, errs, err := run("collect", "--spool", spool, "--data", data, "--sensor", "dmz-1", "--once", "--once-timeout", "60s",
			"--no-fsync", "--events", logf, "--events-format", format); err != nil {
			t.Fatalf("collect --once --events: %v\n%s%s", err, out, errs)
		}
		logged := jsonLines(t, "event log", read(logf), true)
		if len(logged) != backendtest.Emails {
			t.Fatalf("%s event log: %d lines, want one per email (%d)", format, len(logged), backendtest.Emails)
		}
		args := []string{"search", "--data", data, "--limit", "0", "--format", format}
		filesOut := filepath.Join(dir, "files.out")
		if format == collector.EventsZeek {
			args = append(args, "--files-log", filesOut)
		}
		out, errs, err := run(args...)
		if err != nil {
			t.Fatalf("search --format %s: %v\n%s", format, err, errs)
		}
		if got := jsonLines(t, "search", out, true); !slices.Equal(got, logged) {
			t.Errorf("search --format %s differs from the event log:\nsearch: %v\nlog:    %v", format, got, logged)
		}
		if format == collector.EventsZeek {
			logFiles := jsonLines(t, "files.log", read(collector.EventFilesPath(logf)), false)
			if got := jsonLines(t, "search --files-log", read(filesOut), false); len(logFiles) < backendtest.Emails || !slices.Equal(got, logFiles) {
				t.Errorf("search --files-log differs from the event log's files.log: %d and %d lines", len(got), len(logFiles))
			}
		}

		// parse: the same shape for the session files (no sensor: not stored)
		pargs := append([]string{"parse", "--format", format}, backendtest.Samples(t)...)
		pout, perrs, _ := run(pargs...) // a garbage sample makes the status 1; its emails are still printed
		parsed := withoutSensor(t, pout)
		all := read(logf)
		if format == collector.EventsZeek {
			all += read(collector.EventFilesPath(logf))
		}
		if want := withoutSensor(t, all); !slices.Equal(parsed, want) {
			t.Errorf("parse --format %s of the samples differs from the event log (sensor aside):\n%s\nparse: %v\nlog:   %v", format, perrs, parsed, want)
		}
	}
	// usage: --files-log only with zeek; ecs/zeek print emails only
	if _, errs, err := run("parse", "--format", "ecs", "--files-log", filepath.Join(t.TempDir(), "f"), "x"); exitStatus(err) != 2 || !strings.Contains(errs, "--files-log is for --format zeek") {
		t.Errorf("parse --format ecs --files-log: %v %s", err, errs)
	}
	if _, errs, err := run("search", "--data", t.TempDir(), "--format", "ecs", "--kind", "session"); exitStatus(err) != 2 || !strings.Contains(errs, "prints emails") {
		t.Errorf("search --format ecs --kind session: %v %s", err, errs)
	}
}

// withoutSensor is jsonLines without what names the sensor (parse
// stores nothing, so it has none): ECS event.created, event.id, observer
// and smtpscope.sensor; Zeek fuid and fuids (drawn from the global id).
func withoutSensor(t *testing.T, text string) []string {
	t.Helper()
	var out []string
	for _, l := range jsonLines(t, "lines", text, true) {
		m := map[string]any{}
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatal(err)
		}
		if ev, ok := m["event"].(map[string]any); ok {
			delete(ev, "id")
		}
		if sc, ok := m["smtpscope"].(map[string]any); ok {
			delete(sc, "sensor")
		}
		delete(m, "observer")
		delete(m, "fuid")
		delete(m, "fuids")
		b, _ := json.Marshal(m)
		out = append(out, string(b))
	}
	slices.Sort(out)
	return out
}

func exitStatus(err error) int {
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	if err == nil {
		return 0
	}
	return -1
}

// TestParseInternalDomains: parse --format ecs --internal-domains sets
// email.direction on a real capture (swaks-plain: alice@example.test to
// bob@example.test); without the flag there is none; the flag without
// --format ecs is a usage error.
func TestParseInternalDomains(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := testBinary(t)
	capture := filepath.Join("..", "..", "testdata", "sessions", "generated", "swaks-plain.session")
	direction := func(args ...string) any {
		t.Helper()
		out := runBin(t, bin, append(append([]string{"parse", "--format", "ecs"}, args...), capture)...)
		var ev struct{ Email map[string]any }
		if err := json.Unmarshal([]byte(out), &ev); err != nil {
			t.Fatalf("parse --format ecs %v: %v\n%s", args, err, out)
		}
		return ev.Email["direction"]
	}
	for _, c := range []struct {
		args []string
		want any
	}{
		{nil, nil},
		{[]string{"--internal-domains", "example.test"}, "internal"},
		{[]string{"--internal-domains", "corp.example,other.example"}, "external"},
	} {
		if got := direction(c.args...); got != c.want {
			t.Errorf("parse --format ecs %v: email.direction %v, want %v", c.args, got, c.want)
		}
	}
	cmd := exec.Command(bin, "parse", "--internal-domains", "example.test", capture)
	var errb bytes.Buffer
	cmd.Stderr = &errb
	if err := cmd.Run(); exitStatus(err) != 2 || !strings.Contains(errb.String(), "--internal-domains is for --format ecs") {
		t.Errorf("parse --internal-domains without --format ecs: %v %s", err, errb.String())
	}
}
