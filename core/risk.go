package core

// Risk reasons: why an email looks suspicious at a glance. Each reason is
// a Risk on the record (a stable code and its evidence) and its code is
// also one of the record's Flags, so `is:<code>` finds it. The checks read
// the record (attachments, addresses, the envelope and the server's
// reply) and the HTML body; each is bounded (maxRisk* below) and never
// fails: what cannot be read is not a reason.

import (
	"fmt"
	"net/mail"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/idna"
	"golang.org/x/net/publicsuffix"
)

// Risk is one reason the email looks suspicious: Code is stable (and a
// flag of the record), Evidence says what showed it. Evidence quotes
// mail text with Go's %q (control and bidi characters escaped); it is
// still mail text and is sanitized where it is drawn.
type Risk struct {
	Code     string `json:"code"`
	Evidence string `json:"evidence"`
}

// Risk codes.
const (
	// RiskDoubleExt: an attachment name that hides an executable or
	// script extension: "invoice.pdf.exe", "x.doc   .scr" (padding),
	// or bidi controls ("RTLO") that make the name display another
	// extension than its real one.
	RiskDoubleExt = "double_ext"
	// RiskDisguisedExe: content detected as an executable or script in
	// an attachment whose name has another extension.
	RiskDisguisedExe = "disguised_exe"
	// RiskTypeMismatch: the declared type (Content-Type, or the name's
	// extension) and the detected type are of different kinds
	// (executable, script, archive, PDF, office document, image, audio,
	// video, HTML); text/plain and application/octet-stream are never a
	// mismatch.
	RiskTypeMismatch = "type_mismatch"
	// RiskExeInArchive: an executable or script (detected, or by name)
	// inside a zip or TNEF container.
	RiskExeInArchive = "exe_in_archive"
	// RiskEncryptedArchive: a zip with encrypted members (also the flag
	// raised by unzip).
	RiskEncryptedArchive = "encrypted_archive"
	// RiskEncryptedOffice: a password-protected office document (an OLE
	// file holding an EncryptedPackage stream).
	RiskEncryptedOffice = "encrypted_office"
	// RiskVirusRefused: the server refused the message (5xx) with a
	// reply naming a virus, malware or an infection.
	RiskVirusRefused = "virus_refused"
	// RiskDisplayNameSpoof: the From display name names another domain
	// than the address's ("paypal.com <x@evil.example>").
	RiskDisplayNameSpoof = "display_name_spoof"
	// RiskReplyToMismatch: a Reply-To address in another registrable
	// domain than From's.
	RiskReplyToMismatch = "reply_to_mismatch"
	// RiskReturnPathMismatch: the envelope sender (MAIL FROM; for files,
	// the Return-Path header) in another registrable domain than From's.
	RiskReturnPathMismatch = "return_path_mismatch"
	// RiskLookalikeDomain: a domain in From, Reply-To or a link whose
	// labels mix Latin with Cyrillic or Greek, or are written entirely
	// in letters that look like Latin ones (punycode "xn--" labels are
	// decoded first).
	RiskLookalikeDomain = "lookalike_domain"
	// RiskLinkMismatch: an HTML link whose visible text shows another
	// host (registrable domain) than its href.
	RiskLinkMismatch = "link_mismatch"
)

// RiskCodes lists every risk code, in the order reasons are reported.
var RiskCodes = []string{
	RiskVirusRefused, RiskDoubleExt, RiskDisguisedExe, RiskExeInArchive, RiskEncryptedArchive,
	RiskEncryptedOffice, RiskTypeMismatch, RiskDisplayNameSpoof, RiskLookalikeDomain, RiskLinkMismatch,
	RiskReplyToMismatch, RiskReturnPathMismatch,
}

// Bounds of the risk checks.
const (
	maxRiskLinks    = 500     // HTML links examined (HTMLLinks)
	maxRiskNames    = 200     // attachments examined
	maxRiskDomains  = 200     // domains examined for lookalikes
	maxRiskEvidence = 3       // evidence items kept per reason (the rest counted)
	maxEvidenceText = 120     // bytes of one quoted value in evidence
	maxLinkText     = 256     // bytes of a link's visible text kept
	maxEncScan      = 8 << 20 // bytes of an OLE file searched for EncryptedPackage
)

