package index

import (
	"fmt"
	"math"
	"net/netip"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/blevesearch/bleve/v2/analysis"
	"github.com/blevesearch/bleve/v2/analysis/analyzer/standard"
	"github.com/blevesearch/bleve/v2/search/query"

	"github.com/smtpscope/smtpscope/collector/api"
	"github.com/smtpscope/smtpscope/core"
)

// queryFields indexes api.Fields, the one table of the query language's
// field filters, by name.
var queryFields = func() map[string]api.Field {
	m := make(map[string]api.Field, len(api.Fields))
	for _, f := range api.Fields {
		m[f.Name] = f
	}
	return m
}()

func knownFields() string {
	names := make([]string, 0, len(api.Fields))
	for _, f := range api.Fields {
		names = append(names, f.Name+":")
	}
	sort.Strings(names)
	return strings.Join(names, " ")
}

// Text fields bare words and phrases search, and keyword fields a bare
// word is also looked up in.
var (
	bareTextFields = []string{fSubject, fBody, fTranscript, fReason}
	bareKwFields   = []string{fFrom, fTo, fCc, fMailFrom, fRcpt, fSessMailFrom, fSessRcpt, fIOC, fURL, fHelo, fUID, fFilename, fYara}
)

type compiler struct {
	src       string
	now       time.Time
	asYouType bool // see ParseQueryAsYouType
}

// typing reports whether n is the word being typed: the last thing in
// the query, not quoted, nothing after it.
func (c *compiler) typing(n *termNode) bool {
	return c.asYouType && !n.quoted && n.vpos+len(n.value) == len(c.src) && strings.TrimSpace(n.value) == n.value
}

func (c *compiler) errAt(pos int, format string, args ...any) error {
	return newParseError(c.src, pos, fmt.Sprintf(format, args...))
}

// compile turns the AST into a bleve query; nil means "no constraint"
// (e.g. a bare stop word).
func (c *compiler) compile(n node) (query.Query, error) {
	switch n := n.(type) {
	case nil:
		return nil, nil
	case *termNode:
		return c.term(n)
	case *notNode:
		kid, err := c.compile(n.kid)
		if err != nil || kid == nil {
			return nil, err
		}
		b := query.NewBooleanQuery(nil, nil, nil)
		b.AddMustNot(kid)
		return b, nil
	case *orNode:
		var kids []query.Query
		for _, k := range n.kids {
			q, err := c.compile(k)
			if err != nil {
				return nil, err
			}
			if q != nil {
				kids = append(kids, q)
			}
		}
		switch len(kids) {
		case 0:
			return nil, nil
		case 1:
			return kids[0], nil
		}
		return query.NewDisjunctionQuery(kids), nil
	case *andNode:
		var must, not []query.Query
		for _, k := range n.kids {
			if nn, ok := k.(*notNode); ok {
				q, err := c.compile(nn.kid)
				if err != nil {
					return nil, err
				}
				if q != nil {
					not = append(not, q)
				}
				continue
			}
			q, err := c.compile(k)
			if err != nil {
				return nil, err
			}
			if q != nil {
				must = append(must, q)
			}
		}
		if len(not) == 0 {
			switch len(must) {
			case 0:
				return nil, nil
			case 1:
				return must[0], nil
			}
			return query.NewConjunctionQuery(must), nil
		}
		b := query.NewBooleanQuery(nil, nil, nil)
		if len(must) > 0 {
			b.AddMust(must...)
		}
		b.AddMustNot(not...)
		return b, nil
	}
	return nil, fmt.Errorf("unknown query node %T", n)
}

// maxGlobs bounds the wildcards of one value: each one makes the term
// dictionary walk more expensive.
const maxGlobs = 4

func isGlob(s string) bool { return strings.ContainsAny(s, "*?") }

func term(field, v string) query.Query {
	q := query.NewTermQuery(v)
	q.SetField(field)
	return q
}

func wildcard(field, v string) query.Query {
	q := query.NewWildcardQuery(v)
	q.SetField(field)
	return q
}

func prefix(field, v string) query.Query {
	q := query.NewPrefixQuery(v)
	q.SetField(field)
	return q
}

