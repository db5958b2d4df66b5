package service

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/smtpscope/smtpscope/collector"
	"github.com/smtpscope/smtpscope/core"
	"github.com/smtpscope/smtpscope/index"
)

// TestMonthRetention: a hub's store (records from sensors, as the hub
// stores them) spread over four months. By age, the months that ended
// longer ago than max_age go whole: their records, bytes and files leave
// the store, their index directories are removed, and no batch is
// written to the other months; a month holding an email queued for
// delivery is kept whole. By size, the oldest month goes while the store
// is too big, the newest is kept.
func TestMonthRetention(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	f := false
	cfg := &collector.Config{Spool: "-", Data: data, Fsync: &f, Workers: 2}
	ix, err := OpenIndex(data)
	if err != nil {
		t.Fatal(err)
	}
	l, err := Open(cfg, Options{Index: ix, NoSpool: true})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ctx := t.Context()
	l.Start(ctx)
	c, st := l.Collector(), l.Collector().Store()

	// 20 emails in each of January to April 2026, from two sensors.
	byMonth := map[string][]string{}
	for m := 1; m <= 4; m++ {
		for i := 0; i < 20; i++ {
			raw := []byte(fmt.Sprintf("Subject: month %d email %d\r\n\r\n%s\r\n", m, i, slices.Repeat([]byte("x"), 200*m)))
			sum := sha256.Sum256(raw)
			sensor := []string{"s1", "s2"}[i%2]
			rec := &core.Email{ID: fmt.Sprintf("C%d%02d.0", m, i), Sensor: sensor, SHA256: hex.EncodeToString(sum[:]),
				Subject: fmt.Sprintf("month %d email %d", m, i),
				Session: core.SessionInfo{UID: fmt.Sprintf("C%d%02d", m, i), Time: time.Date(2026, time.Month(m), 1+i, 10, 0, 0, 0, time.UTC)}}
			if _, err := c.IngestRecord(rec, raw); err != nil {
				t.Fatal(err)
			}
			key := fmt.Sprintf("2026-%02d", m)
			byMonth[key] = append(byMonth[key], core.GlobalID(sensor, rec.ID))
		}
	}
	waitSame := func(what string, want int) {
		t.Helper()
		for deadline := time.Now().Add(60 * time.Second); ; {
			s, i := storeIDs(t, st), indexIDs(t, ix)
			if maps.Equal(s, i) && len(s) == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: store %d %v, index %d %v", what, len(s), sorted(s), len(i), sorted(i))
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitSame("after ingest", 80)
	months := func() []string {
		ms, err := ix.Months()
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, m := range ms {
			out = append(out, m.Key)
		}
		return out
	}
	if got := months(); !slices.Equal(got, []string{"2026-01", "2026-02", "2026-03", "2026-04"}) {
		t.Fatalf("index months %v", got)
	}
	monthDir := func(k string) string { return filepath.Join(IndexDir(data), "months", k) }

	// An email of February queued for delivery keeps February.
	if _, err := st.Resubmit([]string{byMonth["2026-02"][3]}, []string{"held"}); err != nil {
		t.Fatal(err)
	}
	batches := func(key string) uint64 {
		ms, err := ix.Months()
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range ms {
			if m.Key == key {
				return m.Batches
			}
		}
		t.Fatalf("no month %s", key)
		return 0
	}
	marchBefore := batches("2026-03")
	if marchBefore == 0 {
		t.Fatal("no batch counted in March")
	}
	statsBefore, _ := st.Stats()

	// By age: now 2026-05-20, max_age 60 days: January (ended 1 Feb)
	// and February (ended 1 Mar) are older, March (ended 1 Apr) is not.
	now := time.Date(2026, 5, 20, 0, 0, 0, 0, time.UTC)
	ncfg := c.Config()
	ncfg.Retention.ByMonth = true
	ncfg.Retention.MaxAge = collector.Duration(60 * 24 * time.Hour)
	if err := c.Reload(&ncfg); err != nil {
		t.Fatal(err)
	}
	res, err := c.ApplyRetention(now)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.Months, []string{"2026-01"}) || res.Emails != 20 || res.Kept != 1 || res.Bytes <= 0 {
		t.Fatalf("by age with February queued: %+v", res)
	}
	waitSame("after dropping January", 60)
	if err := l.batch.Flush(); err != nil { // the index deletions of January's emails are written
		t.Fatal(err)
	}
	for _, id := range byMonth["2026-01"] {
		if _, err := st.Email(id); err == nil {
			t.Errorf("%s of January still stored", id)
		}
	}
	if _, err := os.Stat(monthDir("2026-01")); !os.IsNotExist(err) {
		t.Errorf("January's index directory is still there: %v", err)
	}
	if got := batches("2026-03"); got != marchBefore {
		t.Errorf("dropping January wrote %d batches to March", got-marchBefore)
	}
	statsAfter, _ := st.Stats()
	if statsAfter.Bytes != statsBefore.Bytes-res.Bytes {
		t.Errorf("store bytes %d, want %d - %d", statsAfter.Bytes, statsBefore.Bytes, res.Bytes)
	}
	emls := 0
	_ = filepath.Walk(filepath.Join(data, collector.EmailsDir), func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() && filepath.Ext(p) == ".eml" {
			emls++
		}
		return nil
	})
	if emls != 60 {
		t.Errorf("%d .eml files left, want 60", emls)
	}

	// By size: a bound just below the store: February, the oldest, is
	// kept (still queued), March goes, then the store is small enough.
	stats, _ := st.Stats()
	ncfg.Retention.MaxAge = 0
	ncfg.Retention.MaxSize = collector.ByteSize(stats.Bytes - 1)
	if err := c.Reload(&ncfg); err != nil {
		t.Fatal(err)
	}
	if res, err = c.ApplyRetention(now); err != nil || !slices.Equal(res.Months, []string{"2026-03"}) || res.Kept != 1 {
		t.Fatalf("by size: %+v %v", res, err)
	}
	waitSame("after dropping March", 40)
	// A bound below everything never drops the month of now (April).
	ncfg.Retention.MaxSize = 1
	if err := c.Reload(&ncfg); err != nil {
		t.Fatal(err)
	}
	if res, err = c.ApplyRetention(time.Date(2026, 4, 25, 0, 0, 0, 0, time.UTC)); err != nil || len(res.Months) != 0 {
		t.Fatalf("the month of now was dropped: %+v %v", res, err)
	}
	if got := months(); !slices.Equal(got, []string{"2026-02", "2026-04"}) {
		t.Errorf("months left %v", got)
	}
	if res, err := ix.Search(ctx, "", index.SearchOptions{Limit: 100}); err != nil || res.Total != 40 {
		t.Errorf("search after retention: %v %v", res, err)
	}
}
