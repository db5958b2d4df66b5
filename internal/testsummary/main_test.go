package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func events(t *testing.T, evs ...event) string {
	t.Helper()
	var b strings.Builder
	for _, e := range evs {
		j, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		b.Write(j)
		b.WriteByte('\n')
	}
	return b.String()
}

// TestSummary: the output of go test -json becomes what plain go test
// prints (ok lines, failing tests' output with their --- FAIL line first,
// build errors, no === RUN or PASS lines), then every skipped test with
// its message; lines that are no events pass through.
func TestSummary(t *testing.T) {
	in := "not json at all\n" + events(t,
		event{Action: "start", Package: "p"},
		event{Action: "run", Package: "p", Test: "TestGood"},
		event{Action: "output", Package: "p", Test: "TestGood", Output: "=== RUN   TestGood\n"},
		event{Action: "output", Package: "p", Test: "TestGood", Output: "    good_test.go:3: chatter\n"},
		event{Action: "pass", Package: "p", Test: "TestGood"},
		event{Action: "output", Package: "p", Test: "TestBad", Output: "=== RUN   TestBad\n"},
		event{Action: "output", Package: "p", Test: "TestBad", Output: "    bad_test.go:5: boom\n"},
		event{Action: "output", Package: "p", Test: "TestBad", Output: "--- FAIL: TestBad (0.00s)\n"},
		event{Action: "fail", Package: "p", Test: "TestBad"},
		event{Action: "output", Package: "p", Test: "TestSkip", Output: "=== RUN   TestSkip\n"},
		event{Action: "output", Package: "p", Test: "TestSkip", Output: "    skip_test.go:9: no ../shared corpus: skipped\n"},
		event{Action: "output", Package: "p", Test: "TestSkip", Output: "--- SKIP: TestSkip (0.00s)\n"},
		event{Action: "skip", Package: "p", Test: "TestSkip"},
		event{Action: "output", Package: "a", Test: "TestQuiet", Output: "--- SKIP: TestQuiet (0.00s)\n"},
		event{Action: "skip", Package: "a", Test: "TestQuiet"},
		event{Action: "output", Package: "p", Output: "PASS\n"},
		event{Action: "output", Package: "p", Output: "FAIL\tp\t0.01s\n"},
		event{Action: "fail", Package: "p"},
		event{Action: "output", Package: "q", Output: "?   \tq\t[no test files]\n"},
		event{Action: "skip", Package: "q"},
		event{Action: "build-output", ImportPath: "r [r.test]", Output: "./r.go:2:9: syntax error\n"},
		event{Action: "build-fail", ImportPath: "r [r.test]"},
	)
	var out bytes.Buffer
	s := newSummary(&out)
	if err := s.read(strings.NewReader(in)); err != nil {
		t.Fatal(err)
	}
	s.finish()
	want := "not json at all\n" +
		"--- FAIL: TestBad (0.00s)\n    bad_test.go:5: boom\n" +
		"FAIL\tp\t0.01s\n" +
		"?   \tq\t[no test files]\n" +
		"./r.go:2:9: syntax error\n" +
		"\nskipped: 2 tests\n" +
		"  a TestQuiet: (no message)\n" +
		"  p TestSkip: no ../shared corpus: skipped\n"
	if got := out.String(); got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
}

// TestRunKeepsExitStatus: the status of the command is ours.
func TestRunKeepsExitStatus(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"sh", "-c", `echo '{"Action":"skip","Package":"p","Test":"T"}'; exit 3`}, &out, &errb); code != 3 {
		t.Errorf("exit %d, want 3 (%s)", code, errb.String())
	}
	if !strings.Contains(out.String(), "skipped: 1 tests\n  p T: (no message)") {
		t.Errorf("output %q", out.String())
	}
	if code := run([]string{"sh", "-c", "exit 0"}, &out, &errb); code != 0 {
		t.Errorf("exit %d, want 0", code)
	}
	if code := run([]string{"/nonexistent/go"}, &out, &errb); code != 1 || !strings.Contains(errb.String(), "testsummary:") {
		t.Errorf("a command that cannot run: exit %d, %q", code, errb.String())
	}
}

// FuzzSummary: any output is consumed without a panic; what is not an
// event is passed through unchanged.
func FuzzSummary(f *testing.F) {
	f.Add("ok\tp\t0.1s\n")
	f.Add(`{"Action":"output","Package":"p","Test":"T","Output":"x\n"}` + "\n" + `{"Action":"fail","Package":"p","Test":"T"}` + "\n")
	f.Add(`{"Action":"skip","Test":"T"}`)
	f.Fuzz(func(t *testing.T, in string) {
		var out bytes.Buffer
		s := newSummary(&out)
		if err := s.read(strings.NewReader(in)); err != nil {
			t.Fatal(err)
		}
		s.finish()
		for _, l := range strings.SplitAfter(in, "\n") {
			if l != "" && !strings.HasPrefix(l, "{") && !strings.Contains(out.String(), l) {
				t.Fatalf("line %q not passed through: %q", l, out.String())
			}
		}
	})
}
