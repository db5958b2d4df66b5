package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/smtpscope/smtpscope/internal/backendtest"
)

// The end-to-end tests run the real binary. It is built once per test
// process (each build took seconds of the suite), into a directory
// TestMain removes.
var testBin struct {
	once sync.Once
	dir  string
	path string
	out  []byte
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	for _, dir := range []string{testBin.dir, natsServerBin.dir} {
		if dir != "" {
			os.RemoveAll(dir)
		}
	}
	os.Exit(code)
}

// testBinary returns the path of smtpscope built from this package.
func testBinary(t *testing.T) string {
	t.Helper()
	testBin.once.Do(func() {
		if testBin.dir, testBin.err = os.MkdirTemp("", "smtpscope-test-bin-"); testBin.err != nil {
			return
		}
		testBin.path = filepath.Join(testBin.dir, "smtpscope")
		testBin.out, testBin.err = exec.Command("go", "build", "-o", testBin.path, ".").CombinedOutput()
	})
	if testBin.err != nil {
		t.Fatalf("go build: %v\n%s", testBin.err, testBin.out)
	}
	return testBin.path
}

// runBin runs the binary with args and returns its standard output; a
// failure ends the test with both outputs.
func runBin(t *testing.T, bin string, args ...string) string {
	t.Helper()
	out, errs, err := execBin(bin, args...)
	if err != nil {
		t.Fatalf("smtpscope %s: %v\n%s%s", strings.Join(args, " "), err, out, errs)
	}
	return out
}

// execBin runs the binary with args and returns its standard output, its
// standard error and how it ended (for runs that may fail on purpose).
func execBin(bin string, args ...string) (stdout, stderr string, err error) {
	var out, errb bytes.Buffer
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = &out, &errb
	err = cmd.Run()
	return out.String(), errb.String(), err
}

// sampleSpool fills dir/spool with the bundled sample sessions
// (testdata/sessions/generated), each with its .ready, and returns it
// with dir/data (not made); the test is skipped without the samples.
func sampleSpool(t *testing.T, dir string) (spool, data string) {
	t.Helper()
	samples, _ := filepath.Glob(filepath.Join("..", "..", "testdata", "sessions", "generated", "*.session"))
	if len(samples) == 0 {
		t.Skip("no sample sessions in testdata/sessions/generated")
	}
	spool, data = filepath.Join(dir, "spool"), filepath.Join(dir, "data")
	backendtest.WriteSessions(t, spool, samples)
	return spool, data
}
