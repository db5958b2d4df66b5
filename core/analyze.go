package core

import (
	"bytes"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"mime"
	"mime/quotedprintable"
	"net/mail"
	"os"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gabriel-vasile/mimetype"
	"github.com/gogs/chardet"
	"github.com/jhillyerd/enmime/v2"
	"golang.org/x/net/html/charset"
	"golang.org/x/text/encoding"
)

// Scanner scans bytes for rule hits (YARA). *YaraRules implements it.
type Scanner interface {
	Scan(data []byte, timeout time.Duration) ([]YaraMatch, error)
}

// VarScanner is a Scanner that also sets YARA's external variables
// (YaraVars) for each scanned object; the analysis uses ScanVars when
// Options.Yara has it (*YaraRules and the collector's rule set do).
type VarScanner interface {
	ScanVars(data []byte, vars YaraVars, timeout time.Duration) ([]YaraMatch, error)
}

// yaraScan scans one object with its external variables when the
// scanner takes them.
func yaraScan(sc Scanner, data []byte, v YaraVars, timeout time.Duration) ([]YaraMatch, error) {
	if vs, ok := sc.(VarScanner); ok {
		return vs.ScanVars(data, v, timeout)
	}
	return sc.Scan(data, timeout)
}

// yaraMessagePath is the YARA filepath (and filename) of the email
// itself; its attachments' paths start with it.
const yaraMessagePath = "msg"

// Options configure the analysis; the zero value is not useful, start from
// DefaultOptions.
type Options struct {
	// OmitBody leaves body_text and body_html out of the record (stoQ's
	// omit_body); IOCs are still extracted from them.
	OmitBody bool
	// ExtractIOCs turns IOC extraction on (stoQ's extract_iocs).
	ExtractIOCs bool
	// IOCKeys names where IOCs come from: header names (lower case) and
	// "body", "body_html".
	IOCKeys []string
	// MaxDepth bounds the nesting of attached messages (and archives).
	MaxDepth int
	// Yara, when set, scans the whole email and every attachment.
	Yara        Scanner
	YaraTimeout time.Duration
	// Unzip lists and analyses the members of zip attachments (stoQ's
	// unzip/decompress worker), within ZipLimits.
	Unzip     bool
	ZipLimits ZipLimits
	// OnAttachment, when set, receives every attachment's decoded bytes
	// (for archiving); data is only valid during the call.
	OnAttachment func(a *Attachment, data []byte)
	// OnAttachmentMaxBytes caps the bytes handed to OnAttachment per
	// email, each distinct content (SHA-1) counted once; 0 or less: no
	// cap. An attachment that does not fit in what is left is not handed
	// over (smaller ones after it still are): it gets an error, the email
	// the flag "archive_limit".
	OnAttachmentMaxBytes int64

	// Limits (limits.go); zero means the Default* value.
	MaxHeaderValue  int           // bytes kept of one header value
	MaxHeaderFields int           // header fields kept
	MaxBodyBytes    int           // bytes kept of body_text, of body_html
	MaxParts        int           // MIME parts analysed per email
	MaxMIMEDepth    int           // multipart nesting analysed per message
	AnalysisTimeout time.Duration // per email; later steps are skipped
	// FuzzyMaxBytes bounds the email and attachment sizes that get
	// ssdeep and TLSH (DefaultFuzzyMaxBytes); 0: none get them.
	FuzzyMaxBytes int64
}

// DefaultOptions are stoQ's smtp plugin defaults: bodies kept, IOCs from
// the usual headers and both bodies, depth 10.
func DefaultOptions() Options {
	return Options{
		ExtractIOCs: true,
		IOCKeys:     DefaultIOCKeys(),
		MaxDepth:    10,
		YaraTimeout: DefaultYaraTimeout,
		Unzip:       true,
		ZipLimits:   DefaultZipLimits(),

		OnAttachmentMaxBytes: 256 << 20,
		MaxHeaderValue:       DefaultMaxHeaderValue,
		MaxHeaderFields:      DefaultMaxHeaderFields,
		MaxBodyBytes:         DefaultMaxBodyBytes,
		MaxParts:             DefaultMaxParts,
		MaxMIMEDepth:         DefaultMaxMIMEDepth,
		AnalysisTimeout:      DefaultAnalysisTimeout,
		FuzzyMaxBytes:        DefaultFuzzyMaxBytes,
	}
}

// Analyzer turns message bytes into Email records. It is safe for
// concurrent use.
type Analyzer struct {
	opts Options
	keys map[string]bool
	// readTree, when set, reads a message's MIME structure instead of
	// splitMIME (tests set it to enmime's part reader to compare).
	readTree func(w *walker, raw []byte, scan mimeScan, prefix string) *enmime.Part
}