// riskSet collects evidence per code.
type riskSet struct {
	ev   map[string][]string
	more map[string]int
}

func (s *riskSet) add(code, format string, args ...any) {
	if s.ev == nil {
		s.ev, s.more = map[string][]string{}, map[string]int{}
	}
	ev := fmt.Sprintf(format, args...)
	if slices.Contains(s.ev[code], ev) {
		return
	}
	if len(s.ev[code]) >= maxRiskEvidence {
		s.more[code]++
		return
	}
	s.ev[code] = append(s.ev[code], ev)
}

// apply replaces the record's risks of the given codes by the set's. A
// flag goes only with a risk it raised before: "encrypted_archive" is
// also raised by unzip, for members the checks may not reach.
func (s *riskSet) apply(e *Email, codes []string) {
	var dropped []string
	e.Risks = slices.DeleteFunc(e.Risks, func(r Risk) bool {
		if slices.Contains(codes, r.Code) {
			dropped = append(dropped, r.Code)
			return true
		}
		return false
	})
	e.Flags = slices.DeleteFunc(e.Flags, func(f string) bool { return slices.Contains(dropped, f) && len(s.ev[f]) == 0 })
	for _, code := range codes {
		ev := s.ev[code]
		if len(ev) == 0 {
			continue
		}
		text := strings.Join(ev, "; ")
		if n := s.more[code]; n > 0 {
			text += fmt.Sprintf("; and %d more", n)
		}
		e.Risks = append(e.Risks, Risk{Code: code, Evidence: text})
		e.Flags = appendUnique(e.Flags, code)
	}
	slices.SortStableFunc(e.Risks, func(a, b Risk) int {
		return slices.Index(RiskCodes, a.Code) - slices.Index(RiskCodes, b.Code)
	})
	if len(e.Risks) == 0 {
		e.Risks = nil
	}
}

// contentRiskCodes are the reasons read from the message itself.
var contentRiskCodes = []string{
	RiskDoubleExt, RiskDisguisedExe, RiskTypeMismatch, RiskExeInArchive, RiskEncryptedArchive,
	RiskEncryptedOffice, RiskDisplayNameSpoof, RiskReplyToMismatch, RiskLookalikeDomain, RiskLinkMismatch,
}

// envelopeRiskCodes are the reasons that depend on the SMTP transaction.
var envelopeRiskCodes = []string{RiskReturnPathMismatch, RiskVirusRefused}