func match(field, v, analyzer string) query.Query {
	q := query.NewMatchQuery(v)
	q.SetField(field)
	q.Analyzer = analyzer
	q.SetOperator(query.MatchQueryOperatorAnd)
	return q
}

func phrase(field, v, analyzer string) query.Query {
	q := query.NewMatchPhraseQuery(v)
	q.SetField(field)
	q.Analyzer = analyzer
	return q
}

func or(qs ...query.Query) query.Query {
	var kids []query.Query
	for _, q := range qs {
		if q != nil {
			kids = append(kids, q)
		}
	}
	switch len(kids) {
	case 0:
		return nil
	case 1:
		return kids[0]
	}
	return query.NewDisjunctionQuery(kids)
}

// kw is an exact keyword lookup, or a glob when the value has * or ?.
func kw(field, v string) query.Query {
	v = strings.ToLower(v)
	if isGlob(v) {
		return wildcard(field, v)
	}
	return term(field, v)
}

// hasTextTokens reports whether the text analyzer keeps anything of s
// (stop words and punctuation alone give nothing).
func hasTextTokens(s string) bool {
	return len(textTokenizer().Analyze([]byte(s))) > 0
}

// textTokenizer is the shared mapping's text analyzer, looked up on first
// use (not by every process at start).
var textTokenizer = sync.OnceValue(func() analysis.Analyzer {
	im, _ := sharedMapping()
	return im.AnalyzerNamed(standard.Name)
})

func (c *compiler) term(n *termNode) (query.Query, error) {
	if c.typing(n) {
		return c.typingTerm(n)
	}
	return c.term1(n)
}

// typingTerm compiles the word being typed: as typed, or as a prefix.
func (c *compiler) typingTerm(n *termNode) (query.Query, error) {
	v := n.value
	f := queryFields[n.field]
	if allowed := f.Values; allowed != nil && !strings.Contains(v, ":") {
		var qs []query.Query
		for _, a := range allowed {
			if strings.HasPrefix(a, strings.ToLower(v)) {
				q, err := c.term1(&termNode{pos: n.pos, field: n.field, value: a, vpos: n.vpos})
				if err != nil {
					return nil, err
				}
				qs = append(qs, q)
			}
		}
		if len(qs) > 0 {
			return or(qs...), nil
		}
		return c.term1(n)
	}
	exact, err := c.term1(n)
	if err != nil || !(n.field == "" || f.Prefix) || isGlob(v) || utf8.RuneCountInString(v) < 2 {
		return exact, err
	}
	pre, err := c.term1(&termNode{pos: n.pos, field: n.field, value: v + "*", vpos: n.vpos})
	if err != nil {
		return exact, nil
	}
	return or(exact, pre), nil
}