// NewAnalyzer returns an Analyzer with the given options.
func NewAnalyzer(opts Options) *Analyzer {
	if opts.MaxDepth <= 0 {
		opts.MaxDepth = 10
	}
	opts = withLimitDefaults(opts)
	a := &Analyzer{
		opts: opts,
		keys: map[string]bool{},
	}
	for _, k := range opts.IOCKeys {
		a.keys[strings.ToLower(strings.TrimSpace(k))] = true
	}
	return a
}

// Options returns the analyzer's options.
func (a *Analyzer) Options() Options { return a.opts }

// SessionEmails analyses every message of a session: one record per
// message, whatever its state.
func (a *Analyzer) SessionEmails(s *Session) []*Email {
	out := make([]*Email, 0, len(s.Messages))
	var tried TriedEnvelope
	tried.MailFrom, tried.RcptTo = s.TriedWithoutEmail()
	for _, m := range s.Messages {
		e := a.AnalyzeBytes(m.Data)
		e.Session = s.Info
		e.SessionTried = &TriedEnvelope{MailFrom: tried.MailFrom, RcptTo: tried.RcptTo}
		e.NoSession = false
		e.Session.Anomalies = nil
		e.ID = fmt.Sprintf("%s.%d", s.Info.UID, m.Index)
		e.Index = m.Index
		e.Partial = m.Partial
		e.Envelope = m.Envelope
		e.ServerReply = m.Reply
		e.Flags = append(append([]string(nil), m.Flags...), e.Flags...)
		e.Errors = append(append([]string(nil), m.Errors...), e.Errors...)
		envelopeRisks(e)
		out = append(out, e)
	}
	return out
}

// AnalyzeFile reads a raw RFC 822 file and analyses it.
func (a *Analyzer) AnalyzeFile(path string) (*Email, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if len(raw) == 0 {
		return nil, fmt.Errorf("%s: empty file", path)
	}
	e := a.AnalyzeBytes(raw)
	e.Source = path
	return e, nil
}

// AnalyzeBytes analyses one message read without its SMTP session
// (NoSession; SessionEmails fills the session in). It never fails: what cannot be parsed
// is reported in the record's Errors.
func (a *Analyzer) AnalyzeBytes(raw []byte) (record *Email) {
	e := &Email{
		To: []string{}, Cc: []string{}, Headers: map[string][]string{},
		RawHeader: []HeaderField{}, Parts: []Part{}, Attachments: []Attachment{},
		IOCs: []IOC{}, Errors: []string{}, Envelope: Envelope{RcptTo: []string{}},
		NoSession: true, // SessionEmails says otherwise
	}
	e.Size = int64(len(raw))
	e.MD5, e.SHA1, e.SHA256 = hashes(raw)
	if int64(len(raw)) <= a.opts.FuzzyMaxBytes {
		e.SSDeep, e.TLSH = FuzzyHashes(raw)
	}
	e.ID = "eml-" + e.SHA256[:24]
	defer func() {
		if r := recover(); r != nil {
			// A parser bug must not lose the email: record it (and
			// return the record: a recovered panic returns the named
			// result, not the one the return statement never reached).
			e.Errors = append(e.Errors, fmt.Sprintf("analysis aborted: internal error: %v", r))
			record = e
		}
	}()

	w := &walker{a: a, e: e, partsLeft: a.opts.MaxParts, deadline: time.Now().Add(a.opts.AnalysisTimeout)}
	if a.opts.ExtractIOCs {
		w.iocs = NewIOCSet()
	}
	w.message(w.skipFromLine(raw), "", 0, -1)
	w.finishBodies()
	if a.opts.Yara != nil && !w.expired("the YARA scan of the email") {
		v := YaraVars{Filename: yaraMessagePath, Filepath: yaraMessagePath, Filetype: YaraFileType(raw), MD5: e.MD5}
		if m, err := yaraScan(a.opts.Yara, raw, v, a.opts.YaraTimeout); err != nil {
			e.Errors = append(e.Errors, "yara (email): "+err.Error())
		} else {
			e.YARA = m
		}
	}
	if w.iocs != nil {
		e.IOCs = w.iocs.List()
		if e.IOCs == nil {
			e.IOCs = []IOC{}
		}
	}
	if !w.expired("the risk checks") {
		contentRisks(e, w.bodyHTML.String())
	}
	envelopeRisks(e)
	return e
}