// contentRisks sets the reasons read from the message: attachments,
// From, Reply-To, domains and the links of html.
func contentRisks(e *Email, html string) {
	var s riskSet
	for i := range e.Attachments {
		if i >= maxRiskNames {
			break
		}
		attachmentRisks(&s, &e.Attachments[i])
	}
	_, fromDom := addrDomain(e.From)
	fromName := displayName(e.From)
	var doms, kin []domainSeen // kin: compared with each other (lookalikeKin)
	if fromDom != "" {
		doms = append(doms, domainSeen{fromDom, "From"})
		kin = append(kin, domainSeen{addrDomainAsWritten(e.From), "From"})
	}
	if fromDom != "" && fromName != "" {
		spoofed := false
		for _, d := range namedDomains(fromName) {
			kin = append(kin, domainSeen{d, "display name"})
			if !spoofed && registrable(d) != registrable(fromDom) {
				spoofed = true
				s.add(RiskDisplayNameSpoof, "display name %s names %s, the address is in %s",
					quoteEv(fromName), quoteEv(d), evWord(fromDom))
			}
		}
	}
	for _, rt := range e.ReplyTo {
		addr, d := addrDomain(rt)
		if d == "" {
			continue
		}
		doms = append(doms, domainSeen{d, "Reply-To"})
		kin = append(kin, domainSeen{addrDomainAsWritten(rt), "Reply-To"})
		if fromDom != "" && registrable(d) != registrable(fromDom) {
			s.add(RiskReplyToMismatch, "Reply-To %s, From is in %s", quoteEv(addr), evWord(fromDom))
		}
	}
	links := HTMLLinks(html)
	for _, l := range links {
		if l.Mismatch {
			s.add(RiskLinkMismatch, "link text %s goes to %s", quoteEv(l.Text), quoteEv(l.Href))
		}
		if l.HrefHost != "" {
			doms = append(doms, domainSeen{l.HrefHost, "link"})
			kin = append(kin, domainSeen{l.HrefHost, "link"})
		}
		if l.TextHost != "" {
			kin = append(kin, domainSeen{l.TextHost, "link text"})
		}
	}
	lookalikeKin(&s, kin)
	for _, ioc := range e.IOCs {
		switch ioc.Type {
		case IOCDomain:
			doms = append(doms, domainSeen{ioc.Value, "domain in " + evWord(ioc.Source)})
		case IOCURL:
			if h := urlHost(ioc.Value); h != "" {
				doms = append(doms, domainSeen{h, "link in " + evWord(ioc.Source)})
			}
		}
	}
	seen := map[string]bool{}
	for _, d := range doms {
		host := strings.ToLower(d.domain)
		if seen[host] {
			continue
		}
		seen[host] = true
		if len(seen) > maxRiskDomains {
			break
		}
		if l, ok := Lookalike(host); ok {
			s.add(RiskLookalikeDomain, "%s %s", d.where, l)
		}
	}
	s.apply(e, contentRiskCodes)
}

type domainSeen struct{ domain, where string }

// lookalikeKin raises lookalike_domain for two registrable domains of
// one email that differ but look the same once their homoglyphs are
// folded (KinSkeleton): a Reply-To "aquiIlaindustries.com" (capital I)
// next to a display name's "aquillaindustries.com". At most
// maxRiskDomains domains are compared.
func lookalikeKin(s *riskSet, kin []domainSeen) {
	type first struct{ reg, shown, where string }
	bySkel := map[string]first{}
	for i, d := range kin {
		if i >= maxRiskDomains {
			break
		}
		reg := registrable(d.domain)
		if !strings.Contains(reg, ".") || len(reg) > 253 {
			continue
		}
		// The registrable part as written (case kept: "I" is not "l").
		labels := strings.Split(strings.TrimSuffix(d.domain, "."), ".")
		n := strings.Count(reg, ".") + 1
		if n > len(labels) {
			continue
		}
		shown := strings.Join(labels[len(labels)-n:], ".")
		if !strings.EqualFold(shown, reg) {
			continue
		}
		sk := KinSkeleton(shown)
		if f, ok := bySkel[sk]; !ok {
			bySkel[sk] = first{reg, shown, d.where}
		} else if f.reg != reg {
			s.add(RiskLookalikeDomain, "%s %s looks like %s %s", d.where, quoteEv(shown), f.where, quoteEv(f.shown))
		}
	}
}

// KinSkeleton is Skeleton with the ASCII look-alikes folded too, on the
// name as written: capital I and 1 as l, 0 as o, "rn" as m, "vv" as w.
func KinSkeleton(s string) string {
	s = strings.Map(func(r rune) rune {
		switch r {
		case 'I', '1':
			return 'l'
		case '0':
			return 'o'
		}
		return r
	}, s)
	s = Skeleton(s)
	return strings.ReplaceAll(strings.ReplaceAll(s, "rn", "m"), "vv", "w")
}

// envelopeRisks sets the reasons that depend on the transaction: the
// envelope sender against From (the Return-Path header for files) and a
// refusal that names a virus.
func envelopeRisks(e *Email) {
	var s riskSet
	_, fromDom := addrDomain(e.From)
	rp, rpWhere := e.Envelope.MailFrom, "MAIL FROM"
	if e.Session.UID == "" && rp == "" {
		if v := e.Headers["return-path"]; len(v) > 0 {
			rp, rpWhere = strings.Trim(strings.TrimSpace(v[0]), "<>"), "Return-Path"
		}
	}
	if _, d := addrDomain(rp); d != "" && fromDom != "" && registrable(d) != registrable(fromDom) {
		s.add(RiskReturnPathMismatch, "%s %s, From is in %s", rpWhere, quoteEv(rp), evWord(fromDom))
	}
	if r := e.ServerReply; r != nil && r.Code >= 500 && r.Code < 600 && virusText(r.Text) {
		s.add(RiskVirusRefused, "server replied %d %s", r.Code, quoteEv(r.Text))
	}
	s.apply(e, envelopeRiskCodes)
}

