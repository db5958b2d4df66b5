package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"sort"
	"strings"
	"syscall"
)

func main() {
	args := os.Args[1:]
	if len(args) > 0 && args[0] == "--" {
		args = args[1:]
	}
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, "usage: testsummary [--] go test -json [flags] [packages]")
		os.Exit(2)
	}
	os.Exit(run(args, os.Stdout, os.Stderr))
}

// run runs the command, summarizes its output to stdout and returns its
// exit status (1 when it could not run or died of a signal).
func run(args []string, stdout, stderr io.Writer) int {
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdin, cmd.Stderr = os.Stdin, stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		fmt.Fprintln(stderr, "testsummary:", err)
		return 1
	}
	// Ctrl-C reaches the child through the terminal, a SIGTERM sent to us
	// is passed on; we outlive the child to print what it reported. (A
	// caught signal is not inherited as ignored, as signal.Ignore's is.)
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	defer func() { signal.Stop(sig); close(sig) }()
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(stderr, "testsummary:", err)
		return 1
	}
	go func() {
		for s := range sig {
			if s == syscall.SIGTERM {
				_ = cmd.Process.Signal(s)
			}
		}
	}()
	s := newSummary(stdout)
	if err := s.read(out); err != nil {
		fmt.Fprintln(stderr, "testsummary: reading the test output:", err)
	}
	s.finish()
	err = cmd.Wait()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee) && ee.ExitCode() > 0:
		return ee.ExitCode()
	}
	fmt.Fprintln(stderr, "testsummary:", err)
	return 1
}

// event is one test2json event (`go doc test2json`).
type event struct {
	Action     string
	Package    string
	ImportPath string // build-output, build-fail
	Test       string
	Output     string
}

// skip is one skipped test and why.
type skip struct {
	pkg, test, why string
}

// summary turns events into plain `go test` output and gathers the skips.
type summary struct {
	w      io.Writer
	held   map[string][]string // output of running tests, by package + test
	skips  []skip
	maxOut int // bytes of output held per test
}

func newSummary(w io.Writer) *summary {
	return &summary{w: w, held: map[string][]string{}, maxOut: 1 << 20}
}

// read consumes the command's output to its end.
func (s *summary) read(r io.Reader) error {
	br := bufio.NewReaderSize(r, 64<<10)
	for {
		line, err := br.ReadString('\n')
		if line != "" {
			s.line(line)
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// line handles one line of output.
func (s *summary) line(line string) {
	var ev event
	if !strings.HasPrefix(line, "{") || json.Unmarshal([]byte(line), &ev) != nil || ev.Action == "" {
		io.WriteString(s.w, line)
		return
	}
	key := ev.Package + "\x00" + ev.Test
	switch ev.Action {
	case "build-output":
		io.WriteString(s.w, ev.Output)
	case "output":
		if ev.Test == "" {
			// Package lines: plain go test shows "ok", "FAIL", "?", not
			// the "PASS" of a verbose run.
			if ev.Output != "PASS\n" && !isProgress(ev.Output) {
				io.WriteString(s.w, ev.Output)
			}
			return
		}
		if n := heldBytes(s.held[key]); n < s.maxOut {
			s.held[key] = append(s.held[key], ev.Output)
		}
	case "fail":
		if ev.Test != "" {
			// As plain go test: the "--- FAIL" line, then what the test
			// printed.
			ls := s.held[key]
			for _, l := range ls {
				if strings.HasPrefix(strings.TrimSpace(l), "--- FAIL") {
					io.WriteString(s.w, l)
				}
			}
			for _, l := range ls {
				if !isProgress(l) && !strings.HasPrefix(strings.TrimSpace(l), "--- FAIL") {
					io.WriteString(s.w, l)
				}
			}
		}
		delete(s.held, key)
	case "skip":
		if ev.Test != "" {
			s.skips = append(s.skips, skip{pkg: ev.Package, test: ev.Test, why: skipReason(s.held[key])})
		}
		delete(s.held, key)
	case "pass":
		delete(s.held, key)
	}
}

// isProgress reports the lines only a verbose run prints.
func isProgress(l string) bool {
	for _, p := range []string{"=== RUN", "=== PAUSE", "=== CONT", "=== NAME"} {
		if strings.HasPrefix(l, p) {
			return true
		}
	}
	return false
}

func heldBytes(ls []string) int {
	n := 0
	for _, l := range ls {
		n += len(l)
	}
	return n
}

// skipReason is what a skipped test printed, without the progress and
// "--- SKIP" lines and the file:line prefix of t.Skip.
func skipReason(out []string) string {
	var parts []string
	for _, l := range out {
		t := strings.TrimSpace(l)
		if t == "" || isProgress(l) || strings.HasPrefix(t, "--- SKIP") {
			continue
		}
		if i := strings.Index(t, ": "); i > 0 && strings.Contains(t[:i], ".go:") && !strings.Contains(t[:i], " ") {
			t = t[i+2:]
		}
		parts = append(parts, t)
	}
	if len(parts) == 0 {
		return "(no message)"
	}
	return strings.Join(parts, " / ")
}

// finish prints the closing block.
func (s *summary) finish() {
	sort.SliceStable(s.skips, func(i, j int) bool {
		if s.skips[i].pkg != s.skips[j].pkg {
			return s.skips[i].pkg < s.skips[j].pkg
		}
		return s.skips[i].test < s.skips[j].test
	})
	fmt.Fprintf(s.w, "\nskipped: %d tests\n", len(s.skips))
	for _, k := range s.skips {
		fmt.Fprintf(s.w, "  %s %s: %s\n", k.pkg, k.test, k.why)
	}
}
