package collector_test

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/smtpscope/smtpscope/collector"
)

// scrape reads the collector's /metrics and parses the text exposition
// format with Prometheus's own parser (a malformed exposition fails).
func scrape(t *testing.T, addr string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("/metrics is not the text exposition format: %v", err)
	}
	return fams
}

// metric returns the metric of family name whose labels include want.
func metric(fams map[string]*dto.MetricFamily, name string, want map[string]string) *dto.Metric {
	f := fams[name]
	if f == nil {
		return nil
	}
next:
	for _, m := range f.GetMetric() {
		for k, v := range want {
			found := false
			for _, l := range m.GetLabel() {
				if l.GetName() == k && l.GetValue() == v {
					found = true
				}
			}
			if !found {
				continue next
			}
		}
		return m
	}
	return nil
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestProcOpsEndpoints: a running collector's metrics listener serves
// /healthz, /readyz and, in the text exposition format, the latency
// histograms of parse, analysis, index and submission (by group and
// kind), the spool backlog, the age of each group's oldest queued email
// and smtpscope_build_info.
func TestProcOpsEndpoints(t *testing.T) {
	tmp := t.TempDir()
	spool, data := filepath.Join(tmp, "spool"), filepath.Join(tmp, "data")
	if err := os.MkdirAll(spool, 0o755); err != nil {
		t.Fatal(err)
	}
	dead := freeAddr(t) // no node listens: the emails stay queued for "default"
	sink := startSink(t, filepath.Join(tmp, "sink"))
	defer sink.stop(t)
	metrics := freeAddr(t)
	cfg := writeConfig(t, tmp, fastRetryConfig(spool, data, metrics, dead, fmt.Sprintf(`
[[group]]
name = "live"
nodes = [%q]
`, sink.url)))
	const n = 3
	for i := 0; i < n; i++ {
		spoolWrite(t, spool, fmt.Sprintf("Cops%02d", i), simpleSession(i, 1), time.Time{})
	}
	col := start(t, "collect", "--config", cfg, "--log-format", "json")
	defer col.stop(t)

	// Liveness bound, not a speed check.
	var fams map[string]*dto.MetricFamily
	deadline := time.Now().Add(60 * time.Second)
	for {
		if code, _ := getOrZero(metrics, "/healthz"); code == http.StatusOK {
			fams = scrape(t, metrics)
			e := metric(fams, "smtpscope_emails_total", nil)
			s := metric(fams, "smtpscope_submit_seconds", map[string]string{"group": "live", "kind": "ace"})
			if e != nil && e.GetCounter().GetValue() == n && s != nil && s.GetHistogram().GetSampleCount() >= n {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the collector never stored %d emails and submitted them to the live group:\n%s", n, col.stderr.String())
		}
		time.Sleep(200 * time.Millisecond)
	}

	if code, body := get(t, "http://"+metrics+"/healthz"); code != 200 || strings.TrimSpace(body) != "ok" {
		t.Errorf("/healthz: %d %q", code, body)
	}
	if code, body := get(t, "http://"+metrics+"/readyz"); code != 200 || strings.TrimSpace(body) != "ready" {
		t.Errorf("/readyz: %d %q", code, body)
	}

	for _, name := range []string{"smtpscope_parse_seconds", "smtpscope_analyse_seconds", "smtpscope_index_seconds"} {
		m := metric(fams, name, nil)
		if m == nil || fams[name].GetType() != dto.MetricType_HISTOGRAM {
			t.Errorf("%s: not a histogram: %v", name, fams[name])
			continue
		}
		if got := m.GetHistogram().GetSampleCount(); got != n {
			t.Errorf("%s: %d observations, want %d (one per session / email)", name, got, n)
		}
		if len(m.GetHistogram().GetBucket()) == 0 {
			t.Errorf("%s: no buckets", name)
		}
	}
	if fams["smtpscope_submit_seconds"].GetType() != dto.MetricType_HISTOGRAM {
		t.Errorf("smtpscope_submit_seconds is a %v", fams["smtpscope_submit_seconds"].GetType())
	}
	bi := metric(fams, "smtpscope_build_info", map[string]string{"goversion": runtime.Version()})
	if bi == nil || bi.GetGauge().GetValue() != 1 {
		t.Errorf("smtpscope_build_info: %v", fams["smtpscope_build_info"])
	} else {
		found := false
		for _, l := range bi.GetLabel() {
			found = found || l.GetName() == "version" && l.GetValue() != ""
		}
		if !found {
			t.Errorf("smtpscope_build_info has no version: %v", bi)
		}
	}
	// Every session stored: an empty spool.
	if m := metric(fams, "smtpscope_spool_backlog", nil); m == nil || m.GetGauge().GetValue() != 0 {
		t.Errorf("smtpscope_spool_backlog: %v", m)
	}
	if m := metric(fams, "smtpscope_spool_oldest_ready_age_seconds", nil); m == nil || m.GetGauge().GetValue() != 0 {
		t.Errorf("smtpscope_spool_oldest_ready_age_seconds: %v", m)
	}
	// The node is down: the group's oldest email has waited since it was
	// queued, and waits on.
	age := func() float64 {
		m := metric(scrape(t, metrics), "smtpscope_queue_oldest_age_seconds", map[string]string{"group": "default"})
		if m == nil {
			t.Fatalf("no smtpscope_queue_oldest_age_seconds{group=\"default\"}")
		}
		return m.GetGauge().GetValue()
	}
	a1 := age()
	if a1 <= 0 {
		t.Errorf("queue age %v with %d emails queued", a1, n)
	}
	for deadline := time.Now().Add(30 * time.Second); age() <= a1; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the queue age does not grow")
		}
	}
	if m := metric(scrape(t, metrics), "smtpscope_queue_oldest_age_seconds", map[string]string{"group": "live"}); m == nil || m.GetGauge().GetValue() != 0 {
		t.Errorf("the live group delivered everything; its queue age: %v", m)
	}
	st := statusJSON(t, data)
	if w := groupCount(st, "default", collector.StateQueued) + groupCount(st, "default", collector.StateRetrying); w != n {
		t.Errorf("%d emails waiting, want %d", w, n)
	}
}

// getOrZero is get that reports a refused connection as code 0.
func getOrZero(addr, path string) (int, string) {
	resp, err := http.Get("http://" + addr + path)
	if err != nil {
		return 0, ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