func (c *compiler) term1(n *termNode) (query.Query, error) {
	v := strings.TrimSpace(n.value)
	if n.field != "" && v == "" {
		return nil, c.errAt(n.pos, "%s: needs a value", n.field)
	}
	if len(v) > maxValue {
		return nil, c.errAt(n.vpos, "value longer than %d bytes", maxValue)
	}
	if isGlob(v) && n.field != "id" {
		for strings.Contains(v, "**") {
			v = strings.ReplaceAll(v, "**", "*")
		}
		if strings.Count(v, "*")+strings.Count(v, "?") > maxGlobs {
			return nil, c.errAt(n.vpos, "more than %d wildcards (* or ?) in one value", maxGlobs)
		}
	}
	switch n.field {
	case "":
		return c.bare(n, v), nil
	case "from":
		return addrQuery(fFrom, v), nil
	case "to":
		return addrQuery(fTo, v), nil
	case "cc":
		return addrQuery(fCc, v), nil
	case "mailfrom":
		return or(addrQuery(fMailFrom, v), addrQuery(fSessMailFrom, v)), nil
	case "rcpt":
		return or(addrQuery(fRcpt, v), addrQuery(fSessRcpt, v)), nil
	case "subject":
		return textQuery(fSubject, v, n.quoted), nil
	case "body":
		return textQuery(fBody, v, n.quoted), nil
	case "helo":
		return kw(fHelo, v), nil
	case "msgid":
		return kw(fMsgID, normMsgID(v)), nil
	case "uid":
		return kw(fUID, v), nil
	case "cid":
		return kw(fCID, normCID(v)), nil
	case "id":
		return query.NewDocIDQuery([]string{v}), nil
	case "hash":
		return kw(fHash, v), nil
	case "similar":
		sig, min, err := parseSimilar(v)
		if err != nil {
			return nil, c.errAt(n.vpos, "similar: %v", err)
		}
		return &similarQuery{sig: sig, min: min}, nil
	case "yara":
		return kw(fYara, v), nil
	case "group":
		return kw(fGroup, v), nil
	case "hunt":
		return kw(fHunt, v), nil
	case "ioc":
		v = core.Refang(v)
		return or(kw(fIOC, v), kw(fURL, v)), nil // URL IOCs are in url only
	case "domain":
		v = strings.TrimPrefix(strings.TrimPrefix(core.Refang(v), "@"), "*.")
		return kw(fDomain, strings.TrimSuffix(v, ".")), nil
	case "url":
		return urlQuery(core.Refang(v)), nil
	case "ip":
		return c.ipQuery(n, core.Refang(v))
	case "filename":
		return filenameQuery(v), nil
	case "type":
		v = strings.ToLower(v)
		if isGlob(v) || strings.Contains(v, "/") {
			return or(kw(fType, v), kw(fCType, v)), nil
		}
		return or(wildcard(fType, "*"+v+"*"), wildcard(fCType, "*"+v+"*")), nil
	case "status":
		v = strings.ToLower(v)
		if g, st, ok := strings.Cut(v, ":"); ok {
			if err := c.oneOf(n, "status", st, queryFields[api.FieldStatus].Values); err != nil {
				return nil, err
			}
			return term(fGStatus, g+":"+st), nil
		}
		if err := c.oneOf(n, "status", v, queryFields[api.FieldStatus].Values); err != nil {
			return nil, err
		}
		return term(fStatus, v), nil
	case "has":
		v = strings.ToLower(v)
		if v == "attachments" || v == "iocs" {
			v = strings.TrimSuffix(v, "s")
		}
		if err := c.oneOf(n, "has", v, queryFields[api.FieldHas].Values); err != nil {
			return nil, err
		}
		if slices.Contains(api.IOCTypes, v) {
			return term(fIOCType, v), nil // has:url is ioctype:url
		}
		return term(fHas, v), nil
	case "is":
		return kw(fIs, v), nil
	case api.FieldRisk:
		k, err := strconv.Atoi(v)
		if err != nil || k < 1 || k > len(core.RiskCodes) {
			return nil, c.errAt(n.vpos, "risk: %q is not a number of reasons from 1 to %d", v, len(core.RiskCodes))
		}
		return term(fRisk, strconv.Itoa(k)), nil
	case "sender":
		return kw(fSenderDom, strings.TrimPrefix(core.Refang(v), "@")), nil
	case "ioctype":
		return kw(fIOCType, v), nil
	case "sensor":
		return kw(fSensor, v), nil
	case "kind":
		v = strings.ToLower(v)
		if err := c.oneOf(n, "kind", v, queryFields["kind"].Values); err != nil {
			return nil, err
		}
		return term(fKind, v), nil
	case "after", "before":
		t, err := c.parseTime(n, v)
		if err != nil {
			return nil, err
		}
		if n.field == "after" {
			return timeRange(unixNano(t), maxTime), nil
		}
		return timeRange(0, unixNano(t)-1), nil
	case "larger", "smaller":
		sz, err := parseSize(v)
		if err != nil {
			return nil, c.errAt(n.vpos, "%s: %v", n.field, err)
		}
		if n.field == "larger" {
			return intRange(fSize, sz+1, maxSize), nil
		}
		return intRange(fSize, 0, min(sz-1, maxSize)), nil
	}
	return nil, c.errAt(n.pos, "unknown field %q", n.field)
}

func (c *compiler) oneOf(n *termNode, field, v string, allowed []string) error {
	for _, a := range allowed {
		if v == a {
			return nil
		}
	}
	return c.errAt(n.vpos, "%s: %q is not one of %s", field, v, strings.Join(allowed, ", "))
}