// virusText reports whether a server reply names a virus or malware.
func virusText(t string) bool {
	t = strings.ToLower(t)
	for _, w := range []string{"virus", "malware", "infected", "trojan", "malicious"} {
		if strings.Contains(t, w) {
			return true
		}
	}
	return false
}

// quoteEv quotes mail text for evidence: %q of at most maxEvidenceText
// bytes.
func quoteEv(s string) string {
	return fmt.Sprintf("%q", string(clipUTF8([]byte(s), maxEvidenceText)))
}

// Extensions by kind (lower case, no dot).
var (
	exeExts = setOf("exe", "scr", "com", "pif", "bat", "cmd", "vbs", "vbe", "js", "jse", "wsf", "wsh", "wsc",
		"hta", "ps1", "psm1", "msi", "msp", "jar", "lnk", "cpl", "dll", "reg", "scf", "sct", "vb", "gadget",
		"msc", "chm", "apk", "sh", "py", "pl", "elf", "appx", "msix", "iqy", "slk")
	docExts = setOf("pdf", "doc", "docx", "docm", "dot", "dotx", "xls", "xlsx", "xlsm", "xlsb", "ppt", "pptx",
		"pptm", "rtf", "txt", "odt", "ods", "odp", "csv", "jpg", "jpeg", "png", "gif", "bmp", "tif", "tiff",
		"htm", "html", "zip", "rar", "7z", "mp3", "mp4", "wav", "avi", "mov", "xml", "eml", "msg")
)

func setOf(v ...string) map[string]bool {
	m := make(map[string]bool, len(v))
	for _, s := range v {
		m[s] = true
	}
	return m
}

// exeTypes are detected types of executables; scriptTypes of scripts.
var (
	exeTypes = setOf("application/vnd.microsoft.portable-executable", "application/x-elf", "application/x-executable",
		"application/x-sharedlib", "application/x-mach-binary", "application/x-ms-installer", "application/java-archive",
		"application/x-ms-shortcut", "application/vnd.android.package-archive", "application/x-java-applet",
		"application/vnd.ms-htmlhelp")
	scriptTypes = setOf("text/javascript", "text/x-shellscript", "text/x-python", "text/x-perl", "text/x-php",
		"text/x-ruby", "text/x-lua", "text/x-tcl", "application/x-bytecode.python")
)

// bidiControls are the characters that reorder how a name is displayed.
func isBidiControl(r rune) bool {
	return r >= 0x202A && r <= 0x202E || r >= 0x2066 && r <= 0x2069 || r == 0x200E || r == 0x200F || r == 0x061C
}

// fileExt is the lower-cased extension of name without the dot, spaces
// around it and invisible (format) characters in it dropped: "pdf\u200b"
// is pdf.
func fileExt(name string) string {
	i := strings.LastIndexByte(name, '.')
	if i < 0 {
		return ""
	}
	ext := strings.Map(func(r rune) rune {
		if unicode.Is(unicode.Cf, r) {
			return -1
		}
		return r
	}, name[i+1:])
	return strings.ToLower(strings.TrimSpace(ext))
}

