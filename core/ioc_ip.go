package core

// IP addresses: dotted-quad IPv4 validation and IPv6 candidates.

import (
	"bytes"
	"net/netip"
)

// validIPv4 reports whether b is a dotted-quad IPv4 address with octets
// 0-255 and no leading zeros.
func validIPv4(b []byte) bool {
	if len(b) < 7 || len(b) > 15 {
		return false
	}
	parts, val, digits := 0, 0, 0
	for i := 0; i <= len(b); i++ {
		if i == len(b) || b[i] == '.' {
			if digits == 0 || val > 255 {
				return false
			}
			parts++
			val, digits = 0, 0
			continue
		}
		c := b[i]
		if c < '0' || c > '9' {
			return false
		}
		if digits == 1 && val == 0 {
			return false // leading zero
		}
		val = val*10 + int(c-'0')
		digits++
		if digits > 3 {
			return false
		}
	}
	return parts == 4
}

// ipv6s finds IPv6 addresses.
func (sc *iocScanner) ipv6s(t []byte, marks []bool) {
	for i := 0; i < len(t); {
		if chClass[t[i]]&chV6 == 0 {
			i++
			continue
		}
		s := i
		colons := 0
		for i < len(t) && chClass[t[i]]&chV6 != 0 {
			if t[i] == ':' {
				colons++
			}
			i++
		}
		e := i
		if colons < 2 || e-s > 64 {
			continue
		}
		if e < len(t) && isWord(t[e]) {
			continue
		}
		// "IPv6:2001:db8::1" (Received headers).
		if e-s > 2 && t[s] == '6' && t[s+1] == ':' && s >= 3 && asciiEqualFold(t[s-3:s], "ipv") {
			s += 2
		} else if t[s] == ':' && (e-s < 2 || t[s+1] != ':') {
			s++ // "addr:2001:db8::1": a lone leading colon is punctuation
		} else if s > 0 && isWord(t[s-1]) {
			continue
		}
		for e > s && t[e-1] == '.' {
			e--
		}
		if e-s >= 2 && t[e-1] == ':' && t[e-2] != ':' {
			e--
		}
		c := t[s:e]
		if len(c) < 3 || bytes.Count(c, []byte(":")) < 2 || !v6Plausible(c) {
			continue
		}
		a, err := netip.ParseAddr(string(c))
		if err != nil || !a.Is6() || a.IsUnspecified() || a.Zone() != "" {
			continue
		}
		sc.host = a.AppendTo(sc.host[:0])
		sc.set.add(kIPv6, sc.host, anyMark(marks, s, e), sc.source)
	}
}

// v6Plausible requires at least two non-empty groups, one of them of at
// least three hex digits ("2001:db8::", "fe80::1"; not "1::2" or "ae2::").
func v6Plausible(c []byte) bool {
	run, groups, long := 0, 0, false
	for i := 0; i <= len(c); i++ {
		if i == len(c) || c[i] == ':' {
			if run > 0 {
				groups++
			}
			run = 0
			continue
		}
		run++
		if run >= 3 {
			long = true
		}
	}
	return long && groups >= 2
}