// finishBodies puts the bodies into the record (bounded), or marks them
// omitted.
func (w *walker) finishBodies() {
	if w.a.opts.OmitBody {
		w.e.BodyOmitted = true
		return
	}
	var t *Truncation
	if w.e.BodyText, t = w.bodyText.result("body_text"); t != nil {
		w.truncated(*t)
	}
	if w.e.BodyHTML, t = w.bodyHTML.result("body_html"); t != nil {
		w.truncated(*t)
	}
}

func hashes(b []byte) (string, string, string) {
	m := md5.Sum(b)
	s1 := sha1.Sum(b)
	s2 := sha256.Sum256(b)
	return hex.EncodeToString(m[:]), hex.EncodeToString(s1[:]), hex.EncodeToString(s2[:])
}

// walker walks one email and its attached messages.
type walker struct {
	a        *Analyzer
	e        *Email
	iocs     *IOCSet
	hitDepth bool
	zips     zipSpent    // the per-email zip limits used so far
	handed   handedBytes // what OnAttachment received
	bodyText bodyAcc
	bodyHTML bodyAcc
	// partsLeft is what remains of MaxParts for this email.
	partsLeft int
	deadline  time.Time
	stopped   bool // the deadline passed (expired)
	// yaraPaths maps the Part of each attachment recorded to its YARA
	// filepath, for the paths of what it contains.
	yaraPaths map[string]string
}

// message analyses a message (the email itself at depth 0, an attached
// message deeper). prefix is the part path of the attached message ("" for
// the email), owner the index of its part in the record (-1 for the
// email): where the anomalies of its header block go.
func (w *walker) message(raw []byte, prefix string, depth, owner int) {
	top := depth == 0
	hdrEnd := headerEnd(raw)
	if top {
		h := parseRawHeader(raw, w.a.opts.MaxHeaderValue, w.a.opts.MaxHeaderFields)
		for _, t := range h.cuts {
			w.truncated(t)
		}
		w.headers(h.fields)
		hdrEnd = h.body
	}
	w.note(owner, headerDefects(raw[:hdrEnd])...)
	scan := w.scanMIME(raw, prefix)
	for _, b := range scan.unclosed {
		w.errorf("mime%s: boundary %q was not closed", at(prefix), clipString(b, 80))
	}
	var root *enmime.Part
	if w.a.readTree != nil {
		root = w.a.readTree(w, raw, scan, prefix)
	} else {
		root = splitMIME(raw[:scan.cut], w.scanLimits())
	}
	var visit func(p *enmime.Part, path, parentType string, bounds []string)
	visit = func(p *enmime.Part, path, parentType string, bounds []string) {
		if p.ContentType == "" && parentType == "multipart/digest" && p.FirstChild == nil {
			// RFC 2046 5.1.5: the default in a digest, which enmime does
			// not apply (it leaves the type empty).
			p.ContentType = "message/rfc822"
		}
		for _, pe := range p.Errors {
			w.errorf("part %s: %s", path, pe.Error())
		}
		// A multipart keeps its body as content when it has no boundary
		// (boundary_missing) or its boundary never occurs (splitEntity):
		// it is then analysed as one leaf, never dropped.
		multipart := p.FirstChild != nil || strings.HasPrefix(p.ContentType, "multipart/") && p.Boundary != "" && p.Content == nil
		name, rawName := partFilename(p)
		info := Part{
			Part: path, ContentType: p.ContentType, Charset: p.Charset,
			Encoding:    strings.ToLower(strings.TrimSpace(p.Header.Get("Content-Transfer-Encoding"))),
			Disposition: p.Disposition, Filename: name, FilenameRaw: rawName, ContentID: strings.Trim(p.ContentID, "<> "),
			Depth: depth, Parent: prefix,
		}
		if !multipart && w.expired("part "+path) {
			return
		}
		idx := len(w.e.Parts)
		w.e.Parts = append(w.e.Parts, info)
		w.entityDefects(idx, entity{p: p, root: p == root, owner: owner, unclosed: scan.unclosed, bounds: bounds})
		if multipart {
			n := 0
			for c := p.FirstChild; c != nil; c = c.NextSibling {
				n++
				visit(c, childPath(path, n, prefix), p.ContentType, append(bounds[:len(bounds):len(bounds)], p.Boundary))
			}
			return
		}
		content := p.Content
		zeek := zeekContent(content, info.Encoding, strings.HasPrefix(parentType, "multipart/")) // before in-place decoding
		data, bad, derr := transferDecode(content, info.Encoding)
		w.note(idx, bad...)
		if isUUEncoding(info.Encoding) {
			// A file, named by its begin line when the header does not.
			data = w.uuPart(&info, idx, content)
			name = info.Filename
			w.e.Parts[idx].Filename = name
			p.Disposition = "attachment" // (info keeps the declared one)
		}
		p.Content = nil // data is all we need; let a large raw part go
		if derr != nil && isMessageType(p.ContentType) && info.Encoding != "" && looksLikeHeader(content) {
			// RFC 2046 allows only 7bit/8bit/binary on message/rfc822;
			// a bogus encoding over a plain message is ignored (as
			// Suricata does), so the attached message is still opened.
			w.errorf("part %s: declares %s but holds a plain message; read as 8bit", path, info.Encoding)
			data, derr = content, nil
		}
		if derr != nil {
			w.errorf("part %s: %v", path, derr)
		}
		info.Size = int64(len(data))
		w.e.Parts[idx].Size = info.Size
		ct := p.ContentType
		if ct == "" {
			ct = "text/plain"
		}
		// Inline text without a file name is body (several such parts are
		// joined, as mail clients show them); every other leaf is an
		// attachment.
		isAttachment := p.Disposition == "attachment" || name != ""
		if !isAttachment && (ct == "text/plain" || ct == "text/html") {
			bp := &w.e.Parts[idx]
			bp.MD5, bp.SHA1, bp.SHA256, bp.ZeekHashes = hashesWith(data, zeek)
			html := ct == "text/html"
			if !html {
				data = w.uuBody(info, idx, data) // embedded blocks become attachments
			}
			text := w.decodeText(data, p, idx, html)
			w.textDefects(idx, text)
			source := "body"
			if html {
				source = "body_html"
			}
			if top {
				if html {
					w.bodyHTML.add(text, w.a.opts.MaxBodyBytes)
				} else {
					w.bodyText.add(text, w.a.opts.MaxBodyBytes)
				}
				w.iocsFrom(source, source, text)
			} else {
				// The body of an attached message: not an attachment of
				// its own, but its IOCs count (forwarded phish).
				w.iocsFrom(source, source+":"+prefix, text)
			}
			return
		}
		w.attachment(info, data, zeek)
		if isMessageType(ct) {
			if depth+1 > w.a.opts.MaxDepth {
				if !w.hitDepth {
					w.hitDepth = true
					w.e.Flags = appendUnique(w.e.Flags, "depth_limit")
					w.errorf("part %s: attached message not analysed: depth limit %d reached", path, w.a.opts.MaxDepth)
				}
				return
			}
			if !w.expired("attached message " + path) {
				w.message(data, path, depth+1, idx)
			}
		}
	}
	rootPath := "1"
	if strings.HasPrefix(root.ContentType, "multipart/") || root.FirstChild != nil {
		rootPath = "0"
	}
	if prefix != "" {
		rootPath = prefix + "." + rootPath
	}
	visit(root, rootPath, "", nil)
}