// DisplayedName is how a terminal or file manager that honours bidi
// controls shows name: the text after a right-to-left override (U+202E)
// or isolate (U+2067) up to its pop (or the end) reads reversed; the
// controls themselves are not shown. Approximate, as a lookalike check
// needs: nested embeddings are not modelled.
func DisplayedName(name string) string {
	var out []rune
	var rev []rune
	inRTL := false
	flush := func() {
		slices.Reverse(rev)
		out = append(out, rev...)
		rev = rev[:0]
	}
	for _, r := range name {
		switch {
		case r == 0x202E || r == 0x2067:
			if inRTL {
				flush()
			}
			inRTL = true
		case r == 0x202C || r == 0x2069:
			if inRTL {
				flush()
			}
			inRTL = false
		case isBidiControl(r):
		case inRTL:
			rev = append(rev, r)
		default:
			out = append(out, r)
		}
	}
	flush()
	return string(out)
}

// attachmentRisks checks one attachment's name and types.
func attachmentRisks(s *riskSet, a *Attachment) {
	name := a.Filename
	if name == "" {
		name = a.FilenameRaw
	}
	ext := fileExt(name)
	where := fmt.Sprintf("part %s %s", a.Part, quoteEv(name))
	if strings.Contains(a.Part, "!") { // an archive member: its path holds mail text
		where = fmt.Sprintf("%s in part %s", quoteEv(name), quoteEv(a.Parent))
	}
	if name != "" {
		if strings.ContainsFunc(name, isBidiControl) {
			shown := DisplayedName(name)
			if fileExt(shown) != ext {
				s.add(RiskDoubleExt, "%s displays as %s, real extension %s", where, quoteEv(shown), evWord("."+ext))
			} else {
				s.add(RiskDoubleExt, "%s holds bidi control characters", where)
			}
		} else if exeExts[ext] {
			stem := name[:strings.LastIndexByte(name, '.')]
			padded := strings.TrimRightFunc(stem, unicode.IsSpace) != stem || strings.Contains(stem, "   ")
			if prev := fileExt(stem); docExts[prev] || padded && prev != "" {
				s.add(RiskDoubleExt, "%s: %s hidden behind %s", where, evWord("."+ext), evWord("."+prev))
			}
		}
	}
	executable := exeTypes[a.DetectedType] || scriptTypes[a.DetectedType]
	if executable && name != "" && !exeExts[ext] {
		s.add(RiskDisguisedExe, "%s is %s", where, a.DetectedType)
	}
	if strings.Contains(a.Part, "!") && (executable || exeExts[ext]) {
		kind := a.DetectedType
		if !executable {
			kind = "named ." + ext
		}
		s.add(RiskExeInArchive, "%s (%s) in part %s", quoteEv(name), kind, quoteEv(a.Parent))
	}
	if a.Encrypted {
		if a.Disposition == "archive-member" {
			s.add(RiskEncryptedArchive, "%s is encrypted in part %s", quoteEv(name), quoteEv(a.Parent))
		} else if a.DetectedType != "application/zip" {
			s.add(RiskEncryptedOffice, "%s is a password-protected office document", where)
		}
	}
	detected := typeKind(a.DetectedType)
	if detected == "" {
		return
	}
	declared, how := typeKind(strings.ToLower(a.ContentType)), "declared "+evWord(a.ContentType)
	if declared == "" {
		declared, how = extKind(ext), "named ."+ext // a known extension
	}
	if declared != "" && declared != detected && !compatibleKinds(declared, detected) {
		s.add(RiskTypeMismatch, "%s %s, detected %s", where, how, a.DetectedType)
	}
}

// evWord is a value of mail text in evidence: as it is when it is a
// short plain word ("evil.example", ".exe", "application/pdf"), else
// quoted (quoteEv).
func evWord(v string) string {
	if len(v) > 64 || v == "" {
		return quoteEv(v)
	}
	for _, r := range v {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune(".-_@+/:", r)) {
			return quoteEv(v)
		}
	}
	return v
}

