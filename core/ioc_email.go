package core

// E-mail addresses.

import (
	"bytes"
)

// emails finds local@domain addresses.
func (sc *iocScanner) emails(t []byte, marks []bool) {
	ai := 0 // URL authorities are disjoint and in order
	for off := 0; off < len(t); {
		k := bytes.IndexByte(t[off:], '@')
		if k < 0 {
			return
		}
		p := off + k
		off = p + 1
		for ai < len(sc.auth) && sc.auth[ai][1] <= p {
			ai++
		}
		if ai < len(sc.auth) && p >= sc.auth[ai][0] {
			continue // userinfo of a URL
		}
		de := p + 1
		for de < len(t) && de-p <= 254 && chClass[t[de]]&chRun != 0 {
			de++
		}
		for de > p+1 && (t[de-1] == '.' || t[de-1] == '-') {
			de--
		}
		if de-p-1 > 253 || de-p-1 < 3 {
			continue
		}
		ls := p
		for ls > 0 && p-ls <= 64 && chClass[t[ls-1]]&chLocal != 0 {
			ls--
		}
		localOK := p-ls <= 64
		for ls < p && (t[ls] == '.' || t[ls] == '-' || t[ls] == '+') {
			ls++
		}
		if ls == p || t[p-1] == '.' || bytes.Contains(t[ls:p], []byte("..")) {
			localOK = false
		}
		dom := append(sc.tmp[:0], t[p+1:de]...)
		lowerInPlace(dom)
		sc.tmp = dom
		defanged := anyMark(marks, ls, de)
		if !sc.set.domainOK(dom, defanged, true) {
			continue
		}
		if !localOK {
			// "@example.com" or an overlong local part: the domain only.
			sc.set.add(kDomain, dom, anyMark(marks, p, de), sc.source)
			continue
		}
		e := append(sc.host[:0], t[ls:p+1]...)
		e = append(e, dom...)
		sc.host = e
		sc.set.add(kEmail, e, defanged, sc.source)
		sc.set.add(kDomain, dom, defanged, sc.source)
	}
}
