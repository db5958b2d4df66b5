package core

// IOC extraction: URLs, domains, IPv4/IPv6 addresses, e-mail addresses and
// MD5/SHA-1/SHA-256/SHA-512 hashes, in plain and defanged ("hxxp",
// "evil[.]com", "user(at)example[dot]com") forms.
//
// The extractor is a byte scanner, not a regexp over the whole text. One
// pass looks for anchor bytes ('.', ':', '@', '[', '(', '{', '\'); the
// stretches between anchors are only sampled, every 16th byte for hex runs
// long enough to be a hash and every 3rd byte for the word " dot ". Around
// each anchor it takes the token (cut at whitespace, quotes, angle
// brackets, control and non-ASCII bytes; joined across blanks for spaced
// defangs such as "example [dot] com") and examines it: refang when it
// holds a defanged pattern, then URLs, e-mail addresses, bare names and
// IPv4 addresses, IPv6 addresses and hashes. Every step is linear in the
// token, with fixed caps (URL length, URLs per token, label and name
// lengths), so the whole extraction is linear in the input, whatever the
// input is; regexps are not used at all.
//
// Decisions (documented here because analysts will ask):
//
//   - Domains must end in an ICANN top-level domain of the public suffix
//     list (golang.org/x/net/publicsuffix): "report.pdf", "image001.png",
//     "file.exe" and "version.txt" are not domains. A name that is itself an
//     ICANN public suffix ("co.uk") is not reported; private suffixes
//     ("duckdns.org", "github.io") are real registrable names and are.
//   - Some real TLDs are far more often file extensions: .zip .mov .py .md
//     .ps .sh .rs .pm .mo .so .cab .one .pub .run .java .data. A bare word
//     ending in one ("invoice.zip", "setup.py") is taken as a file name; it
//     is a domain only in a URL host, after '@', after "//", with a leading
//     "www." label, or when written defanged ("invoice[.]zip").
//   - A bare name whose last label is capitalized like a word while its
//     first label is not ("done.Thanks", "see.Next") is taken as prose run
//     together, not as a domain; "Amazon.Com" is a domain. URL hosts and
//     e-mail domains are not subject to this rule.
//   - The domain of every e-mail address and the host of every URL are
//     reported as domain (or ipv4/ipv6) IOCs too, with the same Defanged
//     flag as the address or URL they came from. Anything shaped like an
//     address is an e-mail IOC, Message-IDs included (as in stoQ); a name
//     after '@' without a valid local part ("@example.com") is a domain.
//   - Only labels of letters, digits and '-' count; a name with an invalid
//     leading label ("_dmarc.example.com", "foo_bar.example.com") yields its
//     longest valid suffix ("example.com"). Internationalized names are found
//     in their punycode (xn--) form only: non-ASCII bytes end tokens.
//   - IPv4: exactly four dotted decimal octets 0-255 without leading zeros,
//     not glued to letters, digits or further dots: "1.2.3.4.5", "v1.2.3.4"
//     and "010.1.1.1" yield nothing. "10.0.0.1-10.0.0.9" yields both ends.
//   - IPv6: validated by net/netip and reported in canonical form. To keep
//     clock times ("12:30:45"), C++ scopes ("std::string") and the like out,
//     the candidate must stand alone (no letter or digit glued to it), have
//     two or more non-empty groups, one of three or more hex digits:
//     "2001:db8::1" and "fe80::1" are found, "::1", "1::2", "a::b" and
//     "ae2::" are not. An IPv4-mapped address ("::ffff:192.0.2.1") yields
//     the IPv4 address too.
//   - Hashes: a hex run of exactly 32, 40, 64 or 128 characters with word
//     boundaries on both sides (letters, digits and '_' glue) is md5, sha1,
//     sha256 or sha512; a 40-character run is only ever sha1, and a run of
//     any other length is no hash at all (its 32-character prefix is not an
//     md5). The run must hold at least one digit and one letter a-f and must
//     not mix upper- and lower-case letters; hashes are reported lower-case.
//   - URLs need one of the schemes http, https, ftp, ftps, sftp (or a
//     defanged hxxp, hXXps, h**p, fxp...) and a host that is a valid domain,
//     IPv4 address or bracketed IPv6 address; "www.example.com/x" without
//     a scheme yields the domain only. Trailing punctuation that
//     closes a sentence is not part of the URL: . , ; : ! ? * ' and ) or ]
//     when unbalanced; HTML entities "&lt;" "&gt;" "&quot;" "&#39;" "&#34;"
//     "&apos;" "&nbsp;" end a URL and "&amp;" inside one reads as "&". The
//     scheme and host are lower-cased, the rest is kept as written. A URL
//     inside another URL's query (a redirector's target) is reported too,
//     up to 16 per token. A URL longer than 16 KiB is not reported (its
//     host is).
//   - Defanged forms: hxxp/hxxps/hXXp/h**p/fxp schemes, "[.]" "(.)" "{.}"
//     "[dot]" "(dot)" "{dot}", "[@]" "(@)" "{@}" "[at]" "(at)" "{at}", "[:]",
//     "[://]" and "\.". Bracketed dots and ats may have blanks around them
//     ("example [dot] com"). The bare word " dot " is read as a dot only
//     where that is unambiguous: in a run with at least two of them
//     ("evil dot example dot com") or in one that is already a host or
//     address in some other way ("www.evil dot com", "hxxp://evil dot com",
//     "user(at)evil dot com"); "a dot com" in prose is left alone. A bare
//     " at " is never read as '@'.
//   - Known noise: random-looking text with dots (uuencoded data, garbage)
//     can hold short names that happen to end in a real TLD ("58F.SD" ->
//     "58f.sd"); nothing short of decoding tells them from real names.
//   - Values are normalized: domains, hashes, e-mail domains, URL schemes
//     and hosts are lower-cased; e-mail local parts and URL paths are kept
//     as written. IOCs are deduplicated by (type, value).