// typeKind is the kind of a media type for the mismatch check; "" for
// types that say nothing (text/plain, octet-stream, unknown).
func typeKind(t string) string {
	t, _, _ = strings.Cut(t, ";")
	t = strings.TrimSpace(t)
	switch {
	case exeTypes[t] || t == "application/x-msdownload" || t == "application/x-msdos-program" || t == "application/x-dosexec":
		return "executable"
	case scriptTypes[t] || t == "application/javascript" || t == "application/x-javascript" || t == "application/x-sh":
		return "script"
	case t == "application/pdf":
		return "pdf"
	case t == "application/zip" || t == "application/x-zip-compressed" || t == "application/x-rar-compressed" ||
		t == "application/vnd.rar" || t == "application/x-7z-compressed" || t == "application/gzip" ||
		t == "application/x-gzip" || t == "application/x-tar" || t == "application/x-bzip2" ||
		t == "application/x-xz" || t == "application/vnd.ms-cab-compressed":
		return "archive"
	case t == "application/msword" || t == "application/vnd.ms-excel" || t == "application/vnd.ms-powerpoint" ||
		t == "application/x-ole-storage" || t == "application/rtf" || t == "text/rtf" ||
		strings.HasPrefix(t, "application/vnd.openxmlformats-officedocument.") ||
		strings.HasPrefix(t, "application/vnd.ms-word") || strings.HasPrefix(t, "application/vnd.ms-excel") ||
		strings.HasPrefix(t, "application/vnd.ms-powerpoint") || strings.HasPrefix(t, "application/vnd.oasis.opendocument."):
		return "office"
	case t == "text/html" || t == "application/xhtml+xml":
		return "html"
	case strings.HasPrefix(t, "image/") && t != "image/svg+xml":
		return "image"
	case strings.HasPrefix(t, "audio/"):
		return "audio"
	case strings.HasPrefix(t, "video/"):
		return "video"
	}
	return ""
}

// extKind is the kind a name's extension declares.
func extKind(ext string) string {
	switch ext {
	case "exe", "scr", "com", "pif", "dll", "msi", "cpl", "lnk", "jar", "apk":
		return "executable"
	case "js", "jse", "vbs", "vbe", "wsf", "hta", "ps1", "bat", "cmd", "sh", "py", "pl":
		return "script"
	case "pdf":
		return "pdf"
	case "zip", "rar", "7z", "gz", "tgz", "tar", "bz2", "xz", "cab":
		return "archive"
	case "doc", "docx", "docm", "dot", "dotx", "xls", "xlsx", "xlsm", "xlsb", "ppt", "pptx", "pptm", "rtf", "odt", "ods", "odp":
		return "office"
	case "htm", "html":
		return "html"
	case "jpg", "jpeg", "png", "gif", "bmp", "tif", "tiff", "webp", "ico":
		return "image"
	case "mp3", "wav", "ogg", "m4a", "flac":
		return "audio"
	case "mp4", "avi", "mov", "mkv", "webm", "mpeg", "mpg":
		return "video"
	}
	return ""
}

// compatibleKinds: office documents are zip or OLE files, so an archive
// and an office document are not a meaningful mismatch; neither are a
// script and HTML (an .hta, a page full of script).
func compatibleKinds(a, b string) bool {
	pair := func(x, y string) bool { return a == x && b == y || a == y && b == x }
	return pair("office", "archive") || pair("script", "html")
}

// encryptedOffice reports whether an OLE file is a password-protected
// office document: it holds the "EncryptedPackage" stream (how Office
// writes an encrypted .docx/.xlsx/.pptx). Legacy .doc/.xls RC4
// encryption is not detected. Only the first maxEncScan bytes are
// searched.
func encryptedOffice(detected string, data []byte) bool {
	switch detected {
	case "application/x-ole-storage", "application/msword", "application/vnd.ms-excel", "application/vnd.ms-powerpoint":
	default:
		return false
	}
	if len(data) > maxEncScan {
		data = data[:maxEncScan]
	}
	return strings.Contains(string(data), encPackageUTF16)
}

var encPackageUTF16 = utf16le("EncryptedPackage")

func utf16le(s string) string {
	var b strings.Builder
	for _, r := range s {
		b.WriteRune(r)
		b.WriteByte(0)
	}
	return b.String()
}