// scanLimits are the limits scanMIME applies now.
func (w *walker) scanLimits() scanLimits {
	o := w.a.opts
	return scanLimits{parts: w.partsLeft, depth: o.MaxMIMEDepth, value: o.MaxHeaderValue, fields: o.MaxHeaderFields}
}

// scanMIME pre-scans a message (the email or an attached one) before
// the MIME parser sees it, counts its parts against the email's budget
// and records a limit reached as an anomaly.
func (w *walker) scanMIME(raw []byte, prefix string) mimeScan {
	m := scanMIME(raw, w.scanLimits())
	w.partsLeft -= m.parts
	if m.why != "" {
		w.anomaly(FlagMIMELimit, "%s%s: bytes %d-%d not analysed (they are in the stored message)",
			m.why, at(prefix), m.cut, len(raw))
	}
	return m
}

func at(prefix string) string {
	if prefix == "" {
		return ""
	}
	return " (attached message " + prefix + ")"
}

// childPath numbers children IMAP-style: "1", "2" under the root
// multipart, "2.1" under part 2; under an attached message at P, "P.1".
func childPath(parent string, n int, prefix string) string {
	base := parent
	if base == "0" {
		return fmt.Sprint(n)
	}
	if prefix != "" && base == prefix+".0" {
		base = prefix
	}
	return fmt.Sprintf("%s.%d", base, n)
}

func (w *walker) errorf(format string, args ...any) {
	if len(w.e.Errors) < 200 {
		w.e.Errors = append(w.e.Errors, fmt.Sprintf(format, args...))
	}
}

func appendUnique(list []string, v ...string) []string {
	for _, x := range v {
		found := false
		for _, y := range list {
			if x == y {
				found = true
				break
			}
		}
		if !found {
			list = append(list, x)
		}
	}
	return list
}

// iocsFrom extracts IOCs from text when key is one of the configured
// ioc_keys; source says where in the record it was found.
func (w *walker) iocsFrom(key, source string, text []byte) {
	if w.iocs == nil || len(text) == 0 || !w.a.keys[key] || w.expired("IOCs of "+source) {
		return
	}
	w.iocs.Add(text, source)
}

