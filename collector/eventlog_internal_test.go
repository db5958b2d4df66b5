package collector

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	bolt "go.etcd.io/bbolt"
)

// eventsConfig is a collector config on a fresh spool and data dir with
// an event log in format.
func eventsConfig(t *testing.T, format string) (*Config, string) {
	t.Helper()
	tmp := t.TempDir()
	off := false
	cfg := &Config{Spool: filepath.Join(tmp, "spool"), Data: filepath.Join(tmp, "data"), Fsync: &off,
		Output: OutputConfig{Events: filepath.Join(tmp, "log", "email.ndjson"), EventsFormat: format}}
	cfg.ApplyDefaults()
	return cfg, cfg.Spool
}

func runEventsOnce(t *testing.T, cfg *Config) {
	t.Helper()
	c, err := New(cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.RunOnce(context.Background(), time.Minute); err != nil {
		t.Fatal(err)
	}
}

// readLines reads an NDJSON file: one object per line, each valid JSON.
func readLines(t *testing.T, p string) []map[string]any {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []map[string]any
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 16<<20)
	for sc.Scan() {
		m := map[string]any{}
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("%s: line %d is not one JSON object: %v\n%s", p, len(out)+1, err, sc.Bytes())
		}
		out = append(out, m)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func ecsIDs(t *testing.T, lines []map[string]any) []string {
	t.Helper()
	var ids []string
	for _, l := range lines {
		sc, _ := l["smtpscope"].(map[string]any)
		id, _ := sc["id"].(string)
		if id == "" {
			t.Fatalf("line without smtpscope.id: %v", l)
		}
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

func storedIDs(t *testing.T, cfg *Config) []string {
	t.Helper()
	st, err := OpenStore(cfg.Data, StoreOptions{ReadOnly: true, Timeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var ids []string
	if err := st.ListEmails(func(m *EmailMeta) bool { ids = append(ids, m.ID); return true }); err != nil {
		t.Fatal(err)
	}
	slices.Sort(ids)
	return ids
}

func unloggedCount(t *testing.T, cfg *Config) int {
	t.Helper()
	st, err := OpenStore(cfg.Data, StoreOptions{ReadOnly: true, Timeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	n, err := st.UnloggedCount()
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestEventLogOneLinePerEmail: every stored email gets exactly one ECS
// line (with email.direction from [output] internal_domains), also when the same spool content is seen again, and no mark is
// left once the log is written.
func TestEventLogOneLinePerEmail(t *testing.T) {
	cfg, spool := eventsConfig(t, EventsECS)
	cfg.Output.InternalDomains = []string{"d.example"} // the sessions' recipient domain
	for i := range 5 {
		writeSpool(t, spool, fmt.Sprintf("C%d", i), testSession(i), true)
	}
	runEventsOnce(t, cfg)
	lines := readLines(t, cfg.Output.Events)
	want := storedIDs(t, cfg)
	if got := ecsIDs(t, lines); len(want) != 5 || !slices.Equal(got, want) {
		t.Fatalf("event log ids %v, stored %v", got, want)
	}
	if n := unloggedCount(t, cfg); n != 0 {
		t.Errorf("%d marks left after the log was written", n)
	}
	// a second run with nothing new writes nothing
	runEventsOnce(t, cfg)
	if n := len(readLines(t, cfg.Output.Events)); n != 5 {
		t.Errorf("%d lines after a second run, want 5", n)
	}
	for _, l := range lines {
		if l["@timestamp"] == nil || l["event"] == nil || l["email"] == nil {
			t.Errorf("ECS line lacks @timestamp/event/email: %v", l)
		}
		// a@b.example to c@d.example, d.example internal
		if em, _ := l["email"].(map[string]any); em["direction"] != "inbound" {
			t.Errorf("email.direction %v with internal_domains [d.example], want inbound", em["direction"])
		}
	}
}

// TestEventLogCrashCatchUp: the commits mark each new email in their own
// transaction; when the process dies before the log writer ran (here: a
// writer stopped before it wrote anything, its files never touched), the
// next start writes every marked email's event and clears the marks. A
// crash after the log's fsync and before the marks are cleared writes
// those events again (duplicates, never losses).
func TestEventLogCrashCatchUp(t *testing.T) {
	cfg, spool := eventsConfig(t, EventsECS)
	for i := range 4 {
		writeSpool(t, spool, fmt.Sprintf("C%d", i), testSession(i), true)
	}
	c, err := New(cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	c.events.mu.Lock()
	c.events.closed = true // the writer "dies": nothing is written from here
	c.events.mu.Unlock()
	c.events.poke()
	if err := c.RunOnce(context.Background(), time.Minute); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(cfg.Output.Events); !os.IsNotExist(err) {
		t.Fatalf("the stopped writer wrote the log: %v", err)
	}
	if n := unloggedCount(t, cfg); n != 4 {
		t.Fatalf("%d marks after commits whose events were not written, want 4", n)
	}
	runEventsOnce(t, cfg) // the next start
	want := storedIDs(t, cfg)
	if got := ecsIDs(t, readLines(t, cfg.Output.Events)); !slices.Equal(got, want) {
		t.Fatalf("after the restart the log has %v, stored %v", got, want)
	}
	if n := unloggedCount(t, cfg); n != 0 {
		t.Errorf("%d marks left after the catch-up", n)
	}

	// died after the fsync, before the marks were cleared: mark again
	st, err := OpenStore(cfg.Data, StoreOptions{NoFsync: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range want {
		if err := st.db.b.Update(func(tx *bolt.Tx) error { return markUnlogged(tx, id) }); err != nil {
			t.Fatal(err)
		}
	}
	st.Close()
	runEventsOnce(t, cfg)
	got := ecsIDs(t, readLines(t, cfg.Output.Events))
	var twice []string
	for _, id := range want {
		twice = append(twice, id, id)
	}
	if !slices.Equal(got, twice) {
		t.Fatalf("after a crash before the marks were cleared: %v, want each of %v twice", got, want)
	}
}

// TestEventLogZeek: the zeek format writes smtp.log lines to the path and
// files.log lines to EventFilesPath(path); every fuid of a smtp.log line
// names a files.log line of the same uid.
func TestEventLogZeek(t *testing.T) {
	cfg, spool := eventsConfig(t, EventsZeek)
	for i := range 3 {
		writeSpool(t, spool, fmt.Sprintf("C%d", i), testSession(i), true)
	}
	runEventsOnce(t, cfg)
	if got := EventFilesPath(cfg.Output.Events); got != strings.TrimSuffix(cfg.Output.Events, ".ndjson")+".files.ndjson" {
		t.Fatalf("files log path %s", got)
	}
	smtp := readLines(t, cfg.Output.Events)
	files := readLines(t, EventFilesPath(cfg.Output.Events))
	if len(smtp) != 3 || len(files) < 3 {
		t.Fatalf("%d smtp.log lines, %d files.log lines", len(smtp), len(files))
	}
	byFUID := map[string]map[string]any{}
	for _, f := range files {
		byFUID[f["fuid"].(string)] = f
		if f["source"] != "SMTP" || f["is_orig"] != true {
			t.Errorf("files.log line: %v", f)
		}
	}
	for _, s := range smtp {
		fuids, _ := s["fuids"].([]any)
		if len(fuids) == 0 || s["uid"] == nil || s["mailfrom"] != "a@b.example" {
			t.Errorf("smtp.log line: %v", s)
		}
		for _, fu := range fuids {
			f := byFUID[fu.(string)]
			if f == nil || f["uid"] != s["uid"] || f["depth"] == nil {
				t.Errorf("fuid %v of %v: files.log line %v", fu, s["uid"], f)
			}
		}
	}
}

// TestEventLogRotation: past events_max_size (or events_max_age) the log
// is renamed to "<path>.<UTC time>" (".N" on a clash) before the next
// batch, and only the newest events_keep rotated files stay; no line is
// lost among those kept.
func TestEventLogRotation(t *testing.T) {
	cfg, spool := eventsConfig(t, EventsECS)
	cfg.Output.EventsMaxSize, cfg.Output.EventsKeep = 1, 2
	clock := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	old := eventNow
	eventNow = func() time.Time { return clock }
	t.Cleanup(func() { eventNow = old })
	for i := range 4 {
		writeSpool(t, spool, fmt.Sprintf("C%d", i), testSession(i), true)
		runEventsOnce(t, cfg)
	}
	rot := RotatedEventLogs(cfg.Output.Events)
	nameRe := regexp.MustCompile(`^email\.ndjson\.20261207T100000Z(\.[0-9]+)?$`)
	if len(rot) != 2 {
		t.Fatalf("rotated files %v, want the newest 2", rot)
	}
	for _, r := range rot {
		if !nameRe.MatchString(filepath.Base(r)) {
			t.Errorf("rotated file name %s", r)
		}
	}
	total := len(readLines(t, cfg.Output.Events))
	for _, r := range rot {
		total += len(readLines(t, r))
	}
	if total != 3 {
		t.Errorf("%d lines in the log and the kept files, want 3 (one per run; the oldest file was pruned)", total)
	}

	// age: a file written for events_max_age is rotated though small
	cfg.Output.EventsMaxSize, cfg.Output.EventsMaxAge, cfg.Output.EventsKeep = 1<<30, Duration(time.Hour), 10
	c, err := New(cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	writeSpool(t, spool, "C10", testSession(10), true)
	if err := c.RunOnce(context.Background(), time.Minute); err != nil {
		t.Fatal(err)
	}
	before := len(RotatedEventLogs(cfg.Output.Events))
	c, err = New(cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.events.open(); err != nil {
		t.Fatal(err)
	}
	clock = clock.Add(2 * time.Hour)
	if err := c.events.rotateIfDue(); err != nil {
		t.Fatal(err)
	}
	c.Close()
	if after := len(RotatedEventLogs(cfg.Output.Events)); after != before+1 {
		t.Errorf("rotated files %d -> %d after events_max_age passed", before, after)
	}
}

// checkUnlogged checks that the status (as `status` prints it) and the
// smtpscope_events_unlogged metric both count want emails waiting for
// their event-log line, and that the status names the log.
func checkUnlogged(t *testing.T, c *Collector, want int) {
	t.Helper()
	st, err := c.Status()
	if err != nil {
		t.Fatal(err)
	}
	if st.EventsUnlogged != want || st.EventLog != c.cfg().Output.Events {
		t.Errorf("status: %d events unlogged to %q, want %d to %q", st.EventsUnlogged, st.EventLog, want, c.cfg().Output.Events)
	}
	rec := httptest.NewRecorder()
	c.MetricsHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(rec.Body)
	if err != nil {
		t.Fatal(err)
	}
	m := fams["smtpscope_events_unlogged"].GetMetric()
	if len(m) != 1 || m[0].GetGauge().GetValue() != float64(want) {
		t.Errorf("smtpscope_events_unlogged %v, want %d", m, want)
	}
}

// TestEventLogWriteFailure: when the log cannot be written (here its path
// is a directory), the events keep their marks and stay queued (counted
// by the status and the smtpscope_events_unlogged metric); a flush
// after the cause is gone writes them all, once. A mark of an email
// removed before it was logged is dropped without a line.
func TestEventLogWriteFailure(t *testing.T) {
	cfg, spool := eventsConfig(t, EventsECS)
	for i := range 3 {
		writeSpool(t, spool, fmt.Sprintf("C%d", i), testSession(i), true)
	}
	if err := os.MkdirAll(cfg.Output.Events, 0o755); err != nil {
		t.Fatal(err)
	}
	runEventsOnce(t, cfg) // its last flush fails: logged, marks kept
	if n := unloggedCount(t, cfg); n != 3 {
		t.Fatalf("%d marks after failed writes, want 3", n)
	}
	st, err := OpenStore(cfg.Data, StoreOptions{NoFsync: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.db.b.Update(func(tx *bolt.Tx) error { return markUnlogged(tx, "gone.0") }); err != nil {
		t.Fatal(err)
	}
	st.Close()

	c, err := New(cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.events.flush(); err == nil {
		t.Fatal("a flush into a directory succeeded")
	}
	checkUnlogged(t, c, 4) // the 3 emails and the removed one's mark
	if err := os.Remove(cfg.Output.Events); err != nil {
		t.Fatal(err)
	}
	if err := c.events.flush(); err != nil {
		t.Fatalf("flush after the cause was removed: %v", err)
	}
	checkUnlogged(t, c, 0)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	want := storedIDs(t, cfg)
	if got := ecsIDs(t, readLines(t, cfg.Output.Events)); !slices.Equal(got, want) {
		t.Fatalf("log %v, stored %v", got, want)
	}
	if n := unloggedCount(t, cfg); n != 0 {
		t.Errorf("%d marks left (the removed email's too?)", n)
	}
}
