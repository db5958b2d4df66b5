package index

import (
	"encoding/json"
	"fmt"
	"html"
	"math"
	"net/mail"
	"net/netip"
	"path"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/blevesearch/bleve/v2/analysis"
	"github.com/blevesearch/bleve/v2/document"

	"github.com/smtpscope/smtpscope/collector/api"
	"github.com/smtpscope/smtpscope/core"
)

// EmailDoc is what the index needs about one stored email: the record, its
// submission status per node group (group -> queued|sent|retrying|failed)
// and, optionally, the text of its SMTP session.
type EmailDoc struct {
	Email      *core.Email
	Status     map[string]string
	Transcript string
	// SessionMailFrom and SessionRcpt are the envelope the email's
	// session tried that no email of it carries: a refused MAIL FROM
	// before the accepted one, a refused RCPT of another transaction
	// (core.Session.TriedWithoutEmail). `mailfrom:` and `rcpt:` find the
	// email by them too: its transcript shows them. The record's
	// SessionTried is used when set; these are for records stored before
	// it existed (the caller reads them from the session file).
	SessionMailFrom, SessionRcpt []string
	// Hunts are the names of the collector's hunts the email matched
	// (collector.EmailMeta.Hunts): `hunt:NAME` finds it, its row lists
	// them.
	Hunts []string
}

// SessionDoc is a session that carried no email (rejected, STARTTLS,
// aborted): its info, its transcript and why no email came of it.
type SessionDoc struct {
	Info       core.SessionInfo
	Sensor     string // the collector that stored it
	Transcript string
	Reason     string
	// MailFrom and Rcpt are the envelope the client tried, refused or
	// not (core.Session.Attempted; core.NullSender for <>): `mailfrom:`
	// and `rcpt:` find the session by them.
	MailFrom, Rcpt []string
}

// ReviewDoc is one entry of the review/ quarantine: the file name, why it is
// there and when it was put there.
type ReviewDoc struct {
	Sensor string // the collector that stored it
	Name   string
	Reason string
	Time   time.Time
}

// Doc IDs: emails use their record ID; sessions and review entries are
// prefixed so they can never collide with an email.
const (
	sessionPrefix = "session/"
	reviewPrefix  = "review/"
)

// SessionDocID is the index document ID of a session without email.
func SessionDocID(uid string) string { return sessionPrefix + uid }

// ReviewDocID is the index document ID of a review/ entry.
func ReviewDocID(name string) string { return reviewPrefix + name }

// Caps on the text given to the analyzers: a forensic index needs to find
// the message, not to hold megabytes of one body.
const (
	maxSubject    = 2 << 10
	maxBody       = 64 << 10
	maxTranscript = 64 << 10
	maxValue      = 2 << 10 // one keyword value
)

// builder accumulates the fields of one bleve document. Keyword values
// are gathered per field and become one field each (see termField): far
// fewer field objects for bleve to analyze and for zap to process.
type builder struct {
	doc   *document.Document
	text  analysis.Analyzer
	name  analysis.Analyzer
	kws   map[string][]string            // field -> lower-cased distinct values
	big   map[string]map[string]struct{} // fields with many values: their set
	order []string                       // keyword fields in first-use order
	bytes int                            // approximate size, for batch bounds
	t     int64                          // the document's time (unix ns), for the time bounds
}

// maxValuesPerField bounds the keyword values of one field of one document
// (an email with a million IOCs stays indexable; the first ones are
// searchable).
const maxValuesPerField = 20000

func newBuilder(id string, text, name analysis.Analyzer) *builder {
	return &builder{doc: document.NewDocument(id), text: text, name: name, kws: make(map[string][]string, 32)}
}

// kw adds keyword values (lower-cased, deduplicated, empty values skipped).
func (b *builder) kw(field string, values ...string) {
	cur, ok := b.kws[field]
	if !ok {
		b.order = append(b.order, field)
	}
	seen := b.big[field]
	for _, v := range values {
		if len(cur) >= maxValuesPerField {
			break
		}
		v = strings.ToLower(strings.TrimSpace(validUTF8(v)))
		if v == "" {
			continue
		}
		if len(v) > maxValue {
			v = truncUTF8(v, maxValue)
		}
		if strings.IndexByte(v, 0) >= 0 {
			v = strings.ReplaceAll(v, "\x00", " ")
		}
		if seen != nil {
			if _, dup := seen[v]; dup {
				continue
			}
			seen[v] = struct{}{}
		} else if slices.Contains(cur, v) {
			continue
		} else if len(cur) >= 32 {
			// Many values: a set from now on.
			seen = make(map[string]struct{}, 2*len(cur))
			for _, c := range cur {
				seen[c] = struct{}{}
			}
			seen[v] = struct{}{}
			if b.big == nil {
				b.big = map[string]map[string]struct{}{}
			}
			b.big[field] = seen
		}
		cur = append(cur, v)
		b.bytes += len(v)
	}
	b.kws[field] = cur
}

