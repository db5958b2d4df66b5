package index

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// Benchmark sizes: the issue asks for at least 100,000 emails; -short
// keeps `go test -short -bench` quick.
func benchCorpusSize() int {
	if testing.Short() {
		return 5000
	}
	return 100000
}

func dirSize(dir string) int64 {
	var n int64
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}

// genSource is a Source over n generated emails, built in memory before
// the timer starts (the store's cost is not the index's).
func genSource(gen *corpusGen, n int) *memSource {
	s := &memSource{docs: make([]Doc, n)}
	for i := range s.docs {
		d := gen.email(i)
		s.docs[i] = Doc{Email: &d}
	}
	return s
}

// BenchmarkIndexBulk: the indexing rate of `smtpscope reindex` (Rebuild
// from the store, here an in-memory Source of a generated corpus), until
// the new index is on disk; and the index size on disk per email.
func BenchmarkIndexBulk(b *testing.B) {
	n := benchCorpusSize()
	src := genSource(newCorpusGen(42), n)
	var size int64
	var cpu time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		dir := filepath.Join(b.TempDir(), "index")
		ix, err := Open(dir)
		if err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		cpu0 := cpuTime()
		b.StartTimer()
		if err := ix.Rebuild(src, nil); err != nil {
			b.Fatal(err)
		}
		if err := ix.Close(); err != nil { // waits until persisted
			b.Fatal(err)
		}
		b.StopTimer()
		cpu += cpuTime() - cpu0
		size = dirSize(dir)
		b.StartTimer()
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "emails/s")
	// The machine may be shared: emails per CPU-second (all cores) shows
	// the cost independent of contention; on an idle machine with k
	// cores the wall rate approaches k times this (batches run in parallel).
	b.ReportMetric(float64(n*b.N)/cpu.Seconds(), "emails/cpu-s")
	b.ReportMetric(float64(size)/float64(n), "disk-B/email")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkIndexLive: one email per call, as the collector indexes after
// each store commit.
func BenchmarkIndexLive(b *testing.B) {
	ix, err := Open(filepath.Join(b.TempDir(), "index"))
	if err != nil {
		b.Fatal(err)
	}
	defer ix.Close()
	gen := newCorpusGen(43)
	docs := make([]EmailDoc, b.N)
	for i := range docs {
		docs[i] = gen.email(i)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := ix.IndexEmails(docs[i : i+1]); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "emails/s")
}

// BenchmarkIndexLiveParallel: one email per call from 8 goroutines (the
// collector's workers and submitters); concurrent small writes are grouped
// into one batch.
func BenchmarkIndexLiveParallel(b *testing.B) {
	ix, err := Open(filepath.Join(b.TempDir(), "index"))
	if err != nil {
		b.Fatal(err)
	}
	defer ix.Close()
	gen := newCorpusGen(44)
	docs := make([]EmailDoc, b.N)
	for i := range docs {
		docs[i] = gen.email(i)
	}
	var next atomic.Int64
	b.SetParallelism(4) // 4 x GOMAXPROCS goroutines
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := next.Add(1) - 1
			if err := ix.IndexEmails(docs[i : i+1]); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "emails/s")
}

var (
	benchIxOnce sync.Once
	benchIx     *Index
	benchIxErr  error
)

// benchIndex is a shared index of the generated corpus for the search
// benchmarks (built once per process).
func benchIndex(b *testing.B) *Index {
	benchIxOnce.Do(func() {
		dir, err := os.MkdirTemp("", "smtpscope-bench-index-")
		if err != nil {
			benchIxErr = err
			return
		}
		benchIx, benchIxErr = Open(filepath.Join(dir, "index"))
		if benchIxErr != nil {
			return
		}
		start := time.Now()
		if _, benchIxErr = benchIx.Sync(genSource(newCorpusGen(42), benchCorpusSize()), nil); benchIxErr != nil {
			return
		}
		b.Logf("built a %d-email index in %v", benchCorpusSize(), time.Since(start))
	})
	if benchIxErr != nil {
		b.Fatal(benchIxErr)
	}
	return benchIx
}

// benchQueries are representative analyst queries against the generated
// corpus (see corpusGen): a list page with no query, text, identifiers,
// globs, flags, ranges and boolean structure.
var benchQueries = []struct{ name, q string }{
	{"all", ""},
	{"word", "invoice"},
	{"phrase", `"urgent wire transfer"`},
	{"from-domain", "from:" + newCorpusGen(42).domains[7]},
	{"ioc-refanged", "ioc:" + defang(newCorpusGen(42).domains[3])},
	{"filename-glob", "filename:*.exe"},
	{"has-status", "has:attachment status:failed"},
	{"range", "after:2026-01-10 before:2026-01-20 larger:1M"},
	{"boolean", "(type:zip OR type:iso) -status:sent has:ioc"},
	{"ip-cidr", "ip:10.0.0.0/8 OR ip:192.168.0.0/16"},
}

func defang(s string) string {
	out := ""
	for _, c := range s {
		if c == '.' {
			out += "[.]"
		} else {
			out += string(c)
		}
	}
	return out
}

// BenchmarkSearch: latency of the first page (50 rows, newest first) of
// each representative query; p50 and p99 over the iterations.
func BenchmarkSearch(b *testing.B) {
	ix := benchIndex(b)
	for _, bq := range benchQueries {
		b.Run(bq.name, func(b *testing.B) {
			benchSearch(b, ix, bq.q, SearchOptions{Limit: 50})
		})
	}
}

// BenchmarkSearchFacets: the same with the facet panel's counts.
func BenchmarkSearchFacets(b *testing.B) {
	ix := benchIndex(b)
	for _, bq := range []int{0, 1, 6} {
		q := benchQueries[bq]
		b.Run(q.name, func(b *testing.B) {
			benchSearch(b, ix, q.q, SearchOptions{Limit: 50, Facets: true})
		})
	}
}

// BenchmarkSearchDeepPage: a page far down the list with search-after.
func BenchmarkSearchDeepPage(b *testing.B) {
	ix := benchIndex(b)
	res, err := ix.Search(context.Background(), "", SearchOptions{Limit: 5000})
	if err != nil || len(res.Hits) == 0 {
		b.Fatal(err)
	}
	after := res.Hits[len(res.Hits)-1].Sort
	benchSearch(b, ix, "", SearchOptions{Limit: 50, After: after})
}

func benchSearch(b *testing.B, ix *Index, q string, opts SearchOptions) {
	lat := make([]time.Duration, 0, b.N)
	var total uint64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		res, err := ix.Search(context.Background(), q, opts)
		if err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(start))
		total = res.Total
	}
	b.StopTimer()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	pct := func(p float64) float64 {
		i := int(p * float64(len(lat)-1))
		return float64(lat[i].Microseconds()) / 1000
	}
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(float64(total), "hits")
}

func TestMain(m *testing.M) {
	code := m.Run()
	if benchIx != nil {
		dir := filepath.Dir(benchIx.Dir())
		benchIx.Close()
		os.RemoveAll(dir)
	}
	os.Exit(code)
}

var _ = fmt.Sprint

// cpuTime is the CPU time (user + system) of this process so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
