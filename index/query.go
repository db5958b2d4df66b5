package index

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/blevesearch/bleve/v2/search/query"
)

// ParseError is a malformed query: Pos is the byte offset in the query of
// the problem and Col the 1-based column (in characters) shown to people.
type ParseError struct {
	Pos int
	Col int
	Msg string
}

func (e *ParseError) Error() string { return fmt.Sprintf("col %d: %s", e.Col, e.Msg) }

// Limits that keep hostile or accidental input cheap.
const (
	maxQueryLen   = 4096
	maxQueryDepth = 32
	maxQueryTerms = 64
)

// ParseQuery parses the query language (fields: api.Fields) into a bleve
// query. An empty query matches everything.
func ParseQuery(q string) (query.Query, error) {
	return parseQueryAt(q, time.Now())
}

// ParseQueryAsYouType is ParseQuery for a query still being typed: the
// last word, when nothing follows it, also matches as a prefix ("invoi"
// finds "invoice", "from:ali" finds alice@...), and a partial value of
// has:, status: or kind: stands for the values it begins.
func ParseQueryAsYouType(q string) (query.Query, error) {
	return parseQueryOpts(q, time.Now(), true)
}

func parseQueryAt(q string, now time.Time) (query.Query, error) {
	return parseQueryOpts(q, now, false)
}

func parseQueryOpts(q string, now time.Time, asYouType bool) (query.Query, error) {
	n, err := parseAST(q)
	if err != nil {
		return nil, err
	}
	c := compiler{src: q, now: now, asYouType: asYouType}
	out, err := c.compile(n)
	if err != nil {
		return nil, err
	}
	if out == nil {
		return query.NewMatchAllQuery(), nil
	}
	return out, nil
}

// ---- lexer ----

type tokKind int

const (
	tEOF tokKind = iota
	tWord
	tQuoted
	tLParen
	tRParen
	tMinus
)

type token struct {
	kind tokKind
	text string // word text or unquoted phrase
	pos  int
	// adjacent is true when the token starts right where the previous one
	// ended (field:"value", field:(group)).
	adjacent bool
}

type lexer struct {
	src  string
	pos  int
	toks []token
}

func (lx *lexer) errAt(pos int, format string, args ...any) error {
	return newParseError(lx.src, pos, fmt.Sprintf(format, args...))
}

func newParseError(src string, pos int, msg string) *ParseError {
	if pos > len(src) {
		pos = len(src)
	}
	return &ParseError{Pos: pos, Col: utf8.RuneCountInString(src[:pos]) + 1, Msg: msg}
}

func lex(src string) ([]token, error) {
	lx := &lexer{src: src}
	end := 0
	for lx.pos < len(src) {
		r, size := utf8.DecodeRuneInString(src[lx.pos:])
		if unicode.IsSpace(r) {
			lx.pos += size
			continue
		}
		start := lx.pos
		adj := start == end && len(lx.toks) > 0
		switch {
		case r == '(':
			lx.toks = append(lx.toks, token{kind: tLParen, pos: start, adjacent: adj})
			lx.pos++
		case r == ')':
			lx.toks = append(lx.toks, token{kind: tRParen, pos: start, adjacent: adj})
			lx.pos++
		case r == '"':
			text, next, err := lx.quoted(start)
			if err != nil {
				return nil, err
			}
			lx.toks = append(lx.toks, token{kind: tQuoted, text: text, pos: start, adjacent: adj})
			lx.pos = next
		case r == '-':
			lx.toks = append(lx.toks, token{kind: tMinus, pos: start})
			lx.pos++
			if lx.pos >= len(src) || isSpaceAt(src, lx.pos) || src[lx.pos] == ')' {
				return nil, lx.errAt(start, "nothing to negate after '-'")
			}
		default:
			i := lx.pos
			for i < len(src) {
				r, size := utf8.DecodeRuneInString(src[i:])
				if unicode.IsSpace(r) || r == '(' || r == ')' || r == '"' {
					break
				}
				i += size
			}
			lx.toks = append(lx.toks, token{kind: tWord, text: src[lx.pos:i], pos: start, adjacent: adj})
			lx.pos = i
		}
		end = lx.pos
	}
	lx.toks = append(lx.toks, token{kind: tEOF, pos: len(src)})
	return lx.toks, nil
}

func isSpaceAt(s string, i int) bool {
	r, _ := utf8.DecodeRuneInString(s[i:])
	return unicode.IsSpace(r)
}

