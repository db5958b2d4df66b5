package core

import (
	"archive/zip"
	"bytes"
	"encoding/base64"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// riskAtt is one attachment of a crafted message.
type riskAtt struct {
	name, ctype string
	data        []byte
}

// riskMail builds a message with the given header lines, HTML body (""
// for none) and attachments.
func riskMail(headers []string, htmlBody string, atts ...riskAtt) []byte {
	var b bytes.Buffer
	for _, h := range headers {
		b.WriteString(h + "\r\n")
	}
	b.WriteString("MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"BND\"\r\n\r\n")
	b.WriteString("--BND\r\nContent-Type: text/plain\r\n\r\nhello\r\n")
	if htmlBody != "" {
		b.WriteString("--BND\r\nContent-Type: text/html; charset=utf-8\r\n\r\n" + htmlBody + "\r\n")
	}
	for _, a := range atts {
		fmt.Fprintf(&b, "--BND\r\nContent-Type: %s; name=\"%s\"\r\nContent-Disposition: attachment; filename=\"%s\"\r\nContent-Transfer-Encoding: base64\r\n\r\n%s\r\n",
			a.ctype, a.name, a.name, base64.StdEncoding.EncodeToString(a.data))
	}
	b.WriteString("--BND--\r\n")
	return b.Bytes()
}

var (
	peBytes  = append([]byte("MZ\x90\x00\x03\x00\x00\x00"), bytes.Repeat([]byte{0}, 120)...)
	pdfBytes = []byte("%PDF-1.4\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n")
	riskPNG  = []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00\x00")
)

const plainFrom = "From: Alice <alice@shop.example.com>"

func risksOf(t *testing.T, raw []byte) *Email {
	t.Helper()
	e := NewAnalyzer(DefaultOptions()).AnalyzeBytes(raw)
	for _, r := range e.Risks {
		if !slices.Contains(e.Flags, r.Code) {
			t.Errorf("risk %s is not a flag: %q", r.Code, e.Flags)
		}
		if r.Evidence == "" {
			t.Errorf("risk %s has no evidence", r.Code)
		}
	}
	return e
}

func riskCodes(e *Email) []string {
	var c []string
	for _, r := range e.Risks {
		c = append(c, r.Code)
	}
	return c
}

func evidence(e *Email, code string) string {
	for _, r := range e.Risks {
		if r.Code == code {
			return r.Evidence
		}
	}
	return ""
}

// TestRiskReasons: one crafted email per reason, with the evidence it
// must show, and a near miss for each that must not raise it.
func TestRiskReasons(t *testing.T) {
	zipWith := func(files map[string][]byte) []byte { return zipOf(t, files) }
	cases := []struct {
		name     string
		raw      []byte
		code     string
		want     bool
		evidence string // a substring of the evidence when want
	}{
		{"double ext", riskMail([]string{plainFrom}, "", riskAtt{"invoice.pdf.exe", "application/octet-stream", []byte("hello")}),
			RiskDoubleExt, true, `.exe hidden behind .pdf`},
		{"padded ext", riskMail([]string{plainFrom}, "", riskAtt{"x.doc      .scr", "application/octet-stream", []byte("hello")}),
			RiskDoubleExt, true, `.scr hidden behind .doc`},
		{"rtlo", riskMail([]string{plainFrom}, "", riskAtt{"invoice\u202efdp.exe", "application/octet-stream", []byte("hello")}),
			RiskDoubleExt, true, `displays as "invoiceexe.pdf", real extension .exe`},
		{"zero-width padded ext", riskMail([]string{plainFrom}, "", riskAtt{"inv\u200doice.pdf\u200b.exe", "application/octet-stream", []byte("hello")}),
			RiskDoubleExt, true, `.exe hidden behind .pdf`},
		{"plain exe is not double", riskMail([]string{plainFrom}, "", riskAtt{"setup.exe", "application/octet-stream", peBytes}),
			RiskDoubleExt, false, ""},
		{"dotted version is not double", riskMail([]string{plainFrom}, "", riskAtt{"report.v2.pdf", "application/pdf", pdfBytes}),
			RiskDoubleExt, false, ""},
		{"pe behind pdf name", riskMail([]string{plainFrom}, "", riskAtt{"invoice.pdf", "application/pdf", peBytes}),
			RiskDisguisedExe, true, `"invoice.pdf" is application/vnd.microsoft.portable-executable`},
		{"pe named exe is not disguised", riskMail([]string{plainFrom}, "", riskAtt{"setup.exe", "application/octet-stream", peBytes}),
			RiskDisguisedExe, false, ""},
		{"declared pdf is png", riskMail([]string{plainFrom}, "", riskAtt{"scan.pdf", "application/pdf", riskPNG}),
			RiskTypeMismatch, true, `declared application/pdf, detected image/png`},
		{"ext pdf is png", riskMail([]string{plainFrom}, "", riskAtt{"scan.pdf", "application/octet-stream", riskPNG}),
			RiskTypeMismatch, true, `named .pdf, detected image/png`},
		{"octet-stream text is no mismatch", riskMail([]string{plainFrom}, "", riskAtt{"notes.pdf", "application/octet-stream", []byte("just text\n")}),
			RiskTypeMismatch, false, ""},
		{"jpeg declared png is no mismatch", riskMail([]string{plainFrom}, "", riskAtt{"a.jpg", "image/jpeg", riskPNG}),
			RiskTypeMismatch, false, ""},
		{"exe in zip", riskMail([]string{plainFrom}, "", riskAtt{"docs.zip", "application/zip", zipWith(map[string][]byte{"readme.txt": []byte("hi"), "invoice.exe": peBytes})}),
			RiskExeInArchive, true, `"invoice.exe" (application/vnd.microsoft.portable-executable) in part "2"`},
		{"script name in zip", riskMail([]string{plainFrom}, "", riskAtt{"docs.zip", "application/zip", zipWith(map[string][]byte{"payment.js": []byte("var a = 1;")})}),
			RiskExeInArchive, true, `"payment.js" (named .js)`},
		{"documents in zip", riskMail([]string{plainFrom}, "", riskAtt{"docs.zip", "application/zip", zipWith(map[string][]byte{"a.pdf": pdfBytes, "b.txt": []byte("x")})}),
			RiskExeInArchive, false, ""},
		{"encrypted zip", riskMail([]string{plainFrom}, "", riskAtt{"locked.zip", "application/zip", encryptedZip(t)}),
			RiskEncryptedArchive, true, `"invoice.exe" is encrypted in part "2"`},
		{"plain zip", riskMail([]string{plainFrom}, "", riskAtt{"docs.zip", "application/zip", zipWith(map[string][]byte{"a.pdf": pdfBytes})}),
			RiskEncryptedArchive, false, ""},
		{"encrypted office", riskMail([]string{plainFrom}, "", riskAtt{"pay.xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", oleWith("EncryptedPackage")}),
			RiskEncryptedOffice, true, `"pay.xlsx" is a password-protected office document`},
		{"plain ole", riskMail([]string{plainFrom}, "", riskAtt{"old.doc", "application/msword", oleWith("WordDocument")}),
			RiskEncryptedOffice, false, ""},
		{"display name domain", riskMail([]string{`From: "paypal.com" <x@evil.example>`}, ""),
			RiskDisplayNameSpoof, true, `display name "paypal.com" names "paypal.com", the address is in evil.example`},
		{"display name address", riskMail([]string{`From: "service@paypal.com" <x@evil.example>`}, ""),
			RiskDisplayNameSpoof, true, `names "paypal.com"`},
		{"display name same domain", riskMail([]string{`From: "PayPal.com" <service@mail.paypal.com>`}, ""),
			RiskDisplayNameSpoof, false, ""},
		{"from list", riskMail([]string{`From: "Bob" <bob@a.example>, Carol <carol@b.example.org>`}, ""),
			RiskDisplayNameSpoof, false, ""},
		{"display name words", riskMail([]string{`From: "J. Smith, Inc." <j@smith.example>`}, ""),
			RiskDisplayNameSpoof, false, ""},
		{"reply-to elsewhere", riskMail([]string{plainFrom, "Reply-To: pay@collect.example.net"}, ""),
			RiskReplyToMismatch, true, `Reply-To "pay@collect.example.net", From is in shop.example.com`},
		{"reply-to same registrable domain", riskMail([]string{plainFrom, "Reply-To: help@support.example.com"}, ""),
			RiskReplyToMismatch, false, ""},
		{"return-path elsewhere", riskMail([]string{"Return-Path: <bounce@esp.example.org>", plainFrom}, ""),
			RiskReturnPathMismatch, true, `Return-Path "bounce@esp.example.org", From is in shop.example.com`},
		{"return-path same", riskMail([]string{"Return-Path: <bounce@shop.example.com>", plainFrom}, ""),
			RiskReturnPathMismatch, false, ""},
		{"punycode mixed script from", riskMail([]string{"From: PayPal <service@xn--pypal-4ve.com>"}, ""),
			RiskLookalikeDomain, true, `From "xn--pypal-4ve.com" shows as "pаypal.com" and mixes Latin+Cyrillic letters, like "paypal.com"`},
		{"whole-script cyrillic link", riskMail([]string{plainFrom}, `<a href="https://xn--80ak6aa92e.com/">apple</a>`),
			RiskLookalikeDomain, true, `shows as "аррӏе.com" and is written in letters that look like ASCII ones, like "apple.com"`},
		{"ascii homoglyph reply-to", riskMail([]string{`From: "purchasing@aquillaindustries.com" <x@ncs.example>`, "Reply-To: purchasing@aquiIlaindustries.com"}, ""),
			RiskLookalikeDomain, true, `Reply-To "aquiIlaindustries.com" looks like display name "aquillaindustries.com"`},
		{"rn for m in a link", riskMail([]string{"From: Bank <news@bankmodern-example.com>"}, `<a href="https://www.bankrnodern-example.com/">Sign in</a>`),
			RiskLookalikeDomain, true, `link "bankrnodern-example.com" looks like From "bankmodern-example.com"`},
		{"same domain in other case", riskMail([]string{"From: Shop <a@Shop.Example.com>", "Reply-To: b@shop.example.COM"}, `<a href="https://www.shop.example.com/">www.SHOP.example.com</a>`),
			RiskLookalikeDomain, false, ""},
		{"real idn is no lookalike", riskMail([]string{"From: Stadt <info@xn--mnchen-3ya.de>"}, `<a href="https://xn--mnchen-3ya.de/">München</a>`),
			RiskLookalikeDomain, false, ""},
		{"link text shows other host", riskMail([]string{plainFrom}, `<p>Log in at <a href="http://evil.example.net/login">https://www.paypal.com/signin</a></p>`),
			RiskLinkMismatch, true, `link text "https://www.paypal.com/signin" goes to "http://evil.example.net/login"`},
		{"link text same site", riskMail([]string{plainFrom}, `<a href="https://click.paypal.com/x?u=1">www.paypal.com</a> <a href="http://evil.example/">Click here</a> <a href="http://evil.example/">invoice.pdf</a>`),
			RiskLinkMismatch, false, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := risksOf(t, tc.raw)
			ev := evidence(e, tc.code)
			if got := ev != ""; got != tc.want {
				t.Fatalf("%s: got %v (risks %+v), want %v", tc.code, got, e.Risks, tc.want)
			}
			if tc.want && !strings.Contains(ev, tc.evidence) {
				t.Errorf("evidence %q does not say %q", ev, tc.evidence)
			}
		})
	}
}