// addrDomain parses an address (with or without a display name) and
// returns it and its lower-cased domain; "" when it does not parse.
func addrDomain(v string) (addr, domain string) {
	v = strings.TrimSpace(v)
	if v == "" {
		return "", ""
	}
	if a, err := mail.ParseAddress(v); err == nil {
		addr = a.Address
	} else if i, j := strings.LastIndexByte(v, '<'), strings.LastIndexByte(v, '>'); i >= 0 && j > i {
		addr = v[i+1 : j]
	} else {
		addr = v
	}
	at := strings.LastIndexByte(addr, '@')
	if at < 0 || at == len(addr)-1 {
		return addr, ""
	}
	return addr, strings.ToLower(strings.TrimRight(addr[at+1:], ". "))
}

// addrDomainAsWritten is addrDomain's domain with its case as written.
func addrDomainAsWritten(v string) string {
	addr, d := addrDomain(v)
	if d == "" {
		return ""
	}
	return strings.TrimRight(addr[strings.LastIndexByte(addr, '@')+1:], ". ")
}

// displayName returns the display name of an address header value, ""
// when there is none.
func displayName(v string) string {
	if a, err := mail.ParseAddress(strings.TrimSpace(v)); err == nil {
		return a.Name
	}
	if list, err := mail.ParseAddressList(v); err == nil || strings.Count(v, "<") != 1 {
		if len(list) == 1 {
			return list[0].Name
		}
		return "" // several addresses: no one display name
	}
	if i := strings.LastIndexByte(v, '<'); i > 0 {
		return strings.Trim(strings.TrimSpace(v[:i]), `"'`)
	}
	return ""
}

// namedDomains returns the domains a display name shows, as written: of
// the addresses in it ("service@paypal.com") and the host names
// ("paypal.com", "www.paypal.com") that end in a real public suffix.
func namedDomains(name string) []string {
	var out []string
	for _, f := range strings.FieldsFunc(name, func(r rune) bool {
		return unicode.IsSpace(r) || strings.ContainsRune(`"'()<>[],;:|`, r)
	}) {
		if i := strings.LastIndexByte(f, '@'); i >= 0 {
			f = f[i+1:]
		}
		f = strings.Trim(f, ".")
		if hostLike(strings.ToLower(f)) {
			out = append(out, f)
		}
		if len(out) >= 8 {
			break
		}
	}
	return out
}

// hostLike reports whether s is a host name with at least two labels
// that ends in an ICANN public suffix.
func hostLike(s string) bool {
	if len(s) > 253 || !strings.Contains(s, ".") || strings.Contains(s, "..") {
		return false
	}
	for _, r := range s {
		if !(r == '.' || r == '-' || r >= '0' && r <= '9' || unicode.IsLetter(r)) {
			return false
		}
	}
	ps, icann := publicsuffix.PublicSuffix(s)
	return icann && ps != s && !strings.HasSuffix(s, "."+ps+".") && registrable(s) != ""
}

// registrable is the registrable domain (eTLD+1) of a host, lower case;
// the host itself when it has none.
func registrable(host string) string {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	if d, err := publicsuffix.EffectiveTLDPlusOne(host); err == nil {
		return d
	}
	return host
}

// urlHost returns the host of an http(s) URL (or of a URL written
// without a scheme), lower case, without port or credentials.
func urlHost(u string) string {
	u = strings.TrimSpace(u)
	if i := strings.Index(u, "://"); i >= 0 {
		scheme := strings.ToLower(u[:i])
		if scheme != "http" && scheme != "https" && scheme != "hxxp" && scheme != "hxxps" {
			return ""
		}
		u = u[i+3:]
	}
	if i := strings.IndexAny(u, "/?#\\"); i >= 0 {
		u = u[:i]
	}
	if i := strings.LastIndexByte(u, '@'); i >= 0 {
		u = u[i+1:]
	}
	if strings.HasPrefix(u, "[") { // IPv6 literal
		return ""
	}
	if i := strings.LastIndexByte(u, ':'); i >= 0 {
		u = u[:i]
	}
	return strings.ToLower(strings.TrimSuffix(u, "."))
}

