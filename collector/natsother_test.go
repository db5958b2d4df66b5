package collector_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/smtpscope/smtpscope/collector"
	"github.com/smtpscope/smtpscope/core"
)

// refusedSession is a session whose only recipient was refused: no
// DATA, so no email; its envelope is what an analyst searches for.
func refusedSession(from string) []byte {
	return []byte("192.0.2.9:4000/tcp\n1700000900.5\n< > 220 mx.corp.example ESMTP\n> EHLO bad.example\n< EHLO 250 mx\n" +
		"> MAIL FROM:<" + from + ">\n< MAIL 250 ok\n> RCPT TO:<victim@corp.example>\n< RCPT 550 no such user\n> QUIT\n< QUIT 221 bye\n")
}

// TestHubSessionsAndReview: a sensor's session without email and its
// review/ entry travel through the same queue as its emails (queued,
// then sent on the PubAck) to their own subjects, and the hub stores
// them under global names: the session as <sensor>/<key> with the
// sensor's exact bytes (indexed as a session), the review entry with
// its reason, sensor and bytes (listed and indexed). Two sensors with
// the same session names keep two of each; a hub started again stores
// nothing twice.
func TestHubSessionsAndReview(t *testing.T) {
	tmp := t.TempDir()
	srv := startNATS(t, -1, filepath.Join(tmp, "js"), 0)
	url := srv.ClientURL()
	hubData := filepath.Join(tmp, "hub")
	hub := startHub(t, hubData, url, collector.HubConfig{AckWait: time.Second})
	js := jsClient(t, url, false)
	waitLong(t, "the hub made the stream", func() bool {
		_, err := js.Stream(context.Background(), collector.HubStream)
		return err == nil
	})
	garbage := []byte("this is not a session file\n\x00\x01")
	stores := map[string]*collector.Store{}
	for _, sensor := range []string{"s1", "s2"} {
		st := runSensor(t, tmp, sensor, url, map[string][]byte{
			"Cok":      simpleSession(1, 1),
			"Crefused": refusedSession("refused-" + sensor + "@bad.example"),
			"Cbad":     garbage,
		})
		stores[sensor] = st
		// one email, one session without email, one review entry: all sent
		if n := sentCount(t, st, collector.StateSent); n != 3 {
			t.Errorf("%s: %d sent in group hub, want 3 (email, session, review entry)", sensor, n)
		}
	}
	consumerSettled(t, js)
	hst := hub.col.Store()
	for sensor, st := range stores {
		var own *collector.SessionMeta
		_ = st.ListSessions(func(m *collector.SessionMeta) bool {
			if len(m.Emails) == 0 {
				own = m
			}
			return true
		})
		if own == nil {
			t.Fatalf("%s stored no session without email", sensor)
		}
		gkey := core.GlobalID(sensor, own.Key)
		hm, err := hst.Session(gkey)
		var raw []byte
		if err == nil {
			raw, err = os.ReadFile(hst.Path(hm.File))
		}
		if err != nil {
			t.Fatalf("hub session %s: %v", gkey, err)
		}
		ownRaw, _ := os.ReadFile(st.Path(own.File))
		if !bytes.Equal(raw, ownRaw) || hm.SHA256 != own.SHA256 || hm.Sensor != sensor || hm.UID != core.GlobalID(sensor, own.UID) || len(hm.Emails) != 0 {
			t.Errorf("hub session %s: %+v (%d bytes), want the sensor's %+v", gkey, hm, len(raw), own)
		}
		ps, err := hst.ParsedSession(gkey)
		if err != nil || !slices.ContainsFunc(ps.Events, func(e core.Event) bool {
			return e.Cmd == "MAIL" && strings.Contains(e.Arg, "refused-"+sensor+"@bad.example")
		}) {
			t.Errorf("hub session %s parsed: %v, %+v", gkey, err, ps)
		}
	}
	reviews, err := hst.Review()
	if err != nil {
		t.Fatal(err)
	}
	var sensors []string
	for _, r := range reviews {
		b, reason, err := hst.ReviewFile(r.Name)
		if err != nil || !bytes.Equal(b, garbage) || reason == "" || reason != r.Reason || !strings.Contains(r.Name, "Cbad") {
			t.Errorf("hub review entry %+v: %q, %q, %v", r, b, reason, err)
		}
		sensors = append(sensors, r.Sensor)
	}
	slices.Sort(sensors)
	if !slices.Equal(sensors, []string{"s1", "s2"}) {
		t.Errorf("hub review entries of sensors %v, want s1 and s2", sensors)
	}
	hub.idx.mu.Lock()
	nSessions, nReviews := len(hub.idx.sessions), len(hub.idx.reviews)
	hub.idx.mu.Unlock()
	if nSessions != 2 || nReviews != 2 {
		t.Errorf("hub indexed %d sessions and %d review entries, want 2 and 2", nSessions, nReviews)
	}
	stats, _ := hst.Stats()
	if err := hub.stop(); err != nil {
		t.Fatal(err)
	}
	// redelivered from the start: nothing stored twice
	if err := js.DeleteConsumer(context.Background(), collector.HubStream, collector.HubConsumer); err != nil {
		t.Fatal(err)
	}
	hub = startHub(t, hubData, url, collector.HubConfig{AckWait: time.Second})
	defer hub.stop()
	consumerSettled(t, js)
	again, _ := hub.col.Store().Stats()
	rev2, _ := hub.col.Store().Review()
	if again.Sessions != stats.Sessions || again.Emails != stats.Emails || len(rev2) != len(reviews) {
		t.Errorf("after a redelivery of everything: %+v and %d review entries, want %+v and %d", again, len(rev2), stats, len(reviews))
	}
}

