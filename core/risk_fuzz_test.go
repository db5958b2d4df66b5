package core

import (
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzHTMLLinks: link extraction never panics on hostile markup, keeps
// its bounds, and a mismatch is only reported between two known hosts.
func FuzzHTMLLinks(f *testing.F) {
	for _, s := range []string{
		`<a href="http://evil.example/">https://www.paypal.com</a>`,
		`<A HREF='x'>www.a.example.org<a href="https://b.example.net">c.example.com</a>`,
		`<a href="http://[::1]:80/">x</a><a href=http://u:p@h.example.com:8080/>h.example.com</a>`,
		"<a href=\"https://xn--pypal-4ve.com\">\u202ewww.x.com</a><!-- <a href=\"y\"> --><script><a href=z></script>",
		`<a href="&#104;ttp://e.example/">&#119;ww.b.example.org</a></a></a><a`,
		"<A\fhref=x>y</a>", "<a/href=x>y</a>", "<a\x00 href=x>y</a>", "<abbr href=x>y</abbr>", "<\na href=x>y</a>", "<a",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, doc string) {
		links := HTMLLinks(doc)
		// The check that skips documents without an <a> tag never
		// changes the result.
		if full := htmlLinks(doc); !slices.Equal(links, full) {
			t.Fatalf("HTMLLinks %+v, the tokenizer alone %+v (mayHaveLink %v)", links, full, mayHaveLink(doc))
		}
		if len(links) > maxRiskLinks {
			t.Fatalf("%d links", len(links))
		}
		for _, l := range links {
			if len(l.Text) > maxLinkText || len(l.Href) > maxEvidenceText*8 {
				t.Errorf("unbounded link %d/%d bytes", len(l.Text), len(l.Href))
			}
			if l.Mismatch && (l.TextHost == "" || l.HrefHost == "" || registrable(l.TextHost) == registrable(l.HrefHost)) {
				t.Errorf("mismatch without two hosts: %+v", l)
			}
		}
	})
}

// FuzzLookalike: the lookalike check and the skeletons never panic, a
// domain that is plain ASCII without punycode labels is never a lookalike
// by its scripts, and folding a skeleton again changes nothing.
func FuzzLookalike(f *testing.F) {
	for _, s := range []string{"xn--pypal-4ve.com", "xn--80ak6aa92e.com", "gıthub.com", "xn--mnchen-3ya.de",
		"xn--.xn--", "a.xn--zz--", "example.com", "\xff.com", "ΡаураΙ.com"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, d string) {
		text, ok := Lookalike(d)
		if ok && text == "" {
			t.Error("lookalike without evidence")
		}
		if ok && !strings.Contains(strings.ToLower(d), "xn--") && isPlainASCII(d) {
			t.Errorf("ASCII domain %q reported: %s", d, text)
		}
		if s := Skeleton(d); utf8.ValidString(d) && !utf8.ValidString(s) {
			t.Errorf("skeleton of valid %q is invalid", d)
		}
		_ = DisplayedName(d)
		if k := KinSkeleton(d); utf8.ValidString(d) && KinSkeleton(k) != k {
			t.Errorf("KinSkeleton not idempotent: %q -> %q -> %q", d, k, KinSkeleton(k))
		}
	})
}

func isPlainASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// FuzzRiskRecord: on any message the reasons are well formed: known
// codes, each once, each a flag, with bounded evidence.
func FuzzRiskRecord(f *testing.F) {
	f.Add(riskMail([]string{`From: "paypal.com" <x@evil.example>`, "Reply-To: y@xn--pypal-4ve.com"},
		`<a href="http://evil.example/">www.paypal.com</a>`,
		riskAtt{"inv\u202efdp.exe", "application/pdf", peBytes}))
	f.Add(riskMail([]string{"From: a@b.example"}, "", riskAtt{"a.zip", "application/zip", []byte("PK\x03\x04junk")}))
	a := NewAnalyzer(DefaultOptions())
	f.Fuzz(func(t *testing.T, raw []byte) {
		e := a.AnalyzeBytes(raw)
		seen := map[string]bool{}
		for _, r := range e.Risks {
			if !slices.Contains(RiskCodes, r.Code) || seen[r.Code] || !slices.Contains(e.Flags, r.Code) {
				t.Errorf("risk %q: unknown, repeated or not a flag (flags %q)", r.Code, e.Flags)
			}
			seen[r.Code] = true
			// 3 quoted values of at most 120 bytes each, escaped (x4
			// at worst, "\xNN"), plus the words around them.
			if r.Evidence == "" || len(r.Evidence) > maxRiskEvidence*(3*(maxEvidenceText*4+2)+200)+32 {
				t.Errorf("risk %s: evidence of %d bytes", r.Code, len(r.Evidence))
			}
		}
	})
}