// encryptedZip is a zip whose member "invoice.exe" has the encryption
// bit (PKWARE); its bytes are random, as a cipher's are.
func encryptedZip(t *testing.T) []byte {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	cipher := randomBytes(7, 12+300)
	rawMember(t, zw, &zip.FileHeader{Name: "invoice.exe", Method: zip.Deflate, Flags: 0x1,
		CRC32: 0xdeadbeef, CompressedSize64: uint64(len(cipher)), UncompressedSize64: 4096}, cipher)
	zw.Close()
	return buf.Bytes()
}

// oleWith is an OLE compound file header followed by a directory entry
// name (UTF-16LE), as Office writes a stream name.
func oleWith(stream string) []byte {
	b := []byte("\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1")
	b = append(b, make([]byte, 504)...)
	b = append(b, []byte(utf16le(stream))...)
	return append(b, make([]byte, 512)...)
}

// TestRiskSessionReasons: the envelope sender and the server's refusal
// come from the session, and replace what the headers said.
func TestRiskSessionReasons(t *testing.T) {
	msg := "Return-Path: <a@shop.example.com>\r\nFrom: Alice <alice@shop.example.com>\r\nSubject: s\r\n\r\nbody\r\n"
	session := func(mailFrom, reply string) string {
		return "10.0.0.1:49152/tcp\n1700000000\n> MAIL FROM:<" + mailFrom + ">\n< MAIL 250 ok\n> RCPT TO:<b@corp.example>\n< RCPT 250 ok\n> DATA\n< DATA 354 go\n" +
			strings.ReplaceAll(msg, "\r\n", "\n") + "> . .\n< . " + reply + "\n"
	}
	cases := []struct {
		mailFrom, reply string
		want            []string
	}{
		{"bounce@esp.example.org", "250 ok", []string{RiskReturnPathMismatch}},
		{"alice@shop.example.com", "554 5.7.1 Rejected: message infected with Eicar-Test-Signature", []string{RiskVirusRefused}},
		{"alice@shop.example.com", "554 5.7.1 spam score too high", nil},
		{"alice@shop.example.com", "451 4.7.1 virus scanner unavailable, try later", nil},
	}
	for _, tc := range cases {
		s, err := ParseSession(strings.NewReader(session(tc.mailFrom, tc.reply)), "CRISK", time.Unix(1700000000, 0))
		if err != nil {
			t.Fatal(err)
		}
		emails := NewAnalyzer(DefaultOptions()).SessionEmails(s)
		if len(emails) != 1 {
			t.Fatalf("%d emails", len(emails))
		}
		e := emails[0]
		if got := riskCodes(e); !slices.Equal(got, tc.want) {
			t.Errorf("%s / %s: risks %+v, want %q", tc.mailFrom, tc.reply, e.Risks, tc.want)
		}
		for _, c := range envelopeRiskCodes {
			if slices.Contains(e.Flags, c) != slices.Contains(tc.want, c) {
				t.Errorf("%s / %s: flags %q", tc.mailFrom, tc.reply, e.Flags)
			}
		}
	}
}

