package collector_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/smtpscope/smtpscope/collector"
	"github.com/smtpscope/smtpscope/internal/natstest"
)

// startNATS starts an in-process JetStream server on 127.0.0.1:port
// (port -1: any free port), its store in a temporary directory, and
// shuts it down at the end of the test (or earlier through the returned
// server). maxPayload 0 keeps the server's default.
func startNATS(t *testing.T, port int, storeDir string, maxPayload int32) *server.Server {
	t.Helper()
	return natstest.Start(t, storeDir, func(o *server.Options) { o.Port, o.MaxPayload = port, maxPayload })
}

// freePort is a loopback port nothing listens on now.
func freePort(t *testing.T) int {
	return natstest.FreePort(t)
}

// jsClient connects a test client and creates the stream the hub would
// (the collector does not create streams).
func jsClient(t *testing.T, url string, stream bool) jetstream.JetStream {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if stream {
		createStream(t, js)
	}
	return js
}

func createStream(t *testing.T, js jetstream.JetStream) {
	t.Helper()
	if _, err := js.CreateStream(context.Background(), jetstream.StreamConfig{Name: "SMTPSCOPE",
		Subjects: collector.HubSubjects(), Storage: jetstream.FileStorage}); err != nil {
		t.Fatal(err)
	}
}

func natsConfig(spool, data, url string) *collector.Config {
	f := false
	return &collector.Config{Spool: spool, Data: data, Sensor: "s1", Fsync: &f,
		RescanInterval: collector.Duration(100 * time.Millisecond),
		Submission: collector.SubmissionConfig{BackoffMin: collector.Duration(20 * time.Millisecond),
			BackoffMax: collector.Duration(200 * time.Millisecond), Timeout: collector.Duration(5 * time.Second)},
		Groups: []collector.GroupConfig{{Name: "hub", Kind: collector.KindNATS, Nodes: []string{url}, FullDelivery: true}}}
}

// published is what a reader of the stream gets of one message.
type published struct {
	msgID, subject, rawMode, recMode string
	rec                              map[string]any
	raw                              []byte
}