// Lookalike reports whether a domain looks like another: one of its
// labels (punycode decoded) mixes Latin letters with Cyrillic or Greek
// ones, or is written entirely in non-ASCII letters that look like Latin
// ones ("аррӏе", Cyrillic). The text says how it shows and what it
// imitates. Domains over 253 bytes are not examined.
func Lookalike(domain string) (string, bool) {
	if len(domain) > 253 || domain == "" {
		return "", false
	}
	shown := domain
	if strings.Contains(strings.ToLower(domain), "xn--") {
		u, err := idna.Punycode.ToUnicode(strings.ToLower(domain))
		if err != nil {
			return "", false
		}
		shown = u
	}
	if !utf8.ValidString(shown) {
		return "", false
	}
	var why string
	for label := range strings.SplitSeq(shown, ".") {
		var latin, cyr, greek, other, nonASCII, mapped int
		for _, r := range label {
			switch {
			case r < utf8.RuneSelf:
				if unicode.IsLetter(r) {
					latin++
				}
				continue
			case unicode.Is(unicode.Cyrillic, r):
				cyr++
			case unicode.Is(unicode.Greek, r):
				greek++
			case unicode.Is(unicode.Latin, r):
				latin++
			default:
				other++
			}
			nonASCII++
			if _, ok := confusables[r]; ok {
				mapped++
			}
		}
		switch {
		case nonASCII == 0:
		case latin > 0 && (cyr > 0 || greek > 0) || cyr > 0 && greek > 0:
			why = "mixes " + scriptNames(latin, cyr, greek) + " letters"
		case mapped == nonASCII && other == 0:
			why = "is written in letters that look like ASCII ones"
		}
		if why != "" {
			break
		}
	}
	if why == "" {
		return "", false
	}
	skel := Skeleton(shown)
	text := fmt.Sprintf("%s %s", quoteEv(domain), why)
	if shown != domain {
		text = fmt.Sprintf("%s shows as %s and %s", quoteEv(domain), quoteEv(shown), why)
	}
	if skel != shown {
		text += fmt.Sprintf(", like %s", quoteEv(skel))
	}
	return text, true
}

func scriptNames(latin, cyr, greek int) string {
	var n []string
	if latin > 0 {
		n = append(n, "Latin")
	}
	if cyr > 0 {
		n = append(n, "Cyrillic")
	}
	if greek > 0 {
		n = append(n, "Greek")
	}
	return strings.Join(n, "+")
}

// Skeleton maps the common homoglyphs of Latin letters to those letters
// (a small table of Unicode's confusables: Cyrillic, Greek, Latin
// lookalikes), lower-cased: two domains with the same skeleton look
// alike.
func Skeleton(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		if m, ok := confusables[r]; ok {
			b.WriteRune(m)
		} else {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// confusables: lower-case homoglyphs of Latin letters and digits.
var confusables = map[rune]rune{
	// Cyrillic
	'а': 'a', 'в': 'b', 'с': 'c', 'ԁ': 'd', 'е': 'e', 'ё': 'e', 'һ': 'h', 'і': 'i', 'ї': 'i', 'ј': 'j',
	'к': 'k', 'ӏ': 'l', 'м': 'm', 'н': 'h', 'о': 'o', 'р': 'p', 'ԛ': 'q', 'г': 'r', 'ѕ': 's', 'т': 't',
	'ц': 'u', 'ѵ': 'v', 'ԝ': 'w', 'х': 'x', 'у': 'y', 'з': '3', 'ь': 'b', 'п': 'n', 'ո': 'n', 'ɡ': 'g',
	// Greek
	'α': 'a', 'β': 'b', 'ε': 'e', 'η': 'n', 'ι': 'i', 'κ': 'k', 'ν': 'v', 'ο': 'o', 'ρ': 'p', 'τ': 't',
	'υ': 'u', 'χ': 'x', 'γ': 'y', 'ϲ': 'c', 'ϳ': 'j', 'ω': 'w',
	// Latin lookalikes
	'ı': 'i', 'ɩ': 'i', 'ɑ': 'a', 'ǀ': 'l', 'ɪ': 'i', 'ʟ': 'l', 'ᴏ': 'o', 'ꮃ': 'w',
}
