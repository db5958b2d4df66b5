package core

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/jhillyerd/enmime/v2"
	"golang.org/x/net/html/charset"
)

// File names of MIME parts.
//
// The name comes from Content-Disposition's filename, else Content-Type's
// name, read by headerParam: RFC 2231 extended values (filename*=cs'lang'
// %XX..., continuations filename*0*=, filename*1=, in any order, the
// charset of segment 0 applying to every encoded segment), the quoted
// filename*="..." form real mailers write although the RFC does not allow
// the quotes, and plain values (RFC 2047 decoded). enmime's own reading is
// the fallback for headers too malformed for ours. A name that is a path
// (Windows mailers write "C:\TEMP\x.png" unescaped) is saved by mail
// clients under its last component: that is the file name; the value as
// given is kept as the raw name.

// partFilename returns the file name of a part and, when it differs, the
// name as the header gives it.
func partFilename(p *enmime.Part) (name, raw string) {
	raw = headerFilename(p.Header)
	if raw == "" || !utf8.ValidString(raw) && p.FileName != "" {
		// raw 8-bit bytes of an unknown charset: enmime's reading
		raw = p.FileName
	}
	raw = strings.ToValidUTF8(raw, "\uFFFD")
	name = baseName(raw)
	if name == raw {
		return name, ""
	}
	return name, raw
}

// headerFilename reads the file name parameters of a part's header.
func headerFilename(h map[string][]string) string {
	for _, hn := range []string{"Content-Disposition", "Content-Type"} {
		want := "filename"
		if hn == "Content-Type" {
			want = "name"
		}
		for _, v := range h[hn] {
			if name := headerParam(v, want); name != "" {
				return name
			}
		}
	}
	return ""
}