// bare is a word or phrase without a field: the text fields, and for a
// word also the identifiers it could be.
func (c *compiler) bare(n *termNode, v string) query.Query {
	lv := strings.ToLower(v)
	if n.quoted {
		var qs []query.Query
		if hasTextTokens(v) {
			for _, f := range bareTextFields {
				qs = append(qs, textQuery(f, v, true))
			}
		}
		qs = append(qs, phrase(fFname, v, nameAnalyzer))
		for _, f := range bareKwFields {
			qs = append(qs, term(f, lv))
		}
		return or(qs...)
	}
	if isGlob(v) {
		var qs []query.Query
		for _, f := range bareTextFields {
			qs = append(qs, wildcard(f, lv))
		}
		qs = append(qs, wildcard(fFname, lv), wildcard(fFilename, lv))
		return or(qs...)
	}
	if !hasTextTokens(v) {
		// A stop word or punctuation alone constrains nothing.
		return nil
	}
	qs := make([]query.Query, 0, 20)
	for _, f := range bareTextFields {
		qs = append(qs, match(f, v, textAnalyzer))
	}
	qs = append(qs, match(fFname, v, nameAnalyzer))
	r := strings.ToLower(core.Refang(v))
	for _, f := range bareKwFields {
		qs = append(qs, term(f, r))
	}
	if isHexHash(r) {
		qs = append(qs, term(fHash, r))
	}
	if a, err := netip.ParseAddr(strings.Trim(r, "[]")); err == nil {
		qs = append(qs, term(fIP, a.Unmap().String()))
	}
	if strings.Contains(r, "@") {
		qs = append(qs, term(fMsgID, normMsgID(r)))
	}
	if isDomain(r) {
		qs = append(qs, term(fDomain, strings.TrimSuffix(r, ".")))
	}
	if strings.Contains(r, "://") {
		qs = append(qs, term(fURL, r))
	}
	return or(qs...)
}

