package core

import (
	"net/netip"
	"strings"
	"testing"

	"golang.org/x/net/publicsuffix"
)

// FuzzExtractIOCs checks that extraction never panics and that every IOC it
// reports re-validates on its own: domains end in an ICANN TLD, addresses
// parse, hashes have the right length, URLs have a valid host, values are
// refanged (Refang is a no-op on them) and unique. It also checks that
// Refang is idempotent on the input.
func FuzzExtractIOCs(f *testing.F) {
	for _, s := range []string{
		svURLSchemesBody,
		"hxxp://evil[.]example(.)com/path?a=1&amp;b=2) user[@]bad[.]org 1[.]2[.]3[.]4 evil dot example dot com",
		"from mail.example.com ([IPv6:2001:db8::1]) by mx.google.com (192.168.1.10) at 12:30:45; report.pdf",
		"d41d8cd98f00b204e9800998ecf8427e da39a3ee5e6b4b0d3255bfef95601890afd80709 ::ffff:1.2.3.4",
		"(see https://en.wikipedia.org/wiki/Foo_(bar)) <http://x.com/a>, 'http://[::1]:80/q?x=1'. done.Thanks",
		"user (at) example [dot] org std::string addr:fe80::1 http://u:p@h.example.com:8080/x#y",
		"\\.\\[.]\\(dot)[[.]]hxxp[:]//a[://]b h**ps://x.y fxp://z.zip www.q.mov",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		iocs := ExtractIOCs(data, "fuzz")
		seen := make(map[string]bool, len(iocs))
		for _, i := range iocs {
			key := i.Type + " " + i.Value
			if seen[key] {
				t.Errorf("duplicate IOC %s", key)
			}
			seen[key] = true
			if i.Source != "fuzz" || i.Sources != nil {
				t.Errorf("%s: source %q sources %q", key, i.Source, i.Sources)
			}
			if i.Value == "" {
				t.Errorf("empty %s value", i.Type)
				continue
			}
			for j := 0; j < len(i.Value); j++ {
				if c := i.Value[j]; c <= ' ' || c >= 0x7f {
					t.Errorf("%s: byte %#x in value", key, c)
					break
				}
			}
			if r := Refang(i.Value); r != i.Value {
				t.Errorf("%s: Refang changes the value to %q", key, r)
			}
			if err := checkIOC(i); err != "" {
				t.Errorf("%s: %s", key, err)
			}
		}
		r := Refang(string(data))
		if r2 := Refang(r); r2 != r {
			t.Errorf("Refang not idempotent: %q -> %q -> %q", data, r, r2)
		}
	})
}

// checkIOC re-validates one IOC independently of the extractor's own path
// (net/netip, the public suffix list); "" means valid.
func checkIOC(i IOC) string {
	v := i.Value
	switch i.Type {
	case IOCDomain:
		return checkDomain(v)
	case IOCIPv4:
		a, err := netip.ParseAddr(v)
		if err != nil || !a.Is4() || a.String() != v {
			return "not a canonical IPv4 address"
		}
	case IOCIPv6:
		a, err := netip.ParseAddr(v)
		if err != nil || !a.Is6() || a.String() != v {
			return "not a canonical IPv6 address"
		}
	case IOCEmail:
		at := strings.LastIndexByte(v, '@')
		if at <= 0 {
			return "no local part"
		}
		if len(v)-at-1 > 253 || at > 64 {
			return "too long"
		}
		return checkDomain(v[at+1:])
	case IOCURL:
		p := strings.Index(v, "://")
		if p < 0 {
			return "no ://"
		}
		switch v[:p] {
		case "http", "https", "ftp", "ftps", "sftp":
		default:
			return "scheme " + v[:p]
		}
		auth := v[p+3:]
		if k := strings.IndexAny(auth, "/?#"); k >= 0 {
			auth = auth[:k]
		}
		if k := strings.LastIndexByte(auth, '@'); k >= 0 {
			auth = auth[k+1:]
		}
		if strings.HasPrefix(auth, "[") {
			k := strings.IndexByte(auth, ']')
			if k < 0 {
				return "unterminated IPv6 host"
			}
			if a, err := netip.ParseAddr(auth[1:k]); err != nil || !a.Is6() {
				return "bad IPv6 host"
			}
			return ""
		}
		if k := strings.IndexByte(auth, ':'); k >= 0 {
			auth = auth[:k]
		}
		auth = strings.TrimSuffix(auth, ".")
		if a, err := netip.ParseAddr(auth); err == nil && a.Is4() {
			return ""
		}
		return checkDomain(auth)
	case IOCMD5, IOCSHA1, IOCSHA256, IOCSHA512:
		want := map[string]int{IOCMD5: 32, IOCSHA1: 40, IOCSHA256: 64, IOCSHA512: 128}[i.Type]
		if len(v) != want {
			return "wrong length"
		}
		for _, c := range v {
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
				return "not lower-case hex"
			}
		}
	default:
		return "unknown type"
	}
	return ""
}

func checkDomain(d string) string {
	if d != strings.ToLower(d) {
		return "not lower-case"
	}
	if len(d) > 253 {
		return "too long"
	}
	labels := strings.Split(d, ".")
	if len(labels) < 2 {
		return "single label"
	}
	for _, l := range labels {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return "bad label " + l
		}
		for _, c := range l {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return "bad label " + l
			}
		}
	}
	tld := labels[len(labels)-1]
	if ps, icann := publicsuffix.PublicSuffix(tld); !icann || ps != tld {
		return "no ICANN TLD"
	}
	if ps, icann := publicsuffix.PublicSuffix(d); icann && ps == d {
		return "is itself a public suffix"
	}
	return ""
}

// FuzzNeedsRefang: needsRefang, which skips brackets no pattern can start
// at, answers as trying every pattern length at every bracket does.
func FuzzNeedsRefang(f *testing.F) {
	for _, s := range []string{"evil[.]com", "a(DOT)b", "x{@}y", "rgb(0,0,0)", "h[:]//", "a\\.b", "(at)", "[", "[d", "(://)"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, tok []byte) {
		want := false
		for i, c := range tok {
			if c == '\\' && i+1 < len(tok) && tok[i+1] == '.' {
				want = true
			}
			if chClass[c]&chOpen == 0 {
				continue
			}
			for l := 3; l <= 6 && i+l <= len(tok); l++ {
				if pl, _ := bracketSuffix(tok[i : i+l]); pl == l {
					want = true
				}
			}
		}
		if got := needsRefang(tok); got != want {
			t.Fatalf("needsRefang(%q) = %v, want %v", tok, got, want)
		}
	})
}
