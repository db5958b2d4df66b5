package core

// The scanner: anchors, tokens, joins across spaced defangs, and the
// dispatch of each token to the URL, e-mail, name, IP and hash finders.

import (
	"bytes"
)

const (
	maxURLLen       = 16 << 10 // longer URLs are not reported (their host is)
	maxURLsPerToken = 16       // nested URLs ("...?u=https://...") per token
	maxJoinSpaces   = 3
)

type iocScanner struct {
	set        *IOCSet
	source     string
	ref        refanger
	hostStarts []int    // token offsets where URL hosts begin
	auth       [][2]int // URL authorities (userinfo '@' there is no e-mail)
	tmp        []byte
	host       []byte
}

// anchor marks the bytes that make a token worth a closer look.
var anchor = func() (t [256]bool) {
	for _, c := range []byte(".:@[({\\") {
		t[c] = true
	}
	return
}()

// scan finds the tokens of data that can hold an IOC and examines them.
//
// It looks for anchor bytes ('.', ':', '@', '[', '(', '{', '\\') and for the
// bare word " dot "; the token around an anchor (extended across blanks by
// spaced defangs) is examined, everything between tokens is only sampled
// for hex runs long enough to be a hash. Each byte is visited a bounded
// number of times.
func (sc *iocScanner) scan(data []byte) {
	n := len(data)
	done := 0        // data[:done] has been examined
	nextAnchor := -1 // the next anchor byte at or after i, when known
	for i := 0; i < n; {
		if nextAnchor < i {
			nextAnchor = i
			for _, c := range data[i:] {
				if anchor[c] {
					break
				}
				nextAnchor++
			}
		}
		j := nextAnchor
		if q := findBareDot(data, i, j); q >= 0 {
			j = q
		}
		sc.hashGap(data, i, j)
		if j >= n {
			break
		}
		// The token around the anchor at j.
		start := j
		for start > done && chClass[data[start-1]]&chDelim == 0 {
			start--
		}
		start = joinBack(data, done, start)
		end, fl, joined, bareDots := tokenEnd(data, start)
		if end <= j {
			end = j + 1 // the anchor is a lone blank (" dot " that does not join)
		}
		if fl&(chDot|chColon|chAt|chOpen|chBslash) != 0 || joined {
			bareOK := bareDots > 0 && (bareDots >= 2 || fl&(chDot|chColon|chAt|chOpen|chBslash) != 0)
			sc.token(data[start:end], fl, joined, bareOK)
		}
		done, i = end, end
	}
}

// dotLetter maps 'd', 'o', 't' (any case) to their offset in " dot ".
var dotLetter = func() (t [256]int8) {
	t['d'], t['D'], t['o'], t['O'], t['t'], t['T'] = 1, 1, 2, 2, 3, 3
	return
}()

// findBareDot returns the index of the first " dot " (any case) inside
// data[i:j], or -1. Of the three letters of an occurrence one sits at a
// multiple of 3, so only those positions are looked at; that keeps the
// search well under a byte-by-byte scan.
func findBareDot(data []byte, i, j int) int {
	if j-i < 5 {
		return -1
	}
	for p := (i + 2) / 3 * 3; p < j; p += 3 {
		k := int(dotLetter[data[p]])
		if k == 0 {
			continue
		}
		o := p - k
		if o < i || o+5 > j {
			continue
		}
		if data[o] == ' ' && dotLetter[data[o+1]] == 1 && dotLetter[data[o+2]] == 2 && dotLetter[data[o+3]] == 3 && data[o+4] == ' ' {
			return o
		}
	}
	return -1
}

// tokenEnd scans the token starting at start, joining across blanks where
// a spaced defang continues it. It returns the end, the character classes
// seen, whether it was joined and how many bare " dot " joins it has.
func tokenEnd(data []byte, start int) (end int, fl uint16, joined bool, bareDots int) {
	n := len(data)
	i := start
	for {
		for _, b := range data[i:] {
			c := chClass[b]
			if c&chDelim != 0 {
				break
			}
			fl |= c
			i++
		}
		if i < n && i > start && chClass[data[i]]&chSpace != 0 {
			if j, bare := joinAt(data, start, i); j > 0 {
				i = j
				joined = true
				if bare {
					bareDots++
				}
				continue
			}
		}
		return i, fl, joined, bareDots
	}
}

