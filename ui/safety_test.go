package ui

import (
	"github.com/smtpscope/smtpscope/internal/fakebackend"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/charmbracelet/x/exp/teatest/v2"

	"github.com/smtpscope/smtpscope/collector/api"
)

// assertClean fails when a frame drawn with plain styles (which emit no
// escape sequence of their own) holds an ESC, a C1 control, a bidi
// control, a zero-width or other invisible character, or invalid UTF-8:
// all of those could only come from the data.
func assertClean(t *testing.T, where, f string) {
	t.Helper()
	if i := strings.IndexByte(f, 0x1b); i >= 0 {
		t.Fatalf("%s: ESC byte at %d in frame: %q", where, i, f[max(i-40, 0):min(i+40, len(f))])
	}
	if !utf8.ValidString(f) {
		t.Fatalf("%s: invalid UTF-8 in frame", where)
	}
	for _, r := range f {
		if unsafeInFrame(r) {
			t.Fatalf("%s: control %U in frame:\n%s", where, r, f)
		}
	}
}

// unsafeInFrame: controls, format characters (bidi, zero-width, tags),
// separators and the runes that draw nothing.
func unsafeInFrame(r rune) bool {
	switch {
	case r < 0x20 && r != '\n', r == 0x7f, r >= 0x80 && r <= 0x9f:
		return true
	case unicode.Is(unicode.Cf, r), r == 0x2028, r == 0x2029:
		return true
	case r == 0x034f, r >= 0x180b && r <= 0x180f, r >= 0xfe00 && r <= 0xfe0f, r >= 0xe0100 && r <= 0xe01ef:
		return true
	}
	return false
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
	assertEveryTabClean(t, m, tm, "clear screen and")
}

// assertEveryTabClean walks the open email's detail view through every
// tab (1 to 8, and the second view of tabs 2 and 3 with z; zWant is what
// tab 2's second view shows) and the export prompt, and asserts each
// frame clean, then the final frame.
func assertEveryTabClean(t *testing.T, m *Model, tm *teatest.TestModel, zWant string) {
	t.Helper()
	for _, step := range []struct{ keys, want string }{
		{"1", "Envelope"},
		{"2", "(folded)"},
		{"z", zWant},
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
	_, f := frame(t, m, tm)
	assertClean(t, "final", f)
}

// invisibleSession carries zero-width joiners, word joiners, invisible
// operators, variation selectors, tag characters and bidi marks in every
// field a screen draws: HELO, envelope, headers, subject, body, link,
// attachment name.
const invisibleSession = "198.51.100.77:4444/tcp\n1763810900\n@resp 198.51.100.25:25/tcp\n" +
	"< > 220 mx.corp.example.com ESMTP\n" +
	"> EHLO zw\u200dhelo\u2060.example.net\n< EHLO 250 mx.corp.example.com\n" +
	"> MAIL FROM:<pay\u200dpal@evil.example.net>\n< MAIL 250 2.1.0 Ok\n" +
	"> RCPT TO:<soc\u2063@corp.example.com>\n< RCPT 250 2.1.5 Ok\n" +
	"> DATA \n< DATA 354 go ahead\n" +
	"From: \"Pay\u200cPal\u2061 Support\" <pay\u200dpal@evil.example.net>\n" +
	"To: soc@corp.example.com\n" +
	"Subject: Zerowidth \u200dZWJ \u2060WJ \u2064plus \ufe0fVS \U000e0041tag \u180eMVS \u200fRLM \u00adSHY\n" +
	"X-Hidden: a\u2062b\U000e0100c\n" +
	"Date: Sat, 22 Nov 2025 11:28:20 +0000\n" +
	"Message-ID: <zw-1@evil.example.net>\n" +
	"MIME-Version: 1.0\n" +
	"Content-Type: multipart/mixed; boundary=\"z\"\n\n" +
	"--z\nContent-Type: text/plain; charset=utf-8\n\n" +
	"Hidden\u200b body\u2060 text, see https://ex\u200dample.example.com/lo\u2060gin now\n" +
	"--z\nContent-Type: application/octet-stream; name=\"inv\u200doice\u2060.pdf\u200b.exe\"\n" +
	"Content-Disposition: attachment; filename=\"inv\u200doice\u2060.pdf\u200b.exe\"\n" +
	"Content-Transfer-Encoding: base64\n\nbm90IHJlYWxseSBhIHBkZgo=\n--z--\n" +
	"> . .\n< . 250 2.0.0 Ok: queued\n> QUIT \n< QUIT 221 2.0.0 Bye\n"

// invisibleBackend is the fixture plus the invisible-character email, a
// review entry and a submission error carrying them too.
func invisibleBackend(t *testing.T) *fakebackend.Memory {
	t.Helper()
	b := memoryFixture(t)
	e := addSessionEmail(t, b, invisibleSession, "zw\u200d.session")
	b.SetState(e.ID, "default", api.StateFailed, "uu\u2060id", "HTTP 500: bad\u200dgateway \u2064")
	b.AddReview(api.ReviewEntry{Name: "junk\u2060\u200d\ufe0f.session", Reason: "not\u200b a session", Time: fixedNow}, []byte("x"))
	return b
}

// TestInvisibleRunesShownOnEveryScreen: zero-width and other invisible
// characters in mail are shown as escapes on the list and on every tab
// of the detail view, never drawn as the nothing they are.
func TestInvisibleRunesShownOnEveryScreen(t *testing.T) {
	b := invisibleBackend(t)
	m, tm := newTestModel(t, b, true)
	waitFor(t, m, `Zerowidth \u200dZWJ`, `pay\u200dpal@`)
	assertClean(t, "list", *m.last.Load())
	openEmail(t, m, tm, "subject:zerowidth", "Zerowidth")
	assertEveryTabClean(t, m, tm, `Hidden\u200b body`)

	// The review view and a review entry.
	m, tm = newTestModel(t, b, true)
	press(tm, "v", "v")
	waitFor(t, m, `junk\u2060\u200d\ufe`)
	assertClean(t, "review list", *m.last.Load())
	press(tm, "enter")
	waitFor(t, m, `not\u200b a session`)
	assertClean(t, "review entry", *m.last.Load())
	_, f := frame(t, m, tm)
	assertClean(t, "review final", f)
}