// baseName is the last component of a path with / or \ separators; the
// whole name when that component is empty.
func baseName(s string) string {
	i := strings.LastIndexAny(s, `/\`)
	if i < 0 || i == len(s)-1 {
		return s
	}
	return s[i+1:]
}

// segment is one RFC 2231 piece of a parameter value.
type segment struct {
	n       int
	val     string
	encoded bool // charset'lang'%XX form (a "*" after the name)
}

// headerParam extracts parameter want from a header value: the RFC 2231
// extended form when present (RFC 2231 recipients prefer it), else the
// plain value, RFC 2047 decoded.
func headerParam(v, want string) string {
	plain, segs := paramSegments(v, want)
	if len(segs) > 0 {
		if s := joinSegments(segs); s != "" {
			return s
		}
	}
	return strings.TrimSpace(decodeHeader(plain))
}

// paramSegments collects the plain value of parameter want and its RFC
// 2231 segments (the first of each number).
func paramSegments(v, want string) (string, []segment) {
	var segs []segment
	seen := map[int]bool{}
	plain := ""
	for _, param := range splitParams(v) {
		k, val, ok := strings.Cut(param, "=")
		if !ok {
			continue
		}
		k = strings.ToLower(strings.TrimSpace(k))
		val = unquote(strings.TrimSpace(val))
		if k == want {
			if plain == "" {
				plain = val
			}
			continue
		}
		rest, ok := strings.CutPrefix(k, want+"*")
		if !ok {
			continue
		}
		seg := segment{val: val, encoded: rest == "" || strings.HasSuffix(rest, "*")}
		if num := strings.TrimSuffix(rest, "*"); num != "" {
			n, err := strconv.Atoi(num)
			if err != nil || n < 0 || num[0] == '+' {
				continue
			}
			seg.n = n
		}
		if !seen[seg.n] {
			seen[seg.n] = true
			segs = append(segs, seg)
		}
	}
	return plain, segs
}

// joinSegments orders the segments and decodes them: the charset (and
// language) prefix of segment 0 applies to every encoded segment, and
// consecutive encoded segments are decoded together (a multi-byte
// character may be split between them).
func joinSegments(segs []segment) string {
	sort.Slice(segs, func(i, j int) bool { return segs[i].n < segs[j].n })
	cs := ""
	if segs[0].n == 0 && segs[0].encoded {
		if parts := strings.SplitN(segs[0].val, "'", 3); len(parts) == 3 {
			cs, segs[0].val = parts[0], parts[2]
		}
	}
	var out strings.Builder
	var pending []byte
	flush := func() {
		out.WriteString(decodeCharset(cs, pending))
		pending = pending[:0]
	}
	for _, s := range segs {
		if s.encoded {
			pending = append(pending, percentDecode(s.val)...)
			continue
		}
		flush()
		out.WriteString(s.val)
	}
	flush()
	return out.String()
}

// decodeCharset converts b from charset cs to UTF-8; bytes are kept as
// they are when the charset is unknown or empty.
func decodeCharset(cs string, b []byte) string {
	if len(b) == 0 {
		return ""
	}
	cs = strings.TrimSpace(cs)
	if cs == "" || strings.EqualFold(cs, "utf-8") || strings.EqualFold(cs, "us-ascii") {
		return string(b)
	}
	if enc, _ := charset.Lookup(cs); enc != nil {
		if s, err := decodeWith(enc, b); err == nil {
			return s
		}
	}
	return string(b)
}

// unquote removes the quotes of a quoted-string. Only \" and \\ are
// quoted pairs here: Windows mailers write paths with single backslashes
// ("C:\TEMP\x.png"), and mail clients read them as written.
func unquote(v string) string {
	if len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' {
		return v
	}
	v = v[1 : len(v)-1]
	if !strings.Contains(v, `\`) {
		return v
	}
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		if v[i] == '\\' && i+1 < len(v) && (v[i+1] == '"' || v[i+1] == '\\') {
			i++
		}
		b.WriteByte(v[i])
	}
	return b.String()
}

// splitParams splits "type; a=1; b=\"x;y\"" on semicolons outside quotes.
func splitParams(v string) []string {
	var out []string
	inQ, start := false, 0
	for i := 0; i < len(v); i++ {
		switch v[i] {
		case '\\':
			if inQ {
				i++
			}
		case '"':
			inQ = !inQ
		case ';':
			if !inQ {
				out = append(out, v[start:i])
				start = i + 1
			}
		}
	}
	return append(out, v[start:])
}

// percentDecode undoes %XX escapes; a % without two hex digits is kept.
func percentDecode(s string) []byte {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]) {
			out = append(out, unhex(s[i+1])<<4|unhex(s[i+2]))
			i += 2
			continue
		}
		out = append(out, s[i])
	}
	return out
}

// escapeEightBitWords rewrites the raw 8-bit bytes inside RFC 2047
// encoded words: as =XX in a Q word (they are bytes of the word's
// charset), dropped from a B word (they cannot be base64).
func escapeEightBitWords(v string) string {
	if isASCII(v) {
		return v
	}
	var b strings.Builder
	for {
		i := strings.Index(v, "=?")
		if i < 0 {
			break
		}
		b.WriteString(v[:i])
		n, word := encodedWord(v[i:])
		b.WriteString(word)
		v = v[i+n:]
	}
	b.WriteString(v)
	return b.String()
}

// encodedWord reads the encoded word at the start of v ("=?cs?Q?text?=")
// and returns its length and the word with 8-bit bytes escaped; when v
// does not start with one, it returns 2 and "=?".
func encodedWord(v string) (int, string) {
	q1 := strings.IndexByte(v[2:], '?') + 2
	if q1 < 3 || q1+3 > len(v) || v[q1+2] != '?' || strings.ContainsAny(v[2:q1], " \t\r\n") {
		return 2, "=?"
	}
	enc := v[q1+1] | 0x20
	end := strings.Index(v[q1+3:], "?=")
	if end < 0 || (enc != 'q' && enc != 'b') {
		return 2, "=?"
	}
	text := v[q1+3 : q1+3+end]
	if strings.ContainsAny(text, " \t\r\n") {
		return 2, "=?"
	}
	var b strings.Builder
	b.WriteString(v[:q1+3])
	for i := 0; i < len(text); i++ {
		switch c := text[i]; {
		case c < utf8.RuneSelf:
			b.WriteByte(c)
		case enc == 'q':
			fmt.Fprintf(&b, "=%02X", c)
		}
	}
	b.WriteString("?=")
	return q1 + 3 + end + 2, b.String()
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}
