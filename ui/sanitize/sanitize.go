// Package sanitize makes attacker-controlled strings safe to draw in a
// terminal. Everything smtpscope shows (subjects, addresses, file names,
// bodies, transcripts, ids, error messages naming files) comes from the
// mail it inspects, the wire or the file system, so every string goes
// through Line, Text or Clip before it is rendered — by the TUI and by the
// text and table output of the CLI alike. (JSON output is escaped by its
// own encoder, not here.)
//
// Nothing is silently dropped: a control character or an invalid byte is
// replaced by a visible escape, so the analyst sees that it was there.
//
//   - C0 controls (except tab and newline in Text), DEL and C1 controls
//     become \xNN or \u00NN escapes; ESC therefore never reaches the
//     terminal, which disarms every CSI, OSC, DCS, APC, PM and SOS sequence
//     (the rest of the sequence is shown as the plain text it is).
//   - Invalid UTF-8 bytes become \xNN.
//   - Every format character (Unicode category Cf) becomes \uNNNN (or
//     \UNNNNNNNN above U+FFFF): bidirectional embeddings, overrides,
//     isolates and marks (Trojan-Source style spoofing, U+202A-U+202E,
//     U+2066-U+2069, U+200E, U+200F, U+061C), zero-width space, joiners
//     and word joiner (U+200B-U+200D, U+2060), invisible operators
//     (U+2061-U+2064), U+180E, U+FEFF, the soft hyphen, interlinear
//     annotations and tag characters (U+E0000-U+E007F).
//   - So do the line and paragraph separators (U+2028, U+2029) and the
//     characters that draw nothing or only alter their neighbour: the
//     combining grapheme joiner, Hangul and Khmer fillers, and variation
//     selectors (U+180B-U+180F, U+FE00-U+FE0F, U+E0100-U+E01EF). Emoji
//     sequences built with U+200D or U+FE0F are therefore shown spelled
//     out; no hidden payload can ride in them.
//   - A literal backslash stays a backslash: escapes are for display only.
package sanitize

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Line returns s for display on one line: newlines, tabs and every control
// character are escaped.
func Line(s string) string { return clean(s, false) }

// Text returns s for display as multi-line text: newlines are kept, tabs are
// expanded to spaces (to the next multiple of 8), CR before LF is dropped,
// everything else unsafe is escaped.
func Text(s string) string { return clean(s, true) }

// Safe reports whether s would be returned unchanged by Line.
func Safe(s string) bool {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c < 0x20 || c == 0x7f {
				return false
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n <= 1 {
			return false
		}
		if unsafeRune(r) {
			return false
		}
		i += n
	}
	return true
}

func clean(s string, multi bool) string {
	if Safe(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 16)
	col := 0 // column in the current line, for tab expansion
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			i++
			switch {
			case multi && c == '\n':
				b.WriteByte('\n')
				col = 0
			case multi && c == '\t':
				n := 8 - col%8
				b.WriteString(strings.Repeat(" ", n))
				col += n
			case multi && c == '\r' && i < len(s) && s[i] == '\n':
				// CRLF line end: the CR carries nothing to show.
			case c == '\n':
				b.WriteString(`\n`)
				col += 2
			case c == '\r':
				b.WriteString(`\r`)
				col += 2
			case c == '\t':
				b.WriteString(`\t`)
				col += 2
			case c < 0x20 || c == 0x7f:
				fmt.Fprintf(&b, `\x%02x`, c)
				col += 4
			default:
				b.WriteByte(c)
				col++
			}
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n <= 1 {
			fmt.Fprintf(&b, `\x%02x`, s[i])
			i++
			col += 4
			continue
		}
		i += n
		if unsafeRune(r) {
			col += escapeRune(&b, r)
			continue
		}
		b.WriteRune(r)
		col++
	}
	return b.String()
}

// unsafeRune reports runes above ASCII that must not reach the terminal as
// they are: C1 controls, every format character (Unicode category Cf: bidi
// embeddings, overrides, isolates and marks, zero-width space, joiners and
// word joiner, invisible operators, BOM, soft hyphen, interlinear
// annotations, tag characters), line and paragraph separators, and the
// characters that draw nothing or only modify their neighbour (fillers,
// the grapheme joiner, variation selectors).
func unsafeRune(r rune) bool {
	switch {
	case r >= 0x80 && r <= 0x9f: // C1 controls (CSI is U+009B)
		return true
	case r == 0x2028, r == 0x2029: // line and paragraph separators
		return true
	case unicode.Is(unicode.Cf, r):
		return true
	}
	return invisibleRune(r)
}

// invisibleRune reports the runes outside category Cf that draw nothing.
func invisibleRune(r rune) bool {
	switch {
	case r == 0x034f: // combining grapheme joiner
		return true
	case r == 0x115f, r == 0x1160, r == 0x3164, r == 0xffa0: // Hangul fillers
		return true
	case r == 0x17b4, r == 0x17b5: // Khmer inherent vowels
		return true
	case r >= 0x180b && r <= 0x180f: // Mongolian variation selectors (and U+180E)
		return true
	case r >= 0xfe00 && r <= 0xfe0f: // variation selectors
		return true
	case r >= 0xe0100 && r <= 0xe01ef: // variation selectors supplement
		return true
	}
	return false
}

// escapeRune writes the visible escape of r: \uNNNN, or \UNNNNNNNN above
// the BMP so that the escape cannot run into the digits that follow.
func escapeRune(b *strings.Builder, r rune) int {
	if r > 0xffff {
		fmt.Fprintf(b, `\U%08x`, r)
		return 10
	}
	fmt.Fprintf(b, `\u%04x`, r)
	return 6
}

// Clip returns Line(s) cut to at most n runes, "…" marking a cut.
func Clip(s string, n int) string {
	s = Line(s)
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	i, count := 0, 0
	for i < len(s) && count < max(n, 0) {
		_, size := utf8.DecodeRuneInString(s[i:])
		i += size
		count++
	}
	return s[:i] + "…"
}

// Filename returns a safe base name for writing a file named by mail
// content: no directory parts (so no "../", no absolute path), no control
// or unsafe characters, no leading dots, at most 128 bytes. fallback is used
// when nothing usable remains.
func Filename(name, fallback string) string {
	// Both separators: a Windows-style name must not climb directories
	// either when the file is copied elsewhere.
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	var b strings.Builder
	for _, r := range name {
		switch {
		case r == utf8.RuneError, r < 0x20, r == 0x7f, unsafeRune(r):
			b.WriteByte('_')
		case strings.ContainsRune(`<>:"|?*`, r):
			b.WriteByte('_')
		default:
			b.WriteRune(r)
		}
	}
	out := strings.TrimLeft(strings.TrimSpace(b.String()), ".")
	for len(out) > 128 {
		_, n := utf8.DecodeLastRuneInString(out)
		out = out[:len(out)-n]
	}
	if out == "" || out == "." || out == ".." {
		out = Filename(fallback, "file")
		if out == "" {
			out = "file"
		}
	}
	return out
}
