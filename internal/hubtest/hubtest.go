package hubtest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"testing"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/smtpscope/smtpscope/collector"
	"github.com/smtpscope/smtpscope/internal/natstest"
)

// Backlog starts a JetStream server (its store in storeDir), makes the
// hub's stream on it (file storage, one replica) and publishes n emails
// there as sensors s1, s2, s3 in turn would: email i has the ID C<i>.0,
// the raw bytes "Subject: bench <i>", a blank line and body, and a record
// with its id, sensor, sha256 and subject "bench <i>", followed by the
// JSON fields extra(i) gives (`"k":v,...`) when extra is not nil. It
// returns once the server has every message; the server stops when the
// benchmark ends.
func Backlog(tb testing.TB, storeDir string, n int, body string, extra func(i int) string) *server.Server {
	tb.Helper()
	s := natstest.Start(tb, storeDir, nil)
	nc, err := nats.Connect(s.ClientURL())
	if err != nil {
		tb.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	if _, err := js.CreateStream(context.Background(), jetstream.StreamConfig{Name: collector.HubStream,
		Subjects: []string{collector.NATSSubjectPrefix + ">"}, Storage: jetstream.FileStorage}); err != nil {
		tb.Fatal(err)
	}
	for i := range n {
		sensor := fmt.Sprintf("s%d", i%3+1)
		raw := []byte(fmt.Sprintf("Subject: bench %d\r\n\r\n%s", i, body))
		sum := sha256.Sum256(raw)
		sha := hex.EncodeToString(sum[:])
		id := fmt.Sprintf("C%d.0", i)
		rec := fmt.Sprintf(`{"id":%q,"sensor":%q,"sha256":%q,"subject":"bench %d"`, id, sensor, sha, i)
		if extra != nil {
			rec += "," + extra(i)
		}
		env, _ := json.Marshal(collector.NATSEnvelope{Record: json.RawMessage(rec + "}"), Raw: raw})
		m := nats.NewMsg(collector.NATSSubjectPrefix + sensor)
		m.Data = env
		for k, v := range map[string]string{collector.HdrFormat: collector.NATSFormat, collector.HdrKind: "email", collector.HdrSensor: sensor,
			collector.HdrID: id, collector.HdrSHA256: sha, collector.HdrSize: strconv.Itoa(len(raw)),
			collector.HdrRaw: collector.RawInline, collector.HdrRecord: collector.RawInline} {
			m.Header.Set(k, v)
		}
		if _, err := js.PublishMsgAsync(m); err != nil {
			tb.Fatal(err)
		}
	}
	<-js.PublishAsyncComplete()
	return s
}
