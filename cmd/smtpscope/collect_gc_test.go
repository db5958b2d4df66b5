package main

import (
	"io"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"testing"
)

// TestPaceCollectGC: the daemon collects at 4x heap growth under a soft
// memory limit of 384 MiB, unless GOGC or GOMEMLIMIT is set.
func TestPaceCollectGC(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(math.MaxInt64))
	t.Setenv("GOGC", "")
	t.Setenv("GOMEMLIMIT", "")
	paceCollectGC()
	if p := debug.SetGCPercent(100); p != 400 {
		t.Errorf("GC percent %d, want 400", p)
	}
	if l := debug.SetMemoryLimit(math.MaxInt64); l != 384<<20 {
		t.Errorf("memory limit %d, want 384 MiB", l)
	}
	t.Setenv("GOMEMLIMIT", "1GiB")
	paceCollectGC()
	if p := debug.SetGCPercent(100); p != 100 {
		t.Errorf("GOMEMLIMIT set: GC percent %d, want it left at 100", p)
	}
}

var gcMetric = regexp.MustCompile(`(?m)^go_gc_(gogc_percent|gomemlimit_bytes) (\S+)$`)

// TestCollectDaemonGCPacing: the running `collect` daemon reports the
// pacing on its metrics listener (the Go runtime's own gauges), and GOGC
// in its environment wins.
func TestCollectDaemonGCPacing(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test (builds the binary)")
	}
	bin := testBinary(t)
	for _, tc := range []struct {
		env            string
		percent, limit string
	}{{"", "400", "4.02653184e+08"}, {"GOGC=150", "150", "9.223372036854776e+18"}} {
		dir := t.TempDir()
		addr := freeLoopbackAddr(t)
		cmd := exec.Command(bin, "collect", "--spool", filepath.Join(dir, "spool"), "--data", filepath.Join(dir, "data"),
			"--no-fsync", "--no-index", "--metrics-listen", addr, "--log-level", "warn")
		cmd.Env = append(os.Environ(), "GOGC=", "GOMEMLIMIT=")
		if tc.env != "" {
			cmd.Env = append(cmd.Env, tc.env)
		}
		if err := os.MkdirAll(filepath.Join(dir, "spool"), 0o750); err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		var got map[string]string
		waitUntil(t, "the daemon serves /metrics", func() bool {
			resp, err := http.Get("http://" + addr + "/metrics")
			if err != nil {
				return false
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			got = map[string]string{}
			for _, m := range gcMetric.FindAllStringSubmatch(string(b), -1) {
				got[m[1]] = m[2]
			}
			return len(got) == 2
		})
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if got["gogc_percent"] != tc.percent || got["gomemlimit_bytes"] != tc.limit {
			t.Errorf("env %q: go_gc_gogc_percent %s, go_gc_gomemlimit_bytes %s; want %s and %s", tc.env, got["gogc_percent"], got["gomemlimit_bytes"], tc.percent, tc.limit)
		}
	}
}
