package sanitize

import (
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestLine(t *testing.T) {
	cases := []struct{ in, want string }{
		{"plain subject", "plain subject"},
		{"red \x1b[31malert\x1b[0m", `red \x1b[31malert\x1b[0m`},
		{"title \x1b]0;pwned\x07", `title \x1b]0;pwned\x07`},
		{"osc52 \x1b]52;c;ZXZpbA==\x1b\\", `osc52 \x1b]52;c;ZXZpbA==\x1b\`},
		{"dcs \x1bP+q\x1b\\", `dcs \x1bP+q\x1b\`},
		{"c1 csi \u009b31m", `c1 csi \u009b31m`},
		{"bad \xff\xfe utf8", `bad \xff\xfe utf8`},
		{"line\nbreak\ttab\rcr", `line\nbreak\ttab\rcr`},
		{"bidi \u202egnp.exe", `bidi \u202egnp.exe`},
		{"del\x7f nul\x00", `del\x7f nul\x00`},
		{"ünïcödé 日本語 ✓", "ünïcödé 日本語 ✓"},
		{"", ""},
	}
	for _, c := range cases {
		if got := Line(c.in); got != c.want {
			t.Errorf("Line(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestText(t *testing.T) {
	in := "a\tb\r\nc\x1b[2Jd\n\xc3"
	want := "a       b\nc\\x1b[2Jd\n\\xc3"
	if got := Text(in); got != want {
		t.Fatalf("Text(%q) = %q, want %q", in, got, want)
	}
	if got := Text("lone\rcr"); got != `lone\rcr` {
		t.Fatalf("lone CR: %q", got)
	}
}

func TestFilename(t *testing.T) {
	cases := []struct{ in, want string }{
		{"invoice.pdf", "invoice.pdf"},
		{"../../etc/passwd", "passwd"},
		{"/etc/shadow", "shadow"},
		{`..\..\windows\system32\evil.dll`, "evil.dll"},
		{"..", "fallback.bin"},
		{"", "fallback.bin"},
		{".bashrc", "bashrc"},
		{"a\x1b[31mb.txt", "a_[31mb.txt"},
		{"doc\u202efdp.exe", "doc_fdp.exe"},
		{"c:name?.txt", "c_name_.txt"},
		{strings.Repeat("x", 300), strings.Repeat("x", 128)},
	}
	for _, c := range cases {
		if got := Filename(c.in, "fallback.bin"); got != c.want {
			t.Errorf("Filename(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// noControls reports whether s holds only printable, valid UTF-8 (newline
// allowed when multi).
func noControls(t *testing.T, s string, multi bool) {
	t.Helper()
	if !utf8.ValidString(s) {
		t.Fatalf("invalid UTF-8 in output %q", s)
	}
	for _, r := range s {
		if r == '\n' && multi {
			continue
		}
		if r < 0x20 || r == 0x7f || unsafeRune(r) {
			t.Fatalf("control %U in output %q", r, s)
		}
	}
}

func FuzzSanitize(f *testing.F) {
	for _, s := range []string{"", "hello", "\x1b[31mred", "\x1b]52;c;AAAA\x07", "\u009b2J", "\xff\xc3", "a\tb\nc\r\n", "\u202e", "\x1bP1$r\x1b\\",
		"a\u200db\u2060c\ufe0f", "\U000e0041\U000e0100", "…日本"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		l := Line(s)
		noControls(t, l, false)
		if strings.Contains(l, "\n") {
			t.Fatalf("newline in Line output %q", l)
		}
		noControls(t, Text(s), true)
		if Safe(s) && l != s {
			t.Fatalf("safe string changed: %q -> %q", s, l)
		}
		if Line(l) != l {
			t.Fatalf("Line not idempotent on %q", s)
		}
		for _, n := range []int{0, 1, 7, 80} {
			c := Clip(s, n)
			noControls(t, c, false)
			if utf8.RuneCountInString(c) > n+1 || !strings.HasPrefix(l, strings.TrimSuffix(c, "…")) {
				t.Fatalf("Clip(%q, %d) = %q: not a prefix of %q of at most %d runes", s, n, c, l, n)
			}
		}
		fn := Filename(s, "x")
		if fn == "" || strings.ContainsAny(fn, `/\`) || strings.HasPrefix(fn, ".") {
			t.Fatalf("unsafe filename %q from %q", fn, s)
		}
		noControls(t, fn, false)
	})
}

// invisible lists the characters a terminal draws as nothing (or that
// reorder or join what is around them): each must be shown as an escape.
var invisible = []rune{
	0x00ad,                         // soft hyphen
	0x034f,                         // combining grapheme joiner
	0x061c,                         // Arabic letter mark
	0x115f, 0x1160, 0x3164, 0xffa0, // Hangul fillers
	0x17b4, 0x17b5, // Khmer inherent vowels
	0x180b, 0x180c, 0x180d, 0x180e, 0x180f, // Mongolian selectors, vowel separator
	0x200b, 0x200c, 0x200d, 0x200e, 0x200f, // zero width space, ZWNJ, ZWJ, LRM, RLM
	0x2028, 0x2029, // line and paragraph separators
	0x202a, 0x202b, 0x202c, 0x202d, 0x202e, // bidi embeddings and overrides
	0x2060, 0x2061, 0x2062, 0x2063, 0x2064, // word joiner, invisible operators
	0x2066, 0x2067, 0x2068, 0x2069, // bidi isolates
	0x206a, 0x206f, // deprecated format characters
	0xfe00, 0xfe0e, 0xfe0f, // variation selectors
	0xfeff,         // zero width no-break space (BOM)
	0xfff9, 0xfffb, // interlinear annotations
	0x1d173, 0x1d17a, // musical symbol format characters
	0xe0001, 0xe0020, 0xe0041, 0xe007f, // tag characters
	0xe0100, 0xe01ef, // variation selectors supplement
}

func TestInvisibleRunesShown(t *testing.T) {
	for _, r := range invisible {
		in := "a" + string(r) + "b"
		want := fmt.Sprintf(`a\u%04xb`, r)
		if r > 0xffff {
			want = fmt.Sprintf(`a\U%08xb`, r)
		}
		if got := Line(in); got != want {
			t.Errorf("Line(%q) = %q, want %q", in, got, want)
		}
		if got := Text(in); got != want {
			t.Errorf("Text(%q) = %q, want %q", in, got, want)
		}
		if Safe(in) {
			t.Errorf("Safe(%q) = true", in)
		}
		if got := Filename(in, "x"); got != "a_b" {
			t.Errorf("Filename(%q) = %q", in, got)
		}
	}
}

func TestClip(t *testing.T) {
	cases := []struct {
		in   string
		n    int
		want string
	}{
		{"short", 10, "short"},
		{"exactly10!", 10, "exactly10!"},
		{"much too long", 4, "much…"},
		{"日本語テキスト", 3, "日本語…"},
		{"\x1b[2J", 3, `\x1…`},
		{"a\u200db", 10, `a\u200db`},
		{"x", 0, "…"},
	}
	for _, c := range cases {
		if got := Clip(c.in, c.n); got != c.want {
			t.Errorf("Clip(%q, %d) = %q, want %q", c.in, c.n, got, c.want)
		}
	}
}