// kwRaw adds one keyword value as is (no case folding).
func (b *builder) kwRaw(field, v string) {
	if _, ok := b.kws[field]; !ok {
		b.order = append(b.order, field)
	}
	b.kws[field] = append(b.kws[field], strings.ReplaceAll(validUTF8(v), "\x00", " "))
}

// ssdeep adds a digest as written (case matters) and its 7-grams.
func (b *builder) ssdeep(sig string) {
	grams := ssdeepGrams(sig)
	if grams == nil || slices.Contains(b.kws[fSSDeep], sig) {
		return
	}
	b.kwRaw(fSSDeep, sig)
	for _, g := range grams {
		if len(b.kws[fSSDeep7]) < maxValuesPerField {
			b.kwRaw(fSSDeep7, g) // a repeated gram only counts twice
		}
	}
}

// finish adds the gathered keyword fields and returns the document.
func (b *builder) finish() *document.Document {
	if nets := ipNets(b.kws[fIP]); len(nets) > 0 {
		// every prefix of every address kept in ip (at most 3 each), so
		// that a CIDR query finds what ip:<address> finds
		b.order = append(b.order, fIPNet)
		b.kws[fIPNet] = nets
	}
	for _, field := range b.order {
		vals := b.kws[field]
		if len(vals) == 0 {
			continue
		}
		b.doc.AddField(&termField{name: field, value: []byte(strings.Join(vals, "\x00")), opts: fields[field].options(), keywords: true})
	}
	b.order, b.kws, b.big = nil, nil, nil
	return b.doc
}

// ipNets returns the /8, /16 and /24 prefixes ("10", "10.1", "10.1.2")
// of the IPv4 addresses among ips, so that ip:10.1.0.0/16 is one term
// instead of a prefix expanding to every address indexed under it.
func ipNets(ips []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, ip := range ips {
		a, err := netip.ParseAddr(ip)
		if err != nil || !a.Is4() {
			continue
		}
		for i := 0; i < len(ip); i++ {
			if ip[i] == '.' && !seen[ip[:i]] {
				seen[ip[:i]] = true
				out = append(out, ip[:i])
			}
		}
	}
	return out
}

// txt adds analyzed text, capped at max bytes.
func (b *builder) txt(field string, s string, max int) {
	s = strings.TrimSpace(s)
	if s == "" {
		return
	}
	if len(s) > max {
		s = truncUTF8(s, max)
	}
	s = validUTF8(s)
	spec := fields[field]
	b.bytes += len(s)
	if spec.typ == ftName {
		b.doc.AddField(document.NewTextFieldCustom(field, nil, []byte(s), spec.options(), b.name))
		return
	}
	b.doc.AddField(&termField{name: field, value: []byte(s), opts: spec.options(), std: b.text, stop: englishStopWords()})
}

func (b *builder) time(t time.Time) {
	if !representable(t) {
		t = time.Unix(0, 0)
	} else {
		u := t.UTC()
		b.kwRaw(fHour, u.Format(hourLayout))
		b.kwRaw(fDay, u.Format(dayLayout))
	}
	b.doc.AddField(document.NewTextFieldCustom(fTime, nil, int64Bytes(unixNano(t)), fields[fTime].options(), timeAnalyzer))
	b.kwRaw(fTSort, sortKey(t)+b.doc.ID())
	b.t = max(unixNano(t), 0)
}

// size indexes a size for range queries (see numeric.go).
func (b *builder) size(v int64) {
	v = min(max(v, 0), maxSize)
	b.doc.AddField(document.NewTextFieldCustom(fSize, nil, int64Bytes(v), fields[fSize].options(), sizeAnalyzer))
}