// FuzzDecodeHubOther: any headers and body are refused with a
// BadMessageError or decoded into a session or review entry whose parts
// agree with the headers.
func FuzzDecodeHubOther(f *testing.F) {
	f.Add("smtpscope.session.s1", "session", "s1", "Ck", "inline", "0", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
		[]byte(`{"record":{"key":"Ck","sha256":"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855","size":0}}`))
	f.Add("smtpscope.review.s1", "review", "s1", "bad", "none", "5", "", []byte(`{"record":{"name":"bad","size":5,"reason":"x"}}`))
	f.Add("smtpscope.review.s1", "review", "s1", "../x", "inline", "1", "", []byte(`{"raw":"eA=="}`))
	f.Fuzz(func(t *testing.T, subject, kind, sensor, id, rawMode, size, sum string, body []byte) {
		h := nats.Header{}
		for k, v := range map[string]string{collector.HdrFormat: "1", collector.HdrKind: kind, collector.HdrSensor: sensor, collector.HdrID: id,
			collector.HdrRaw: rawMode, collector.HdrSize: size, collector.HdrSHA256: sum, collector.HdrRecord: "inline"} {
			h.Set(k, v)
		}
		o, err := collector.DecodeHubOther(subject, h, body, func(string, int64) ([]byte, error) { return nil, os.ErrNotExist })
		if err != nil {
			return
		}
		if o.Sensor != sensor || strings.ContainsAny(id, "/\x00") {
			t.Fatalf("decoded %+v from sensor %q id %q", o, sensor, id)
		}
		switch o.Kind {
		case collector.KindSession:
			if o.Session == nil || o.Session.Key != id || o.Raw == nil || o.Session.SHA256 != sum || !sizeIs(size, len(o.Raw)) {
				t.Fatalf("session %+v does not agree with the headers", o)
			}
		case collector.KindReview:
			if o.Review == nil || o.Review.Name != id || (o.Raw != nil && !sizeIs(size, len(o.Raw))) {
				t.Fatalf("review %+v does not agree with the headers", o)
			}
		default:
			t.Fatalf("kind %q decoded", o.Kind)
		}
	})
}

// TestHubAddsSubjects: a stream an earlier hub made (emails only) gets
// the session and review subjects added at start, its messages kept.
func TestHubAddsSubjects(t *testing.T) {
	tmp := t.TempDir()
	srv := startNATS(t, -1, filepath.Join(tmp, "js"), 0)
	js := jsClient(t, srv.ClientURL(), false)
	ctx := context.Background()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: collector.HubStream, Subjects: []string{collector.NATSSubjectPrefix + ">"},
		Storage: jetstream.FileStorage}); err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(ctx, collector.NATSSubjectPrefix+"s9", []byte("kept")); err != nil {
		t.Fatal(err)
	}
	hub := startHub(t, filepath.Join(tmp, "hub"), srv.ClientURL(), collector.HubConfig{})
	defer hub.stop()
	var info *jetstream.StreamInfo
	waitLong(t, "the hub adds the subjects", func() bool {
		s, err := js.Stream(ctx, collector.HubStream)
		if err != nil {
			return false
		}
		info, err = s.Info(ctx)
		return err == nil && len(info.Config.Subjects) == 3
	})
	if !slices.Equal(info.Config.Subjects, collector.HubSubjects()) || info.State.Msgs != 1 {
		t.Errorf("stream subjects %v with %d messages, want %v and the one kept", info.Config.Subjects, info.State.Msgs, collector.HubSubjects())
	}
}
