package collector

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/smtpscope/smtpscope/internal/natstest"
)

// An object whose meta is stored but whose chunks are not all there —
// what nats.go's Put leaves when an acknowledgement fails after the meta
// was stored (it purges the chunks it wrote): the soak found a sensor
// that took such an object for "already there", published the email,
// and a hub that waited two minutes for the missing chunks, again and
// again. Now the hub says at once that chunks are missing (a retryable
// error), and the sensor's next put replaces the object.
func TestNATSObjectChunksMissing(t *testing.T) {
	tmp := t.TempDir()
	srv := natstest.Start(t, filepath.Join(tmp, "js"), func(o *server.Options) { o.MaxPayload = 64 << 10 })
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	raw := bytes.Repeat([]byte("0123456789abcdef\r\n"), 20000) // 360 KB: several chunks
	sum := sha256.Sum256(raw)
	name := hex.EncodeToString(sum[:])
	path := filepath.Join(tmp, "raw.eml")
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	d := &natsDelivery{sub: SubmissionConfig{Timeout: Duration(10 * time.Second)}}
	if err := d.putObject(nc, js, name, path, nil); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	obs, err := js.ObjectStore(ctx, NATSRawBucket)
	if err != nil {
		t.Fatal(err)
	}
	info, err := obs.GetInfo(ctx, name)
	if err != nil || info.Chunks < 2 {
		t.Fatalf("object %s: %+v, %v; want several chunks", name, info, err)
	}
	r := &hubRunner{js: js}
	// an object not there (yet: a replica behind answers so) is retried,
	// not terminated: the soak lost emails at the hub that way
	_, err = r.object(ctx, strings.Repeat("0", 64), 100)
	var badErr *BadMessageError
	if err == nil || errors.As(err, &badErr) || !strings.Contains(err.Error(), "not in "+NATSRawBucket) {
		t.Fatalf("hub reading an object not in the bucket: %v; want a retryable error", err)
	}
	if got, err := r.object(ctx, name, int64(len(raw))); err != nil || !bytes.Equal(got, raw) {
		t.Fatalf("reading the object whole: %d bytes, %v", len(got), err)
	}

	// the chunks go, the meta stays
	s, err := js.Stream(ctx, "OBJ_"+NATSRawBucket)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Purge(ctx, jetstream.WithPurgeSubject("$O."+NATSRawBucket+".C."+info.NUID)); err != nil {
		t.Fatal(err)
	}
	_, err = r.object(ctx, name, int64(len(raw)))
	if err == nil || errors.As(err, &badErr) || !strings.Contains(err.Error(), "has 0 of its") {
		t.Fatalf("hub reading an object without its chunks: %v; want a retryable error naming the missing chunks", err)
	}

	// a read that gets no chunk (the check passed, then the chunks went)
	// gives up once hubObjectStall passes without a byte, rather than
	// holding the hub's batch (the soak saw two-minute stalls)
	defer func(d time.Duration) { hubObjectStall = d }(hubObjectStall)
	hubObjectStall = time.Second
	_, err = readObject(ctx, obs, name, int64(len(raw)))
	if err == nil || errors.As(err, &badErr) || !strings.Contains(err.Error(), "no data for 1s") {
		t.Fatalf("reading an object whose chunks do not come: %v; want a retryable error saying it stalled", err)
	}

	// the sensor's next put (a retry, another email with these bytes)
	// replaces it
	if err := d.putObject(nc, js, name, path, nil); err != nil {
		t.Fatal(err)
	}
	if got, err := r.object(ctx, name, int64(len(raw))); err != nil || !bytes.Equal(got, raw) {
		t.Fatalf("after the put again: %d bytes, %v", len(got), err)
	}
}
