package core

// Refanging: defanged schemes, bracketed dots, ats and colons back to
// their live form, with marks telling which bytes were defanged.

import (
	"bytes"
	"strings"
)

// Refang turns a defanged indicator back into its live form:
// "hxxp://evil[.]example(.)com" becomes "http://evil.example.com". It
// rewrites the defanged schemes hxxp, hxxps, hXXp, h**p, hxtp, fxp, fxps
// (when followed by "://"), the dots "[.]" "(.)" "{.}" "[dot]" "(dot)"
// "{dot}" "\.", the ats "[@]" "(@)" "{@}" "[at]" "(at)" "{at}", and "[:]"
// and "[://]"; blanks around a bracketed dot or at are dropped. The bare
// word "dot" is left alone (it is ambiguous in free text). Refang is
// idempotent: Refang(Refang(s)) == Refang(s).
func Refang(s string) string {
	if !strings.ContainsAny(s, "[({\\:") {
		return s
	}
	var r refanger
	r.run([]byte(s), false)
	if !r.changed {
		return s
	}
	return string(r.out)
}

// refanger rewrites defanged text. out is the result; when track is set,
// marks[i] tells whether out[i] came from a rewrite.
type refanger struct {
	out     []byte
	marks   []bool
	track   bool
	changed bool
	skipSp  bool
}

func (r *refanger) reset(track bool) {
	r.out = r.out[:0]
	r.marks = r.marks[:0]
	r.track = track
	r.changed = false
	r.skipSp = false
}

func (r *refanger) push(c byte, mark bool) {
	r.out = append(r.out, c)
	if r.track {
		r.marks = append(r.marks, mark)
	}
}

func (r *refanger) truncate(n int) {
	r.out = r.out[:n]
	if r.track {
		r.marks = r.marks[:n]
	}
}

// run refangs src into r.out. bareDot enables " dot " between two
// alphanumerics (the extractor decides when that is unambiguous).
//
// Idempotence comes from reducing at the tail: every defanged pattern ends
// with a byte that, when appended, triggers a check of the output's tail,
// and every rewrite re-checks the new tail, so the output never holds a
// pattern.
func (r *refanger) run(src []byte, bareDot bool) {
	for i := 0; i < len(src); i++ {
		c := src[i]
		if r.skipSp {
			if c == ' ' || c == '\t' {
				r.changed = true
				continue
			}
			r.skipSp = false
		}
		if bareDot && c == ' ' && i+5 < len(src) && src[i+4] == ' ' &&
			src[i+1]|0x20 == 'd' && src[i+2]|0x20 == 'o' && src[i+3]|0x20 == 't' &&
			len(r.out) > 0 && isAlnum(r.out[len(r.out)-1]) && isAlnum(src[i+5]) {
			r.push('.', true)
			r.changed = true
			i += 4
			continue
		}
		r.push(c, false)
		switch c {
		case ']', ')', '}', '.', '/':
			r.reduce()
		}
	}
}

// reduce rewrites defanged patterns at the tail of r.out until none is left.
func (r *refanger) reduce() {
	for {
		n := len(r.out)
		switch r.out[n-1] {
		case ']', ')', '}':
			plen, rep := bracketSuffix(r.out)
			if plen == 0 {
				return
			}
			r.truncate(n - plen)
			if rep == "." || rep == "@" {
				m := len(r.out)
				for m > 0 && (r.out[m-1] == ' ' || r.out[m-1] == '\t') {
					m--
				}
				r.truncate(m)
				r.skipSp = true
			}
			for j := 0; j < len(rep); j++ {
				r.push(rep[j], true)
			}
			r.changed = true
		case '.':
			if n >= 2 && r.out[n-2] == '\\' {
				r.truncate(n - 2)
				r.push('.', true)
				r.changed = true
				continue
			}
			return
		case '/':
			if n >= 3 && r.out[n-2] == '/' && r.out[n-3] == ':' && r.rewriteScheme(n-3) {
				r.changed = true
			}
			return
		default:
			return
		}
	}
}

