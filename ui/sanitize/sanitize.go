// Package sanitize makes attacker-controlled strings safe to draw in a
// terminal. Everything smtpscope shows (subjects, addresses, file names,
// bodies, transcripts) comes from the mail it inspects, so every string
// goes through Line or Text before it is rendered.
//
// Nothing is silently dropped: a control character or an invalid byte is
// replaced by a visible escape, so the analyst sees that it was there.
//
//   - C0 controls (except tab and newline in Text), DEL and C1 controls
//     become \xNN or \u00NN escapes; ESC therefore never reaches the
//     terminal, which disarms every CSI, OSC, DCS, APC, PM and SOS sequence
//     (the rest of the sequence is shown as the plain text it is).
//   - Invalid UTF-8 bytes become \xNN.
//   - Bidirectional overrides and isolates (Trojan-Source style spoofing)
//     and other invisible format characters become \uNNNN.
//   - A literal backslash stays a backslash: escapes are for display only.
package sanitize

import (
	"fmt"
	"strings"
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
			fmt.Fprintf(&b, `\u%04x`, r)
			col += 6
			continue
		}
		b.WriteRune(r)
		col++
	}
	return b.String()
}

// unsafeRune reports runes above ASCII that must not reach the terminal:
// C1 controls, bidi controls, invisible formatting and separators.
func unsafeRune(r rune) bool {
	switch {
	case r >= 0x80 && r <= 0x9f: // C1 controls (CSI is U+009B)
		return true
	case r == 0x061c, r == 0x200b, r == 0x200e, r == 0x200f, r == 0xfeff:
		return true
	case r >= 0x202a && r <= 0x202e: // LRE RLE PDF LRO RLO
		return true
	case r >= 0x2066 && r <= 0x2069: // LRI RLI FSI PDI
		return true
	case r == 0x2028, r == 0x2029: // line and paragraph separators
		return true
	case r >= 0xfff9 && r <= 0xfffb: // interlinear annotations
		return true
	case r >= 0xe0000 && r <= 0xe007f: // tag characters
		return true
	}
	return false
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
