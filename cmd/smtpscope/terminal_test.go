package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// hostile is what an attacker puts in a file name, an id, a header or an
// error: OSC (window title), CSI (clear screen), BEL, C1 CSI, DEL, a bidi
// override, zero-width joiner, word joiner, a variation selector and a tag
// character.
const hostile = "\x1b]0;pwned\x07\x1b[2J\u009b1m\x7f\u202egnp\u200d\u2060\ufe0f\U000e0041"

// assertTerminalSafe fails when text printed for a terminal holds a raw
// control, format (bidi, zero-width, tag) or invisible rune, or invalid
// UTF-8.
func assertTerminalSafe(t *testing.T, what, out string) {
	t.Helper()
	if !utf8.ValidString(out) {
		t.Errorf("%s: invalid UTF-8: %q", what, out)
	}
	for _, r := range out {
		switch {
		case r < 0x20 && r != '\n', r == 0x7f, r >= 0x80 && r <= 0x9f,
			unicode.Is(unicode.Cf, r), r == 0x2028, r == 0x2029,
			r >= 0x180b && r <= 0x180f, r >= 0xfe00 && r <= 0xfe0f, r >= 0xe0100 && r <= 0xe01ef:
			t.Errorf("%s: raw %U reaches the terminal: %q", what, r, out)
			return
		}
	}
}

// TestTextOutputEscapesHostileStrings runs the real binary's text verbs
// on a data dir, a spool file, a config group, ids and queries whose names
// carry escape sequences, bidi and zero-width characters: nothing of them
// may reach the terminal raw (stdout of the text verbs, stderr of all).
func TestTextOutputEscapesHostileStrings(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test (builds the binary, runs the collector)")
	}
	dir := t.TempDir()
	bin := testBinary(t)
	run := func(args ...string) (string, string) {
		var out, errb bytes.Buffer
		cmd := exec.Command(bin, args...)
		cmd.Stdout, cmd.Stderr = &out, &errb
		_ = cmd.Run() // several of these fail on purpose
		return out.String(), errb.String()
	}
	write := func(p, s string) {
		t.Helper()
		if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	in := filepath.Join(dir, "in"+hostile)
	spool, data := filepath.Join(dir, "spool"), filepath.Join(dir, "data"+hostile)
	for _, d := range []string{in, spool} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(in, "s"+hostile+".session"), "not a session\n")
	write(filepath.Join(spool, "junk"+hostile), "not a session "+hostile+"\n")
	write(filepath.Join(spool, "junk"+hostile+".ready"), "")
	cfg := filepath.Join(dir, "c.toml")
	write(cfg, "[[group]]\nname = \"grp"+strings.NewReplacer("\x1b", `\u001b`, "\x07", `\u0007`, "\x7f", `\u007f`).Replace(hostile)+"\"\nnodes = [\"http://127.0.0.1:9\"]\n")

	_, errs := run("parse", in)
	if !strings.Contains(errs, "not a session") && !strings.Contains(errs, "could not be parsed") {
		t.Errorf("parse DIR does not report the bad file:\n%s", errs)
	}
	assertTerminalSafe(t, "parse DIR (stderr)", errs)
	_, errs = run("parse", "--eml", filepath.Join(in, "missing"+hostile+".eml"))
	assertTerminalSafe(t, "parse --eml (stderr)", errs)

	out, errs := run("collect", "--spool", spool, "--data", data, "--once", "--once-timeout", "30s", "--no-index", "--no-fsync")
	assertTerminalSafe(t, "collect --once", out+errs)
	out, errs = run("index", "--data", data)
	assertTerminalSafe(t, "index", out+errs)
	out, errs = run("status", "--data", data, "--config", cfg)
	if !strings.Contains(out, "review/    1 entries") {
		t.Errorf("status does not list the review entry:\n%s%s", out, errs)
	}
	assertTerminalSafe(t, "status", out+errs)
	out, errs = run("submit", "--data", data, "--config", cfg, "id"+hostile)
	if !strings.Contains(errs, "unknown") {
		t.Errorf("submit does not reject the unknown id:\n%s%s", out, errs)
	}
	assertTerminalSafe(t, "submit", out+errs)
	out, errs = run("search", "--data", data, "--limit", "0", "--facets")
	if !strings.Contains(out, "[review] junk") {
		t.Errorf("search does not list the review entry:\n%s%s", out, errs)
	}
	assertTerminalSafe(t, "search", out+errs)
	out, errs = run("search", "--data", data, "from:("+hostile)
	assertTerminalSafe(t, "search with a bad query", out+errs)
	out, errs = run("show", "--data", data, "id"+hostile)
	if !strings.Contains(errs, "no such email") {
		t.Errorf("show does not reject the unknown id:\n%s%s", out, errs)
	}
	assertTerminalSafe(t, "show", out+errs)
	out, errs = run("show", "--data", data, "review/junk"+hostile)
	assertTerminalSafe(t, "show review/", out+errs)
	out, errs = run("export", "--data", data, "--format", "eml", "-o", filepath.Join(dir, "out"+hostile))
	if !strings.Contains(errs, "exported 0 emails") {
		t.Errorf("export:\n%s%s", out, errs)
	}
	assertTerminalSafe(t, "export", out+errs)
}