// joinBack extends a token that starts with a bracketed dot or at
// ("[dot] com" in "example [dot] com") back over the blanks to the word
// before it, never before done.
func joinBack(data []byte, done, start int) int {
	if start >= len(data) {
		return start
	}
	if c := data[start]; c != '[' && c != '(' && c != '{' {
		return start
	}
	k := start
	for k > done && start-k < maxJoinSpaces && (data[k-1] == ' ' || data[k-1] == '\t') {
		k--
	}
	if k == start || k <= done || !isAlnum(data[k-1]) {
		return start
	}
	matched := false
	for _, p := range bracketInners[:4] {
		l := len(p.inner) + 2
		if start+l <= len(data) {
			if pl, _ := bracketSuffix(data[start : start+l]); pl == l {
				matched = true
				break
			}
		}
	}
	if !matched {
		return start
	}
	for k > done && chClass[data[k-1]]&chDelim == 0 {
		k--
	}
	return k
}

// joinAt decides whether the token data[start:i], stopped by a blank at i,
// continues past the blanks because of a spaced defang ("example [dot] com",
// "user (at) example", "evil dot com"). It returns where scanning resumes
// (0 for no join) and whether the join is a bare " dot ".
func joinAt(data []byte, start, i int) (int, bool) {
	n := len(data)
	j := i
	for j < n && j-i < maxJoinSpaces && (data[j] == ' ' || data[j] == '\t') {
		j++
	}
	if j >= n {
		return 0, false
	}
	prev := data[i-1]
	// "example[.] com": the token ends with a bracket pattern.
	if prev == ']' || prev == ')' || prev == '}' {
		if l, rep := bracketSuffix(data[start:i]); l > 0 && (rep == "." || rep == "@") && i-l > start && isAlnum(data[j]) {
			return j, false
		}
		return 0, false
	}
	if !isAlnum(prev) {
		return 0, false
	}
	// "example [.]com" / "example [dot] com": a bracket pattern follows.
	if c := data[j]; c == '[' || c == '(' || c == '{' {
		for _, p := range bracketInners[:4] {
			l := len(p.inner) + 2
			if j+l <= n {
				if pl, _ := bracketSuffix(data[j : j+l]); pl == l {
					return j, false
				}
			}
		}
		return 0, false
	}
	// "evil dot com": exactly one blank on each side.
	if j == i+1 && j+4 < n && data[j]|0x20 == 'd' && data[j+1]|0x20 == 'o' && data[j+2]|0x20 == 't' &&
		(data[j+3] == ' ' || data[j+3] == '\t') && isAlnum(data[j+4]) {
		return j + 4, true
	}
	return 0, false
}

// token extracts the IOCs of one token.
func (sc *iocScanner) token(tok []byte, fl uint16, joined, bareDot bool) {
	if fl&(chColon|chAt|chOpen|chBslash) == 0 && !joined && !innerDot(tok) && len(tok) < 32 {
		return // "word." or "etc..": no dot between two name characters
	}
	t := tok
	var marks []bool
	if joined || fl&(chOpen|chBslash) != 0 && needsRefang(tok) || fl&chColon != 0 && defangedSchemeIn(tok) {
		sc.ref.reset(true)
		sc.ref.run(tok, bareDot)
		if sc.ref.changed {
			t = sc.ref.out
			marks = sc.ref.marks
		}
	}
	sc.hostStarts = sc.hostStarts[:0]
	sc.auth = sc.auth[:0]
	if fl&chColon != 0 || joined {
		sc.urls(t, marks)
	}
	if fl&chAt != 0 || marks != nil {
		sc.emails(t, marks)
	}
	if fl&chDot != 0 || marks != nil {
		sc.bareNames(t, marks)
	}
	if fl&chColon != 0 && bytes.Count(t, []byte(":")) >= 2 {
		sc.ipv6s(t, marks)
	}
	sc.hashGap(t, 0, len(t))
}

// innerDot reports whether tok has a '.' between two alphanumerics.
func innerDot(tok []byte) bool {
	for i := 1; i+1 < len(tok); i++ {
		if tok[i] == '.' && isAlnum(tok[i-1]) && isAlnum(tok[i+1]) {
			return true
		}
	}
	return false
}
