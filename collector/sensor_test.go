package collector_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/smtpscope/smtpscope/collector"
	"github.com/smtpscope/smtpscope/core"
)

// TestSensorRecorded: the collector's sensor name is on every email
// record, session (with or without email) and review entry it stores.
func TestSensorRecorded(t *testing.T) {
	tmp := t.TempDir()
	spool, data := filepath.Join(tmp, "spool"), filepath.Join(tmp, "data")
	spoolWrite(t, spool, "Cmail", simpleSession(3, 2), time.Time{})
	spoolWrite(t, spool, "Cnone", genSession("192.0.2.9", 4000, "1700000000.5", nil), time.Time{})
	spoolWrite(t, spool, "Cbad", []byte("\x00\x00"), time.Time{})
	f := false
	col, err := collector.New(&collector.Config{Spool: spool, Data: data, Sensor: "dmz-1", Fsync: &f}, collector.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := col.RunOnce(context.Background(), 20*time.Second); err != nil {
		t.Fatal(err)
	}
	s, err := collector.OpenStore(data, collector.StoreOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	emails, sessions := 0, 0
	if err := s.ListEmails(func(m *collector.EmailMeta) bool {
		rec, err := s.Record(m.ID)
		if err != nil || rec.Sensor != "dmz-1" {
			t.Errorf("record %s: sensor %q, %v", m.ID, rec.Sensor, err)
		}
		emails++
		return true
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.ListSessions(func(m *collector.SessionMeta) bool {
		if m.Sensor != "dmz-1" {
			t.Errorf("session %s: sensor %q", m.Key, m.Sensor)
		}
		sessions++
		return true
	}); err != nil {
		t.Fatal(err)
	}
	rev, err := s.Review()
	if err != nil || len(rev) != 1 || rev[0].Sensor != "dmz-1" {
		t.Errorf("review entries %+v, %v", rev, err)
	}
	if emails != 2 || sessions != 2 {
		t.Errorf("%d emails, %d sessions stored; want 2, 2", emails, sessions)
	}
}

func TestSensorConfig(t *testing.T) {
	c := &collector.Config{Spool: "s", Data: "d"}
	c.ApplyDefaults()
	h, _ := os.Hostname()
	if c.Sensor != core.SensorFromHost(h) || c.Validate() != nil {
		t.Errorf("default sensor %q (host %q): %v", c.Sensor, h, c.Validate())
	}
	for _, bad := range []string{"a.b", "a b", "x>", strings.Repeat("s", 65)} {
		c := &collector.Config{Spool: "s", Data: "d", Sensor: bad}
		c.ApplyDefaults()
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "sensor name") {
			t.Errorf("sensor %q: %v", bad, err)
		}
	}
}