// attachment records one non-body part, and the members of a zip.
func (w *walker) attachment(info Part, data, zeek []byte) {
	at := Attachment{
		Filename: info.Filename, FilenameRaw: info.FilenameRaw, ContentType: info.ContentType, Size: int64(len(data)),
		Disposition: info.Disposition, ContentID: info.ContentID, Part: info.Part,
		Depth: info.Depth, Parent: info.Parent,
	}
	at.MD5, at.SHA1, at.SHA256, at.ZeekHashes = hashesWith(data, zeek)
	w.addAttachment(at, data)
	if w.a.opts.Unzip && isZip(data) && !w.expired("unzip of part "+info.Part) {
		w.unzip(info, data)
	}
	w.tnef(info, data) // winmail.dat: its attachments are members, like a zip's
}

// addAttachment hashes, types and scans one attachment and records it.
func (w *walker) addAttachment(at Attachment, data []byte) {
	if at.SHA256 == "" { // not hashed by the caller
		at.MD5, at.SHA1, at.SHA256 = hashes(data)
	}
	if int64(len(data)) <= w.a.opts.FuzzyMaxBytes {
		at.SSDeep, at.TLSH = FuzzyHashes(data)
	}
	at.DetectedType = detectType(data)
	if encryptedOffice(at.DetectedType, data) {
		at.Encrypted = true
	}
	if w.a.opts.Yara != nil && data != nil && !w.expired("YARA scan of part "+at.Part) {
		if m, err := yaraScan(w.a.opts.Yara, data, w.yaraVars(&at, data), w.a.opts.YaraTimeout); err != nil {
			at.Errors = append(at.Errors, "yara: "+err.Error())
		} else {
			at.YARA = m
		}
	}
	w.handOver(&at, data)
	w.e.Attachments = append(w.e.Attachments, at)
}

