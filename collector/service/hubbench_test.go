package service

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/smtpscope/smtpscope/collector"
	"github.com/smtpscope/smtpscope/index"
	"github.com/smtpscope/smtpscope/internal/natstest"
)

// BenchmarkHubIngestIndexed: the hub as `smtpscope hub` runs it — store
// with fsync on and the live index of months — taking b.N emails of three
// sensors (about 2 KiB each, inline, session times over six months)
// waiting in the stream of one in-process JetStream server, until every
// one is searchable at the hub; emails/s and emails per CPU-second.
func BenchmarkHubIngestIndexed(b *testing.B) {
	tmp := b.TempDir()
	s := natstest.Start(b, filepath.Join(tmp, "js"), nil)
	nc, err := nats.Connect(s.ClientURL())
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	if _, err := js.CreateStream(context.Background(), jetstream.StreamConfig{Name: collector.HubStream,
		Subjects: []string{collector.NATSSubjectPrefix + ">"}, Storage: jetstream.FileStorage}); err != nil {
		b.Fatal(err)
	}
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	body := strings.Repeat("hello from the benchmark, invoice attached\r\n", 45)
	for i := range b.N {
		sensor := fmt.Sprintf("s%d", i%3+1)
		raw := []byte(fmt.Sprintf("Subject: bench %d\r\n\r\n%s", i, body))
		sum := sha256.Sum256(raw)
		sha := hex.EncodeToString(sum[:])
		id := fmt.Sprintf("C%d.0", i)
		t := start.Add(time.Duration(i) * (180 * 24 * time.Hour / time.Duration(b.N)))
		rec := fmt.Sprintf(`{"id":%q,"sensor":%q,"sha256":%q,"subject":"bench %d","body_text":"invoice %d","session":{"uid":"C%d","time":%q}}`,
			id, sensor, sha, i, i, i, t.Format(time.RFC3339Nano))
		env, _ := json.Marshal(collector.NATSEnvelope{Record: json.RawMessage(rec), Raw: raw})
		m := nats.NewMsg(collector.NATSSubjectPrefix + sensor)
		m.Data = env
		for k, v := range map[string]string{collector.HdrFormat: collector.NATSFormat, collector.HdrKind: "email", collector.HdrSensor: sensor,
			collector.HdrID: id, collector.HdrSHA256: sha, collector.HdrSize: strconv.Itoa(len(raw)),
			collector.HdrRaw: collector.RawInline, collector.HdrRecord: collector.RawInline} {
			m.Header.Set(k, v)
		}
		if _, err := js.PublishMsgAsync(m); err != nil {
			b.Fatal(err)
		}
	}
	<-js.PublishAsyncComplete()

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
