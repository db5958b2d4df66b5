package index

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// Benchmark sizes: the issue asks for at least 100,000 emails; -short
// keeps `go test -short -bench` quick. SMTPSCOPE_BENCH_EMAILS sets the
// size of the search benchmarks' index (e.g. 220000 or 1000000: building
// takes minutes, see benchDataDir).
func benchCorpusSize() int {
	if n, err := strconv.Atoi(os.Getenv("SMTPSCOPE_BENCH_EMAILS")); err == nil && n > 0 {
		return n
	}
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

// timeFreshIndex runs fill on a new on-disk index b.N times, closing it
// after each run (Close waits until it is persisted), and returns the CPU
// time of the fills and closes and the last run's index directory.
func timeFreshIndex(b *testing.B, fill func(*Index) error) (cpu time.Duration, dir string) {
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		dir = filepath.Join(b.TempDir(), "index")
		ix, err := Open(dir)
		if err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		cpu0 := cpuTime()
		b.StartTimer()
		if err := fill(ix); err != nil {
			b.Fatal(err)
		}
		if err := ix.Close(); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		cpu += cpuTime() - cpu0
		b.StartTimer()
	}
	return cpu, dir
}

// BenchmarkIndexBulk: the indexing rate of `smtpscope reindex` (Rebuild
// from the store, here an in-memory Source of a generated corpus), until
// the new index is on disk; and the index size on disk per email.
func BenchmarkIndexBulk(b *testing.B) {
	n := benchCorpusSize()
	src := genSource(newCorpusGen(42), n)
	cpu, dir := timeFreshIndex(b, func(ix *Index) error { return ix.Rebuild(src, nil) })
	size := dirSize(dir)
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

// lazySource is a Source over n generated emails, each made when Walk
// reaches it (a million emails do not fit in memory at once).
type lazySource struct {
	gen *corpusGen
	n   int
}

func (s lazySource) Count() (int, error) { return s.n, nil }

func (s lazySource) Walk(want func(string) bool, fn func(Doc) error) error {
	for i := 0; i < s.n; i++ {
		d := s.gen.email(i)
		if want != nil && !want(d.Email.ID) {
			continue
		}
		if err := fn(Doc{Email: &d}); err != nil {
			return err
		}
	}
	return nil
}

func (s lazySource) LoadEmail(id string) (EmailDoc, error) {
	return EmailDoc{}, fmt.Errorf("lazySource: no LoadEmail (%s)", id)
}

var (
	benchMu      sync.Mutex
	benchData    string // data dir holding index/ of benchCorpusSize() emails
	benchTempDir string // removed by TestMain ("" when cached)
	benchIx      *Index
)

// benchDataDir is a data dir whose index/ holds benchCorpusSize()
// generated emails (seed 42; the store is not needed by a search without
// --json), compacted as `smtpscope index` leaves it after a bulk load.
// With SMTPSCOPE_BENCH_DIR set it is DIR/data-N, built once and
// kept for later runs (a "complete" file marks a finished build: 220,000
// emails take a minute or two, 1,000,000 several); otherwise a temporary
// directory removed at the end of the run.
func benchDataDir(b *testing.B) string {
	benchMu.Lock()
	defer benchMu.Unlock()
	if benchData != "" {
		return benchData
	}
	n := benchCorpusSize()
	var dir string
	if root := os.Getenv("SMTPSCOPE_BENCH_DIR"); root != "" {
		dir = filepath.Join(root, fmt.Sprintf("data-%d", n))
		if _, err := os.Stat(filepath.Join(dir, "complete")); err == nil {
			benchData = dir
			return dir
		}
		_ = os.RemoveAll(dir)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			b.Fatal(err)
		}
	} else {
		tmp, err := os.MkdirTemp("", "smtpscope-bench-index-")
		if err != nil {
			b.Fatal(err)
		}
		dir, benchTempDir = tmp, tmp
	}
	ix, err := Open(filepath.Join(dir, "index"))
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	if _, err := ix.Sync(lazySource{newCorpusGen(42), n}, nil); err != nil {
		ix.Close()
		b.Fatal(err)
	}
	// As `smtpscope index` leaves it after a bulk load.
	if err := ix.Compact(context.Background()); err != nil {
		ix.Close()
		b.Fatal(err)
	}
	if err := ix.Close(); err != nil {
		b.Fatal(err)
	}
	b.Logf("built a %d-email index in %v at %s", n, time.Since(start), dir)
	if err := os.WriteFile(filepath.Join(dir, "complete"), []byte(strconv.Itoa(n)), 0o600); err != nil {
		b.Fatal(err)
	}
	benchData = dir
	return dir
}

// benchIndex is the index of benchDataDir, open in this process for the
// in-process search benchmarks.
func benchIndex(b *testing.B) *Index {
	dir := benchDataDir(b)
	benchMu.Lock()
	defer benchMu.Unlock()
	if benchIx == nil {
		ix, err := Open(filepath.Join(dir, "index"))
		if err != nil {
			b.Fatal(err)
		}
		benchIx = ix
	}
	return benchIx
}

// closeBenchIndex releases the index for another process.
func closeBenchIndex() {
	benchMu.Lock()
	defer benchMu.Unlock()
	if benchIx != nil {
		benchIx.Close()
		benchIx = nil
	}
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

// BenchmarkSearchSorted: the first page sorted by each list column, the
// list with no query and a narrowing one (every order but newest first
// sorts every match).
func BenchmarkSearchSorted(b *testing.B) {
	ix := benchIndex(b)
	for _, sp := range []string{"oldest", "-size", "sender", "-iocs", "-status"} {
		for _, bq := range []int{0, 6} {
			q := benchQueries[bq]
			b.Run(sp+"/"+q.name, func(b *testing.B) {
				benchSearch(b, ix, q.q, SearchOptions{Limit: 50, Sort: sp})
			})
		}
	}
}

// BenchmarkSearchHistogram: the facet pass with the timeline's counts.
func BenchmarkSearchHistogram(b *testing.B) {
	ix := benchIndex(b)
	for _, bq := range []int{0, 1, 6} {
		q := benchQueries[bq]
		b.Run(q.name, func(b *testing.B) {
			benchSearch(b, ix, q.q, SearchOptions{Limit: 1, Facets: true, Histogram: true})
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
	closeBenchIndex()
	closeHubBench()
	if benchTempDir != "" {
		os.RemoveAll(benchTempDir)
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