// readStream reads every message of the stream with a pull consumer,
// the raw bytes inline or from the Object Store.
func readStream(t *testing.T, js jetstream.JetStream) []published {
	t.Helper()
	ctx := context.Background()
	cons, err := js.CreateOrUpdateConsumer(ctx, "SMTPSCOPE", jetstream.ConsumerConfig{AckPolicy: jetstream.AckExplicitPolicy})
	if err != nil {
		t.Fatal(err)
	}
	info, err := cons.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out []published
	for want := int(info.NumPending); len(out) < want; {
		batch, err := cons.Fetch(want-len(out), jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		for m := range batch.Messages() {
			out = append(out, decodeMsg(t, js, m))
			_ = m.Ack()
		}
		if batch.Error() != nil {
			t.Fatal(batch.Error())
		}
	}
	return out
}

func decodeMsg(t *testing.T, js jetstream.JetStream, m jetstream.Msg) published {
	t.Helper()
	h := m.Headers()
	var env collector.NATSEnvelope
	if err := json.Unmarshal(m.Data(), &env); err != nil {
		t.Fatalf("message %s: %v", h.Get(jetstream.MsgIDHeader), err)
	}
	p := published{msgID: h.Get(jetstream.MsgIDHeader), subject: m.Subject(), rawMode: h.Get(collector.HdrRaw), recMode: h.Get(collector.HdrRecord), raw: env.Raw}
	object := func(name string) []byte {
		obs, err := js.ObjectStore(context.Background(), collector.NATSRawBucket)
		if err != nil {
			t.Fatal(err)
		}
		b, err := obs.GetBytes(context.Background(), name)
		if err != nil {
			t.Fatalf("object %s: %v", name, err)
		}
		return b
	}
	if p.rawMode == collector.RawObject {
		p.raw = object(h.Get(collector.HdrSHA256))
	}
	if p.recMode == collector.RawObject {
		env.Record = object(env.RecordObject)
	}
	if err := json.Unmarshal(env.Record, &p.rec); err != nil {
		t.Fatalf("record of %s: %v", p.msgID, err)
	}
	if h.Get(collector.HdrSensor) != "s1" || h.Get(collector.HdrID) != p.rec["id"] || h.Get(collector.HdrFormat) != collector.NATSFormat {
		t.Errorf("headers %v for record %v", h, p.rec["id"])
	}
	return p
}

func sha(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

// checkPublished: one message per stored email, its raw bytes byte-exact
// (sha256 of the message, of the record and of the stored .eml), the
// record's fields, the subject and a stable, unique Nats-Msg-Id.
func checkPublished(t *testing.T, st *collector.Store, msgs []published) {
	t.Helper()
	seen := map[string]bool{}
	for _, p := range msgs {
		id, _ := p.rec["id"].(string)
		if seen[p.msgID] {
			t.Errorf("msg id %s published twice", p.msgID)
		}
		seen[p.msgID] = true
		stored, err := st.Raw(id)
		if err != nil {
			t.Fatalf("stored raw %s: %v", id, err)
		}
		if sha(p.raw) != sha(stored) || sha(p.raw) != p.rec["sha256"] {
			t.Errorf("%s: raw sha256 %s, stored %s, record %v", id, sha(p.raw), sha(stored), p.rec["sha256"])
		}
		rec, err := st.Record(id)
		if err != nil {
			t.Fatal(err)
		}
		if p.rec["sensor"] != "s1" || p.rec["subject"] != rec.Subject || p.subject != collector.NATSSubjectPrefix+"s1" ||
			p.msgID != collector.NATSMsgID("s1", id, rec.SHA256) {
			t.Errorf("%s: sensor %v subject %v (stored %q), nats subject %s, msg id %s", id, p.rec["sensor"], p.rec["subject"], rec.Subject, p.subject, p.msgID)
		}
	}
	n := 0
	_ = st.ListEmails(func(*collector.EmailMeta) bool { n++; return true })
	if len(seen) != n {
		t.Errorf("%d messages for %d stored emails", len(seen), n)
	}
}

func sentCount(t *testing.T, st *collector.Store, state string) int64 {
	t.Helper()
	c, err := st.Counts()
	if err != nil {
		t.Fatal(err)
	}
	return c["hub"][state]
}

// TestNATSPublish: emails collected from a spool are published once
// each to JetStream and marked sent; a reader gets them back byte-exact,
// the large one through the Object Store.
func TestNATSPublish(t *testing.T) {
	tmp := t.TempDir()
	srv := startNATS(t, -1, filepath.Join(tmp, "js"), 64<<10)
	js := jsClient(t, srv.ClientURL(), true)
	spool, data := filepath.Join(tmp, "spool"), filepath.Join(tmp, "data")
	const sessions = 15
	for i := range sessions {
		spoolWrite(t, spool, fmt.Sprintf("C%d", i), simpleSession(i, 2), time.Time{})
	}
	big := genSession("192.0.2.77", 4000, "1700000500.5", []genMsg{{From: "big@sender.example", Rcpts: []string{"u@corp.example"},
		Subject: "large", Body: strings.Repeat("0123456789abcdef\r\n", 10000)}})
	spoolWrite(t, spool, "Cbig", big, time.Time{})
	col, err := collector.New(natsConfig(spool, data, srv.ClientURL()), collector.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := col.RunOnce(context.Background(), 60*time.Second); err != nil {
		t.Fatal(err)
	}
	st, err := collector.OpenStore(data, collector.StoreOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if n := sentCount(t, st, collector.StateSent); n != 2*sessions+1 {
		t.Errorf("%d sent, want %d", n, 2*sessions+1)
	}
	msgs := readStream(t, js)
	checkPublished(t, st, msgs)
	objects, records := 0, 0
	for _, p := range msgs {
		if p.rawMode == collector.RawObject {
			objects++
		}
		if p.recMode == collector.RawObject {
			records++
		}
	}
	if objects != 1 || records != 1 {
		t.Errorf("%d raw messages and %d records in the object store, want 1 each (the large email)", objects, records)
	}
}

// TestNATSServerDownThenUp: with the server down the emails wait queued
// (no attempt charged) and status shows the group down with its error;
// a server without the stream refuses (retrying, with backoff); once the
// stream exists everything is sent, nothing lost.
func TestNATSServerDownThenUp(t *testing.T) {
	tmp := t.TempDir()
	port := freePort(t)
	url := fmt.Sprintf("nats://127.0.0.1:%d", port)
	spool, data := filepath.Join(tmp, "spool"), filepath.Join(tmp, "data")
	const sessions = 5
	for i := range sessions {
		spoolWrite(t, spool, fmt.Sprintf("C%d", i), simpleSession(i, 1), time.Time{})
	}
	col, err := collector.New(natsConfig(spool, data, url), collector.Options{})
	if err != nil {
		t.Fatal(err)
	}
	stop := runCollector(t, col)
	defer func() { _ = stop() }() // the run ends before the NATS server's clean-up; its error is not checked here
	st := col.Store()
	waitFor(t, func() bool { return sentCount(t, st, collector.StateQueued) == sessions })
	waitFor(t, func() bool { g := groupStatus(t, col); return len(g.Nodes) == 1 && g.Nodes[0].LastError != "" })
	if g := groupStatus(t, col); g.Nodes[0].Healthy || g.Counts[collector.StateRetrying] != 0 || g.Counts[collector.StateSent] != 0 {
		t.Errorf("server down: %+v", g)
	}

	srv := startNATS(t, port, filepath.Join(tmp, "js"), 0)
	waitFor(t, func() bool { return sentCount(t, st, collector.StateRetrying) > 0 }) // no stream yet: refused
	if g := groupStatus(t, col); !g.Nodes[0].Healthy || !strings.Contains(g.Nodes[0].URL, "127.0.0.1") {
		t.Errorf("server up: %+v", g.Nodes)
	}
	js := jsClient(t, srv.ClientURL(), true)
	waitFor(t, func() bool { return sentCount(t, st, collector.StateSent) == sessions })
	retried := 0
	_ = st.ListEmails(func(m *collector.EmailMeta) bool {
		subs, err := st.Submissions(m.ID)
		if err != nil || len(subs) != 1 || !strings.HasPrefix(subs[0].UUID, "SMTPSCOPE/") {
			t.Errorf("submission of %s: %+v, %v", m.ID, subs, err)
		} else if subs[0].Attempts > 1 {
			retried++
		}
		return true
	})
	if retried == 0 {
		t.Error("no submission was retried after the server refused it")
	}
	checkPublished(t, st, readStream(t, js))
}

func groupStatus(t *testing.T, col *collector.Collector) collector.GroupStatus {
	t.Helper()
	st, err := col.Status()
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range st.Groups {
		if g.Name == "hub" {
			return g
		}
	}
	t.Fatal("no group hub in status")
	return collector.GroupStatus{}
}

func firstEmail(t *testing.T, st *collector.Store) string {
	var id string
	_ = st.ListEmails(func(m *collector.EmailMeta) bool { id = m.ID; return false })
	if id == "" {
		t.Fatal("no email stored")
	}
	return id
}

// TestNATSRepublishIsDeduplicated: a crash after the PubAck but before
// the state commit leaves the entry queued; it is published again on
// restart with the same Nats-Msg-Id, JetStream acknowledges it as a
// duplicate, the entry is sent and the stream holds it once.
func TestNATSRepublishIsDeduplicated(t *testing.T) {
	tmp := t.TempDir()
	srv := startNATS(t, -1, filepath.Join(tmp, "js"), 0)
	js := jsClient(t, srv.ClientURL(), true)
	spool, data := filepath.Join(tmp, "spool"), filepath.Join(tmp, "data")
	for i := range 3 {
		spoolWrite(t, spool, fmt.Sprintf("C%d", i), simpleSession(i, 1), time.Time{})
	}
	// first run: stored and queued, the group's server unreachable
	col, err := collector.New(natsConfig(spool, data, fmt.Sprintf("nats://127.0.0.1:%d", freePort(t))), collector.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := col.RunOnce(context.Background(), 2*time.Second); err == nil {
		t.Fatal("RunOnce with the server unreachable reported everything delivered")
	}
	// the publish whose commit the crash lost
	st, err := collector.OpenStore(data, collector.StoreOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	id := firstEmail(t, st)
	rec, err := st.Record(id)
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	m := nats.NewMsg(collector.NATSSubjectPrefix + "s1")
	m.Data = []byte(`{}`)
	if _, err := js.PublishMsg(context.Background(), m, jetstream.WithMsgID(collector.NATSMsgID("s1", id, rec.SHA256))); err != nil {
		t.Fatal(err)
	}
	// restart
	col, err = collector.New(natsConfig(spool, data, srv.ClientURL()), collector.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := col.RunOnce(context.Background(), 30*time.Second); err != nil {
		t.Fatal(err)
	}
	st, err = collector.OpenStore(data, collector.StoreOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	subs, err := st.Submissions(id)
	if err != nil || len(subs) != 1 || subs[0].State != collector.StateSent || !strings.HasSuffix(subs[0].UUID, "(duplicate)") {
		t.Errorf("re-published entry: %+v, %v", subs, err)
	}
	str, err := js.Stream(context.Background(), "SMTPSCOPE")
	if err != nil {
		t.Fatal(err)
	}
	if info, err := str.Info(context.Background()); err != nil || info.State.Msgs != 3 {
		t.Errorf("stream holds %+v messages (%v), want 3: the duplicate dropped", info.State, err)
	}
}

func TestGroupKindConfig(t *testing.T) {
	for _, c := range []struct {
		g    collector.GroupConfig
		want string // "" = valid
	}{
		{collector.GroupConfig{Name: "a", Nodes: []string{"https://ace"}}, ""},
		{collector.GroupConfig{Name: "a", Kind: "nats", Nodes: []string{"nats://h:4222", "tls://h2:4222"}, CredsFile: "x.creds"}, ""},
		{collector.GroupConfig{Name: "a", Kind: "nats", Nodes: []string{"https://ace"}}, "nats:// or tls://"},
		{collector.GroupConfig{Name: "a", Nodes: []string{"nats://h"}}, "http:// or https://"},
		{collector.GroupConfig{Name: "a", Kind: "kafka", Nodes: []string{"nats://h"}}, `kind "kafka"`},
		{collector.GroupConfig{Name: "a", Kind: "nats", Nodes: []string{"nats://h"}, CertFile: "c.pem"}, "cert_file and key_file"},
		{collector.GroupConfig{Name: "a", Nodes: []string{"https://ace"}, NKeyFile: "k"}, `for kind = "nats"`},
		{collector.GroupConfig{Name: "a", Kind: "nats", Nodes: []string{"nats://h"}, Reconcile: new(bool), ReconcileInterval: collector.Duration(time.Hour), ReconcileMax: 5}, ""},
		{collector.GroupConfig{Name: "a", Nodes: []string{"https://ace"}, ReconcileInterval: collector.Duration(time.Hour)}, `reconcile_max are for kind = "nats"`},
		{collector.GroupConfig{Name: "a", Kind: "nats", Nodes: []string{"nats://h"}, ReconcileInterval: collector.Duration(-time.Second)}, "must not be negative"},
	} {
		cfg := &collector.Config{Spool: "s", Data: "d", Groups: []collector.GroupConfig{c.g}}
		cfg.ApplyDefaults()
		err := cfg.Validate()
		if (c.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), c.want)) {
			t.Errorf("%+v: %v, want %q", c.g, err, c.want)
		}
	}
}

// A NATS group whose NKey seed file cannot be read is refused at start
// with the group and the option named.
func TestNATSGroupBadNKeyFile(t *testing.T) {
	tmp := t.TempDir()
	cfg := natsConfig(filepath.Join(tmp, "spool"), filepath.Join(tmp, "data"), "nats://127.0.0.1:4222")
	cfg.Groups[0].NKeyFile = filepath.Join(tmp, "missing.nk")
	if _, err := collector.New(cfg, collector.Options{}); err == nil || !strings.Contains(err.Error(), `group "hub": nkey_file`) {
		t.Errorf("New with a missing nkey_file: %v", err)
	}
}
