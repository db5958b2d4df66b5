package collector

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// TestSpoolBacklogAndReadiness: the backlog counts the spool's .ready
// entries and ages the oldest; /readyz says 503 with the reason while the
// spool watcher does not run, and when the store is closed.
func TestSpoolBacklogAndReadiness(t *testing.T) {
	tmp := t.TempDir()
	spool := filepath.Join(tmp, "spool")
	if err := os.MkdirAll(spool, 0o755); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-2 * time.Hour)
	for i, name := range []string{"Ca", "Cb", "Cc"} {
		p := filepath.Join(spool, name)
		if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
		if i == 2 {
			continue // no .ready: not ready yet, not backlog
		}
		if err := os.WriteFile(p+".ready", nil, 0o644); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			if err := os.Chtimes(p+".ready", old, old); err != nil {
				t.Fatal(err)
			}
		}
	}
	f := false
	c, err := New(&Config{Spool: spool, Data: filepath.Join(tmp, "data"), Fsync: &f}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	rec := httptest.NewRecorder()
	c.MetricsHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(rec.Body)
	if err != nil {
		t.Fatal(err)
	}
	if v := fams["smtpscope_spool_backlog"].GetMetric()[0].GetGauge().GetValue(); v != 2 {
		t.Errorf("backlog %v, want the 2 .ready entries", v)
	}
	if v := fams["smtpscope_spool_oldest_ready_age_seconds"].GetMetric()[0].GetGauge().GetValue(); v < 2*3600-60 || v > 2*3600+3600 {
		t.Errorf("oldest .ready age %v s, want about two hours", v)
	}

	ready := func() (int, string) {
		rec := httptest.NewRecorder()
		c.readyHandler(rec, httptest.NewRequest("GET", "/readyz", nil))
		return rec.Code, rec.Body.String()
	}
	if code, body := ready(); code != http.StatusServiceUnavailable || !strings.Contains(body, "spool watcher: not running") {
		t.Errorf("/readyz without the watcher: %d %q", code, body)
	}
	c.watching.Store(true)
	if code, body := ready(); code != http.StatusOK || body != "ready\n" {
		t.Errorf("/readyz: %d %q", code, body)
	}
	c.store.Close()
	if code, body := ready(); code != http.StatusServiceUnavailable || !strings.Contains(body, "store: ") {
		t.Errorf("/readyz with the store closed: %d %q", code, body)
	}
}
