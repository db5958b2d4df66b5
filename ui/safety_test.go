package ui

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// assertClean fails when a frame drawn with plain styles (which emit no
// escape sequence of their own) holds an ESC, a C1 control, a bidi
// override or invalid UTF-8: all of those could only come from the data.
func assertClean(t *testing.T, where, f string) {
	t.Helper()
	if i := strings.IndexByte(f, 0x1b); i >= 0 {
		t.Fatalf("%s: ESC byte at %d in frame: %q", where, i, f[max(i-40, 0):min(i+40, len(f))])
	}
	if !utf8.ValidString(f) {
		t.Fatalf("%s: invalid UTF-8 in frame", where)
	}
	for _, r := range f {
		if (r < 0x20 && r != '\n') || r == 0x7f || (r >= 0x80 && r <= 0x9f) || (r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069) {
			t.Fatalf("%s: control %U in frame", where, r)
		}
	}
}

// TestHostileHeadersNeverReachTheTerminal opens the hostile sample (ESC
// sequences: CSI, OSC 0/52, DCS, APC; C1 CSI; invalid UTF-8; a bidi
// override in an attachment name; escapes in HELO and the body) and checks
// every screen.
func TestHostileHeadersNeverReachTheTerminal(t *testing.T) {
	b := fixtureBackend(t)
	m, tm := newTestModel(t, b, true)
	waitFor(t, m, "Hostile")
	f := *m.last.Load()
	assertClean(t, "list", f)
	if !strings.Contains(f, `Hostile \x1b[31mRED`) {
		t.Fatalf("the list does not show the escape visibly:\n%s", f)
	}
	openEmail(t, m, tm, "subject:Hostile", "Hostile")
	for _, step := range []struct{ keys, want string }{
		{"1", "Envelope"},
		{"2", "(folded)"},
		{"z", "clear screen and"},
		{"3", "decoded header values"},
		{"z", "raw header fields"},
		{"4", "text/plain"},
		{"5", "CONTENT TYPE"},
		{"6", "Selected attachment"},
		{"7", "IOC"},
		{"8", "GROUP"},
	} {
		press(tm, step.keys)
		waitFor(t, m, step.want)
		assertClean(t, "tab after "+step.keys, *m.last.Load())
	}
	press(tm, "e", "enter")
	waitFor(t, m, "path:")
	assertClean(t, "export prompt", *m.last.Load())
	_, f = frame(t, m, tm)
	assertClean(t, "final", f)
}