// row stores the document's list row (api.Row, the one stored field):
// what the list shows, so that a page of results never opens the store.
// Its ID is the document's (hitFrom sets it), not stored twice.
func (b *builder) row(r *api.Row) {
	data, err := json.Marshal(r)
	if err != nil { // cannot happen: row holds only strings and numbers
		return
	}
	b.bytes += len(data)
	b.doc.AddField(document.NewTextFieldCustom(fRow, nil, data, fields[fRow].options(), nil))
	if ts := b.kws[fTSort]; len(ts) == 1 {
		for _, kv := range sortKeys(r, ts[0]) {
			b.kwRaw(kv[0], kv[1])
		}
	}
}

// maxSenderKey bounds the sender part of a sender sort key (bytes).
const maxSenderKey = 64

// sortKeys are the sort keys of a row's list columns other than time:
// each the column's value written so that text order is value order
// (fixed-width hex numbers; the sender case folded, without spaces or
// controls, cut to maxSenderKey bytes, then a space, which sorts below
// every byte left), then tsort, the document's time and ID, which breaks
// ties by time and makes the order total. Every kind carries every key
// (sessions and review entries sort as size 0, no sender...), so that
// no document lacks one.
func sortKeys(r *api.Row, tsort string) [][2]string {
	sender := strings.Map(func(c rune) rune {
		if c <= ' ' || c == 0x7f {
			return -1
		}
		return c
	}, strings.ToLower(r.MailFrom))
	if len(sender) > maxSenderKey {
		sender = truncUTF8(sender, maxSenderKey)
	}
	return [][2]string{
		{fSortSize, fmt.Sprintf("%016x", uint64(min(max(r.Size, 0), maxSize))) + tsort},
		{fSortSender, sender + " " + tsort},
		{fSortAtt, fmt.Sprintf("%08x", uint64(min(max(r.Att, 0), math.MaxUint32))) + tsort},
		{fSortIOC, fmt.Sprintf("%08x", uint64(min(max(r.IOC, 0), math.MaxUint32))) + tsort},
		{fSortStatus, strconv.Itoa(api.StateRank(api.WorstState(r.Status))) + tsort},
	}
}

// sortKey is the start of a tsort value: fixed-width hex of the unix
// nanoseconds of a time (0 when unknown), so text order is time order. The
// document ID follows, making the order total with one sort field (a
// second, _id, sort would cost as much again).
func sortKey(t time.Time) string { return sortKeyNs(unixNano(t)) }

func sortKeyNs(ns int64) string { return fmt.Sprintf("%016x", uint64(max(ns, 0))) }

// representable reports whether t fits bleve's datetime (int64 ns) range.
func representable(t time.Time) bool {
	return !t.IsZero() && t.Year() >= 1678 && t.Year() <= 2261
}

// rowTime is the time a row shows: t in UTC, zero when unknown.
func rowTime(t time.Time) time.Time {
	if !representable(t) {
		return time.Time{}
	}
	return t.UTC()
}

func unixNano(t time.Time) int64 {
	if !representable(t) {
		return 0
	}
	return t.UnixNano()
}

// EmailTime is the time an email is listed and sorted by: the session's
// time, else its Date header when that parses, else unknown (zero).
func EmailTime(e *core.Email) time.Time {
	if representable(e.Session.Time) {
		return e.Session.Time
	}
	if t, err := time.Parse(time.RFC3339, e.Date); err == nil && representable(t) {
		return t
	}
	if t, err := mail.ParseDate(e.Date); err == nil && representable(t) {
		return t
	}
	return time.Time{}
}