// quoted reads a "..." string starting at start; \" and \\ are escapes.
func (lx *lexer) quoted(start int) (string, int, error) {
	var sb strings.Builder
	for i := start + 1; i < len(lx.src); i++ {
		switch c := lx.src[i]; c {
		case '\\':
			if i+1 < len(lx.src) && (lx.src[i+1] == '"' || lx.src[i+1] == '\\') {
				sb.WriteByte(lx.src[i+1])
				i++
				continue
			}
			sb.WriteByte(c)
		case '"':
			return sb.String(), i + 1, nil
		default:
			sb.WriteByte(c)
		}
	}
	return "", 0, lx.errAt(start, "unterminated quote")
}

// ---- parser ----

type node interface{ position() int }

type orNode struct {
	pos  int
	kids []node
}
type andNode struct {
	pos  int
	kids []node
}
type notNode struct {
	pos int
	kid node
}
type termNode struct {
	pos    int
	field  string // "" for bare words and phrases
	value  string
	quoted bool
	vpos   int // where the value starts
}

func (n *orNode) position() int   { return n.pos }
func (n *andNode) position() int  { return n.pos }
func (n *notNode) position() int  { return n.pos }
func (n *termNode) position() int { return n.pos }

type parser struct {
	src   string
	toks  []token
	i     int
	depth int
	terms int
}

func parseAST(src string) (node, error) {
	if len(src) > maxQueryLen {
		return nil, newParseError(src, maxQueryLen, fmt.Sprintf("query longer than %d bytes", maxQueryLen))
	}
	toks, err := lex(src)
	if err != nil {
		return nil, err
	}
	p := &parser{src: src, toks: toks}
	if p.peek().kind == tEOF {
		return nil, nil
	}
	n, err := p.parseOr("")
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind != tEOF {
		if t.kind == tRParen {
			return nil, p.errAt(t.pos, "unbalanced ')'")
		}
		return nil, p.errAt(t.pos, "unexpected %s", describe(t))
	}
	return n, nil
}

func (p *parser) peek() token { return p.toks[p.i] }
func (p *parser) next() token {
	t := p.toks[p.i]
	if t.kind != tEOF {
		p.i++
	}
	return t
}

func (p *parser) errAt(pos int, format string, args ...any) error {
	return newParseError(p.src, pos, fmt.Sprintf(format, args...))
}

func describe(t token) string {
	switch t.kind {
	case tEOF:
		return "end of query"
	case tLParen:
		return "'('"
	case tRParen:
		return "')'"
	case tMinus:
		return "'-'"
	case tQuoted:
		return "phrase"
	}
	return strconv.Quote(t.text)
}

func isOp(t token, op string) bool { return t.kind == tWord && t.text == op }

// parseOr: and ( OR and )*
func (p *parser) parseOr(field string) (node, error) {
	start := p.peek().pos
	first, err := p.parseAnd(field)
	if err != nil {
		return nil, err
	}
	kids := []node{first}
	for isOp(p.peek(), "OR") {
		op := p.next()
		if t := p.peek(); t.kind == tEOF || t.kind == tRParen || isOp(t, "OR") || isOp(t, "AND") {
			return nil, p.errAt(op.pos, "OR needs something on both sides")
		}
		n, err := p.parseAnd(field)
		if err != nil {
			return nil, err
		}
		kids = append(kids, n)
	}
	if len(kids) == 1 {
		return first, nil
	}
	return &orNode{pos: start, kids: kids}, nil
}

// parseAnd: unary ( [AND] unary )*
func (p *parser) parseAnd(field string) (node, error) {
	start := p.peek().pos
	var kids []node
	for {
		t := p.peek()
		if t.kind == tEOF || t.kind == tRParen || isOp(t, "OR") {
			break
		}
		if isOp(t, "AND") {
			if len(kids) == 0 {
				return nil, p.errAt(t.pos, "AND needs something on both sides")
			}
			p.next()
			if n := p.peek(); n.kind == tEOF || n.kind == tRParen || isOp(n, "OR") || isOp(n, "AND") {
				return nil, p.errAt(t.pos, "AND needs something on both sides")
			}
			continue
		}
		n, err := p.parseUnary(field)
		if err != nil {
			return nil, err
		}
		kids = append(kids, n)
	}
	switch len(kids) {
	case 0:
		t := p.peek()
		if t.kind == tRParen {
			return nil, p.errAt(t.pos, "empty parentheses")
		}
		if isOp(t, "OR") {
			return nil, p.errAt(t.pos, "OR needs something on both sides")
		}
		return nil, p.errAt(t.pos, "expected a search term")
	case 1:
		return kids[0], nil
	}
	return &andNode{pos: start, kids: kids}, nil
}