import (
	"bytes"
	"net/netip"
	"strings"

	"golang.org/x/net/publicsuffix"
)

// DefaultIOCKeys returns the places IOCs are extracted from by default, as
// in stoQ's smtp plugin: the header fields that carry relay and client
// addresses, and the text and HTML bodies.
func DefaultIOCKeys() []string {
	return []string{"received", "x-orig-ip", "x-originating-ip", "x-remote-ip", "x-sender-ip", "body", "body_html"}
}

// ExtractIOCs returns the IOCs of one text, deduplicated, in first-seen
// order, each with the given source.
func ExtractIOCs(text []byte, source string) []IOC {
	s := NewIOCSet()
	s.Add(text, source)
	return s.List()
}

// IOCSet accumulates deduplicated IOCs (by type and value) from several
// sources, in first-seen order. It is not safe for concurrent use.
type IOCSet struct {
	index   map[string]int
	entries []iocEntry
	tlds    map[string]bool // last label -> is an ICANN TLD
	sc      iocScanner
	key     []byte
}

type iocEntry struct {
	typ    string
	value  string
	source string   // first source
	more   []string // further sources, in first-seen order
	plain  bool     // seen at least once in plain (not defanged) form
}

// NewIOCSet returns an empty set.
func NewIOCSet() *IOCSet {
	return &IOCSet{index: make(map[string]int, 64), tlds: make(map[string]bool, 16)}
}

// Add extracts the IOCs of text and adds them with the given source (for
// example "body", "body_html", "header:received").
func (s *IOCSet) Add(text []byte, source string) {
	s.sc.set = s
	s.sc.source = source
	s.sc.scan(text)
	s.sc.source = ""
}

// Len returns the number of distinct IOCs in the set.
func (s *IOCSet) Len() int { return len(s.entries) }

// List returns the IOCs in first-seen order. Source is the first place an
// IOC was found; Sources lists every place when there is more than one;
// Defanged is true when the IOC was only ever seen in defanged form.
func (s *IOCSet) List() []IOC {
	out := make([]IOC, len(s.entries))
	for i, e := range s.entries {
		out[i] = IOC{Type: e.typ, Value: e.value, Source: e.source, Defanged: !e.plain}
		if len(e.more) > 0 {
			out[i].Sources = append(append(make([]string, 0, 1+len(e.more)), e.source), e.more...)
		}
	}
	return out
}

// Type codes used as the first byte of the dedupe key.
const (
	kURL byte = iota
	kDomain
	kIPv4
	kIPv6
	kEmail
	kMD5
	kSHA1
	kSHA256
	kSHA512
)

var iocTypeNames = [...]string{
	kURL: IOCURL, kDomain: IOCDomain, kIPv4: IOCIPv4, kIPv6: IOCIPv6, kEmail: IOCEmail,
	kMD5: IOCMD5, kSHA1: IOCSHA1, kSHA256: IOCSHA256, kSHA512: IOCSHA512,
}

// lookup builds the dedupe key for (typ, value) in s.key and returns the
// index of the entry if it already exists. value is appended verbatim.
func (s *IOCSet) lookup(typ byte, value []byte) (int, bool) {
	s.key = append(s.key[:0], typ)
	s.key = append(s.key, value...)
	i, ok := s.index[string(s.key)]
	return i, ok
}

// record adds one occurrence. The key must have been built by lookup.
func (s *IOCSet) record(i int, found bool, typ byte, defanged bool, source string) {
	if !found {
		k := string(s.key) // one allocation: the key, and the value as its tail
		s.index[k] = len(s.entries)
		s.entries = append(s.entries, iocEntry{typ: iocTypeNames[typ], value: k[1:], source: source, plain: !defanged})
		return
	}
	e := &s.entries[i]
	if !defanged {
		e.plain = true
	}
	if e.source == source {
		return
	}
	for _, src := range e.more {
		if src == source {
			return
		}
	}
	e.more = append(e.more, source)
}

// add records an IOC whose value needs no further validation.
func (s *IOCSet) add(typ byte, value []byte, defanged bool, source string) {
	i, ok := s.lookup(typ, value)
	s.record(i, ok, typ, defanged, source)
}

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

// ---------------------------------------------------------------------------
// Character classes.

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

// ---------------------------------------------------------------------------
// Refanging.

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

// ---------------------------------------------------------------------------
// Scanner.

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

// innerDot reports whether tok has a '.' between two alphanumerics.
func innerDot(tok []byte) bool {
	for i := 1; i+1 < len(tok); i++ {
		if tok[i] == '.' && isAlnum(tok[i-1]) && isAlnum(tok[i+1]) {
			return true
		}
	}
	return false
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