func (ix *Index) emailDocument(d EmailDoc) *builder {
	e := d.Email
	b := newBuilder(e.ID, ix.textAna, ix.nameAna)
	b.kw(fKind, KindEmail)
	t := EmailTime(e)
	b.time(t)
	b.size(e.Size)

	b.txt(fSubject, e.Subject, maxSubject)
	body := e.BodyText
	if strings.TrimSpace(body) == "" && e.BodyHTML != "" {
		body = htmlText(e.BodyHTML, maxBody)
	}
	b.txt(fBody, body, maxBody)
	b.txt(fTranscript, d.Transcript, maxTranscript)

	var domains []string
	addAddrs := func(field string, addrs ...string) {
		for _, a := range addrs {
			toks, dom := addrTokens(a)
			b.kw(field, toks...)
			if dom != "" {
				domains = append(domains, dom)
			}
		}
	}
	addAddrs(fFrom, e.From)
	addAddrs(fTo, e.To...)
	addAddrs(fCc, e.Cc...)
	addAddrs(fMailFrom, e.Envelope.MailFrom)
	if e.HasSession() && e.Envelope.IsNullSender() {
		b.kw(fMailFrom, core.NullSender)
	}
	addAddrs(fRcpt, e.Envelope.RcptTo...)
	addAddrs(fRcpt, e.Envelope.RcptRejected...)
	triedMF, triedRcpt := d.SessionMailFrom, d.SessionRcpt
	if t := e.SessionTried; t != nil {
		triedMF, triedRcpt = t.MailFrom, t.RcptTo
	}
	sessionAddrs(b, fSessMailFrom, triedMF)
	sessionAddrs(b, fSessRcpt, triedRcpt)
	for _, a := range e.ReplyTo {
		if _, dom := addrTokens(a); dom != "" {
			domains = append(domains, dom)
		}
	}

	b.kw(fHelo, e.Session.Helo)
	if isDomain(e.Session.Helo) {
		domains = append(domains, e.Session.Helo)
	}
	b.kw(fMsgID, normMsgID(e.MessageID))
	b.kw(fUID, e.Session.UID)
	b.kw(fCID, e.Session.CID())
	b.kw(fHash, e.MD5, e.SHA1, e.SHA256, e.TLSH)
	b.ssdeep(e.SSDeep)
	for _, p := range e.Parts { // body parts: Zeek logs them as files
		b.kw(fHash, p.MD5, p.SHA1, p.SHA256, p.ZeekMD5, p.ZeekSHA1, p.ZeekSHA256)
	}

	b.kw(fIP, normIP(e.Session.SourceIP), normIP(e.Session.DestIP))
	for _, h := range e.Headers["received"] {
		b.kw(fIP, receivedIPs(h)...)
	}

	has := []string{}
	iocTypes := []string{}
	for _, ioc := range e.IOCs {
		v := ioc.Value
		if ioc.Type != core.IOCURL {
			b.kw(fIOC, v) // URLs only in url: ioc: searches both fields
		}
		iocTypes = append(iocTypes, ioc.Type)
		switch ioc.Type {
		case core.IOCURL:
			b.kw(fURL, v)
			if host := urlHost(v); host != "" {
				b.kw(fIOC, host)
				if isDomain(host) {
					domains = append(domains, host)
				} else {
					b.kw(fIP, normIP(host))
				}
			}
		case core.IOCDomain:
			domains = append(domains, v)
		case core.IOCIPv4, core.IOCIPv6:
			b.kw(fIP, normIP(v))
		case core.IOCEmail:
			if _, dom := addrTokens(v); dom != "" {
				domains = append(domains, dom)
			}
		}
	}
	b.kw(fIOCType, iocTypes...) // has:<ioc type> searches these

	yara := 0
	addYara := func(ms []core.YaraMatch) {
		for _, m := range ms {
			yara++
			b.kw(fYara, m.Rule)
			if m.Namespace != "" {
				b.kw(fYara, m.Namespace+":"+m.Rule)
			}
		}
	}
	addYara(e.YARA)
	encrypted := false
	var names strings.Builder
	for _, a := range e.Attachments {
		addYara(a.YARA)
		b.kw(fHash, a.MD5, a.SHA1, a.SHA256, a.ZeekMD5, a.ZeekSHA1, a.ZeekSHA256, a.TLSH)
		b.ssdeep(a.SSDeep)
		// The name as saved (last path component) and, when it differs,
		// the name as written ("C:\\TEMP\\x.png", "../../x.exe").
		for _, name := range []string{a.Filename, a.FilenameRaw} {
			if name == "" {
				continue
			}
			if names.Len() < maxBody {
				names.WriteString(truncUTF8(name, maxValue))
				names.WriteByte('\n')
			}
			b.kw(fFilename, name)
			b.kw(fExt, fileExt(name))
		}
		b.kw(fType, a.DetectedType)
		b.kw(fCType, a.ContentType)
		encrypted = encrypted || a.Encrypted
	}
	b.txt(fFname, names.String(), maxBody)

	for _, dom := range domains {
		b.kw(fDomain, parentDomains(dom)...)
	}
	_, sd := addrTokens(e.Envelope.MailFrom)
	if sd == "" {
		_, sd = addrTokens(e.From)
	}
	b.kw(fSenderDom, sd)
	b.kw(fSensor, e.Sensor)

	groups := make([]string, 0, len(d.Status))
	for g := range d.Status {
		groups = append(groups, g)
	}
	sort.Strings(groups)
	for _, g := range groups {
		st := d.Status[g]
		b.kw(fStatus, st)
		b.kw(fGroup, g)
		b.kw(fGStatus, g+":"+st)
	}
	b.kw(fHunt, d.Hunts...)

	if len(e.Attachments) > 0 {
		has = append(has, "attachment")
	}
	if len(e.IOCs) > 0 {
		has = append(has, "ioc")
	}
	if yara > 0 {
		has = append(has, "yara")
	}
	if len(e.Errors) > 0 {
		has = append(has, "errors")
	}
	if e.BodyHTML != "" {
		has = append(has, "html")
	}
	if encrypted {
		has = append(has, "encrypted")
	}
	if anomalous(e) {
		has = append(has, "anomaly")
	}
	b.kw(fHas, has...)

	is := []string{KindEmail}
	if e.Partial {
		is = append(is, "partial")
	}
	if e.Session.StartTLS {
		is = append(is, "starttls")
	}
	if e.Session.Auth {
		is = append(is, "auth")
	}
	if e.ServerReply != nil && e.ServerReply.Code >= 400 {
		is = append(is, "rejected")
	}
	is = append(is, e.Flags...)
	b.kw(fIs, is...)
	for n := range min(len(e.Risks), len(core.RiskCodes)) {
		b.kw(fRisk, strconv.Itoa(n+1))
	}

	var status map[string]string
	if len(d.Status) > 0 {
		status = maps(d.Status)
	}
	row := &api.Row{
		Kind:     KindEmail,
		Time:     rowTime(t),
		SourceIP: validUTF8(e.Session.SourceIP),
		MailFrom: validUTF8(truncUTF8(e.Envelope.MailFrom, maxValue)),
		From:     validUTF8(truncUTF8(e.From, maxValue)),
		Rcpt:     len(e.Envelope.RcptTo),
		Subject:  validUTF8(truncUTF8(e.Subject, maxSubject)),
		Att:      len(e.Attachments),
		IOC:      len(e.IOCs),
		YARA:     yara,
		Risk:     len(e.Risks),
		Status:   status,
		Partial:  e.Partial,
		Size:     e.Size,
		UID:      validUTF8(e.Session.UID),
		Sensor:   validUTF8(e.Sensor),
	}
	for _, h := range d.Hunts {
		row.Hunts = append(row.Hunts, validUTF8(truncUTF8(h, maxValue)))
	}
	if !e.HasSession() {
		row.NoSession, row.Source = true, validUTF8(truncUTF8(e.Source, maxValue))
	}
	b.row(row)
	return b
}

