package collector_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/smtpscope/smtpscope/collector"
	"github.com/smtpscope/smtpscope/core"
	"github.com/smtpscope/smtpscope/internal/hubtest"
	"github.com/smtpscope/smtpscope/internal/natstest"
)

// hubProc is a running hub: a collector without spool and RunHub.
type hubProc struct {
	col    *collector.Collector
	idx    *fakeIndexer
	cancel context.CancelFunc
	done   chan error
}

func startHub(t *testing.T, data, url string, h collector.HubConfig) *hubProc {
	t.Helper()
	f := false
	idx := &fakeIndexer{indexed: map[string]int{}, updates: map[string][]collector.SubmissionStatus{}}
	col, err := collector.New(&collector.Config{Data: data, Sensor: "hub", Fsync: &f}, collector.Options{NoSpool: true, Indexer: idx})
	if err != nil {
		t.Fatal(err)
	}
	hubCtx, hubCancel := context.WithCancel(context.Background())
	p := &hubProc{col: col, idx: idx, cancel: hubCancel, done: make(chan error, 1)}
	stopRun := runCollector(t, col)
	h.Servers = []string{url}
	go func() {
		err := collector.RunHub(hubCtx, col, h)
		hubCancel()
		if rerr := stopRun(); err == nil && rerr != nil && !errors.Is(rerr, context.Canceled) {
			err = rerr
		}
		p.done <- err
	}()
	return p
}

// stop ends the hub (what it fetched is stored and acked first) and
// returns RunHub's error.
func (p *hubProc) stop() error {
	p.cancel()
	return <-p.done
}

func emailCount(st *collector.Store) int {
	n := 0
	_ = st.ListEmails(func(*collector.EmailMeta) bool { n++; return true })
	return n
}

