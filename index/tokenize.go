package index

// asciiWords gives exactly the words of bleve's unicode tokenizer (Unicode
// word segmentation, UAX #29) for ASCII text, which most email bodies are:
// the word rules restricted to ASCII are a handful of character classes, so
// a direct scan is several times faster. termField uses it for the ASCII
// stretches of a value and bleve's segmentation for the spans around other
// bytes (unicodeSpans). TestASCIIWordTokenizer and
// FuzzASCIIWordTokenizer check the words (offsets, positions, types) equal
// bleve's tokens for any input.

// Word-break classes of the ASCII characters (UAX #29 table 3).
const (
	wbOther        = iota
	wbALetter      // A-Z a-z
	wbNumeric      // 0-9
	wbExtendNumLet // _
	wbMidLetter    // :
	wbMidNumLet    // . '
	wbMidNum       // , ;
)

var wbClass = func() (t [128]uint8) {
	for c := 'a'; c <= 'z'; c++ {
		t[c], t[c-'a'+'A'] = wbALetter, wbALetter
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = wbNumeric
	}
	t['_'] = wbExtendNumLet
	t[':'] = wbMidLetter
	t['.'], t['\''] = wbMidNumLet, wbMidNumLet
	t[','], t[';'] = wbMidNum, wbMidNum
	return t
}()

func isASCII(b []byte) bool {
	for _, c := range b {
		if c >= 0x80 {
			return false
		}
	}
	return true
}

// asciiWords calls fn with the offsets of each word of input, which must be
// ASCII, in order, and whether it is a number (digits, no letters).
func asciiWords(input []byte, fn func(start, end int, numeric bool)) {
	n := len(input)
	for i := 0; i < n; {
		c := wbClass[input[i]]
		if c != wbALetter && c != wbNumeric && c != wbExtendNumLet {
			i++
			continue
		}
		start := i
		letters, digits := c == wbALetter, c == wbNumeric
		prev := c
		i++
		for i < n {
			cur := wbClass[input[i]]
			switch {
			case cur == wbALetter || cur == wbNumeric || cur == wbExtendNumLet:
				// WB5, WB8, WB9, WB10, WB13a, WB13b: letters, digits and
				// underscores run together.
			case (cur == wbMidLetter || cur == wbMidNumLet) && prev == wbALetter &&
				i+1 < n && wbClass[input[i+1]] == wbALetter:
				// WB6/WB7: letter (: . ') letter.
			case (cur == wbMidNum || cur == wbMidNumLet) && prev == wbNumeric &&
				i+1 < n && wbClass[input[i+1]] == wbNumeric:
				// WB11/WB12: digit (, ; . ') digit.
			default:
				cur = wbOther
			}
			if cur == wbOther {
				break
			}
			if cur != wbALetter && cur != wbNumeric && cur != wbExtendNumLet {
				// A middle character: the word goes on with the next one.
				i++
				cur = wbClass[input[i]]
			}
			letters = letters || cur == wbALetter
			digits = digits || cur == wbNumeric
			prev = cur
			i++
		}
		fn(start, i, digits && !letters)
	}
}
