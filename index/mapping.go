package index

import (
	"strings"
	"unicode"

	"github.com/blevesearch/bleve/v2/analysis"
	"github.com/blevesearch/bleve/v2/analysis/analyzer/standard"
	"github.com/blevesearch/bleve/v2/analysis/token/lowercase"
	"github.com/blevesearch/bleve/v2/analysis/tokenizer/character"
	"github.com/blevesearch/bleve/v2/mapping"
	"github.com/blevesearch/bleve/v2/registry"
	bindex "github.com/blevesearch/bleve_index_api"

	"github.com/smtpscope/smtpscope/collector/api"
)

// MappingVersion is stored in the index. Bump it whenever the fields, their
// analyzers or what goes into them change: Open then reports the index as
// stale and the owner rebuilds it from the store (Rebuild).
const MappingVersion = 13

// Document kinds (the kind: values and api.Row.Kind).
const (
	KindEmail   = api.KindEmail
	KindSession = api.KindSession
	KindReview  = api.KindReview
)

// Analyzer names. textAnalyzer is bleve's "standard" (Unicode word
// segmentation, lower case, English stop words); nameAnalyzer splits on
// anything that is not a letter or a digit, so "Invoice_2026-03.pdf.exe"
// gives invoice, 2026, 03, pdf, exe.
const (
	textAnalyzer = standard.Name
	nameAnalyzer = "smtpscope_name"
)

type fieldType int

const (
	ftKeyword  fieldType = iota // one token per value, values lower-cased by us
	ftText                      // textAnalyzer, with term vectors (phrases)
	ftName                      // nameAnalyzer, with term vectors
	ftDateTime                  // datetime
	ftNumeric                   // number
	ftStored                    // stored only, never indexed
)

type fieldSpec struct {
	typ       fieldType
	docValues bool // only for fields we sort or facet on
	// noTV: no term vectors (positions). Bodies are the bulk of the text;
	// without positions indexing is about a third cheaper, and a phrase
	// in a body matches emails holding all of its words.
	noTV bool
}

// Field names. Every field is listed in fields with how it is indexed;
// the document builders only use these constants.
const (
	fKind       = "kind"
	fTime       = "time"
	fTSort      = "tsort" // the time as 16 hex digits of unix ns: sorts as text
	fSize       = "size"
	fRow        = "row"
	fSubject    = "subject"
	fBody       = "body"
	fTranscript = "transcript"
	fReason     = "reason"
	fFname      = "fname" // attachment (and review entry) names as text
	fFrom       = "from"
	fTo         = "to"
	fCc         = "cc"
	fMailFrom   = "mailfrom"
	fRcpt       = "rcpt"
	fHelo       = "helo"
	fMsgID      = "msgid"
	fIP         = "ip"
	fIPNet      = "ipnet" // the /8, /16, /24 prefixes of IPv4 addresses ("10", "10.1", "10.1.2"): ip:CIDR is one term
	fDomain     = "domain"
	fURL        = "url"
	fIOC        = "ioc"
	fIOCType    = "ioc_type"
	fHash       = "hash"
	fSSDeep     = "ssdeep"   // ssdeep digests as written (similar: scores them)
	fSSDeep7    = "ssdeep7"  // "<block size>:<7-gram>" of the ssdeep chunks
	fFilename   = "filename" // attachment names, lower-cased, whole
	fExt        = "ext"      // attachment name extensions, lower-cased
	fType       = "type"     // detected attachment types
	fCType      = "ctype"    // declared attachment content types
	fYara       = "yara"
	fStatus     = "status"
	fGroup      = "group"
	fHunt       = "hunt"
	fGStatus    = "gstatus" // "group:state"
	fUID        = "uid"
	fCID        = "cid" // the session's Community ID v1, lower-cased
	fHas        = "has"
	fIs         = "is"
	fSenderDom  = "sender_domain"
	fRisk       = "risk" // "1".."N" for an email with N risk reasons: risk:N is one term
	// Sort keys of the list columns (see sortKeys): the value in a form
	// that sorts as text, then the document's tsort, so every order is
	// total and search-after pages by one value.
	fSortSize   = "ssize"
	fSortSender = "ssender"
	fSortAtt    = "satt"
	fSortIOC    = "sioc"
	fSortStatus = "sstatus"
	// The hour and the day (UTC) of the document's time, for the volume
	// histogram (term facets): "2026010215", "20260102".
	fHour   = "hour"
	fDay    = "day"
	fSensor = "sensor"

	// The envelope an email's session tried that no email of it carries
	// (EmailDoc.SessionMailFrom, SessionRcpt): mailfrom: and rcpt:
	// search these too.
	fSessMailFrom = "session_mailfrom"
	fSessRcpt     = "session_rcpt"
)

