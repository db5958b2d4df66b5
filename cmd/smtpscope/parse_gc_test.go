package main

import (
	"math"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
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
// files are still worked on (up to 4 per job wait for it), and the
// results come out in input order.
func TestForEachOrderedWindow(t *testing.T) {
	items := []string{"slow", "a", "b", "c", "d", "e"}
	started := make(chan string, len(items))
	var got []string
	err := forEachOrdered(items, 2, func(it string) (string, error) {
		if it == "slow" {
			// Three later files must finish while this one runs.
			for n := 0; n < 3; n++ {
				select {
				case <-started:
				case <-time.After(20 * time.Second):
					t.Error("later files wait for the slow one")
					return it, nil
				}
			}
		} else {
			started <- it
		}
		return it, nil
	}, func(_ string, v string, _ error) error {
		got = append(got, v)
		return nil
	})
	if err != nil || !slices.Equal(got, items) {
		t.Fatalf("got %v, %v", got, err)
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