// rewriteScheme rewrites a defanged scheme ending at r.out[end] (the ':').
func (r *refanger) rewriteScheme(end int) bool {
	s := end
	for s > 0 && end-s < 6 && (chClass[r.out[s-1]]&chAlpha != 0 || r.out[s-1] == '*') {
		s--
	}
	if s > 0 && (isAlnum(r.out[s-1]) || r.out[s-1] == '*') {
		return false
	}
	rep := defangedScheme(r.out[s:end])
	if rep == "" {
		return false
	}
	copy(r.out[s:end], rep)
	if r.track {
		for j := s; j < end; j++ {
			r.marks[j] = true
		}
	}
	return true
}

// defangedScheme maps a defanged scheme to the live one ("" if it is not one).
func defangedScheme(b []byte) string {
	var l [5]byte
	if len(b) < 3 || len(b) > 5 {
		return ""
	}
	for i, c := range b {
		l[i] = c | 0x20
		if c == '*' {
			l[i] = '*'
		}
	}
	w := l[:len(b)]
	if w[0] == 'f' && w[1] == 'x' && w[2] == 'p' {
		switch len(w) {
		case 3:
			return "ftp"
		case 4:
			if w[3] == 's' {
				return "ftps"
			}
		}
		return ""
	}
	if len(w) < 4 || w[0] != 'h' || w[3] != 'p' {
		return ""
	}
	okc := func(c byte) bool { return c == 't' || c == 'x' || c == '*' }
	if !okc(w[1]) || !okc(w[2]) || (w[1] == 't' && w[2] == 't') {
		return ""
	}
	switch len(w) {
	case 4:
		return "http"
	case 5:
		if w[4] == 's' {
			return "https"
		}
	}
	return ""
}

var bracketInners = [...]struct {
	inner, rep string
}{
	{".", "."}, {"dot", "."}, {"@", "@"}, {"at", "@"}, {":", ":"}, {"://", "://"},
}

// bracketInnerStart marks the bytes a bracketInners pattern starts with
// (letters in either case, as bracketSuffix matches them).
var bracketInnerStart = func() (t [256]bool) {
	for _, p := range bracketInners {
		c := p.inner[0]
		t[c] = true
		if c >= 'a' && c <= 'z' {
			t[c-'a'+'A'] = true
		}
	}
	return t
}()

// bracketSuffix reports the length of the bracketed defang pattern b ends
// with and its replacement.
func bracketSuffix(b []byte) (int, string) {
	n := len(b)
	var open byte
	switch b[n-1] {
	case ']':
		open = '['
	case ')':
		open = '('
	case '}':
		open = '{'
	default:
		return 0, ""
	}
	for _, p := range bracketInners {
		l := len(p.inner) + 2
		if n < l || b[n-l] != open {
			continue
		}
		in := b[n-l+1 : n-1]
		match := true
		for j := range in {
			c, w := in[j], p.inner[j]
			if w >= 'a' && w <= 'z' {
				c |= 0x20
			}
			if c != w {
				match = false
				break
			}
		}
		if match {
			return l, p.rep
		}
	}
	return 0, ""
}

// needsRefang reports whether tok holds a bracketed dot, at or colon, or
// "\\.". Defanged schemes are found by defangedSchemeIn.
func needsRefang(tok []byte) bool {
	for i, c := range tok {
		if chClass[c]&(chOpen|chBslash) == 0 {
			continue
		}
		if c == '\\' {
			if i+1 < len(tok) && tok[i+1] == '.' {
				return true
			}
			continue
		}
		if i+1 >= len(tok) || !bracketInnerStart[tok[i+1]] {
			continue // "(0,0)" and the like: no pattern starts here
		}
		for l := 3; l <= 6 && i+l <= len(tok); l++ {
			if pl, _ := bracketSuffix(tok[i : i+l]); pl == l {
				return true
			}
		}
	}
	return false
}

// defangedSchemeIn reports whether tok has "://" after a defanged scheme.
func defangedSchemeIn(tok []byte) bool {
	for off := 0; ; {
		k := bytes.Index(tok[off:], []byte("://"))
		if k < 0 {
			return false
		}
		i := off + k
		s := i
		for s > 0 && i-s < 6 && (chClass[tok[s-1]]&chAlpha != 0 || tok[s-1] == '*') {
			s--
		}
		if defangedScheme(tok[s:i]) != "" {
			return true
		}
		off = i + 3
	}
}

func anyMark(marks []bool, s, e int) bool {
	if marks == nil {
		return false
	}
	for _, m := range marks[s:e] {
		if m {
			return true
		}
	}
	return false
}