// TestRiskEvidenceBounded: a thousand bad attachment names give three
// pieces of evidence and a count, not a thousand.
func TestRiskEvidenceBounded(t *testing.T) {
	var atts []riskAtt
	for i := range 50 {
		atts = append(atts, riskAtt{fmt.Sprintf("inv%d.pdf.exe", i), "application/octet-stream", []byte("x")})
	}
	e := risksOf(t, riskMail([]string{plainFrom}, "", atts...))
	ev := evidence(e, RiskDoubleExt)
	if strings.Count(ev, "hidden behind") != maxRiskEvidence || !strings.HasSuffix(ev, "; and 47 more") {
		t.Errorf("evidence %q", ev)
	}
}

func TestHTMLLinks(t *testing.T) {
	doc := `<html><body><a href="https://evil.example/x">https://bank.example.com</a>
<a name="anchor">no href</a><A HREF='mailto:a@b.example'>a@b.example</A>
<a href="/relative">www.bank.example.com</a><a href="https://x.bank.example.com/">  www.Bank.example.com  </a>
<a href="http://evil.example/"><b>www.</b>other.example.org</a><a href="http://unclosed.example/">open`
	got := HTMLLinks(doc)
	want := []Link{
		{Text: "https://bank.example.com", Href: "https://evil.example/x", TextHost: "bank.example.com", HrefHost: "evil.example", Mismatch: true},
		{Text: "a@b.example", Href: "mailto:a@b.example"},
		{Text: "www.bank.example.com", Href: "/relative", TextHost: "www.bank.example.com"},
		{Text: "www.Bank.example.com", Href: "https://x.bank.example.com/", TextHost: "www.bank.example.com", HrefHost: "x.bank.example.com"},
		{Text: "www.other.example.org", Href: "http://evil.example/", TextHost: "www.other.example.org", HrefHost: "evil.example", Mismatch: true},
		{Text: "open", Href: "http://unclosed.example/", HrefHost: "unclosed.example"},
	}
	if !slices.Equal(got, want) {
		t.Errorf("links\n got %+v\nwant %+v", got, want)
	}
	many := strings.Repeat(`<a href="http://a.example/">b.example.org</a>`, maxRiskLinks+10)
	if n := len(HTMLLinks(many)); n != maxRiskLinks {
		t.Errorf("%d links, want the cap %d", n, maxRiskLinks)
	}
}