// yaraVars are the YARA external variables of an attachment: its name,
// its path from the message through its containers
// ("msg/attachment.zip/inner.exe"), LOKI's extension and file type.
func (w *walker) yaraVars(at *Attachment, data []byte) YaraVars {
	name := at.Filename
	if name == "" {
		name = "part-" + at.Part
	}
	parent, ok := w.yaraPaths[at.Parent]
	if !ok {
		parent = yaraMessagePath
	}
	rel := name
	if ok && strings.HasPrefix(at.Part, at.Parent+"!") {
		rel = at.Part[len(at.Parent)+1:] // an archive member's path in its archive
	}
	path := parent + "/" + rel
	if i := strings.LastIndexAny(name, `/\`); i >= 0 && i < len(name)-1 {
		name = name[i+1:] // a member's name without its directories
	}
	if w.yaraPaths == nil {
		w.yaraPaths = map[string]string{}
	}
	if at.Part != "" {
		if _, dup := w.yaraPaths[at.Part]; !dup {
			w.yaraPaths[at.Part] = path
		}
	}
	return YaraVars{Filename: name, Filepath: path, Extension: YaraExtension(name), Filetype: YaraFileType(data), MD5: at.MD5}
}

// handedBytes counts the distinct contents an email handed to
// OnAttachment.
type handedBytes struct {
	sha1  map[string]bool
	bytes int64
	full  bool // an attachment did not fit
}

// handOver gives an attachment's bytes to OnAttachment within the
// per-email OnAttachmentMaxBytes.
func (w *walker) handOver(at *Attachment, data []byte) {
	cb, limit := w.a.opts.OnAttachment, w.a.opts.OnAttachmentMaxBytes
	if cb == nil || data == nil {
		return
	}
	if limit > 0 && !w.handed.sha1[at.SHA1] {
		if w.handed.bytes+int64(len(data)) > limit {
			msg := fmt.Sprintf("not archived: archive limit of %d bytes per email reached (%d archived)", limit, w.handed.bytes)
			at.Errors = append(at.Errors, msg)
			if !w.handed.full {
				w.handed.full = true
				w.errorf("part %s: %s; attachments that do not fit in what is left are not archived", at.Part, msg)
				w.e.Flags = appendUnique(w.e.Flags, "archive_limit")
			}
			return
		}
		if w.handed.sha1 == nil {
			w.handed.sha1 = map[string]bool{}
		}
		w.handed.sha1[at.SHA1] = true
		w.handed.bytes += int64(len(data))
	}
	cb(at, data)
}

func isZip(b []byte) bool {
	return len(b) >= 4 && b[0] == 'P' && b[1] == 'K' && (b[2] == 3 && b[3] == 4 || b[2] == 5 && b[3] == 6)
}

// unzip records the members of a zip attachment at part P as attachments
// "P!name" (nested: "P!inner.zip!name"), with their archive as parent,
// within the zip limits of the email (all its archives together).
func (w *walker) unzip(info Part, data []byte) {
	members, warnings, err := unzipWithin(data, w.a.opts.ZipLimits, &w.zips)
	if err != nil {
		w.errorf("part %s: unzip: %v", info.Part, err)
		return
	}
	for _, wn := range warnings {
		w.errorf("part %s: unzip: %s", info.Part, wn)
		if f := zipWarnFlag(wn); f != "" {
			w.e.Flags = appendUnique(w.e.Flags, f)
		}
	}
	for _, m := range members {
		parent := info.Part
		if pp := m.ParentPath(); pp != "" {
			parent = info.Part + "!" + pp
		}
		at := Attachment{
			Filename: m.Name, Size: m.Size, Part: info.Part + "!" + m.Path, Parent: parent,
			Depth: info.Depth + m.Depth, Encrypted: m.Encrypted, Disposition: "archive-member",
		}
		if m.Err != "" {
			at.Errors = append(at.Errors, m.Err)
		}
		if m.Encrypted {
			w.e.Flags = appendUnique(w.e.Flags, "encrypted_archive")
		}
		if m.Data == nil {
			// Listed, not extracted: no hashes of bytes we do not have.
			at.DetectedType = ""
			w.e.Attachments = append(w.e.Attachments, at)
			continue
		}
		w.addAttachment(at, m.Data)
	}
}

// zipWarnFlag is the email flag an unzip warning raises: zip_bomb for a
// bomb, zip_limit for a limit that stopped listing or extraction.
func zipWarnFlag(warning string) string {
	prefix, _, _ := strings.Cut(warning, ":")
	switch prefix {
	case ZipWarnBomb:
		return "zip_bomb"
	case ZipWarnMembers, ZipWarnSize, ZipWarnDepth:
		return "zip_limit"
	}
	return ""
}

func detectType(data []byte) string {
	if len(data) == 0 {
		return "application/x-empty"
	}
	m := mimetype.Detect(data)
	t, _, _ := strings.Cut(m.String(), ";")
	return t
}

// headers fills the header fields of the record from the top message.
func (w *walker) headers(fields []HeaderField) {
	e := w.e
	e.RawHeader = fields
	for _, f := range fields {
		name := strings.ToLower(f.Name)
		v := decodeHeader(f.Value)
		e.Headers[name] = append(e.Headers[name], v)
		if w.iocs != nil && w.a.keys[name] {
			w.iocs.Add([]byte(v), "header:"+name)
		}
	}
	first := func(n string) string {
		if v := e.Headers[n]; len(v) > 0 {
			return strings.TrimSpace(v[0])
		}
		return ""
	}
	e.Subject = first("subject")
	e.From = first("from")
	e.To = w.addressList("to")
	e.Cc = w.addressList("cc")
	if rt := w.addressList("reply-to"); len(rt) > 0 {
		e.ReplyTo = rt
	}
	e.MessageID = strings.Trim(first("message-id"), "<> \t")
	if d := first("date"); d != "" {
		if t, err := mail.ParseDate(d); err == nil {
			e.Date = t.Format(time.RFC3339)
		} else {
			e.Date = d
			w.errorf("header Date: cannot parse %q", clipString(d, 60))
		}
	}
}

func clipString(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// addressList parses every value of an address header; what does not
// parse is kept as written.
func (w *walker) addressList(name string) []string {
	out := []string{}
	for _, v := range w.e.Headers[name] {
		if strings.TrimSpace(v) == "" {
			continue
		}
		list, err := enmime.ParseAddressList(v)
		if err != nil || len(list) == 0 {
			for _, s := range strings.Split(v, ",") {
				if s = strings.TrimSpace(s); s != "" {
					out = append(out, s)
				}
			}
			continue
		}
		for _, a := range list {
			if a.Name != "" {
				out = append(out, fmt.Sprintf("%s <%s>", a.Name, a.Address))
			} else {
				out = append(out, a.Address)
			}
		}
	}
	return out
}

// decodeHeader decodes the RFC 2047 encoded words of a header value. Raw
// 8-bit bytes inside a word are bytes of the word's charset (mailers that
// skip the Q escaping write them): they are escaped first, so the word is
// still decoded. Go's word decoder comes first (enmime's quotes whatever
// follows an "=" in the decoded text); enmime's, which also repairs words
// broken by spaces, when words remain.
func decodeHeader(v string) string {
	if !strings.Contains(v, "=?") {
		return v
	}
	v = escapeEightBitWords(v)
	if s, err := wordDecoder.DecodeHeader(v); err == nil && !strings.Contains(s, "=?") {
		return s
	}
	return enmime.DecodeRFC2047(v)
}

var wordDecoder = &mime.WordDecoder{CharsetReader: charset.NewReaderLabel}

// transferDecode undoes the Content-Transfer-Encoding, leniently: junk in
// base64 is skipped (and reported, as are its anomalies), a broken
// quoted-printable sequence is kept as written.
// b is never modified (it is a slice of the message).
func transferDecode(b []byte, enc string) ([]byte, []string, error) {
	switch enc {
	case "base64":
		return decodeBase64(b)
	case "quoted-printable":
		out, err := io.ReadAll(quotedprintable.NewReader(bytes.NewReader(b)))
		if err != nil {
			return lenientQP(b), nil, nil
		}
		return out, nil, nil
	default:
		return b, nil, nil
	}
}

// looksLikeHeader reports whether b starts with a header field line
// ("Name: value"), as a message does.
func looksLikeHeader(b []byte) bool {
	line := b
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		line = b[:i]
	}
	i := bytes.IndexByte(line, ':')
	if i <= 0 {
		return false
	}
	for _, c := range line[:i] {
		if c <= ' ' || c > '~' {
			return false
		}
	}
	return true
}

// decodeBase64 keeps only alphabet characters (line breaks, spaces and junk
// are common) and decodes what is there, padding or not. What was wrong
// is returned as anomalies, and the first problem as the error.
func decodeBase64(b []byte) ([]byte, []string, error) {
	// Fast path: well-formed base64 (the standard decoder skips CR and LF).
	out := make([]byte, base64.StdEncoding.DecodedLen(len(b)))
	if n, err := base64.StdEncoding.Decode(out, b); err == nil {
		return out[:n], nil, nil
	}
	d := &b64Lenient{clean: out[:0]} // reuse the buffer for the cleaned input
	return d.decode(b)
}

// b64Lenient is the slow path for base64 with junk, missing or wrong
// padding, or data after the padding.
type b64Lenient struct {
	clean, out     []byte
	err            error
	junk, segments int
	stray          bool // a group of one character was dropped
	badPad         int  // padding runs of the wrong length
	padRem, pads   int  // in a padding run: the group's length mod 4, '='s seen
}

func (d *b64Lenient) decode(b []byte) ([]byte, []string, error) {
	d.segments = 1
	padded := false
	for _, c := range b {
		switch {
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '+', c == '/':
			if padded {
				d.endPadding()
				padded = false
				d.segments++
			}
			d.clean = append(d.clean, c)
		case c == '=':
			if !padded {
				d.padRem, d.pads = len(d.clean)%4, 0
				d.flush()
				padded = true
			}
			d.pads++
		case c == '\r' || c == '\n' || c == ' ' || c == '\t':
		default:
			d.junk++
		}
	}
	missing := !padded && len(d.clean)%4 > 1
	if padded {
		d.endPadding()
	}
	d.flush()
	return d.out, d.anomalies(missing), d.error()
}

// flush decodes the group collected so far. Padding in the middle
// ("NA==Mg==": chunks encoded separately and pasted together) ends a
// group; decoding goes on with the next one, as Suricata does.
func (d *b64Lenient) flush() {
	if len(d.clean)%4 == 1 {
		d.clean = d.clean[:len(d.clean)-1]
		d.stray = true
	}
	dst := make([]byte, base64.RawStdEncoding.DecodedLen(len(d.clean)))
	n, derr := base64.RawStdEncoding.Decode(dst, d.clean)
	if derr != nil && d.err == nil {
		d.err = fmt.Errorf("base64: %v", derr)
	}
	d.out = append(d.out, dst[:n]...)
	d.clean = d.clean[:0]
}

// endPadding checks a padding run: two '=' after a group of two
// characters, one after three, none after a whole group.
func (d *b64Lenient) endPadding() {
	if d.padRem != 1 && d.pads != (4-d.padRem)%4 {
		d.badPad++
	}
}

func (d *b64Lenient) anomalies(missing bool) []string {
	var a []string
	if d.junk > 0 {
		a = append(a, anomalyEntry(AnomalyBase64Characters, "%d characters outside the alphabet skipped", d.junk))
	}
	if d.stray {
		a = append(a, anomalyEntry(AnomalyBase64Length, "a group of one character dropped"))
	}
	if missing {
		a = append(a, anomalyEntry(AnomalyBase64Padding, "padding missing at the end"))
	}
	if d.badPad > 0 {
		a = append(a, anomalyEntry(AnomalyBase64Padding, "%d padding runs of the wrong length", d.badPad))
	}
	if d.segments > 1 {
		a = append(a, anomalyEntry(AnomalyBase64Padding, "padding inside the data (%d groups decoded one after the other)", d.segments))
	}
	return a
}

// error is the first problem, in words, as Errors has always said it.
func (d *b64Lenient) error() error {
	switch {
	case d.err != nil:
		return d.err
	case d.stray:
		return fmt.Errorf("base64: truncated group (one stray character dropped)")
	case d.junk > 0:
		return fmt.Errorf("base64: %d characters outside the alphabet skipped", d.junk)
	case d.segments > 1:
		return fmt.Errorf("base64: padding inside the data (%d groups decoded one after the other)", d.segments)
	}
	return nil
}

// lenientQP decodes quoted-printable, keeping bad escapes as written.
func lenientQP(b []byte) []byte {
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); i++ {
		c := b[i]
		if c != '=' {
			out = append(out, c)
			continue
		}
		if i+1 < len(b) && (b[i+1] == '\n' || b[i+1] == '\r') {
			// soft line break
			i++
			if b[i] == '\r' && i+1 < len(b) && b[i+1] == '\n' {
				i++
			}
			continue
		}
		if i+2 < len(b) && isHex(b[i+1]) && isHex(b[i+2]) {
			out = append(out, unhex(b[i+1])<<4|unhex(b[i+2]))
			i += 2
			continue
		}
		out = append(out, c)
	}
	return out
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c >= '0' && c <= '9':
		return c - '0'
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10
	default:
		return c - 'A' + 10
	}
}

// decodeText converts a body part to UTF-8: the declared charset when it
// is known and fits; detection only when none is declared (or the declared
// one is wrong) and the bytes are not valid UTF-8.
func (w *walker) decodeText(data []byte, p *enmime.Part, idx int, html bool) []byte {
	path := w.e.Parts[idx].Part
	label := strings.Trim(strings.TrimSpace(p.Charset), `"'`)
	if i := strings.LastIndexByte(label, '='); i >= 0 {
		label = label[i+1:] // charset="charset=utf-8"
	}
	low := strings.ToLower(label)
	if low == "" || low == "us-ascii" || low == "ascii" || low == "utf-8" || low == "utf8" {
		if utf8.Valid(data) {
			return data
		}
		if low == "" && html {
			enc, name, _ := charset.DetermineEncoding(data, "text/html")
			if name != "utf-8" {
				if s, err := decodeBytes(enc, data); err == nil {
					return s
				}
			}
		}
		if enc, name := detectCharset(data, html); enc != nil {
			if s, err := decodeBytes(enc, data); err == nil {
				if low != "" && low != "us-ascii" && low != "ascii" {
					w.errorf("part %s: declared charset %q but bytes are %s", path, label, name)
				}
				return s
			}
		}
		w.errorf("part %s: invalid UTF-8 kept as written", path)
		return data
	}
	enc, _ := charset.Lookup(label)
	if enc == nil {
		w.defect(idx, AnomalyCharsetUnknown, "body charset %q", clipString(label, 40))
		if e2, name := detectCharset(data, html); e2 != nil {
			w.errorf("part %s: unknown charset %q, detected %s", path, label, name)
			if s, err := decodeBytes(e2, data); err == nil {
				return s
			}
		}
		w.errorf("part %s: unknown charset %q, bytes kept as written", path, label)
		return data
	}
	s, err := decodeBytes(enc, data)
	if err != nil {
		w.errorf("part %s: charset %q: %v", path, label, err)
		return data
	}
	return s
}

func decodeWith(enc encoding.Encoding, data []byte) (string, error) {
	out, err := decodeBytes(enc, data)
	return string(out), err
}

// decodeBytes converts data to UTF-8 (bodies: no string copy).
func decodeBytes(enc encoding.Encoding, data []byte) ([]byte, error) {
	return enc.NewDecoder().Bytes(data)
}

// detectCharset guesses the charset of bytes that are not valid UTF-8.
func detectCharset(data []byte, html bool) (encoding.Encoding, string) {
	d := chardet.NewTextDetector()
	if html {
		d = chardet.NewHtmlDetector()
	}
	// Not DetectBest: it keeps whichever of equally confident guesses its
	// goroutines report first, so the same bytes could decode differently
	// from one run to the next. Ties go to the first charset name.
	rs, err := d.DetectAll(data)
	if err != nil || len(rs) == 0 {
		return nil, ""
	}
	best := rs[0]
	for _, r := range rs[1:] {
		if r.Confidence > best.Confidence || r.Confidence == best.Confidence && r.Charset < best.Charset {
			best = r
		}
	}
	enc, name := charset.Lookup(best.Charset)
	return enc, name
}
