package main

import (
	"math"
	"os"
	"path/filepath"
	"runtime/debug"
	"testing"
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
