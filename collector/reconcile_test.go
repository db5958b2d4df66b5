package collector_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/smtpscope/smtpscope/collector"
	"github.com/smtpscope/smtpscope/core"
)

// waitLong polls cond until it holds; the bound is only liveness (60 s,
// the machine may be loaded), never a speed assertion.
func waitLong(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not reached in 60 s: %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// reconSensor is a running sensor collector (spool, a NATS group that
// reconciles every interval, an .eml directory for a raw email).
type reconSensor struct {
	name string
	col  *collector.Collector
	want int // emails it stores
}

// startReconSensor writes sessions over three hours (two emails each)
// and one raw .eml, and runs a collector on them.
func startReconSensor(t *testing.T, tmp, name, url string, sessions int) *reconSensor {
	t.Helper()
	spool, data, eml := filepath.Join(tmp, name, "spool"), filepath.Join(tmp, name, "data"), filepath.Join(tmp, name, "eml")
	for i := range sessions {
		epoch := strconv.Itoa(1700000000 + (i%3)*3600 + i)
		spoolWrite(t, spool, fmt.Sprintf("C%d", i), genSession(fmt.Sprintf("192.0.2.%d", i+1), 40000+i, epoch+".5", []genMsg{
			{From: "a@sender.example", Rcpts: []string{"u@corp.example"}, Subject: fmt.Sprintf("%s %d a", name, i), Body: "one"},
			{From: "b@sender.example", Rcpts: []string{"v@corp.example"}, Subject: fmt.Sprintf("%s %d b", name, i), Body: "two"}}), time.Time{})
	}
	if err := os.MkdirAll(eml, 0o755); err != nil {
		t.Fatal(err)
	}
	raw := "From: r@sender.example\r\nTo: u@corp.example\r\nSubject: raw " + name + "\r\n\r\nbody\r\n"
	if err := os.WriteFile(filepath.Join(eml, "raw.eml"), []byte(raw), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := natsConfig(spool, data, url)
	cfg.Sensor, cfg.EMLDir = name, []string{eml}
	cfg.Groups[0].ReconcileInterval = collector.Duration(200 * time.Millisecond)
	col, err := collector.New(cfg, collector.Options{})
	if err != nil {
		t.Fatal(err)
	}
	runCollector(t, col) // stopped at the test's clean-up
	return &reconSensor{name: name, col: col, want: 2*sessions + 1}
}

func (s *reconSensor) reconcile(t *testing.T) collector.ReconcileStatus {
	t.Helper()
	g := groupStatus(t, s.col)
	if g.Reconcile == nil {
		return collector.ReconcileStatus{}
	}
	return *g.Reconcile
}

// roundsAfter waits until the sensor has run two more rounds that
// compared hours (the hub's counts were there and current).
func (s *reconSensor) roundsAfter(t *testing.T) collector.ReconcileStatus {
	t.Helper()
	start := s.reconcile(t).Rounds
	var st collector.ReconcileStatus
	compared := 0
	waitLong(t, s.name+": two more rounds comparing hours", func() bool {
		st = s.reconcile(t)
		if st.Rounds > start && st.HoursChecked > 0 && st.Skipped == "" {
			start = st.Rounds
			compared++
		}
		return compared >= 2
	})
	return st
}

func sensorStores(t *testing.T, sensors []*reconSensor) map[string]*collector.Store {
	stores := map[string]*collector.Store{}
	for _, s := range sensors {
		stores[s.name] = s.col.Store()
	}
	return stores
}

// checkHubTimes: the hub lists every email at its time on the sensor
// (the raw email's too, from Smtpscope-Time), so both count its hour.
func checkHubTimes(t *testing.T, hub *collector.Store, stores map[string]*collector.Store) {
	t.Helper()
	for sensor, st := range stores {
		_ = st.ListEmails(func(m *collector.EmailMeta) bool {
			hm, err := hub.Email(core.GlobalID(sensor, m.ID))
			if err != nil || !hm.Time.Equal(m.Time) {
				t.Errorf("%s/%s at the hub: %v, time %v, want %v", sensor, m.ID, err, hm, m.Time)
			}
			return true
		})
	}
}

// hubCountsKV reads the hub's counts bucket: every key but the hub's
// status, as numbers.
func hubCountsKV(t *testing.T, js jetstream.JetStream) (map[string]int64, collector.HubCounts) {
	t.Helper()
	ctx := context.Background()
	kv, err := js.KeyValue(ctx, collector.CountsBucket)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := kv.Keys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int64{}
	var hc collector.HubCounts
	for _, k := range keys {
		e, err := kv.Get(ctx, k)
		if err != nil {
			t.Fatal(err)
		}
		if k == collector.CountsHubKey {
			if err := json.Unmarshal(e.Value(), &hc); err != nil {
				t.Fatal(err)
			}
			continue
		}
		n, err := strconv.ParseInt(string(e.Value()), 10, 64)
		if err != nil {
			t.Fatalf("key %s: %q", k, e.Value())
		}
		out[k] = n
	}
	return out, hc
}

// wantCounts is what the hub's counts must be: each sensor's emails by
// HourKey of their time.
func wantCounts(stores map[string]*collector.Store) map[string]int64 {
	want := map[string]int64{}
	for sensor, st := range stores {
		_ = st.ListEmails(func(m *collector.EmailMeta) bool { want[collector.HourKey(sensor, m.Time)]++; return true })
	}
	return want
}

func sameCounts(a, b map[string]int64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestReconcilePurgedStream: the stream is purged after the sensors
// published and before the hub consumed (a broker that lost
// acknowledged writes looks the same to them): every email is sent on
// the sensors, none reaches the hub through the stream. Reconciliation
// finds every hour short and re-publishes each email exactly once; the
// hub then holds exactly the sensors' emails (bytes, sensor, time), its
// counts in the KV bucket are theirs, and later rounds re-publish
// nothing.
func TestReconcilePurgedStream(t *testing.T) {
	tmp := t.TempDir()
	srv := startNATS(t, -1, filepath.Join(tmp, "js"), 0)
	url := srv.ClientURL()
	js := jsClient(t, url, false)
	hubData := filepath.Join(tmp, "hub")

	// the hub makes the stream, its consumer and the counts bucket, then stops
	hub := startHub(t, hubData, url, collector.HubConfig{CountsEvery: 100 * time.Millisecond})
	waitLong(t, "the hub's counts", func() bool {
		kv, err := js.KeyValue(context.Background(), collector.CountsBucket)
		if err != nil {
			return false
		}
		_, err = kv.Get(context.Background(), collector.CountsHubKey)
		return err == nil
	})
	if err := hub.stop(); err != nil {
		t.Fatal(err)
	}

	var sensors []*reconSensor
	total := 0
	for i, name := range []string{"s1", "s2"} {
		s := startReconSensor(t, tmp, name, url, 4+i)
		sensors = append(sensors, s)
		total += s.want
	}
	for _, s := range sensors {
		waitLong(t, s.name+" sent everything", func() bool { return sentCount(t, s.col.Store(), collector.StateSent) == int64(s.want) })
	}
	stream, err := js.Stream(context.Background(), collector.HubStream)
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Purge(context.Background()); err != nil {
		t.Fatal(err)
	}
	// rounds meanwhile compared nothing the hub was due to hold (its
	// consumer had not passed their messages): nothing re-published
	for _, s := range sensors {
		if st := s.reconcile(t); st.Total != 0 {
			t.Errorf("%s re-published %d emails before the hub ran: %+v", s.name, st.Total, st)
		}
	}

	hub = startHub(t, hubData, url, collector.HubConfig{CountsEvery: 100 * time.Millisecond})
	defer hub.stop()
	stores := sensorStores(t, sensors)
	waitLong(t, "the hub refilled", func() bool { return emailCount(hub.col.Store()) >= total })
	consumerSettled(t, js)
	republished := int64(0)
	for _, s := range sensors {
		st := s.roundsAfter(t)
		if st.Republished != 0 || st.HoursShort != 0 || st.LastError != "" {
			t.Errorf("%s: a round after the refill: %+v", s.name, st)
		}
		if st.Total != int64(s.want) {
			t.Errorf("%s re-published %d emails in all, want each of its %d once", s.name, st.Total, s.want)
		}
		republished += st.Total
	}
	if republished != int64(total) {
		t.Errorf("%d emails re-published, want %d", republished, total)
	}
	checkHub(t, hub.col.Store(), stores, total)
	checkHubTimes(t, hub.col.Store(), stores)
	waitLong(t, "the hub's counts are the sensors'", func() bool {
		got, _ := hubCountsKV(t, js)
		return sameCounts(got, wantCounts(stores))
	})
}

// TestReconcileHubHoldsEverything: with the hub consuming all along, a
// reconciliation round compares every hour of every sensor and
// re-publishes nothing; the hub's status key names its stream and an
// ack floor past every message.
func TestReconcileHubHoldsEverything(t *testing.T) {
	tmp := t.TempDir()
	srv := startNATS(t, -1, filepath.Join(tmp, "js"), 0)
	url := srv.ClientURL()
	js := jsClient(t, url, false)
	hub := startHub(t, filepath.Join(tmp, "hub"), url, collector.HubConfig{CountsEvery: 100 * time.Millisecond})
	defer hub.stop()
	waitLong(t, "the hub made the stream", func() bool {
		_, err := js.Stream(context.Background(), collector.HubStream)
		return err == nil
	})
	var sensors []*reconSensor
	total := 0
	for _, name := range []string{"s1", "s2"} {
		s := startReconSensor(t, tmp, name, url, 5)
		sensors = append(sensors, s)
		total += s.want
	}
	waitLong(t, "the hub holds every email", func() bool { return emailCount(hub.col.Store()) == total })
	consumerSettled(t, js)
	stores := sensorStores(t, sensors)
	for _, s := range sensors {
		st := s.roundsAfter(t)
		// 3 hours of sessions and the raw email's hour (now)
		if st.HoursChecked != 4 || st.HoursShort != 0 || st.Republished != 0 || st.Total != 0 || st.LastError != "" {
			t.Errorf("%s: %+v, want 4 hours compared, none short, nothing re-published", s.name, st)
		}
	}
	checkHub(t, hub.col.Store(), stores, total)
	checkHubTimes(t, hub.col.Store(), stores)
	got, hc := hubCountsKV(t, js)
	if !sameCounts(got, wantCounts(stores)) {
		t.Errorf("hub counts %v, want %v", got, wantCounts(stores))
	}
	info, err := js.Stream(context.Background(), collector.HubStream)
	if err != nil {
		t.Fatal(err)
	}
	si, err := info.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if hc.Stream != collector.HubStream || hc.AckFloor != si.State.LastSeq || !hc.Created.Equal(si.Created.UTC()) {
		t.Errorf("hub status %+v, want stream %s, ack floor %d, created %v", hc, collector.HubStream, si.State.LastSeq, si.Created)
	}
}
