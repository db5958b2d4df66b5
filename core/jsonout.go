package core

import (
	"encoding/binary"
	"encoding/json"
	"io"
	"unicode/utf8"
)

// NewJSONEncoder returns the one JSON writer of smtpscope's records and
// rows: compact JSON, one value per line, straight to w (no pretty
// printing, no second buffer), HTML characters as written, and runes that
// can act on a terminal or hide text escaped as \uXXXX even inside
// strings: C1 controls (U+0080-U+009F), bidi controls (U+061C, U+200E,
// U+200F, U+202A-U+202E, U+2066-U+2069) and zero-width or invisible
// characters (U+200B-U+200D, U+2060, U+FEFF). C0 controls, U+2028 and
// U+2029 are escaped by encoding/json itself. `jq` on a terminal is safe.
func NewJSONEncoder(w io.Writer) *json.Encoder {
	enc := json.NewEncoder(safeJSONWriter{w})
	enc.SetEscapeHTML(false)
	return enc
}

// safeJSONWriter escapes unsafeRune runes in JSON text. encoding/json
// writes only ASCII outside strings and hands over each value in one
// Write, so every such rune is whole and inside a string, where \uXXXX
// means the same rune.
type safeJSONWriter struct{ w io.Writer }

func (s safeJSONWriter) Write(p []byte) (int, error) {
	var out []byte
	last := 0
	for i := 0; i < len(p); {
		if p[i] < utf8.RuneSelf {
			i = asciiRun(p, i)
			continue
		}
		r, size := utf8.DecodeRune(p[i:])
		if unsafeRune(r) {
			if out == nil {
				out = make([]byte, 0, len(p)+32)
			}
			out = append(append(out, p[last:i]...), '\\', 'u', hexDigit(r>>12), hexDigit(r>>8), hexDigit(r>>4), hexDigit(r))
			last = i + size
		}
		i += size
	}
	if out == nil {
		return s.w.Write(p)
	}
	if _, err := s.w.Write(append(out, p[last:]...)); err != nil {
		return 0, err
	}
	return len(p), nil
}

// asciiRun returns the end of the run of ASCII bytes at p[i:], eight
// bytes at a time (records are mostly ASCII).
func asciiRun(p []byte, i int) int {
	for ; i+8 <= len(p); i += 8 {
		if binary.LittleEndian.Uint64(p[i:])&0x8080808080808080 != 0 {
			break
		}
	}
	for i < len(p) && p[i] < utf8.RuneSelf {
		i++
	}
	return i
}

func hexDigit(r rune) byte { return "0123456789abcdef"[r&0xf] }

// unsafeRune reports the runes NewJSONEncoder escapes.
func unsafeRune(r rune) bool {
	switch {
	case r >= 0x80 && r <= 0x9f, // C1 controls (CSI is U+009B)
		r == 0x061c,                // Arabic letter mark
		r >= 0x200b && r <= 0x200f, // zero width space, ZWNJ, ZWJ, LRM, RLM
		r >= 0x202a && r <= 0x202e, // bidi embeddings and overrides
		r == 0x2060,                // word joiner
		r >= 0x2066 && r <= 0x2069, // bidi isolates
		r == 0xfeff:                // zero width no-break space (BOM)
		return true
	}
	return false
}
