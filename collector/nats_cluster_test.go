package collector_test

import (
	"context"
	"strings"
	"testing"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/smtpscope/smtpscope/collector"
	"github.com/smtpscope/smtpscope/internal/natstest"
)

// TestNATSObjectStoreReplicated: on a three-server cluster the sensor
// makes the Object Store bucket of large messages R3, as the hub makes
// the stream (the soak found it R1: while its one server was down no
// large email could be published or stored at the hub, and that
// server's disk held the only copy).
func TestNATSObjectStoreReplicated(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a three-server cluster")
	}
	tmp := t.TempDir()
	urls := natstest.Cluster(t, tmp, 3, func(o *server.Options) { o.MaxPayload = 64 << 10 })
	js := jsClient(t, strings.Join(urls, ","), false)
	waitFor(t, func() bool { _, err := js.AccountInfo(context.Background()); return err == nil })
	if _, err := js.CreateStream(context.Background(), jetstream.StreamConfig{Name: collector.HubStream,
		Subjects: []string{collector.NATSSubjectPrefix + ">"}, Storage: jetstream.FileStorage, Replicas: 3}); err != nil {
		t.Fatal(err)
	}
	big := genSession("192.0.2.77", 4000, "1700000500.5", []genMsg{{From: "big@sender.example", Rcpts: []string{"u@corp.example"},
		Subject: "large", Body: strings.Repeat("0123456789abcdef\r\n", 10000)}})
	st := runSensor(t, tmp, "s1", strings.Join(urls, ","), map[string][]byte{"Cbig": big})
	if n := sentCount(t, st, collector.StateSent); n != 1 {
		t.Fatalf("%d sent, want 1", n)
	}
	s, err := js.Stream(context.Background(), "OBJ_"+collector.NATSRawBucket)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if info.Config.Replicas != 3 || info.Config.Storage != jetstream.FileStorage || info.State.Msgs == 0 {
		t.Errorf("bucket %s: %d replicas, storage %v, %d messages; want 3 replicas, file storage, the large email",
			collector.NATSRawBucket, info.Config.Replicas, info.Config.Storage, info.State.Msgs)
	}
}
