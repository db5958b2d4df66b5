package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// TestStartProfile: SMTPSCOPE_CPUPROFILE makes a run write a CPU profile
// (pprof's gzip-compressed protobuf) that holds samples of the work done.
func TestStartProfile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cpu.prof")
	t.Setenv(profileEnv, path)
	stop := startProfile()
	x := 0
	for i := range 50_000_000 { // some CPU to sample
		x ^= i * i
	}
	stop()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(b, []byte{0x1f, 0x8b}) || len(b) < 100 {
		t.Errorf("%s: %d bytes, not a pprof profile (x=%d)", path, len(b), x)
	}
	t.Setenv(profileEnv, "")
	startProfile()() // none asked for: nothing to stop, no file
}