// anomalous reports whether the email's session, the email or any of
// its parts recorded an anomaly (has:anomaly).
func anomalous(e *core.Email) bool {
	return len(e.Session.Anomalies) > 0 || len(e.Anomalies) > 0 ||
		slices.ContainsFunc(e.Parts, func(p core.Part) bool { return len(p.Anomalies) > 0 })
}

func maps(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[validUTF8(k)] = validUTF8(v)
	}
	return out
}

// sessionAddrs indexes addresses a session tried (core.NullSender as
// itself) in field, and their domains and parents in domain.
func sessionAddrs(b *builder, field string, addrs []string) {
	for _, a := range addrs {
		if a == core.NullSender {
			b.kw(field, a)
			continue
		}
		toks, dom := addrTokens(a)
		b.kw(field, toks...)
		if dom != "" {
			b.kw(fDomain, parentDomains(dom)...)
		}
	}
}

func (ix *Index) sessionDocument(d SessionDoc) *builder {
	b := newBuilder(SessionDocID(d.Info.UID), ix.textAna, ix.nameAna)
	s := d.Info
	b.kw(fKind, KindSession)
	b.time(s.Time)
	b.txt(fTranscript, d.Transcript, maxTranscript)
	b.txt(fReason, d.Reason, maxSubject)
	b.kw(fHelo, s.Helo)
	if isDomain(s.Helo) {
		b.kw(fDomain, parentDomains(s.Helo)...)
	}
	b.kw(fIP, normIP(s.SourceIP), normIP(s.DestIP))
	b.kw(fUID, s.UID)
	b.kw(fCID, s.CID())
	sessionAddrs(b, fMailFrom, d.MailFrom)
	sessionAddrs(b, fRcpt, d.Rcpt)
	b.kw(fSensor, d.Sensor)
	is := []string{KindSession}
	if s.StartTLS {
		is = append(is, "starttls")
	}
	if s.Auth {
		is = append(is, "auth")
	}
	is = append(is, reasonTags(d.Reason)...)
	b.kw(fIs, is...)
	if len(s.Anomalies) > 0 {
		b.kw(fHas, "anomaly")
	}
	b.row(&api.Row{
		Kind:     KindSession,
		Time:     rowTime(s.Time),
		SourceIP: validUTF8(s.SourceIP),
		UID:      validUTF8(s.UID),
		Reason:   validUTF8(truncUTF8(d.Reason, maxSubject)),
		Sensor:   validUTF8(d.Sensor),
	})
	return b
}