var fields = map[string]fieldSpec{
	fKind:       {typ: ftKeyword},
	fTime:       {typ: ftDateTime},                 // ranges; coarse prefix-coded terms (numeric.go)
	fTSort:      {typ: ftKeyword, docValues: true}, // sort: one term per document
	fSize:       {typ: ftNumeric},
	fRow:        {typ: ftStored},
	fSubject:    {typ: ftText},
	fBody:       {typ: ftText, noTV: true},
	fTranscript: {typ: ftText},
	fReason:     {typ: ftText},
	fFname:      {typ: ftName},
	fFrom:       {typ: ftKeyword},
	fTo:         {typ: ftKeyword},
	fCc:         {typ: ftKeyword},
	fMailFrom:   {typ: ftKeyword},
	fRcpt:       {typ: ftKeyword},
	fHelo:       {typ: ftKeyword},
	fMsgID:      {typ: ftKeyword},
	fIP:         {typ: ftKeyword},
	fIPNet:      {typ: ftKeyword},
	fDomain:     {typ: ftKeyword},
	fURL:        {typ: ftKeyword},
	fIOC:        {typ: ftKeyword},
	fIOCType:    {typ: ftKeyword, docValues: true}, // facet
	fHash:       {typ: ftKeyword},
	fSSDeep:     {typ: ftKeyword, docValues: true}, // read back by similar:
	fSSDeep7:    {typ: ftKeyword},
	fFilename:   {typ: ftKeyword},
	fExt:        {typ: ftKeyword},
	fType:       {typ: ftKeyword, docValues: true}, // facet
	fCType:      {typ: ftKeyword},
	fYara:       {typ: ftKeyword},
	fStatus:     {typ: ftKeyword, docValues: true}, // facet
	fGroup:      {typ: ftKeyword},
	fHunt:       {typ: ftKeyword},
	fGStatus:    {typ: ftKeyword},
	fUID:        {typ: ftKeyword},
	fCID:        {typ: ftKeyword},
	fHas:        {typ: ftKeyword},
	fIs:         {typ: ftKeyword},
	fSenderDom:  {typ: ftKeyword, docValues: true}, // facet
	fRisk:       {typ: ftKeyword},
	fSortSize:   {typ: ftKeyword, docValues: true}, // sort
	fSortSender: {typ: ftKeyword, docValues: true}, // sort
	fSortAtt:    {typ: ftKeyword, docValues: true}, // sort
	fSortIOC:    {typ: ftKeyword, docValues: true}, // sort
	fSortStatus: {typ: ftKeyword, docValues: true}, // sort
	fHour:       {typ: ftKeyword, docValues: true}, // histogram
	fDay:        {typ: ftKeyword, docValues: true}, // histogram
	fSensor:     {typ: ftKeyword, docValues: true}, // facet

	fSessMailFrom: {typ: ftKeyword},
	fSessRcpt:     {typ: ftKeyword},
}

// sortFields maps the api's sort fields to the index field holding their
// sort keys.
var sortFields = map[string]string{
	api.SortTime:        fTSort,
	api.SortSize:        fSortSize,
	api.SortSender:      fSortSender,
	api.SortAttachments: fSortAtt,
	api.SortIOCs:        fSortIOC,
	api.SortStatus:      fSortStatus,
}

