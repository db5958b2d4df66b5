package service

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/smtpscope/smtpscope/collector"
	"github.com/smtpscope/smtpscope/index"
	"github.com/smtpscope/smtpscope/internal/hubtest"
)

// BenchmarkHubIngestIndexed: the hub as `smtpscope hub` runs it — store
// with fsync on and the live index of months — taking b.N emails of three
// sensors (about 2 KiB each, inline, session times over six months)
// waiting in the stream of one in-process JetStream server, until every
// one is searchable at the hub; emails/s and emails per CPU-second.
func BenchmarkHubIngestIndexed(b *testing.B) {
	tmp := b.TempDir()
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s := hubtest.Backlog(b, filepath.Join(tmp, "js"), b.N, strings.Repeat("hello from the benchmark, invoice attached\r\n", 45), func(i int) string {
		t := start.Add(time.Duration(i) * (180 * 24 * time.Hour / time.Duration(b.N)))
		return fmt.Sprintf(`"body_text":"invoice %d","session":{"uid":"C%d","time":%q}`, i, i, t.Format(time.RFC3339Nano))
	})

	data := filepath.Join(tmp, "hub")
	ix, err := OpenIndex(data)
	if err != nil {
		b.Fatal(err)
	}
	l, err := Open(&collector.Config{Spool: "-", Data: data}, Options{Index: ix, NoSpool: true})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	svcCtx, svcStop := context.WithCancel(context.Background())
	defer svcStop()
	l.Start(svcCtx)
	hubCtx, hubCancel := context.WithCancel(context.Background())
	hubDone := make(chan error, 1)
	cpu0 := cpuSeconds()
	b.ResetTimer()
	go func() {
		hubDone <- collector.RunHub(hubCtx, l.Collector(), collector.HubConfig{Servers: []string{s.ClientURL()}})
	}()
	for {
		n, err := ix.Count()
		if err != nil {
			b.Fatal(err)
		}
		if n >= uint64(b.N) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	b.StopTimer()
	cpu := cpuSeconds() - cpu0
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "emails/s")
	b.ReportMetric(float64(b.N)/cpu, "emails/cpu-s")
	ms, _ := ix.Months()
	b.ReportMetric(float64(len(ms)), "months")
	if res, err := ix.Search(context.Background(), "sensor:s2", index.SearchOptions{Limit: 1}); err != nil || res.Total != uint64(b.N+1)/3 {
		b.Errorf("sensor:s2 at the hub: %v %v", res, err)
	}
	hubCancel()
	if err := <-hubDone; err != nil {
		b.Error(err)
	}
}
