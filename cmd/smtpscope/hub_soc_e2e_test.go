package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/smtpscope/smtpscope/collector"
	"github.com/smtpscope/smtpscope/internal/thehivesink"
)

// TestHubHuntsAndEvents: a hub (`smtpscope hub`) whose config has a
// [[hunt]] delivering to a TheHive group (hunts_only) and an event log
// (--events), fed by two sensors through an in-process JetStream server
// on 127.0.0.1. The hub evaluates the hunt on the emails it ingests: the
// sensor's email that matches is tagged hunt:att at the hub and becomes
// exactly one TheHive alert (the stand-in validates like TheHive), the
// other is neither tagged nor delivered. The event log has one ECS line
// per ingested email whose observer.name is the email's sensor, not the
// hub's, and status counts no event still waiting; the hub's metrics
// listener (--metrics-listen) serves /metrics, /healthz and /readyz.
func TestHubHuntsAndEvents(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test (builds the binary)")
	}
	hive := thehivesink.New("hive-key")
	hiveSrv := httptest.NewServer(hive)
	defer hiveSrv.Close()
	keyFile := filepath.Join(t.TempDir(), "thehive.key")
	if err := os.WriteFile(keyFile, []byte("hive-key\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	conf := fmt.Sprintf("[[hunt]]\nname = \"att\"\nquery = \"has:attachment\"\ndeliver_to = [\"thehive\"]\n\n"+
		"[[group]]\nname = \"thehive\"\nkind = \"thehive\"\nurl = %q\napi_key_file = %q\nhunts_only = true\nfull_delivery = true\n\n"+
		"[submission]\nbackoff_min = \"50ms\"\n", hiveSrv.URL, keyFile)
	r := newHubRig(t, conf)
	dir, bin, run, hubData := r.dir, r.bin, r.run, r.hubData
	events := filepath.Join(dir, "log", "email.ndjson")
	metricsAddr := freeLoopbackAddr(t)
	hub := r.startHub("--events", events, "--events-format", "ecs", "--metrics-listen", metricsAddr)
	r.waitStream()
	sensor := r.sensor
	sensor("s1", map[string][]byte{"C1": hubSession(1, false)})
	sensor("s2", map[string][]byte{"Catt": hubSession(7, true)})

	ids := func(q string) []string {
		out, err := exec.Command(bin, "search", "--data", hubData, "--json", "--limit", "0", q).Output()
		if err != nil {
			return nil // starting: the socket is not served yet
		}
		var got []string
		for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			var r struct{ ID string }
			if json.Unmarshal([]byte(l), &r) == nil && r.ID != "" {
				got = append(got, r.ID)
			}
		}
		slices.Sort(got)
		return got
	}
	waitUntil(t, "the hub stores both sensors' emails", func() bool { return len(ids("")) == 2 })
	att := ids("has:attachment")
	if len(att) != 1 || !strings.HasPrefix(att[0], "s2/") {
		t.Fatalf("has:attachment at the hub finds %v, want s2's email", att)
	}
	waitUntil(t, "the hub tags the hunt's match", func() bool { return slices.Equal(ids("hunt:att"), att) })
	waitUntil(t, "the hub delivers the match to TheHive", func() bool { return len(hive.Alerts()) >= 1 })
	waitUntil(t, "the hub records the delivery", func() bool { return slices.Equal(ids("status:sent"), att) })
	if got := hive.Alerts(); len(got) != 1 || got[0].SourceRef != att[0] {
		var refs []string
		for _, a := range got {
			refs = append(refs, a.SourceRef)
		}
		t.Errorf("TheHive alerts %v, want one for %s (the hunt's match only)", refs, att[0])
	}
	if r := hive.Refused(); len(r) != 0 {
		t.Errorf("the TheHive stand-in refused: %v", r)
	}
	if got := ids("-hunt:att"); len(got) != 1 || !strings.HasPrefix(got[0], "s1/") {
		t.Errorf("-hunt:att finds %v, want s1's email", got)
	}

	// the event log: one line per ingested email, its sensor as observer
	waitUntil(t, "the hub logs both emails' events", func() bool {
		b, err := os.ReadFile(events)
		return err == nil && strings.Count(string(b), "\n") >= 2
	})
	b, err := os.ReadFile(events)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	observers := map[string]string{} // event.id -> observer.name
	for _, l := range lines {
		var ev struct {
			Event    struct{ ID string }
			Observer struct{ Name string }
		}
		if err := json.Unmarshal([]byte(l), &ev); err != nil {
			t.Fatalf("event line is not JSON: %v\n%s", err, l)
		}
		observers[ev.Event.ID] = ev.Observer.Name
	}
	all := ids("")
	if len(lines) != 2 || len(observers) != 2 {
		t.Errorf("event log has %d lines for %d emails, want one per email:\n%s", len(lines), len(observers), b)
	}
	for _, id := range all {
		sensor, _, _ := strings.Cut(id, "/")
		if observers[id] != sensor {
			t.Errorf("event of %s: observer.name %q, want the email's sensor %q (events %v)", id, observers[id], sensor, observers)
		}
	}
	// the marks go once the lines are fsynced, just after they are written
	var st collector.Status
	waitUntil(t, "hub status: no event waiting to be logged", func() bool {
		if err := json.Unmarshal([]byte(run("status", "--data", hubData, "--json")), &st); err != nil {
			t.Fatal(err)
		}
		return st.EventsUnlogged == 0
	})
	if st.EventLog != events {
		t.Errorf("hub status: event log %q, want %q", st.EventLog, events)
	}
	// the hub's metrics listener: the event log's gauge, /healthz, /readyz
	get := func(path string) (int, string) {
		resp, err := http.Get("http://" + metricsAddr + path)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("/metrics"); code != 200 || !strings.Contains(body, "\nsmtpscope_events_unlogged 0\n") ||
		!strings.Contains(body, `smtpscope_submissions_total{group="thehive",result="sent"} 1`) {
		t.Errorf("hub /metrics: %d, want smtpscope_events_unlogged 0 and one sent to thehive:\n%s", code, body)
	}
	if code, body := get("/healthz"); code != 200 {
		t.Errorf("hub /healthz: %d %s", code, body)
	}
	if code, body := get("/readyz"); code != 200 || body != "ready\n" {
		t.Errorf("hub /readyz: %d %q", code, body)
	}
	if err := hub.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := hub.Wait(); err != nil {
		t.Errorf("hub after SIGTERM: %v", err)
	}
}

// freeLoopbackAddr is a 127.0.0.1 port free a moment ago (for a flag
// that takes an address; the child binds it).
func freeLoopbackAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}
