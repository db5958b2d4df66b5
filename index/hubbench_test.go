package index

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/smtpscope/smtpscope/core"
)

// The hub's search benchmark: SMTPSCOPE_HUB_BENCH_EMAILS (default
// 1,000,000; 20,000 with -short) generated emails from three sensors,
// ids <sensor>/<id> as the hub stores them, one every ~37 s from
// 2026-01-01 (1,000,000 span 14 months, so 14 month indexes), built
// once by the bulk path (Sync, then Compact: one segment per month, as
// `smtpscope index` leaves it) into SMTPSCOPE_BENCH_DIR/hub-N when set
// (kept for later runs) or a temporary directory.
func hubBenchSize() int {
	if n, err := strconv.Atoi(os.Getenv("SMTPSCOPE_HUB_BENCH_EMAILS")); err == nil && n > 0 {
		return n
	}
	if testing.Short() {
		return 20000
	}
	return 1000000
}

// hubSource is lazySource with the sensors of a hub.
type hubSource struct{ lazySource }

var hubSensors = []string{"dmz-1", "s2", "branch-3"}

func (s hubSource) Walk(want func(string) bool, fn func(Doc) error) error {
	return s.lazySource.Walk(nil, func(d Doc) error {
		e := d.Email.Email
		i, _ := strconv.Atoi(e.Session.UID[len(e.Session.UID)-6:])
		e.Sensor = hubSensors[i%len(hubSensors)]
		e.ID = core.GlobalID(e.Sensor, e.ID)
		if want != nil && !want(e.ID) {
			return nil
		}
		return fn(d)
	})
}

var hubBench struct {
	dir, temp string
	ix        *Index
}

func hubBenchIndex(b *testing.B) *Index {
	benchMu.Lock()
	defer benchMu.Unlock()
	if hubBench.ix != nil {
		return hubBench.ix
	}
	n := hubBenchSize()
	var dir string
	if root := os.Getenv("SMTPSCOPE_BENCH_DIR"); root != "" {
		dir = filepath.Join(root, fmt.Sprintf("hub-%d", n))
	} else {
		tmp, err := os.MkdirTemp("", "smtpscope-bench-hub-")
		if err != nil {
			b.Fatal(err)
		}
		dir, hubBench.temp = tmp, tmp
	}
	if _, err := os.Stat(filepath.Join(dir, "complete")); err != nil {
		_ = os.RemoveAll(dir)
		ix, err := Open(filepath.Join(dir, "index"))
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		if _, err := ix.Sync(hubSource{lazySource{newCorpusGen(42), n}}, nil); err != nil {
			ix.Close()
			b.Fatal(err)
		}
		built := time.Since(start)
		if err := ix.Compact(context.Background()); err != nil {
			ix.Close()
			b.Fatal(err)
		}
		ms, _ := ix.Months()
		if err := ix.Close(); err != nil {
			b.Fatal(err)
		}
		b.Logf("built a %d-email hub index in %d months: indexed in %v (%.0f emails/s), compacted in %v, %d MB, at %s",
			n, len(ms), built.Round(time.Second), float64(n)/built.Seconds(), (time.Since(start) - built).Round(time.Second), dirSize(dir)>>20, dir)
		if err := os.WriteFile(filepath.Join(dir, "complete"), []byte(strconv.Itoa(n)), 0o600); err != nil {
			b.Fatal(err)
		}
	}
	openStart := time.Now()
	ix, err := Open(filepath.Join(dir, "index"))
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("opened the %d-email hub index (%d months) in %v", n, len(ix.set.keys()), time.Since(openStart).Round(time.Microsecond))
	hubBench.dir, hubBench.ix = dir, ix
	return ix
}

// closeHubBench closes the hub benchmark's index and removes a temporary
// one (TestMain).
func closeHubBench() {
	benchMu.Lock()
	defer benchMu.Unlock()
	if hubBench.ix != nil {
		hubBench.ix.Close()
		hubBench.ix = nil
	}
	if hubBench.temp != "" {
		_ = os.RemoveAll(hubBench.temp)
	}
}

// hubQueries: the five queries of the README's search comparison (see
// "Against the peers"), the list, and the hub's own: by sensor and by
// time window (the newest month, one week in the middle of the data:
// LAST-MONTH, WEEK-START and WEEK-END are replaced by dates from the
// index's time bounds, see hubQuery).
var hubQueries = []struct{ name, q string }{
	{"list", ""},
	{"invoice", "invoice"},
	{"has-attachment", "has:attachment"},
	{"from-example.com", "from:example.com"},
	{"subject-test", "subject:test"},
	{"password-reset", "password reset"},
	{"sensor", "sensor:s2"},
	{"sensor-attachment", "sensor:s2 has:attachment"},
	{"last-month", "after:LAST-MONTH"},
	{"one-week", "after:WEEK-START before:WEEK-END"},
	{"sensor-week-text", "sensor:dmz-1 invoice after:WEEK-START before:WEEK-END"},
}

// hubQuery fills in the dates of a hub query from the index's time
// bounds: the month before the newest email, the week from the middle.
func hubQuery(ix *Index, q string) string {
	lo, hi := ix.timeRange()
	day := func(t int64) string { return time.Unix(0, t).UTC().Format("2006-01-02") }
	mid := lo + (hi-lo)/2
	return strings.NewReplacer("LAST-MONTH", time.Unix(0, hi).UTC().AddDate(0, -1, 0).Format("2006-01-02"),
		"WEEK-START", day(mid), "WEEK-END", day(mid+int64(7*24*time.Hour))).Replace(q)
}

// BenchmarkHubSearch: the first page (50 rows, newest first) of each hub
// query over the monthly indexes, in-process; p50 and p99 in ms (target:
// p99 under 100 ms at 1,000,000 emails).
func BenchmarkHubSearch(b *testing.B) {
	ix := hubBenchIndex(b)
	for _, hq := range hubQueries {
		b.Run(hq.name, func(b *testing.B) {
			benchSearch(b, ix, hubQuery(ix, hq.q), SearchOptions{Limit: 50})
		})
	}
}

// BenchmarkHubSearchFacets: the same with the facet panel (as the UI
// asks), for the list and two queries.
func BenchmarkHubSearchFacets(b *testing.B) {
	ix := hubBenchIndex(b)
	for _, i := range []int{0, 1, 6} {
		hq := hubQueries[i]
		b.Run(hq.name, func(b *testing.B) {
			benchSearch(b, ix, hubQuery(ix, hq.q), SearchOptions{Limit: 50, Facets: true})
		})
	}
}
