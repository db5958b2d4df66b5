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
// The extractor lives in files by concern: ioc.go (the IOC set and its
// dedupe), ioc_scan.go (anchors, tokens, joins), ioc_defang.go (refanging),
// ioc_url.go, ioc_email.go, ioc_domain.go, ioc_ip.go and ioc_hash.go (one
// finder each) and ioc_chars.go (character classes).
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
