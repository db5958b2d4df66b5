package core

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// iocStrings renders IOCs as "type value" (with " defanged" when set), sorted.
func iocStrings(iocs []IOC) []string {
	out := make([]string, 0, len(iocs))
	for _, i := range iocs {
		s := i.Type + " " + i.Value
		if i.Defanged {
			s += " defanged"
		}
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

// checkExact asserts that text yields exactly want (order ignored).
func checkExact(t *testing.T, text string, want ...string) {
	t.Helper()
	got := iocStrings(ExtractIOCs([]byte(text), "body"))
	sort.Strings(want)
	if len(want) == 0 {
		want = []string{}
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ExtractIOCs(%q)\n got: %q\nwant: %q", text, got, want)
	}
}

func TestIOCTypes(t *testing.T) {
	cases := []struct {
		name, text string
		want       []string
	}{
		{"url with path", "see http://test-site.org/blah/123/ now",
			[]string{"url http://test-site.org/blah/123/", "domain test-site.org"}},
		{"https no path", "https://facebook.com", []string{"url https://facebook.com", "domain facebook.com"}},
		{"ftp ip host", "ftp://172.42.48.124 is also a link", []string{"url ftp://172.42.48.124", "ipv4 172.42.48.124"}},
		{"url port query fragment", "x https://Portal.Example.NET:8443/a/b?c=d&e=f#frag y",
			[]string{"url https://portal.example.net:8443/a/b?c=d&e=f#frag", "domain portal.example.net"}},
		{"url userinfo is no email", "ftp://user:pass@files.example.com/x",
			[]string{"url ftp://user:pass@files.example.com/x", "domain files.example.com"}},
		{"url ipv6 host", "http://[2001:db8::1]:8080/index",
			[]string{"url http://[2001:db8::1]:8080/index", "ipv6 2001:db8::1"}},
		{"url scheme case", "HTTPS://WWW.EXAMPLE.COM/Path", []string{"url https://www.example.com/Path", "domain www.example.com"}},
		{"bare domain", "visit example.com today", []string{"domain example.com"}},
		{"domain case and subdomain", "Mail.Corp-Example.CO.UK", []string{"domain mail.corp-example.co.uk"}},
		{"private suffix", "codashop-free01.duckdns.org", []string{"domain codashop-free01.duckdns.org"}},
		{"punycode", "xn--80ak6aa92e.com", []string{"domain xn--80ak6aa92e.com"}},
		{"ipv4", "from [192.0.2.1] by", []string{"ipv4 192.0.2.1"}},
		{"ipv4 sentence end", "the server is 10.0.0.1.", []string{"ipv4 10.0.0.1"}},
		{"ipv4 range", "10.0.0.1-10.0.0.9", []string{"ipv4 10.0.0.1", "ipv4 10.0.0.9"}},
		{"ipv4 cidr and port", "198.51.100.0/24 and 203.0.113.9:25", []string{"ipv4 198.51.100.0", "ipv4 203.0.113.9"}},
		{"ipv6 compressed", "client 2001:DB8:0:0:0:0:0:1 and fe80::1ff:fe23:4567:890a",
			[]string{"ipv6 2001:db8::1", "ipv6 fe80::1ff:fe23:4567:890a"}},
		{"ipv6 received", "from mail.example.com ([IPv6:2001:db8::25]) by", []string{"domain mail.example.com", "ipv6 2001:db8::25"}},
		{"ipv6 after label", "addr:2001:db8::7", []string{"ipv6 2001:db8::7"}},
		{"ipv6 prefix", "route 2001:db8:: via", []string{"ipv6 2001:db8::"}},
		{"ipv6 v4 mapped", "::ffff:192.0.2.128", []string{"ipv6 ::ffff:192.0.2.128", "ipv4 192.0.2.128"}},
		{"email", "write to Alice.Smith+tag@Example.COM please", []string{"email Alice.Smith+tag@example.com", "domain example.com"}},
		{"email in angle brackets", "From: Bob <bob@mail.example.org>", []string{"email bob@mail.example.org", "domain mail.example.org"}},
		{"mailto", `<a href="mailto:help@example.net">`, []string{"email help@example.net", "domain example.net"}},
		{"md5", "md5: D41D8CD98F00B204E9800998ECF8427E", []string{"md5 d41d8cd98f00b204e9800998ecf8427e"}},
		{"sha1", "sha1=da39a3ee5e6b4b0d3255bfef95601890afd80709", []string{"sha1 da39a3ee5e6b4b0d3255bfef95601890afd80709"}},
		{"sha256", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
			[]string{"sha256 e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"}},
		{"sha512", "hash " + strings.Repeat("cf83e1357eefb8bd", 8) + " end", []string{"sha512 " + strings.Repeat("cf83e1357eefb8bd", 8)}},
		{"hash in url path", "https://files.example.com/d/d41d8cd98f00b204e9800998ecf8427e/x",
			[]string{"url https://files.example.com/d/d41d8cd98f00b204e9800998ecf8427e/x", "domain files.example.com", "md5 d41d8cd98f00b204e9800998ecf8427e"}},
		{"redirector target", "https://r.example.com/?u=https://evil.example.net/x",
			[]string{"url https://r.example.com/?u=https://evil.example.net/x", "domain r.example.com",
				"url https://evil.example.net/x", "domain evil.example.net"}},
		{"html entities", "&lt;http://x.example.com/a?b=1&amp;c=2&gt;",
			[]string{"url http://x.example.com/a?b=1&c=2", "domain x.example.com"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { checkExact(t, c.text, c.want...) })
	}
}

func TestIOCDefanged(t *testing.T) {
	cases := []struct {
		name, text string
		want       []string
	}{
		{"hxxp and [.]", "hxxp://evil[.]example[.]com/x", []string{"url http://evil.example.com/x defanged", "domain evil.example.com defanged"}},
		{"hxxps", "hxxps://evil.example.com", []string{"url https://evil.example.com defanged", "domain evil.example.com defanged"}},
		{"hXXp", "hXXp://evil.example.com", []string{"url http://evil.example.com defanged", "domain evil.example.com defanged"}},
		{"h**p", "h**ps://evil.example.com/", []string{"url https://evil.example.com/ defanged", "domain evil.example.com defanged"}},
		{"fxp", "fxp://files.example.com/a", []string{"url ftp://files.example.com/a defanged", "domain files.example.com defanged"}},
		{"(.)", "evil(.)example(.)com", []string{"domain evil.example.com defanged"}},
		{"{.}", "evil{.}com", []string{"domain evil.com defanged"}},
		{"[dot]", "evil[dot]com", []string{"domain evil.com defanged"}},
		{"(DOT)", "evil(DOT)com", []string{"domain evil.com defanged"}},
		{"\\.", `evil\.example\.com`, []string{"domain evil.example.com defanged"}},
		{"spaced [dot]", "evil [dot] example [dot] com", []string{"domain evil.example.com defanged"}},
		{"spaced [.]", "evil [.] com", []string{"domain evil.com defanged"}},
		{"bare dot chain", "go to evil dot example dot com now", []string{"domain evil.example.com defanged"}},
		{"bare dot after scheme", "hxxp://evil dot com/x", []string{"url http://evil.com/x defanged", "domain evil.com defanged"}},
		{"bare dot with www", "www.evil dot com", []string{"domain www.evil.com defanged"}},
		{"[:]", "hxxp[:]//evil.example.com/", []string{"url http://evil.example.com/ defanged", "domain evil.example.com defanged"}},
		{"[://]", "http[://]evil.example.com/", []string{"url http://evil.example.com/ defanged", "domain evil.example.com defanged"}},
		{"[@]", "bad[@]evil.example.com", []string{"email bad@evil.example.com defanged", "domain evil.example.com defanged"}},
		{"(at) and (dot)", "bad(at)evil(dot)com", []string{"email bad@evil.com defanged", "domain evil.com defanged"}},
		{"spaced [at]", "bad [at] evil [dot] com", []string{"email bad@evil.com defanged", "domain evil.com defanged"}},
		{"ipv4 [.]", "1[.]2[.]3[.]4", []string{"ipv4 1.2.3.4 defanged"}},
		{"ipv4 in defanged url", "hxxp://198[.]51[.]100[.]7/gate.php", []string{"url http://198.51.100.7/gate.php defanged", "ipv4 198.51.100.7 defanged"}},
		{"filename tld defanged", "invoice[.]zip", []string{"domain invoice.zip defanged"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { checkExact(t, c.text, c.want...) })
	}
}

func TestIOCFalsePositives(t *testing.T) {
	cases := []struct {
		name, text string
		want       []string
	}{
		{"filenames", "see report.pdf, image001.png, file.exe and version.txt", nil},
		{"filename tlds", "open invoice.zip or clip.mov or setup.py or README.md", nil},
		{"filename tld as host", "https://invoice.zip/ and www.clip.mov and x@setup.py",
			[]string{"url https://invoice.zip/", "domain invoice.zip", "domain www.clip.mov", "email x@setup.py", "domain setup.py"}},
		{"version numbers", "version 1.2.3.4.5 and v1.2.3.4 and 2.0.1", nil},
		{"leading zeros", "010.1.1.1 and 1.2.3.04", nil},
		{"invalid octets", "999.1.1.1 and 1.2.3.256", nil},
		{"times", "at 12:30:45 and 2024-01-02T10:11:12Z, 10:00", nil},
		{"mac address", "00:1a:2b:3c:4d:5e", nil},
		{"scopes", "std::string Foo::Bar a::b 1::2 ::1 (AE2::", nil},
		{"40 hex is not md5", "da39a3ee5e6b4b0d3255bfef95601890afd80709", []string{"sha1 da39a3ee5e6b4b0d3255bfef95601890afd80709"}},
		{"50 hex is no hash", strings.Repeat("a1", 25), nil},
		{"hex glued to word", "x" + "d41d8cd98f00b204e9800998ecf8427e" + " and d41d8cd98f00b204e9800998ecf8427e_1", nil},
		{"all digits", strings.Repeat("1234567890", 3) + "12", nil},
		{"all letters", strings.Repeat("abcdef", 5) + "ab", nil},
		{"mixed case hex", "D41d8cd98f00b204e9800998ecf8427e", nil},
		{"prose run together", "done.Thanks for the help.Regards", nil},
		{"capitalized name", "Visit Amazon.Com", []string{"domain amazon.com"}},
		{"a dot com prose", "he got a dot com job", nil},
		{"unknown tld", "foo.bar.internal and host.local and x.y", nil},
		{"public suffix itself", "co.uk and com.au", nil},
		{"single label url", "http://localhost:8080/ and http://intranet/x", nil},
		{"bad scheme", "javascript://example.com and xhttp://example.com/", []string{"domain example.com"}},
		{"function call", "console.log(x); window.open(url)", nil},
		{"email local too long", strings.Repeat("a", 70) + "@example.com", []string{"domain example.com"}},
		{"handle", "follow @example.com and a.@example.org", []string{"domain example.com", "domain example.org"}},
		{"message id", "<CAF=abc123@mail.gmail.com>", []string{"email abc123@mail.gmail.com", "domain mail.gmail.com"}},
		{"numeric tld", "x12si1234567pgk.123.2021.01.01", nil},
		{"non-ascii ends tokens", "caf\xc3\xa9.com and \xff\xfeexample.com", []string{"domain example.com"}},
		{"underscore label dropped", "_dmarc.example.com", []string{"domain example.com"}},
		{"too long label", strings.Repeat("a", 64) + ".com", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { checkExact(t, c.text, c.want...) })
	}
}

func TestIOCTrailingPunctuation(t *testing.T) {
	cases := []struct{ text, url string }{
		{"Go to http://example.com/a.", "http://example.com/a"},
		{"Go to http://example.com/a, then", "http://example.com/a"},
		{"(see http://example.com/a)", "http://example.com/a"},
		{"(see https://en.wikipedia.org/wiki/Foo_(bar))", "https://en.wikipedia.org/wiki/Foo_(bar)"},
		{"<http://example.com/a>", "http://example.com/a"},
		{`"http://example.com/a"`, "http://example.com/a"},
		{"'http://example.com/a'", "http://example.com/a"},
		{"http://example.com/a?!", "http://example.com/a"},
		{"[http://example.com/a]", "http://example.com/a"},
		{"http://example.com.", "http://example.com"},
		{"http://example.com:", "http://example.com"},
		{"http://example.com/a;", "http://example.com/a"},
		{"http://example.com/a&nbsp;more", "http://example.com/a"},
		{"http://example.com/a&quot;", "http://example.com/a"},
	}
	for _, c := range cases {
		var urls []string
		for _, i := range ExtractIOCs([]byte(c.text), "body") {
			if i.Type == IOCURL {
				urls = append(urls, i.Value)
			}
		}
		if len(urls) != 1 || urls[0] != c.url {
			t.Errorf("%q: urls %q, want [%q]", c.text, urls, c.url)
		}
	}
}

func TestIOCSetDedupeAndSources(t *testing.T) {
	s := NewIOCSet()
	s.Add([]byte("from mx.example.com [192.0.2.1]"), "header:received")
	s.Add([]byte("visit http://MX.example.com/ and mx.example.com again, 192.0.2.1"), "body")
	s.Add([]byte("evil[.]example[.]net"), "body")
	s.Add([]byte(`<a href="http://mx.example.com/">x</a> evil.example.net`), "body_html")
	s.Add([]byte("only[.]defanged[.]org, only[.]defanged[.]org"), "body")
	got := s.List()
	want := []IOC{
		{Type: IOCDomain, Value: "mx.example.com", Source: "header:received", Sources: []string{"header:received", "body", "body_html"}},
		{Type: IOCIPv4, Value: "192.0.2.1", Source: "header:received", Sources: []string{"header:received", "body"}},
		{Type: IOCURL, Value: "http://mx.example.com/", Source: "body", Sources: []string{"body", "body_html"}},
		{Type: IOCDomain, Value: "evil.example.net", Source: "body", Sources: []string{"body", "body_html"}},
		{Type: IOCDomain, Value: "only.defanged.org", Source: "body", Defanged: true},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("List():\n got %+v\nwant %+v", got, want)
	}
	if s.Len() != len(want) {
		t.Errorf("Len() = %d, want %d", s.Len(), len(want))
	}
	// List returns copies: changing them does not change the set.
	got[0].Sources[0] = "changed"
	if s.List()[0].Sources[0] != "header:received" {
		t.Error("List shares its Sources slices with the set")
	}
}

func TestIOCEmailYieldsDomain(t *testing.T) {
	iocs := ExtractIOCs([]byte("reply to ceo@corp-example.com"), "body")
	if len(iocs) != 2 || iocs[0].Type != IOCEmail || iocs[1].Type != IOCDomain || iocs[1].Value != "corp-example.com" {
		t.Errorf("got %+v, want the email then its domain", iocs)
	}
}

// The message of suricata-verify's smtp-extract-url-schemes test, written
// out here (the pcap carries it as one DATA line).
const svURLSchemesBody = "This is the body of the message. http://google.com is a link. " +
	"http://test-site.org/blah/123/ is another one. https://facebook.com is also a link. " +
	"ftp://172.42.48.124 is also a link.\r\n"

// svExpectedURLs reads the email.url[N] values of a suricata-verify
// test.yaml in ../shared; it skips the test when the corpus is absent.
func svExpectedURLs(t *testing.T, test string) []string {
	t.Helper()
	p := filepath.Join("..", "..", "shared", "corpus", "pcap", "expected", "suricata-verify", test, "test.yaml")
	f, err := os.Open(p)
	if err != nil {
		t.Skipf("suricata-verify expectations not available (%v)", err)
	}
	defer f.Close()
	re := regexp.MustCompile(`email\.url\[\d+\]:\s*"([^"]*)"`)
	var urls []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if m := re.FindStringSubmatch(sc.Text()); m != nil {
			urls = append(urls, m[1])
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("reading %s: %v", p, err)
	}
	if len(urls) == 0 {
		t.Fatalf("%s: no email.url expectations found", p)
	}
	return urls
}

func urlValues(iocs []IOC) []string {
	var out []string
	for _, i := range iocs {
		if i.Type == IOCURL {
			out = append(out, i.Value)
		}
	}
	sort.Strings(out)
	return out
}

func TestIOCSuricataVerifyURLSchemes(t *testing.T) {
	want := []string{"ftp://172.42.48.124", "https://facebook.com", "http://test-site.org/blah/123/", "http://google.com"}
	got := urlValues(ExtractIOCs([]byte(svURLSchemesBody), "body"))
	sort.Strings(want)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("urls %q, want %q", got, want)
	}
	fromYAML := svExpectedURLs(t, "smtp-extract-url-schemes")
	sort.Strings(fromYAML)
	if !reflect.DeepEqual(got, fromYAML) {
		t.Errorf("urls %q, test.yaml expects %q", got, fromYAML)
	}
}

func TestIOCSuricataVerifyURLBase64(t *testing.T) {
	// The text/html body of suricata-verify's smtp-url-base64 message,
	// base64 as on the wire (first three lines).
	b64 := "IDxkaXY+IDxkaXY+IDxkaXY+IDxkaXY+PGRpdj5odHRwOi8vY29kYXNob3AtZnJlZTAxLmR1Y2tk" +
		"bnMub3JnLzwvZGl2PjxkaXY+PGJyPjwvZGl2PjxkaXYgaWQ9InNpZ24iPjxkaXYgY2xhc3M9Im0t" +
		"YWNjb3VudCI+NTU1NTU1NTU1NTU1NTU1PC9kaXY+PC9kaXY+PC9kaXY+PC9kaXY+PC9kaXY+PC9k"
	html, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		t.Fatal(err)
	}
	got := urlValues(ExtractIOCs(html, "body_html"))
	want := []string{"http://codashop-free01.duckdns.org/"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("urls %q, want %q", got, want)
	}
	if fromYAML := svExpectedURLs(t, "smtp-url-base64"); !reflect.DeepEqual(got, fromYAML) {
		t.Errorf("urls %q, test.yaml expects %q", got, fromYAML)
	}
}

func TestRefang(t *testing.T) {
	cases := []struct{ in, want string }{
		{"hxxp://evil[.]example(.)com", "http://evil.example.com"},
		{"hXXps[:]//evil[dot]com/a", "https://evil.com/a"},
		{"fxp://files{.}example{.}org", "ftp://files.example.org"},
		{"http[://]example[.]com", "http://example.com"},
		{"user[@]example[.]com", "user@example.com"},
		{"user (at) example [dot] com", "user@example.com"},
		{"user[AT]example(DOT)com", "user@example.com"},
		{`example\.com`, "example.com"},
		{"1[.]2[.]3[.]4", "1.2.3.4"},
		{"[[.]]", "."},
		{"plain text, nothing to do: 12:30", "plain text, nothing to do: 12:30"},
		{"evil dot com", "evil dot com"}, // bare "dot" is ambiguous in free text
		{"xhxxp://a", "xhxxp://a"},       // not a scheme on its own
		{"hxxp:evil", "hxxp:evil"},       // a scheme needs "://"
		{"(see) [x] {y}", "(see) [x] {y}"},
	}
	for _, c := range cases {
		if got := Refang(c.in); got != c.want {
			t.Errorf("Refang(%q) = %q, want %q", c.in, got, c.want)
		}
		if got := Refang(Refang(c.in)); got != Refang(c.in) {
			t.Errorf("Refang not idempotent on %q: %q then %q", c.in, Refang(c.in), got)
		}
	}
}

func TestDefaultIOCKeys(t *testing.T) {
	want := []string{"received", "x-orig-ip", "x-originating-ip", "x-remote-ip", "x-sender-ip", "body", "body_html"}
	if got := DefaultIOCKeys(); !reflect.DeepEqual(got, want) {
		t.Errorf("DefaultIOCKeys() = %q, want %q", got, want)
	}
}

// TestIOCHostileInput checks that huge, binary and pathological inputs are
// handled (no panic, bounded output); the fuzz target covers the rest.
func TestIOCHostileInput(t *testing.T) {
	inputs := hostileIOCInputs()
	for name, in := range inputs {
		t.Run(name, func(t *testing.T) {
			iocs := ExtractIOCs(in, "body")
			total := 0
			for _, i := range iocs {
				total += len(i.Value)
			}
			if total > 4*len(in)+(1<<20) {
				t.Errorf("%d bytes of IOC values from %d bytes of input", total, len(in))
			}
		})
	}
	if n := len(ExtractIOCs(manyHosts(20000), "body")); n != 20000 {
		t.Errorf("many distinct hosts: %d IOCs, want 20000", n)
	}
}

func manyHosts(n int) []byte {
	var b bytes.Buffer
	for i := 0; i < n; i++ {
		b.WriteString("h")
		b.WriteString(strings.Repeat("x", i%7))
		b.WriteString(itoa(i))
		b.WriteString(".example.com ")
	}
	return b.Bytes()
}

func itoa(i int) string {
	if i == 0 {
		return "0"
	}
	var d []byte
	for ; i > 0; i /= 10 {
		d = append([]byte{byte('0' + i%10)}, d...)
	}
	return string(d)
}

// TestIOCFixtures runs the extractor over realistic bodies in
// testdata/ioc and compares with the hand-checked lists beside them
// (<file>.want: "type value [defanged]" per line, in first-seen order).
func TestIOCFixtures(t *testing.T) {
	wants, err := filepath.Glob(filepath.Join("testdata", "ioc", "*.want"))
	if err != nil || len(wants) == 0 {
		t.Fatalf("no fixtures in testdata/ioc (%v)", err)
	}
	for _, w := range wants {
		input := strings.TrimSuffix(w, ".want")
		t.Run(filepath.Base(input), func(t *testing.T) {
			text, err := os.ReadFile(input)
			if err != nil {
				t.Fatal(err)
			}
			wb, err := os.ReadFile(w)
			if err != nil {
				t.Fatal(err)
			}
			want := strings.Split(strings.TrimSpace(string(wb)), "\n")
			var got []string
			for _, i := range ExtractIOCs(text, "body") {
				s := i.Type + " " + i.Value
				if i.Defanged {
					s += " defanged"
				}
				got = append(got, s)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("%s:\n got %q\nwant %q", input, got, want)
			}
		})
	}
}

func TestIOCEmptyResults(t *testing.T) {
	for _, in := range []string{"", "nothing to see here.", "\x00\xff\xfe"} {
		got := ExtractIOCs([]byte(in), "body")
		if got == nil || len(got) != 0 {
			t.Errorf("ExtractIOCs(%q) = %#v, want an empty non-nil slice (JSON [])", in, got)
		}
	}
	if l := NewIOCSet().List(); l == nil || len(l) != 0 {
		t.Errorf("empty set List() = %#v, want an empty non-nil slice", l)
	}
}