func (p *parser) parseUnary(field string) (node, error) {
	t := p.peek()
	if t.kind == tMinus || isOp(t, "NOT") {
		p.next()
		if n := p.peek(); n.kind == tEOF || n.kind == tRParen || isOp(n, "OR") || isOp(n, "AND") {
			return nil, p.errAt(t.pos, "nothing to negate")
		}
		p.depth++
		if p.depth > maxQueryDepth {
			return nil, p.errAt(t.pos, "query nested deeper than %d", maxQueryDepth)
		}
		kid, err := p.parseUnary(field)
		p.depth--
		if err != nil {
			return nil, err
		}
		return &notNode{pos: t.pos, kid: kid}, nil
	}
	return p.parsePrimary(field)
}

func (p *parser) parsePrimary(field string) (node, error) {
	t := p.next()
	switch t.kind {
	case tLParen:
		p.depth++
		if p.depth > maxQueryDepth {
			return nil, p.errAt(t.pos, "query nested deeper than %d", maxQueryDepth)
		}
		if p.peek().kind == tEOF {
			return nil, p.errAt(t.pos, "unclosed '('")
		}
		n, err := p.parseOr(field)
		if err != nil {
			return nil, err
		}
		p.depth--
		if c := p.next(); c.kind != tRParen {
			return nil, p.errAt(t.pos, "unclosed '('")
		}
		return n, nil
	case tQuoted:
		return p.term(&termNode{pos: t.pos, field: field, value: t.text, quoted: true, vpos: t.pos})
	case tWord:
		if name, value, ok := splitField(t.text); ok {
			if field != "" {
				return nil, p.errAt(t.pos, "field %s: inside %s:( ) group", name, field)
			}
			if _, known := queryFields[name]; !known {
				return nil, p.errAt(t.pos, "unknown field %q (known: %s)", name, knownFields())
			}
			vpos := t.pos + len(name) + 1
			if value == "" {
				nt := p.peek()
				switch {
				case nt.kind == tQuoted && nt.adjacent:
					p.next()
					return p.term(&termNode{pos: t.pos, field: name, value: nt.text, quoted: true, vpos: nt.pos})
				case nt.kind == tLParen && nt.adjacent:
					p.next()
					p.depth++
					if p.depth > maxQueryDepth {
						return nil, p.errAt(nt.pos, "query nested deeper than %d", maxQueryDepth)
					}
					if p.peek().kind == tEOF {
						return nil, p.errAt(nt.pos, "unclosed '('")
					}
					n, err := p.parseOr(name)
					if err != nil {
						return nil, err
					}
					p.depth--
					if c := p.next(); c.kind != tRParen {
						return nil, p.errAt(nt.pos, "unclosed '('")
					}
					return n, nil
				}
				return nil, p.errAt(t.pos, "%s: needs a value", name)
			}
			return p.term(&termNode{pos: t.pos, field: name, value: value, vpos: vpos})
		}
		return p.term(&termNode{pos: t.pos, field: field, value: t.text, vpos: t.pos})
	case tRParen:
		return nil, p.errAt(t.pos, "unbalanced ')'")
	case tEOF:
		return nil, p.errAt(t.pos, "expected a search term")
	}
	return nil, p.errAt(t.pos, "unexpected %s", describe(t))
}

func (p *parser) term(n *termNode) (node, error) {
	p.terms++
	if p.terms > maxQueryTerms {
		return nil, p.errAt(n.pos, "more than %d search terms", maxQueryTerms)
	}
	return n, nil
}

// splitField splits "name:value" when name looks like a field name (ASCII
// letters) and the rest does not look like a URL ("http://") or an IPv6
// address, which stay bare words.
func splitField(w string) (name, value string, ok bool) {
	i := strings.IndexByte(w, ':')
	if i <= 0 {
		return "", "", false
	}
	for _, c := range w[:i] {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return "", "", false
		}
	}
	rest := w[i+1:]
	if strings.HasPrefix(rest, "//") || strings.HasPrefix(rest, ":") {
		return "", "", false
	}
	return strings.ToLower(w[:i]), rest, true
}