func (ix *Index) reviewDocument(d ReviewDoc) *builder {
	b := newBuilder(ReviewDocID(d.Name), ix.textAna, ix.nameAna)
	b.kw(fKind, KindReview)
	b.time(d.Time)
	b.txt(fReason, d.Reason, maxSubject)
	b.txt(fFname, d.Name, maxValue)
	b.kw(fFilename, d.Name)
	b.kw(fExt, fileExt(d.Name))
	b.kw(fIs, KindReview)
	b.kw(fSensor, d.Sensor)
	b.row(&api.Row{
		Kind:   KindReview,
		Time:   rowTime(d.Time),
		Name:   validUTF8(truncUTF8(d.Name, maxValue)),
		Reason: validUTF8(truncUTF8(d.Reason, maxSubject)),
		Sensor: validUTF8(d.Sensor),
	})
	return b
}

// reasonTags turns why a session carried no email into is: values: a
// one-word reason as is, and the usual words of longer ones.
func reasonTags(reason string) []string {
	r := strings.ToLower(strings.TrimSpace(reason))
	if r == "" {
		return nil
	}
	var tags []string
	if !strings.ContainsAny(r, " \t") {
		tags = append(tags, r)
	}
	for _, kw := range []struct{ word, tag string }{
		{"reject", "rejected"}, {"refuse", "rejected"}, {"starttls", "starttls"}, {"abort", "aborted"},
		{"empty", "empty"}, {"no data", "no_data"}, {"unreadable", "unreadable"},
	} {
		if strings.Contains(r, kw.word) {
			tags = append(tags, kw.tag)
		}
	}
	return tags
}

// truncUTF8 cuts s to at most n bytes without splitting a rune.
func truncUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && n < len(s) && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}

// addrTokens returns the keyword values one address (or address header
// value) is found by: the whole address, its local part, its domain and
// the words of the display name; and the domain.
func addrTokens(s string) (toks []string, domain string) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, ""
	}
	addr := s
	name := ""
	if plainAddr(s) {
		// local@domain and nothing else: what mail.ParseAddress would
		// return, without its cost (most recipients look like this).
	} else if a, err := mail.ParseAddress(s); err == nil {
		addr, name = a.Address, a.Name
	} else if i := strings.LastIndexByte(s, '<'); i >= 0 {
		name = s[:i]
		addr = strings.TrimSuffix(s[i+1:], ">")
		if j := strings.IndexByte(addr, '>'); j >= 0 {
			addr = addr[:j]
		}
	}
	addr = strings.ToLower(strings.TrimSpace(addr))
	toks = append(toks, addr)
	if at := strings.LastIndexByte(addr, '@'); at >= 0 {
		toks = append(toks, addr[:at])
		domain = strings.TrimSuffix(addr[at+1:], ".")
		toks = append(toks, domain)
	}
	toks = append(toks, strings.FieldsFunc(name, func(r rune) bool { return !isNameRune(r) })...)
	return toks, domain
}

// plainAddr reports whether s is a bare address mail.ParseAddress returns
// unchanged: letters, digits and . _ + - around one @, neither part
// starting, ending or doubling a dot.
func plainAddr(s string) bool {
	at := strings.IndexByte(s, '@')
	if at <= 0 || at == len(s)-1 || !dotAtom(s[:at]) || !dotAtom(s[at+1:]) {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '.', c == '_', c == '+', c == '-':
		case c == '@' && i == at:
		default:
			return false
		}
	}
	return true
}

