package core

// Domains: the public-suffix test, the file-extension TLDs, hostname and
// label validation, and bare names found outside URLs and addresses.

import (
	"bytes"

	"golang.org/x/net/publicsuffix"
)

// isICANNTLD reports whether label (lower-case) is a top-level domain of the
// ICANN section of the public suffix list.
func (s *IOCSet) isICANNTLD(label []byte) bool {
	if v, ok := s.tlds[string(label)]; ok {
		return v
	}
	l := string(label)
	ps, icann := publicsuffix.PublicSuffix(l)
	v := icann && ps == l
	if len(s.tlds) < 4096 {
		s.tlds[l] = v
	}
	return v
}

// domainOK reports whether the lower-case name d is a domain IOC. hostContext
// is true when the name stands where only a host can (URL host, after '@',
// after "//"), which lifts the file-extension rule; so does defanging.
func (s *IOCSet) domainOK(d []byte, defanged, hostContext bool) bool {
	if !validHostname(d) {
		return false
	}
	tld := d[bytes.LastIndexByte(d, '.')+1:]
	if !s.isICANNTLD(tld) {
		return false
	}
	if !hostContext && fileExtTLD[string(tld)] && !bytes.HasPrefix(d, []byte("www.")) && !defanged {
		return false
	}
	if _, ok := s.lookup(kDomain, d); ok {
		return true // validated when first added
	}
	// A name that is itself an ICANN public suffix ("co.uk") is no IOC.
	ps, icann := publicsuffix.PublicSuffix(string(d))
	return !(icann && len(ps) == len(d))
}

// fileExtTLD lists ICANN TLDs that are far more often file extensions.
var fileExtTLD = map[string]bool{
	"zip": true, "mov": true, "py": true, "md": true, "ps": true, "sh": true, "rs": true,
	"pm": true, "mo": true, "so": true, "cab": true, "one": true, "pub": true, "run": true,
	"java": true, "data": true,
}

// validHostname reports whether d (lower-case) is at most 253 bytes of at
// least two labels of letters, digits and '-' (1-63 bytes, no '-' at either
// end) whose last label is not all digits.
func validHostname(d []byte) bool {
	if len(d) > 253 || len(d) < 3 {
		return false
	}
	labels, start := 0, 0
	for i := 0; i <= len(d); i++ {
		if i < len(d) && d[i] != '.' {
			c := d[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
			continue
		}
		if !validLabel(d[start:i]) {
			return false
		}
		labels++
		start = i + 1
	}
	if labels < 2 {
		return false
	}
	tld := d[bytes.LastIndexByte(d, '.')+1:]
	for _, c := range tld {
		if c < '0' || c > '9' {
			return true
		}
	}
	return false
}

func validLabel(l []byte) bool {
	if len(l) == 0 || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
		return false
	}
	for _, c := range l {
		if !(isAlnum(c) || c == '-') {
			return false
		}
	}
	return true
}

// bareNames finds domains and IPv4 addresses standing on their own.
func (sc *iocScanner) bareNames(t []byte, marks []bool) {
	hi := 0
	for i := 0; i < len(t); {
		if chClass[t[i]]&chRun == 0 {
			i++
			continue
		}
		s := i
		hasDot, hasAlpha := false, false
		for i < len(t) && chClass[t[i]]&chRun != 0 {
			switch c := t[i]; {
			case c == '.':
				hasDot = true
			case c == '-':
			case c >= '0' && c <= '9':
			default:
				hasAlpha = true
			}
			i++
		}
		e := i
		if !hasDot {
			continue
		}
		for hi < len(sc.hostStarts) && sc.hostStarts[hi] < s {
			hi++
		}
		if hi < len(sc.hostStarts) && sc.hostStarts[hi] < e {
			continue // a URL host: already reported
		}
		atBefore := s > 0 && t[s-1] == '@'
		atAfter := e < len(t) && t[e] == '@'
		if e < len(t) && t[e] == '(' {
			continue // a call: "console.log("
		}
		afterSlashes := s >= 2 && t[s-1] == '/' && t[s-2] == '/'
		for s < e && (t[s] == '.' || t[s] == '-') {
			s++
		}
		for e > s && (t[e-1] == '.' || t[e-1] == '-') {
			e--
		}
		if e-s < 3 {
			continue
		}
		if !hasAlpha {
			// Digits, dots and dashes: IPv4 addresses or ranges.
			for ps := s; ps < e; {
				pe := ps
				for pe < e && t[pe] != '-' {
					pe++
				}
				if validIPv4(t[ps:pe]) {
					sc.set.add(kIPv4, t[ps:pe], anyMark(marks, ps, pe), sc.source)
				}
				ps = pe + 1
			}
			continue
		}
		if atBefore || atAfter {
			continue // e-mail domain or local part
		}
		// Longest suffix of valid labels, at most 253 bytes.
		ds, labels := e, 0
		for j := e; ; {
			k := j - 1
			for k >= s && t[k] != '.' && j-k <= 64 {
				k--
			}
			if k >= s && t[k] != '.' {
				break // label too long
			}
			if !validLabel(t[k+1:j]) || e-(k+1) > 253 {
				break
			}
			ds = k + 1
			labels++
			if k < s {
				break
			}
			j = k
		}
		if labels < 2 {
			continue
		}
		name := t[ds:e]
		tld := name[bytes.LastIndexByte(name, '.')+1:]
		if len(tld) > 1 && tld[0] >= 'A' && tld[0] <= 'Z' && isLowerWord(tld[1:]) &&
			!(name[0] >= 'A' && name[0] <= 'Z') {
			continue // "done.Thanks", but not "Amazon.Com"
		}
		d := append(sc.tmp[:0], name...)
		lowerInPlace(d)
		sc.tmp = d
		defanged := anyMark(marks, ds, e)
		if sc.set.domainOK(d, defanged, afterSlashes && ds == s) {
			sc.set.add(kDomain, d, defanged, sc.source)
		}
	}
}

func isLowerWord(b []byte) bool {
	for _, c := range b {
		if c < 'a' || c > 'z' {
			return false
		}
	}
	return true
}
