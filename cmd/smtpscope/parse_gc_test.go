package main

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestPaceGC: parse collects at 4x heap growth under a memory limit of
// 256 MiB plus 3x the largest input per job, unless GOGC or GOMEMLIMIT
// is set.
func TestPaceGC(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(math.MaxInt64))
	dir := t.TempDir()
	small, big := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	os.WriteFile(small, make([]byte, 10), 0o644)
	os.WriteFile(big, make([]byte, 1000), 0o644)
	t.Setenv("GOGC", "")
	t.Setenv("GOMEMLIMIT", "")
	paceGC([]string{small, big}, 2)
	if p := debug.SetGCPercent(100); p != 400 {
		t.Errorf("GC percent %d, want 400", p)
	}
	if l := debug.SetMemoryLimit(math.MaxInt64); l != 256<<20+2*3*1000 {
		t.Errorf("memory limit %d", l)
	}
	t.Setenv("GOGC", "100")
	paceGC([]string{small, big}, 2)
	if p := debug.SetGCPercent(100); p != 100 {
		t.Errorf("GOGC set: GC percent %d, want it left at 100", p)
	}
}

// TestForEachOrderedWindow: while a slow first file is analysed, later
// files are still worked on (more than the 4 per job of before: 40 with
// 2 jobs; up to orderedWindow per job wait for it), and the results come
// out in input order.
func TestForEachOrderedWindow(t *testing.T) {
	items := []string{"slow"}
	for i := range 60 {
		items = append(items, fmt.Sprint(i))
	}
	const mustFinish = 40
	started := make(chan string, len(items))
	requireInOrder(t, items, 2, func(it string) (string, error) {
		if it == "slow" {
			// Later files must finish while this one runs.
			for n := 0; n < mustFinish; n++ {
				select {
				case <-started:
				case <-time.After(60 * time.Second):
					t.Errorf("only %d later files done while the first one runs", n)
					return it, nil
				}
			}
		} else {
			started <- it
		}
		return it, nil
	})
}

// TestForEachOrderedBytes: the files started and not yet handed on hold
// at most orderedBytes, except that each job may always have one (a file
// larger than the bound still runs beside the others); the results come
// out in input order.
func TestForEachOrderedBytes(t *testing.T) {
	const jobs = 2
	sizes := map[string]int64{}
	var items []string
	for i := range 200 {
		it := fmt.Sprint(i)
		items = append(items, it)
		sizes[it] = orderedBytes / 5
		if i%17 == 3 {
			sizes[it] = 2 * orderedBytes // larger than the bound
		}
	}
	var mu sync.Mutex
	var pending int64 // as the test sees it: started, not yet handed on
	var count, worst int
	var got []string
	err := forEachOrdered(items, jobs, func(it string) int64 { return sizes[it] }, func(it string) (string, error) {
		mu.Lock()
		defer mu.Unlock()
		pending += sizes[it]
		count++
		if pending > orderedBytes && count > jobs {
			t.Errorf("%s started with %d items of %d bytes pending (bound %d)", it, count, pending, int64(orderedBytes))
		}
		worst = max(worst, count)
		return it, nil
	}, func(it string, v string, _ error) error {
		mu.Lock()
		pending -= sizes[it]
		count--
		mu.Unlock()
		got = append(got, v)
		return nil
	})
	if err != nil || !slices.Equal(got, items) {
		t.Fatalf("got %v, %v", got, err)
	}
	if worst < 2 {
		t.Errorf("never more than %d items at once", worst)
	}
}

// TestPaceSearchGC: a search collects only from searchMemoryLimit of heap
// on, unless GOGC or GOMEMLIMIT says otherwise.
func TestPaceSearchGC(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(math.MaxInt64))
	t.Setenv("GOGC", "")
	t.Setenv("GOMEMLIMIT", "")
	paceSearchGC()
	if p := debug.SetGCPercent(100); p != -1 {
		t.Errorf("GC percent %d, want -1 (off below the limit)", p)
	}
	if l := debug.SetMemoryLimit(math.MaxInt64); l != searchMemoryLimit {
		t.Errorf("memory limit %d, want %d", l, searchMemoryLimit)
	}
	t.Setenv("GOMEMLIMIT", "1GiB")
	paceSearchGC()
	if p := debug.SetGCPercent(100); p != 100 {
		t.Errorf("GOMEMLIMIT set: GC percent %d, want it left at 100", p)
	}
}

// TestHoldGCForStart: the command line is parsed without collections
// (below the search limit), and what was set before comes back for the
// verbs that are not search.
func TestHoldGCForStart(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(math.MaxInt64))
	t.Setenv("GOGC", "")
	t.Setenv("GOMEMLIMIT", "")
	debug.SetGCPercent(150)
	restore := holdGCForStart()
	if p := debug.SetGCPercent(-1); p != -1 {
		t.Errorf("while parsing: GC percent %d, want -1", p)
	}
	if l := debug.SetMemoryLimit(-1); l != searchMemoryLimit {
		t.Errorf("while parsing: memory limit %d, want %d", l, searchMemoryLimit)
	}
	restore()
	if p := debug.SetGCPercent(100); p != 150 {
		t.Errorf("restored GC percent %d, want 150", p)
	}
	if l := debug.SetMemoryLimit(-1); l != math.MaxInt64 {
		t.Errorf("restored memory limit %d, want none", l)
	}
	t.Setenv("GOGC", "50")
	holdGCForStart()
	if p := debug.SetGCPercent(100); p != 100 {
		t.Errorf("GOGC set: GC percent %d, want it left at 100", p)
	}
}

// TestForEachOrderedWorkers: the items run on at most jobs goroutines
// that live for the whole call (a goroutine per item grew a new stack
// for every file), in input order, and an error from done stops them.
func TestForEachOrderedWorkers(t *testing.T) {
	const jobs = 3
	var items []string
	for i := range 100 {
		items = append(items, fmt.Sprint(i))
	}
	var mu sync.Mutex
	seen := map[string]bool{}
	requireInOrder(t, items, jobs, func(it string) (string, error) {
		buf := make([]byte, 64)
		id, _, _ := strings.Cut(string(buf[:runtime.Stack(buf, false)]), " [") // "goroutine N"
		mu.Lock()
		seen[id] = true
		mu.Unlock()
		return it, nil
	})
	if len(seen) == 0 || len(seen) > jobs {
		t.Errorf("the items ran on %d goroutines, want 1 to %d", len(seen), jobs)
	}
	before := runtime.NumGoroutine()
	stopErr := fmt.Errorf("stop")
	err := forEachOrdered(items, jobs, nil, func(it string) (string, error) { return it, nil },
		func(it string, _ string, _ error) error {
			if it == "5" {
				return stopErr
			}
			return nil
		})
	if err != stopErr {
		t.Fatalf("err %v, want %v", err, stopErr)
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Errorf("%d goroutines after an early stop, %d before", n, before)
	}
}

// requireInOrder runs work over items with forEachOrdered on jobs
// workers and requires every result, in input order.
func requireInOrder(t *testing.T, items []string, jobs int, work func(string) (string, error)) {
	t.Helper()
	var got []string
	err := forEachOrdered(items, jobs, nil, work, func(_ string, v string, _ error) error {
		got = append(got, v)
		return nil
	})
	if err != nil || !slices.Equal(got, items) {
		t.Fatalf("got %v, %v", got, err)
	}
}