func isHexHash(s string) bool {
	switch len(s) {
	case 32, 40, 64, 128:
	default:
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// addrQuery: an address, a local part, a domain, or a display-name word;
// several words (quoted) must all be there; globs match whole addresses.
func addrQuery(field, v string) query.Query {
	if strings.ReplaceAll(v, " ", "") == core.NullSender {
		return term(field, core.NullSender) // MAIL FROM:<>, bounces
	}
	v = strings.ToLower(core.Refang(v))
	v = strings.TrimSuffix(strings.TrimPrefix(v, "<"), ">")
	if strings.HasPrefix(v, "@") && len(v) > 1 {
		v = v[1:]
	}
	words := strings.Fields(v)
	if len(words) > 1 {
		qs := make([]query.Query, 0, len(words))
		for _, w := range words {
			qs = append(qs, kw(field, w))
		}
		return query.NewConjunctionQuery(qs)
	}
	return kw(field, v)
}

// textQuery searches one text field: all words (match), a phrase, or a
// glob over its terms.
func textQuery(field, v string, quoted bool) query.Query {
	switch {
	case quoted && fields[field].noTV:
		// No positions are kept for this field (indexing cost): a phrase
		// matches documents holding all its words.
		return match(field, v, textAnalyzer)
	case quoted:
		return phrase(field, v, textAnalyzer)
	case isGlob(v):
		return wildcard(field, strings.ToLower(v))
	}
	return match(field, v, textAnalyzer)
}

// urlQuery: URLs that start with the value (scheme optional), or a glob.
func urlQuery(v string) query.Query {
	v = strings.ToLower(v)
	if isGlob(v) {
		return wildcard(fURL, v)
	}
	if strings.Contains(v, "://") {
		return prefix(fURL, v)
	}
	return or(prefix(fURL, "http://"+v), prefix(fURL, "https://"+v), prefix(fURL, "ftp://"+v), term(fURL, v))
}

// filenameQuery: "*.ext" is an extension lookup, other globs match whole
// names, a plain value matches a whole name or words of names.
func filenameQuery(v string) query.Query {
	lv := strings.ToLower(v)
	if strings.HasPrefix(lv, "*.") && !isGlob(lv[2:]) && !strings.Contains(lv[2:], ".") {
		return term(fExt, lv[2:])
	}
	if isGlob(lv) {
		return wildcard(fFilename, lv)
	}
	return or(term(fFilename, lv), match(fFname, v, nameAnalyzer))
}

func (c *compiler) ipQuery(n *termNode, v string) (query.Query, error) {
	v = strings.Trim(strings.ToLower(v), "[]")
	if isGlob(v) {
		return wildcard(fIP, v), nil
	}
	if strings.Contains(v, "/") {
		pfx, err := netip.ParsePrefix(v)
		if err != nil {
			return nil, c.errAt(n.vpos, "ip: %q is not an address or a CIDR prefix", v)
		}
		pfx = pfx.Masked()
		if pfx.Addr().Is4() && pfx.Bits()%8 == 0 {
			if pfx.Bits() == 32 {
				return term(fIP, pfx.Addr().String()), nil
			}
			parts := strings.Split(pfx.Addr().String(), ".")
			p := strings.Join(parts[:pfx.Bits()/8], ".")
			if p == "" {
				return wildcard(fIP, "*.*"), nil
			}
			return term(fIPNet, p), nil // indexed per address (ipNets)
		}
		return nil, c.errAt(n.vpos, "ip: only IPv4 prefixes of /8, /16, /24, /32 are supported (or use a glob like 10.1.*)")
	}
	if a, err := netip.ParseAddr(v); err == nil {
		return term(fIP, a.Unmap().String()), nil
	}
	return nil, c.errAt(n.vpos, "ip: %q is not an IP address (globs like 10.0.* and CIDR /8 /16 /24 work)", v)
}

// parseTime reads after:/before: values: a date (UTC), a date and time,
// RFC 3339, or a duration back from now (30m, 12h, 7d, 2w).
func (c *compiler) parseTime(n *termNode, v string) (time.Time, error) {
	if len(v) >= 2 {
		unit := v[len(v)-1]
		if num, err := strconv.Atoi(v[:len(v)-1]); err == nil && num >= 0 && num <= 100000 {
			var d time.Duration
			switch unit {
			case 's':
				d = time.Second
			case 'm':
				d = time.Minute
			case 'h':
				d = time.Hour
			case 'd':
				d = 24 * time.Hour
			case 'w':
				d = 7 * 24 * time.Hour
			}
			if d != 0 {
				return c.now.Add(-time.Duration(num) * d), nil
			}
		}
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02", "2006-01"} {
		if t, err := time.ParseInLocation(layout, v, time.UTC); err == nil {
			if !representable(t) {
				return time.Time{}, c.errAt(n.vpos, "%s: %q is out of range", n.field, v)
			}
			return t, nil
		}
	}
	return time.Time{}, c.errAt(n.vpos, "%s: %q is not a date (2026-01-31, 2026-01-31T08:00, RFC 3339, or 7d / 12h / 30m / 2w)", n.field, v)
}

// parseSize reads 2M, 500k, 1.5MB, 1024 (bytes; K, M, G are powers of 1024).
func parseSize(v string) (int64, error) {
	s := strings.ToLower(strings.TrimSpace(v))
	s = strings.TrimSuffix(s, "ib")
	s = strings.TrimSuffix(s, "b")
	mult := 1.0
	if s != "" {
		switch s[len(s)-1] {
		case 'k':
			mult = 1 << 10
		case 'm':
			mult = 1 << 20
		case 'g':
			mult = 1 << 30
		}
		if mult != 1 {
			s = s[:len(s)-1]
		}
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f < 0 || math.IsNaN(f) || math.IsInf(f, 0) || f*mult > 1<<53 {
		return 0, fmt.Errorf("%q is not a size (2M, 500K, 1.5G, 1024)", v)
	}
	return int64(f * mult), nil
}

// normCID writes a Community ID as indexed: version prefix "1:" added
// when the value is the bare base64 hash.
func normCID(v string) string {
	v = strings.TrimSpace(v)
	if v != "" && !strings.HasPrefix(v, "1:") && !strings.HasPrefix(v, "*") {
		v = "1:" + v
	}
	return v
}
