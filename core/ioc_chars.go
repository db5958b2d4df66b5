package core

// Character classes and the byte helpers the scanner is built on.

const (
	chDelim    uint16 = 1 << iota // ends a token
	chSpace                       // ' ' or '\t': a token may be joined across it
	chDot                         // '.'
	chColon                       // ':'
	chAt                          // '@'
	chOpen                        // '[' '(' '{'
	chBslash                      // '\\'
	chDigit                       // 0-9
	chHexAlpha                    // a-f A-F
	chAlpha                       // A-Z a-z
	chRun                         // host run: alnum . - _
	chURL                         // may appear in a URL after the scheme
	chLocal                       // may appear in an e-mail local part
	chV6                          // hex digit, ':' or '.'
)

var chClass [256]uint16

func init() {
	for c := 0; c < 256; c++ {
		var v uint16
		switch {
		case c <= ' ' || c >= 0x7f:
			v |= chDelim
		case c == '<' || c == '>' || c == '"' || c == '\'' || c == '`':
			v |= chDelim
		}
		if c == ' ' || c == '\t' {
			v |= chSpace
		}
		isDigit := c >= '0' && c <= '9'
		isAlpha := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
		isHexAlpha := c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
		if isDigit {
			v |= chDigit | chRun | chURL | chLocal | chV6
		}
		if isAlpha {
			v |= chAlpha | chRun | chURL | chLocal
		}
		if isHexAlpha {
			v |= chHexAlpha | chV6
		}
		switch c {
		case '.':
			v |= chDot | chRun | chURL | chLocal | chV6
		case ':':
			v |= chColon | chURL | chV6
		case '@':
			v |= chAt | chURL
		case '[', '(', '{':
			v |= chOpen
		case '\\':
			v |= chBslash
		case '-', '_':
			v |= chRun | chURL | chLocal
		case '+', '%':
			v |= chURL | chLocal
		}
		switch c {
		case '~', '/', '?', '#', '[', ']', '!', '$', '&', '(', ')', '*', ',', ';', '=':
			v |= chURL
		}
		chClass[c] = v
	}
}

func isAlnum(c byte) bool { return chClass[c]&(chDigit|chAlpha) != 0 }

// isWord reports whether c glues to a hex run or address (letters, digits, '_').
func isWord(c byte) bool { return chClass[c]&(chDigit|chAlpha) != 0 || c == '_' }

func lowerInPlace(b []byte) {
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + ('a' - 'A')
		}
	}
}

func asciiEqualFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range b {
		if b[i]|0x20 != s[i] {
			return false
		}
	}
	return true
}
