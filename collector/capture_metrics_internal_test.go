package collector

import (
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// TestSetCaptureMetrics: a live capture's counters, the time merge's
// included, are served as smtpscope_capture_* metrics and kept for
// Status.
func TestSetCaptureMetrics(t *testing.T) {
	tmp := t.TempDir()
	f := false
	c, err := New(&Config{Spool: filepath.Join(tmp, "spool"), Data: filepath.Join(tmp, "data"), Fsync: &f}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetCapture(CaptureStatus{Interfaces: []CaptureInterface{{Name: "mon0", Packets: 7, Drops: 1}, {Name: "mon1", Packets: 9}},
		Sessions: 4, MergeForced: 3, MergeLate: 2})
	rec := httptest.NewRecorder()
	c.MetricsHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	parser := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := parser.TextToMetricFamilies(rec.Body)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, m := range fams["smtpscope_capture_loss"].GetMetric() {
		got[m.GetLabel()[0].GetValue()] = m.GetGauge().GetValue()
	}
	if got["merge_forced"] != 3 || got["merge_late"] != 2 || got["sessions"] != 4 {
		t.Errorf("capture_loss %v", got)
	}
	if n := len(fams["smtpscope_capture_kernel_packets"].GetMetric()); n != 4 {
		t.Errorf("%d kernel packet series, want 4 (2 interfaces, received and dropped)", n)
	}
}
