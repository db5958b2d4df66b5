package core

// Hashes: hex runs of MD5, SHA-1, SHA-256 and SHA-512 length, sampled
// between anchors and checked inside tokens.

// hashGap looks for hashes in data[i:j], a stretch without anchors. Any
// hex run of 32 or more bytes covers two positions 16 apart that are
// multiples of 16, so only those positions are tested.
func (sc *iocScanner) hashGap(data []byte, i, j int) {
	if j-i < 32 {
		return
	}
	for p := (i + 15) &^ 15; p+16 < j; p += 16 {
		if chClass[data[p]]&(chDigit|chHexAlpha) == 0 || chClass[data[p+16]]&(chDigit|chHexAlpha) == 0 {
			continue
		}
		s := p
		for s > i && chClass[data[s-1]]&(chDigit|chHexAlpha) != 0 {
			s--
		}
		e := p + 16
		for e < j && chClass[data[e]]&(chDigit|chHexAlpha) != 0 {
			e++
		}
		if e-s >= 32 {
			ws, we := s, e
			if ws > 0 {
				ws--
			}
			if we < len(data) {
				we++
			}
			sc.hashes(data[ws:we])
		}
		p = (e &^ 15)
	}
}

// hashes finds hex runs of hash length with word boundaries.
func (sc *iocScanner) hashes(t []byte) {
	for i := 0; i < len(t); {
		if chClass[t[i]]&(chDigit|chHexAlpha) == 0 {
			i++
			continue
		}
		s := i
		var seen uint8 // 1 digit, 2 lower, 4 upper
		for i < len(t) && chClass[t[i]]&(chDigit|chHexAlpha) != 0 {
			switch c := t[i]; {
			case c <= '9':
				seen |= 1
			case c >= 'a':
				seen |= 2
			default:
				seen |= 4
			}
			i++
		}
		var typ byte
		switch i - s {
		case 32:
			typ = kMD5
		case 40:
			typ = kSHA1
		case 64:
			typ = kSHA256
		case 128:
			typ = kSHA512
		default:
			continue
		}
		if s > 0 && isWord(t[s-1]) || i < len(t) && isWord(t[i]) {
			continue
		}
		if seen&1 == 0 || seen&6 == 0 || seen&6 == 6 {
			continue
		}
		h := append(sc.tmp[:0], t[s:i]...)
		lowerInPlace(h)
		sc.tmp = h
		sc.set.add(typ, h, false, sc.source)
	}
}