func dotAtom(s string) bool {
	return s[0] != '.' && s[len(s)-1] != '.' && !strings.Contains(s, "..")
}

// isDomain reports whether s looks like a host name (not an address).
func isDomain(s string) bool {
	s = strings.Trim(s, "[]")
	if s == "" || !strings.Contains(s, ".") {
		return false
	}
	if _, err := netip.ParseAddr(s); err == nil {
		return false
	}
	return !strings.ContainsAny(s, " \t@/:")
}

// parentDomains: a.b.example.com -> a.b.example.com, b.example.com, example.com.
func parentDomains(d string) []string {
	d = strings.Trim(strings.ToLower(strings.TrimSpace(d)), ".")
	if d == "" {
		return nil
	}
	out := []string{d}
	for strings.Count(d, ".") > 1 {
		d = d[strings.IndexByte(d, '.')+1:]
		out = append(out, d)
	}
	return out
}

func normMsgID(s string) string {
	s = strings.TrimSpace(s)
	s = strings.TrimPrefix(s, "<")
	s = strings.TrimSuffix(s, ">")
	return s
}

// normIP returns the canonical text of an IP address, or s lower-cased
// when it does not parse.
func normIP(s string) string {
	s = strings.Trim(strings.TrimSpace(s), "[]")
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Unmap().String()
	}
	return strings.ToLower(s)
}

// receivedIPs finds the IP addresses written in a Received header.
func receivedIPs(h string) []string {
	h = strings.ReplaceAll(strings.ToLower(h), "ipv6:", " ")
	var out []string
	for _, tok := range strings.FieldsFunc(h, func(r rune) bool {
		return !(r >= '0' && r <= '9' || r >= 'a' && r <= 'f' || r == '.' || r == ':')
	}) {
		tok = strings.Trim(tok, ".:")
		if !strings.ContainsAny(tok, ".:") || len(tok) < 3 {
			continue
		}
		a, err := netip.ParseAddr(tok)
		if err != nil || a.IsUnspecified() {
			continue
		}
		out = append(out, a.Unmap().String())
	}
	return out
}

// urlHost extracts the host of a URL IOC value.
func urlHost(u string) string {
	rest := u
	if i := strings.Index(rest, "://"); i >= 0 {
		rest = rest[i+3:]
	}
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		rest = rest[:i]
	}
	if i := strings.LastIndexByte(rest, '@'); i >= 0 {
		rest = rest[i+1:]
	}
	if strings.HasPrefix(rest, "[") {
		if i := strings.IndexByte(rest, ']'); i >= 0 {
			return strings.ToLower(rest[1:i])
		}
	}
	if i := strings.LastIndexByte(rest, ':'); i >= 0 && !strings.Contains(rest[:i], ":") {
		rest = rest[:i]
	}
	return strings.ToLower(rest)
}

// fileExt is the last extension of a file name, without the dot.
func fileExt(name string) string {
	name = strings.TrimRight(strings.TrimSpace(name), ". ")
	ext := path.Ext(strings.ReplaceAll(name, "\\", "/"))
	return strings.ToLower(strings.TrimPrefix(ext, "."))
}

// htmlText is a rough text rendering of HTML for indexing: tags, scripts
// and styles dropped, entities decoded.
func htmlText(s string, max int) string {
	if len(s) > 4*max {
		s = s[:4*max]
	}
	var sb strings.Builder
	lower := strings.ToLower(s)
	for i := 0; i < len(s) && sb.Len() < max; {
		if s[i] != '<' {
			j := strings.IndexByte(s[i:], '<')
			if j < 0 {
				j = len(s) - i
			}
			sb.WriteString(s[i : i+j])
			i += j
			continue
		}
		for _, skip := range []string{"script", "style"} {
			if strings.HasPrefix(lower[i+1:], skip) {
				if end := strings.Index(lower[i:], "</"+skip); end >= 0 {
					i += end
				}
			}
		}
		j := strings.IndexByte(s[i:], '>')
		if j < 0 {
			break
		}
		sb.WriteByte(' ')
		i += j + 1
	}
	return html.UnescapeString(sb.String())
}
