package core

// URLs: allowed schemes, hosts, HTML entities and trailing punctuation.

import (
	"bytes"
	"net/netip"
)

// allowedScheme reports whether b (any case) is a scheme we report.
func allowedScheme(b []byte) bool {
	switch len(b) {
	case 3:
		return asciiEqualFold(b, "ftp")
	case 4:
		return asciiEqualFold(b, "http") || asciiEqualFold(b, "ftps") || asciiEqualFold(b, "sftp")
	case 5:
		return asciiEqualFold(b, "https")
	}
	return false
}

var urlStopEntities = [...]string{"&lt;", "&gt;", "&quot;", "&#39;", "&#34;", "&apos;", "&nbsp;"}

func entityAt(t []byte, i int) bool {
	for _, e := range urlStopEntities {
		if len(t)-i >= len(e) && asciiEqualFold(t[i:i+len(e)], e) {
			return true
		}
	}
	return false
}

// urls finds scheme://host... URLs.
func (sc *iocScanner) urls(t []byte, marks []bool) {
	count := 0
	// t[runFrom:runEnd] is a run of URL characters; stopped tells whether
	// it is known to end at runEnd. Nested URLs share the run, so it is
	// scanned once per token however many "://" it holds.
	runFrom, runEnd, stopped := -1, -1, false
	for off := 0; off < len(t) && count < maxURLsPerToken; {
		k := bytes.Index(t[off:], []byte("://"))
		if k < 0 {
			return
		}
		p := off + k
		off = p + 3
		ss := p
		for ss > 0 && p-ss <= 5 && chClass[t[ss-1]]&chAlpha != 0 {
			ss--
		}
		if ss > 0 && chClass[t[ss-1]]&chAlpha != 0 || !allowedScheme(t[ss:p]) {
			continue
		}
		as := p + 3
		if !(runFrom >= 0 && as >= runFrom && as <= runEnd) {
			runFrom, runEnd, stopped = as, as, false
		}
		for !stopped && runEnd-as < maxURLLen {
			if runEnd >= len(t) {
				stopped = true
				break
			}
			c := t[runEnd]
			if chClass[c]&chURL == 0 || (c == '&' && entityAt(t, runEnd)) {
				stopped = true
				break
			}
			runEnd++
		}
		end := runEnd
		tooLong := !stopped || end-as > maxURLLen
		if tooLong {
			end = as + maxURLLen
		}
		// Authority: up to the first '/', '?' or '#'.
		ae := as
		for ae < end && t[ae] != '/' && t[ae] != '?' && t[ae] != '#' {
			ae++
		}
		// Trailing punctuation may eat into a bare authority ("http://x.com.").
		// With a path, trimming waits until the host is known to be good:
		// it counts brackets over the whole URL, and invalid candidates
		// must stay cheap.
		hasPath := ae < end
		if !hasPath && !tooLong {
			end = trimURLEnd(t, ss, end)
			ae = end
		}
		if ae <= as {
			continue
		}
		hs := as
		if at := bytes.LastIndexByte(t[as:ae], '@'); at >= 0 {
			hs = as + at + 1
			sc.auth = append(sc.auth, [2]int{as, ae})
		}
		hostOK := false
		var he int
		var v6 netip.Addr
		if hs < ae && t[hs] == '[' {
			rb := bytes.IndexByte(t[hs:ae], ']')
			if rb < 0 {
				continue
			}
			he = hs + rb + 1
			a, err := netip.ParseAddr(string(t[hs+1 : he-1]))
			if err != nil || !a.Is6() || a.Zone() != "" {
				continue
			}
			v6, hostOK = a, true
		} else {
			he = hs
			for he < ae && t[he] != ':' {
				he++
			}
		}
		if he < ae { // port
			if t[he] != ':' || ae-he-1 > 5 {
				continue
			}
			bad := false
			for _, c := range t[he+1 : ae] {
				if c < '0' || c > '9' {
					bad = true
				}
			}
			if bad {
				continue
			}
		}
		defanged := anyMark(marks, ss, ae)
		// The host IOC lives in sc.host until the URL is added.
		hostTyp := kIPv6
		if hostOK {
			sc.host = v6.AppendTo(sc.host[:0])
		} else {
			h := t[hs:he]
			if len(h) > 0 && h[len(h)-1] == '.' {
				h = h[:len(h)-1]
			}
			if len(h) > 253 || len(h) == 0 {
				continue
			}
			sc.host = append(sc.host[:0], h...)
			lowerInPlace(sc.host)
			switch {
			case validIPv4(sc.host):
				hostTyp = kIPv4
			case sc.set.domainOK(sc.host, defanged, true):
				hostTyp = kDomain
			default:
				continue
			}
		}
		sc.hostStarts = append(sc.hostStarts, hs)
		count++
		if hasPath && !tooLong {
			end = trimURLEnd(t, ss, end)
		}
		if !tooLong {
			sc.addURL(t, ss, p, hs, he, end, defanged || anyMark(marks, ae, end))
		}
		sc.set.add(hostTyp, sc.host, defanged, sc.source)
	}
}

// addURL records the URL t[ss:end] whose scheme ends at p and whose host is
// t[hs:he]: scheme and host lower-cased, "&amp;" read as "&".
func (sc *iocScanner) addURL(t []byte, ss, p, hs, he, end int, defanged bool) {
	// Build the normalized URL: scheme and host lower-case.
	u := sc.tmp[:0]
	u = append(u, t[ss:p]...)
	lowerInPlace(u)
	u = append(u, t[p:hs]...)
	hostStartInU := len(u)
	u = append(u, t[hs:he]...)
	lowerInPlace(u[hostStartInU:])
	rest := t[he:end]
	for len(rest) > 0 {
		a := bytes.IndexByte(rest, '&')
		if a < 0 {
			u = append(u, rest...)
			break
		}
		u = append(u, rest[:a+1]...)
		rest = rest[a+1:]
		if len(rest) >= 4 && asciiEqualFold(rest[:4], "amp;") {
			rest = rest[4:]
		}
	}
	sc.tmp = u
	sc.set.add(kURL, u, defanged, sc.source)
}

// trimURLEnd drops trailing punctuation that ends a sentence rather than
// the URL starting at s and running to end; ')' and ']' go only when
// unbalanced.
func trimURLEnd(t []byte, s, end int) int {
	opens, closes, counted := 0, 0, false
	for end > s {
		c := t[end-1]
		switch c {
		case '.', ',', ';', ':', '!', '?', '*':
			end--
			continue
		case ')', ']':
			if !counted {
				for _, x := range t[s:end] {
					switch x {
					case '(', '[':
						opens++
					case ')', ']':
						closes++
					}
				}
				counted = true
			}
			if closes > opens {
				closes--
				end--
				continue
			}
		}
		break
	}
	return end
}