func TestLookalike(t *testing.T) {
	for _, tc := range []struct {
		domain string
		want   bool
	}{
		{"xn--pypal-4ve.com", true},      // Cyrillic а in paypal
		{"xn--80ak6aa92e.com", true},     // аррӏе, all Cyrillic
		{"gıthub.com", true},             // dotless i, Latin lookalike
		{"xn--mnchen-3ya.de", false},     // münchen
		{"xn--e1afmkfd.xn--p1ai", false}, // пример.рф: Cyrillic that does not look Latin
		{"example.com", false},
		{"xn--invalid-.com", false},
		{"", false},
	} {
		if _, got := Lookalike(tc.domain); got != tc.want {
			t.Errorf("Lookalike(%q) = %v, want %v", tc.domain, got, tc.want)
		}
	}
	if s := Skeleton("Ρаураl"); s != "paypal" {
		t.Errorf("Skeleton = %q", s)
	}
	for a, b := range map[string]string{"aquiIla.com": "aquilla.com", "paypa1.com": "paypal.com", "g00gle.com": "google.com",
		"rnicrosoft.com": "microsoft.com", "vvells.com": "wells.com", "раураl.com": "paypal.com"} {
		if KinSkeleton(a) != KinSkeleton(b) {
			t.Errorf("KinSkeleton(%q) = %q, KinSkeleton(%q) = %q", a, KinSkeleton(a), b, KinSkeleton(b))
		}
	}
	if KinSkeleton("example.com") == KinSkeleton("examples.com") {
		t.Error("different names share a skeleton")
	}
}