// runSensor collects a spool once and publishes everything to NATS.
func runSensor(t *testing.T, tmp, sensor, url string, sessions map[string][]byte) *collector.Store {
	t.Helper()
	spool, data := filepath.Join(tmp, sensor, "spool"), filepath.Join(tmp, sensor, "data")
	for name, b := range sessions {
		spoolWrite(t, spool, name, b, time.Time{})
	}
	cfg := natsConfig(spool, data, url)
	cfg.Sensor = sensor
	col, err := collector.New(cfg, collector.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := col.RunOnce(context.Background(), 60*time.Second); err != nil {
		t.Fatalf("sensor %s: %v", sensor, err)
	}
	st, err := collector.OpenStore(data, collector.StoreOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// consumerSettled waits until the hub's consumer has nothing pending and
// nothing unacknowledged.
func consumerSettled(t *testing.T, js jetstream.JetStream) {
	t.Helper()
	waitFor(t, func() bool {
		c, err := js.Consumer(context.Background(), collector.HubStream, collector.HubConsumer)
		if err != nil {
			return false
		}
		info, err := c.Info(context.Background())
		return err == nil && info.NumPending == 0 && info.NumAckPending == 0
	})
}

// TestHubSensors: three sensors (real collectors on their own spools,
// kind nats) and one hub on one JetStream server. Every email of every
// sensor is stored at the hub as <sensor>/<id> with its sensor and its
// exact bytes (a large one through the Object Store); the same session
// on two sensors is two emails there; the hub's index is told of each;
// a duplicate publish and a redelivered (nak'd, then unacknowledged)
// message are stored once; a hub stopped and started again loses and
// doubles nothing.
func TestHubSensors(t *testing.T) {
	tmp := t.TempDir()
	srv := startNATS(t, -1, filepath.Join(tmp, "js"), 64<<10)
	url := srv.ClientURL()
	hubData := filepath.Join(tmp, "hub")
	hub := startHub(t, hubData, url, collector.HubConfig{AckWait: time.Second})
	js := jsClient(t, url, false)
	// the hub made the stream
	waitFor(t, func() bool { _, err := js.Stream(context.Background(), collector.HubStream); return err == nil })

	stores := map[string]*collector.Store{}
	for i, sensor := range []string{"s1", "s2", "s3"} {
		sessions := map[string][]byte{}
		for n := range 4 { // the same sessions (same ids) on every sensor
			sessions[fmt.Sprintf("C%d", n)] = simpleSession(n, 2)
		}
		sessions["U"+sensor] = simpleSession(100+i, 1)
		if sensor == "s2" {
			sessions["Cbig"] = genSession("192.0.2.77", 4000, "1700000500.5", []genMsg{{From: "big@sender.example", Rcpts: []string{"u@corp.example"},
				Subject: "large", Body: strings.Repeat("0123456789abcdef\r\n", 10000)}})
			sessions["Catt"] = attachmentSession([]byte("MZ not really a program"))
		}
		stores[sensor] = runSensor(t, tmp, sensor, url, sessions)
	}
	want := 0
	for _, st := range stores {
		want += emailCount(st)
	}
	if want != 3*9+2 {
		t.Fatalf("sensors stored %d emails, want %d", want, 3*9+2)
	}
	waitFor(t, func() bool { return emailCount(hub.col.Store()) == want })
	consumerSettled(t, js)
	checkHub(t, hub.col.Store(), stores, want)
	hub.idx.mu.Lock()
	if len(hub.idx.indexed) != want {
		t.Errorf("index told of %d emails, want %d", len(hub.idx.indexed), want)
	}
	for id, n := range hub.idx.indexed {
		if n != 1 || !strings.Contains(id, "/") {
			t.Errorf("index told of %s %d times", id, n)
		}
	}
	hub.idx.mu.Unlock()

	// A duplicate publish (another Nats-Msg-Id: JetStream keeps both) is
	// acked and stored once.
	first, err := js.Stream(context.Background(), collector.HubStream)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := first.GetMsg(context.Background(), 1)
	if err != nil {
		t.Fatal(err)
	}
	dup := nats.NewMsg(raw.Subject)
	dup.Header, dup.Data = raw.Header, raw.Data
	dup.Header.Set(jetstream.MsgIDHeader, "again/"+raw.Header.Get(jetstream.MsgIDHeader))
	if ack, err := js.PublishMsg(context.Background(), dup); err != nil || ack.Duplicate {
		t.Fatalf("republish: %+v %v", ack, err)
	}
	consumerSettled(t, js)
	if n := emailCount(hub.col.Store()); n != want {
		t.Errorf("after a duplicate publish: %d emails at the hub, want %d", n, want)
	}
	if stats, _ := hub.col.Store().Stats(); stats.DuplicateEmails < 1 {
		t.Errorf("duplicate not counted: %+v", stats)
	}

	// Redelivery: with the hub stopped, a fourth sensor publishes two
	// emails; one delivery is nak'd, the other left unacknowledged (its
	// ack wait runs out); the restarted hub gets both again.
	if err := hub.stop(); err != nil {
		t.Fatal(err)
	}
	stores["s4"] = runSensor(t, tmp, "s4", url, map[string][]byte{"N0": simpleSession(200, 2)})
	want += 2
	cons, err := js.Consumer(context.Background(), collector.HubStream, collector.HubConsumer)
	if err != nil {
		t.Fatal(err)
	}
	batch, err := cons.Fetch(2, jetstream.FetchMaxWait(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	got := 0
	for m := range batch.Messages() {
		if got == 0 {
			_ = m.Nak()
		} // the second: no ack
		got++
	}
	if got != 2 {
		t.Fatalf("fetched %d messages, want 2", got)
	}
	hub = startHub(t, hubData, url, collector.HubConfig{AckWait: time.Second})
	waitFor(t, func() bool { return emailCount(hub.col.Store()) == want })
	consumerSettled(t, js)
	if err := hub.stop(); err != nil {
		t.Fatal(err)
	}
	checkHubStore(t, hubData, stores, want)
}

// checkHubStore checks a stopped hub's data dir.
func checkHubStore(t *testing.T, data string, stores map[string]*collector.Store, want int) {
	t.Helper()
	st, err := collector.OpenStore(data, collector.StoreOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	checkHub(t, st, stores, want)
}

// checkHub: the hub holds exactly the sensors' emails, each under
// <sensor>/<id>, with its sensor, subject and byte-exact raw message.
func checkHub(t *testing.T, hub *collector.Store, stores map[string]*collector.Store, want int) {
	t.Helper()
	if n := emailCount(hub); n != want {
		t.Errorf("hub holds %d emails, want %d", n, want)
	}
	if stats, err := hub.Stats(); err != nil || stats.Emails != int64(want) {
		t.Errorf("hub stats %+v %v, want %d emails", stats, err, want)
	}
	for sensor, st := range stores {
		_ = st.ListEmails(func(m *collector.EmailMeta) bool {
			gid := core.GlobalID(sensor, m.ID)
			rec, err := hub.Record(gid)
			if err != nil {
				t.Errorf("%s: %v", gid, err)
				return true
			}
			raw, err := hub.Raw(gid)
			if err != nil {
				t.Fatal(err)
			}
			own, _ := st.Raw(m.ID)
			if sha(raw) != sha(own) || sha(raw) != m.SHA256 || rec.SHA256 != m.SHA256 {
				t.Errorf("%s: hub raw sha256 %s, sensor's %s", gid, sha(raw), sha(own))
			}
			if rec.ID != gid || rec.Sensor != sensor || rec.Subject != m.Subject {
				t.Errorf("%s: record id %q sensor %q subject %q", gid, rec.ID, rec.Sensor, rec.Subject)
			}
			subs, _ := hub.Submissions(gid)
			if len(subs) != 0 {
				t.Errorf("%s queued at the hub: %+v", gid, subs)
			}
			return true
		})
	}
}

// TestHubStreamMisconfigured: an existing stream in memory and on other
// subjects is refused with what is wrong; StreamProblems names too few
// replicas for the cluster.
func TestHubStreamMisconfigured(t *testing.T) {
	tmp := t.TempDir()
	srv := startNATS(t, -1, filepath.Join(tmp, "js"), 0)
	js := jsClient(t, srv.ClientURL(), false)
	if _, err := js.CreateStream(context.Background(), jetstream.StreamConfig{Name: collector.HubStream,
		Subjects: []string{"other.>"}, Storage: jetstream.MemoryStorage}); err != nil {
		t.Fatal(err)
	}
	f := false
	col, err := collector.New(&collector.Config{Data: filepath.Join(tmp, "hub"), Fsync: &f}, collector.Options{NoSpool: true})
	if err != nil {
		t.Fatal(err)
	}
	defer col.Close()
	err = collector.RunHub(context.Background(), col, collector.HubConfig{Servers: []string{srv.ClientURL()}})
	if err == nil {
		t.Fatal("a misconfigured stream was accepted")
	}
	for _, w := range []string{"stream SMTPSCOPE is misconfigured", `["other.>"]`, "smtpscope.email.>", "memory", "file storage"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not say %q", err, w)
		}
	}
	p := collector.StreamProblems(jetstream.StreamConfig{Name: "X", Subjects: []string{"smtpscope.email.>"}, Storage: jetstream.FileStorage, Replicas: 1}, 3)
	if len(p) != 1 || !strings.Contains(p[0], "1 replica(s) on a cluster of 3 servers: it needs 3") {
		t.Errorf("replicas: %q", p)
	}
	if p := collector.StreamProblems(jetstream.StreamConfig{Name: "X", Subjects: []string{"smtpscope.email.>"}, Storage: jetstream.FileStorage, Replicas: 3}, 5); len(p) != 0 {
		t.Errorf("R3 on 5 servers: %q", p)
	}
	if p := collector.StreamProblems(jetstream.StreamConfig{Name: "X", Subjects: []string{"smtpscope.email.>"}, Storage: jetstream.FileStorage}, 1); len(p) != 0 {
		t.Errorf("R1 on 1 server: %q", p)
	}
}

// FuzzDecodeHubMessage: any subject, headers and body give a record and
// raw bytes that agree with the headers, or a BadMessageError; never a
// panic or an allocation beyond the message.
func FuzzDecodeHubMessage(f *testing.F) {
	raw := []byte("Subject: hi\r\n\r\nbody\r\n")
	sum := sha(raw)
	rec := fmt.Sprintf(`{"id":"C1.0","sensor":"s1","sha256":%q,"subject":"hi"}`, sum)
	body := fmt.Sprintf(`{"record":%s,"raw":"U3ViamVjdDogaGkNCg0KYm9keQ0K"}`, rec)
	f.Add("smtpscope.email.s1", "s1", "C1.0", sum, "21", "inline", "inline", []byte(body))
	f.Add("smtpscope.email.s1", "s1", "C1.0", sum, "21", "object", "inline", []byte(`{"record":`+rec+`}`))
	f.Add("smtpscope.email.s2", "s1", "C1.0", sum, "-1", "inline", "object", []byte(`{"record_object":"record/x"}`))
	f.Add("smtpscope.email.s1", "s1", "a/b", "", "0", "inline", "inline", []byte(`{"record":{"id":"a/b"}}`))
	f.Fuzz(func(t *testing.T, subject, sensor, id, sha256, size, rawMode, recMode string, data []byte) {
		h := nats.Header{}
		for k, v := range map[string]string{collector.HdrFormat: collector.NATSFormat, collector.HdrKind: "email", collector.HdrSensor: sensor,
			collector.HdrID: id, collector.HdrSHA256: sha256, collector.HdrSize: size, collector.HdrRaw: rawMode, collector.HdrRecord: recMode} {
			h.Set(k, v)
		}
		object := func(name string, limit int64) ([]byte, error) {
			if name == sum && limit >= int64(len(raw)) {
				return raw, nil
			}
			return nil, errors.New("no such object")
		}
		got, b, err := collector.DecodeHubMessage(subject, h, data, object)
		if err != nil {
			if got != nil || b != nil {
				t.Fatal("error with a result")
			}
			return
		}
		if sha(b) != sha256 || got.SHA256 != sha256 || got.Sensor != sensor || got.ID != id || strings.Contains(got.ID, "/") ||
			subject != collector.NATSSubjectPrefix+sensor || !sizeIs(size, len(b)) {
			t.Fatalf("accepted a message whose parts disagree: %q %+v", subject, got)
		}
	})
}

func sizeIs(header string, n int) bool {
	v, err := strconv.ParseInt(header, 10, 64)
	return err == nil && v == int64(n)
}

// TestHubWaitsForNATS: a hub started while no server answers waits
// (the error recorded), then creates the stream and stores what a
// sensor publishes once the server is up.
func TestHubWaitsForNATS(t *testing.T) {
	tmp := t.TempDir()
	port := freePort(t)
	url := fmt.Sprintf("nats://127.0.0.1:%d", port)
	hub := startHub(t, filepath.Join(tmp, "hub"), url, collector.HubConfig{})
	waitFor(t, func() bool { errs, _ := hub.col.Store().LastErrors(); return len(errs) > 0 })
	srv := startNATS(t, port, filepath.Join(tmp, "js"), 0)
	js := jsClient(t, srv.ClientURL(), false)
	waitFor(t, func() bool { _, err := js.Stream(context.Background(), collector.HubStream); return err == nil })
	st := runSensor(t, tmp, "s1", url, map[string][]byte{"C0": simpleSession(0, 2)})
	waitFor(t, func() bool { return emailCount(hub.col.Store()) == 2 })
	if err := hub.stop(); err != nil {
		t.Fatal(err)
	}
	checkHubStore(t, filepath.Join(tmp, "hub"), map[string]*collector.Store{"s1": st}, 2)
}

// TestIngestRecord: a record stored under <sensor>/<id> as given; the
// same bytes again are known (not stored twice); other bytes under a
// taken id are kept beside it; records whose parts disagree are refused
// as bad messages.
func TestIngestRecord(t *testing.T) {
	f := false
	col, err := collector.New(&collector.Config{Data: t.TempDir(), Fsync: &f}, collector.Options{NoSpool: true})
	if err != nil {
		t.Fatal(err)
	}
	defer col.Close()
	st := col.Store()
	rec := func(id, sensor string, raw []byte) *core.Email {
		return &core.Email{ID: id, Sensor: sensor, SHA256: sha(raw), Subject: "s " + string(raw[:4])}
	}
	a, b := []byte("aaaa\r\n"), []byte("bbbb\r\n")
	for i, want := range []bool{false, true} {
		known, err := col.IngestRecord(rec("C1.0", "s1", a), a)
		if err != nil || known != want {
			t.Fatalf("ingest %d: known %v, err %v", i, known, err)
		}
	}
	if known, err := col.IngestRecord(rec("C1.0", "s1", b), b); err != nil || known {
		t.Fatalf("other bytes: known %v, err %v", known, err)
	}
	for id, raw := range map[string][]byte{"s1/C1.0": a, "s1/C1.0+" + sha(b)[:12]: b} {
		got, err := st.Raw(id)
		if err != nil || string(got) != string(raw) {
			t.Errorf("%s: %q %v", id, got, err)
		}
		if r, err := st.Record(id); err != nil || r.ID != id || r.Sensor != "s1" {
			t.Errorf("%s: record %+v %v", id, r, err)
		}
	}
	if n := emailCount(st); n != 2 {
		t.Errorf("%d emails stored, want 2", n)
	}
	for name, r := range map[string]*core.Email{
		"sha256 of other bytes": rec("C2.0", "s1", b),
		"id with a slash":       rec("x/C2.0", "s1", a),
		"no id":                 rec("", "s1", a),
		"reserved sensor":       rec("C2.0", "session", a),
		"sensor with a dot":     rec("C2.0", "s.1", a),
	} {
		var bad *collector.BadMessageError
		if _, err := col.IngestRecord(r, a); !errors.As(err, &bad) {
			t.Errorf("%s: %v, want a BadMessageError", name, err)
		}
	}
	if n := emailCount(st); n != 2 {
		t.Errorf("%d emails stored after bad records, want 2", n)
	}
}

// TestHubCluster: on a three-server JetStream cluster the hub creates
// the stream with three replicas, and refuses an existing stream with
// one, saying so.
func TestHubCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a three-server cluster")
	}
	tmp := t.TempDir()
	urls := natstest.Cluster(t, tmp, 3, nil)
	js := jsClient(t, strings.Join(urls, ","), false)
	// wait for the JetStream meta leader
	waitFor(t, func() bool { _, err := js.AccountInfo(context.Background()); return err == nil })

	hub := startHub(t, filepath.Join(tmp, "hub"), strings.Join(urls, ","), collector.HubConfig{})
	var info *jetstream.StreamInfo
	waitFor(t, func() bool {
		s, err := js.Stream(context.Background(), collector.HubStream)
		if err == nil {
			info, err = s.Info(context.Background())
		}
		return err == nil
	})
	if err := hub.stop(); err != nil {
		t.Fatal(err)
	}
	if info.Config.Replicas != 3 || info.Config.Storage != jetstream.FileStorage {
		t.Errorf("stream made with %d replicas, storage %v; want 3, file", info.Config.Replicas, info.Config.Storage)
	}

	if err := js.DeleteStream(context.Background(), collector.HubStream); err != nil {
		t.Fatal(err)
	}
	if _, err := js.CreateStream(context.Background(), jetstream.StreamConfig{Name: collector.HubStream,
		Subjects: []string{collector.NATSSubjectPrefix + ">"}, Storage: jetstream.FileStorage, Replicas: 1}); err != nil {
		t.Fatal(err)
	}
	f := false
	col, err := collector.New(&collector.Config{Data: filepath.Join(tmp, "hub2"), Fsync: &f}, collector.Options{NoSpool: true})
	if err != nil {
		t.Fatal(err)
	}
	defer col.Close()
	err = collector.RunHub(context.Background(), col, collector.HubConfig{Servers: urls[:1]})
	if err == nil || !strings.Contains(err.Error(), "1 replica(s) on a cluster of 3 servers: it needs 3") {
		t.Errorf("an R1 stream on three servers: %v", err)
	}
}

// BenchmarkHubIngest: the hub's rate of storing (fsync on) emails that
// wait in the stream, from three sensors, each message about 2 KiB
// inline; reported as emails/s.
func BenchmarkHubIngest(b *testing.B) {
	tmp := b.TempDir()
	s := hubtest.Backlog(b, filepath.Join(tmp, "js"), b.N, strings.Repeat("hello from the benchmark\r\n", 80), nil)
	col, err := collector.New(&collector.Config{Data: filepath.Join(tmp, "hub")}, collector.Options{NoSpool: true})
	if err != nil {
		b.Fatal(err)
	}
	stopRun := runCollector(b, col)
	hubCtx, hubCancel := context.WithCancel(context.Background())
	hubDone := make(chan error, 1)
	b.ResetTimer()
	go func() {
		hubDone <- collector.RunHub(hubCtx, col, collector.HubConfig{Servers: []string{s.ClientURL()}})
	}()
	for {
		st, _ := col.Store().Stats()
		if st.Emails >= int64(b.N) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "emails/s")
	hubCancel()
	if err := <-hubDone; err != nil {
		b.Error(err)
	}
	_ = stopRun() // Run's error is not checked here
}