// kindFields lists the fields each document kind may carry (for the
// explicit per-kind mappings).
var kindFields = map[string][]string{
	KindEmail: {fKind, fTime, fTSort, fSize, fRow, fSubject, fBody, fTranscript, fFname, fFrom, fTo, fCc,
		fMailFrom, fRcpt, fSessMailFrom, fSessRcpt, fHelo, fMsgID, fIP, fIPNet, fDomain, fURL, fIOC, fIOCType, fHash, fSSDeep, fSSDeep7, fFilename, fExt,
		fType, fCType, fYara, fStatus, fGroup, fHunt, fGStatus, fUID, fCID, fHas, fIs, fSenderDom, fRisk, fSortSize, fSortSender, fSortAtt, fSortIOC, fSortStatus, fHour, fDay, fSensor},
	KindSession: {fKind, fTime, fTSort, fRow, fTranscript, fReason, fHelo, fMailFrom, fRcpt, fIP, fIPNet, fDomain, fUID, fCID, fIs, fSortSize, fSortSender, fSortAtt, fSortIOC, fSortStatus, fHour, fDay, fSensor},
	KindReview:  {fKind, fTime, fTSort, fRow, fReason, fFname, fFilename, fExt, fIs, fSortSize, fSortSender, fSortAtt, fSortIOC, fSortStatus, fHour, fDay, fSensor},
}

// options returns the bleve indexing options of a field.
func (s fieldSpec) options() bindex.FieldIndexingOptions {
	var o bindex.FieldIndexingOptions
	switch s.typ {
	case ftStored:
		return bindex.StoreField
	case ftText, ftName:
		o = bindex.IndexField | bindex.IncludeTermVectors
		if s.noTV {
			o = bindex.IndexField
		}
	default:
		o = bindex.IndexField
	}
	if s.docValues {
		o |= bindex.DocValues
	}
	return o
}

// analyzerName is the analyzer a field is indexed and queried with.
func (s fieldSpec) analyzerName() string {
	switch s.typ {
	case ftText:
		return textAnalyzer
	case ftName:
		return nameAnalyzer
	}
	return "keyword"
}

// newMapping builds the explicit bleve mapping that matches what the
// document builders produce. Documents are built directly (IndexAdvanced),
// so the mapping serves query-time analysis and documents the schema.
func newMapping() *mapping.IndexMappingImpl {
	im := mapping.NewIndexMapping()
	im.DefaultAnalyzer = textAnalyzer
	im.StoreDynamic = false
	im.IndexDynamic = false
	im.DocValuesDynamic = false
	im.TypeField = fKind
	im.DefaultMapping = mapping.NewDocumentDisabledMapping()
	for kind, names := range kindFields {
		dm := mapping.NewDocumentStaticMapping()
		for _, name := range names {
			dm.AddFieldMappingsAt(name, fieldMapping(name, fields[name]))
		}
		im.AddDocumentMapping(kind, dm)
	}
	return im
}

func fieldMapping(name string, s fieldSpec) *mapping.FieldMapping {
	var fm *mapping.FieldMapping
	switch s.typ {
	case ftDateTime:
		fm = mapping.NewDateTimeFieldMapping()
	case ftNumeric:
		fm = mapping.NewNumericFieldMapping()
	case ftKeyword:
		fm = mapping.NewKeywordFieldMapping()
	default:
		fm = mapping.NewTextFieldMapping()
		fm.Analyzer = s.analyzerName()
	}
	fm.Name = name
	o := s.options()
	fm.Index = o.IsIndexed()
	fm.Store = o.IsStored()
	fm.IncludeTermVectors = o.IncludeTermVectors()
	fm.DocValues = o.IncludeDocValues()
	fm.IncludeInAll = false
	return fm
}

func isNameRune(r rune) bool { return unicode.IsLetter(r) || unicode.IsNumber(r) }

func init() {
	registry.RegisterAnalyzer(nameAnalyzer, func(map[string]interface{}, *registry.Cache) (analysis.Analyzer, error) {
		return newNameAnalyzer(), nil
	})
}

func newNameAnalyzer() analysis.Analyzer {
	return &analysis.DefaultAnalyzer{
		Tokenizer:    character.NewCharacterTokenizer(isNameRune),
		TokenFilters: []analysis.TokenFilter{lowercase.NewLowerCaseFilter()},
	}
}

// validUTF8 replaces invalid UTF-8 so that analyzers and stored rows never
// see broken sequences.
func validUTF8(s string) string { return strings.ToValidUTF8(s, "\uFFFD") }