func TestDisplayedName(t *testing.T) {
	for in, want := range map[string]string{
		"invoice\u202efdp.exe":      "invoiceexe.pdf",
		"a\u202ecod.\u202cexe":      "a.docexe",
		"plain.txt":                 "plain.txt",
		"x\u2067gpj.scr\u2069 done": "xrcs.jpg done",
	} {
		if got := DisplayedName(in); got != want {
			t.Errorf("DisplayedName(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestRiskCorpus runs the shared corpus: SpamScope's malspam samples
// must raise reasons (a meaningful fraction, and the executables in
// archives they carry), and the clean corpora (enmime's and the Ruby
// mail gem's test messages) must raise none of the strong ones.
func TestRiskCorpus(t *testing.T) {
	root := sharedDir(t, "corpus", "eml")
	a := NewAnalyzer(DefaultOptions())
	scan := func(dir string) (files, flagged int, codes map[string][]string) {
		codes = map[string][]string{}
		entries, err := filepath.Glob(filepath.Join(root, dir, "*"))
		if err != nil || len(entries) == 0 {
			t.Skipf("corpus folder %s not found under %s", dir, root)
		}
		for _, p := range walkFiles(t, filepath.Join(root, dir)) {
			raw, err := os.ReadFile(p)
			if err != nil || len(raw) == 0 {
				continue
			}
			files++
			e := a.AnalyzeBytes(raw)
			if len(e.Risks) > 0 {
				flagged++
			}
			for _, r := range e.Risks {
				codes[r.Code] = append(codes[r.Code], filepath.Base(p))
			}
		}
		return files, flagged, codes
	}
	files, flagged, codes := scan("spamscope-mail-parser")
	t.Logf("spamscope: %d of %d flagged: %v", flagged, files, codes)
	if flagged*4 < files {
		t.Errorf("only %d of %d SpamScope samples raise a reason", flagged, files)
	}
	if len(codes[RiskExeInArchive]) < 3 {
		t.Errorf("exe_in_archive on %q, want the 3+ samples that carry executables or scripts in archives", codes[RiskExeInArchive])
	}
	// mail_test_15's Reply-To is aquiIlaindustries.com (a capital I),
	// its display name aquillaindustries.com.
	if !slices.Contains(codes[RiskLookalikeDomain], "mail_test_15") {
		t.Errorf("lookalike_domain on %q, want mail_test_15", codes[RiskLookalikeDomain])
	}
	for _, dir := range []string{"enmime", "mikel-mail", "mimekit", "james-mime4j"} {
		_, _, codes := scan(dir)
		for _, strong := range []string{RiskDoubleExt, RiskExeInArchive, RiskDisguisedExe, RiskLookalikeDomain, RiskVirusRefused} {
			if len(codes[strong]) > 0 {
				t.Errorf("%s: clean messages raise %s: %q", dir, strong, codes[strong])
			}
		}
	}
}

// walkFiles lists the regular files under dir.
func walkFiles(t *testing.T, dir string) []string {
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			out = append(out, p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// BenchmarkRiskChecks is the cost of the risk checks alone (contentRisks
// and envelopeRisks) over the records of the shared corpus, per byte of
// message: compare with BenchmarkSharedCorpus for their share of the
// pipeline.
func BenchmarkRiskChecks(b *testing.B) {
	a := NewAnalyzer(DefaultOptions())
	var emails []*Email
	var total int64
	for _, f := range corpusFiles(b) {
		raw, err := os.ReadFile(f)
		if err != nil || len(raw) == 0 {
			continue
		}
		emails = append(emails, a.AnalyzeBytes(raw))
		total += int64(len(raw))
	}
	b.SetBytes(total)
	b.ResetTimer()
	for range b.N {
		for _, e := range emails {
			contentRisks(e, e.BodyHTML)
			envelopeRisks(e)
		}
	}
}

// TestRiskWithOmitBody: links are read from the HTML body even when the
// record leaves the bodies out.
func TestRiskWithOmitBody(t *testing.T) {
	opts := DefaultOptions()
	opts.OmitBody = true
	raw := riskMail([]string{plainFrom}, `<a href="http://evil.example.net/">https://www.paypal.com/</a>`)
	e := NewAnalyzer(opts).AnalyzeBytes(raw)
	if e.BodyHTML != "" || !e.BodyOmitted {
		t.Fatalf("body kept: %q", e.BodyHTML)
	}
	if evidence(e, RiskLinkMismatch) == "" {
		t.Errorf("risks %+v: no link_mismatch with omit_body", e.Risks)
	}
}

// TestRiskApplyKeepsOtherFlags: recomputing the reasons drops only the
// flags of reasons it raised before, never one another step raised.
func TestRiskApplyKeepsOtherFlags(t *testing.T) {
	e := &Email{Flags: []string{RiskEncryptedArchive, "bdat"}, Headers: map[string][]string{}}
	contentRisks(e, "") // no attachments reached: no evidence of encryption
	if !slices.Equal(e.Flags, []string{RiskEncryptedArchive, "bdat"}) {
		t.Errorf("flags %q", e.Flags)
	}
	e = risksOf(t, riskMail([]string{"Return-Path: <b@esp.example.org>", plainFrom}, ""))
	if evidence(e, RiskReturnPathMismatch) == "" {
		t.Fatalf("risks %+v", e.Risks)
	}
	e.Session.UID, e.Envelope.MailFrom = "C1", "a@shop.example.com" // the envelope agrees with From
	envelopeRisks(e)
	if len(e.Risks) != 0 || slices.Contains(e.Flags, RiskReturnPathMismatch) {
		t.Errorf("after the envelope: risks %+v flags %q", e.Risks, e.Flags)
	}
}

// TestRiskEvidenceQuotesMailText: values from mail that are not short
// plain words are quoted, escapes and all.
func TestRiskEvidenceQuotesMailText(t *testing.T) {
	e := risksOf(t, riskMail([]string{"From: \"paypal.com\" <x@evil\x1b[31m.example>"}, "",
		riskAtt{"a.pdf\x1b]52;c;x\x07   .exe", "application/pdf\x1b[2J", []byte("x")}))
	for _, r := range e.Risks {
		if strings.ContainsAny(r.Evidence, "\x1b\x07") {
			t.Errorf("%s: raw control characters in %q", r.Code, r.Evidence)
		}
	}
	if ev := evidence(e, RiskDoubleExt); !strings.Contains(ev, `.exe hidden behind ".pdf\x1b]52;c;x\a"`) {
		t.Errorf("double_ext evidence %q", ev)
	}
	if got := evWord("evil.example"); got != "evil.example" {
		t.Errorf("evWord plain = %q", got)
	}
	if got := evWord("a b"); got != `"a b"` {
		t.Errorf("evWord spaced = %q", got)
	}
}
