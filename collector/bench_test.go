package collector_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/smtpscope/smtpscope/collector"
	"github.com/smtpscope/smtpscope/collector/ace"
)

// BenchmarkCollect measures sessions/s through the whole collector: claim,
// parse, analysis, store (with fsync), queue, and submission to a local
// in-process ace-sink (which stores every submission too); submit=false
// stops at the queue.
func BenchmarkCollect(b *testing.B) {
	for _, tc := range []struct {
		fsync, submit bool
	}{{true, true}, {false, true}, {true, false}} {
		fsync := tc.fsync
		b.Run(fmt.Sprintf("fsync=%v/submit=%v", tc.fsync, tc.submit), func(b *testing.B) {
			tmp := b.TempDir()
			spool, data := filepath.Join(tmp, "spool"), filepath.Join(tmp, "data")
			sink, err := ace.NewSink(filepath.Join(tmp, "sink"), ace.SinkOptions{})
			if err != nil {
				b.Fatal(err)
			}
			srv := httptest.NewServer(sink)
			defer srv.Close()
			for i := 0; i < b.N; i++ {
				spoolWrite(b, spool, fmt.Sprintf("Cbench%07d", i), simpleSession(i, 1), time.Time{})
			}
			f := fsync
			cfg := &collector.Config{Spool: spool, Data: data, Fsync: &f, Workers: 2}
			if tc.submit {
				cfg.Groups = []collector.GroupConfig{{Name: "bench", Nodes: []string{srv.URL}, Concurrency: 4}}
			}
			col, err := collector.New(cfg, collector.Options{})
			if err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			start := time.Now()
			if err := col.RunOnce(context.Background(), 10*time.Minute); err != nil {
				b.Fatal(err)
			}
			el := time.Since(start)
			b.StopTimer()
			if got := sink.Accepted(); tc.submit && got != int64(b.N) {
				b.Fatalf("sink accepted %d of %d", got, b.N)
			}
			b.ReportMetric(float64(b.N)/el.Seconds(), "sessions/s")
		})
	}
}
