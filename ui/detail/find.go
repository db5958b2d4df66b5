package detail

import (
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/smtpscope/smtpscope/ui/common"
)

// Find inside a tab: `/` opens a prompt under the tab bar, every key typed
// narrows the matches (case-insensitive unless the text has a capital, as
// less and vim's smartcase), enter keeps them, n and N go from one to the
// next and the prompt line counts them ("3/17"). Matches are looked for in
// what the tab draws (text already sanitized), so what is highlighted is
// what is on screen.

const (
	// maxFind bounds the text of the prompt.
	maxFind = 256
	// maxHits bounds the matches kept (a tab has at most maxLines lines).
	maxHits = 10000
)

// hit is one match: a line of the tab and byte offsets in its plain text.
type hit struct{ line, start, end int }

type finder struct {
	editing bool
	query   string
	hits    []hit
	cur     int
	capped  bool
	pending bool // jump to the current match once the lines are drawn
}

// Finding reports whether the find prompt is being typed in: every key
// then goes to the detail (the root's global keys included).
func (m *Model) Finding() bool { return m.find.editing }

// FindStatus is the prompt's count: "3/17", "no match", or "" when no
// find is active.
func (m *Model) FindStatus() string {
	f := &m.find
	switch {
	case f.query == "":
		return ""
	case len(f.hits) == 0:
		return "no match"
	}
	n := strconv.Itoa(len(f.hits))
	if f.capped {
		n += "+"
	}
	return strconv.Itoa(f.cur+1) + "/" + n
}

// StartFind opens the find prompt, empty.
func (m *Model) StartFind() {
	m.find = finder{editing: true}
}

// ClearFind ends a find (prompt and highlights) and reports whether there
// was one: the back key first clears a find, then leaves the detail.
func (m *Model) ClearFind() bool {
	had := m.find.editing || m.find.query != ""
	m.find = finder{}
	return had
}

// CarryFind takes the find text of another detail (next/previous email
// keep looking for the same thing).
func (m *Model) CarryFind(from *Model) {
	if from != nil && from.find.query != "" {
		m.find = finder{query: from.find.query, pending: true}
		m.dirty = true
	}
}

// findKey handles a key while the prompt is being typed in.
func (m *Model) findKey(msg tea.KeyPressMsg) {
	k := m.ctx.Keys.Find
	f := &m.find
	switch {
	case key.Matches(msg, k.Run):
		f.editing = false
		if f.query == "" {
			m.ClearFind()
		}
		return
	case key.Matches(msg, k.Cancel):
		m.ClearFind()
		return
	case key.Matches(msg, k.Backspace):
		if r := []rune(f.query); len(r) > 0 {
			m.setFind(string(r[:len(r)-1]))
		}
		return
	case key.Matches(msg, k.Clear):
		m.setFind("")
		return
	}
	if msg.Text != "" {
		m.setFind(f.query + msg.Text)
	}
}

// setFind changes the find text and looks for it again, from the top of
// what is on screen.
func (m *Model) setFind(q string) {
	q = strings.ToValidUTF8(q, "\uFFFD") // a pasted byte soup still compiles
	q = strings.Map(func(r rune) rune {
		if r == '\n' || r == '\r' || r == '\t' {
			return ' '
		}
		return r
	}, q)
	if r := []rune(q); len(r) > maxFind {
		q = string(r[:maxFind])
	}
	m.find.query = q
	m.render()
	m.search()
	top := m.scroll[m.Tab()]
	m.find.cur = sort.Search(len(m.find.hits), func(i int) bool { return m.find.hits[i].line >= top })
	if m.find.cur == len(m.find.hits) {
		m.find.cur = 0
	}
	m.jump()
}

// search finds the text in the rendered lines.
func (m *Model) search() {
	f := &m.find
	f.hits, f.capped = f.hits[:0], false
	if f.query == "" {
		return
	}
	expr := regexp.QuoteMeta(f.query)
	if !strings.ContainsFunc(f.query, unicode.IsUpper) {
		expr = "(?i)" + expr
	}
	re := regexp.MustCompile(expr) // quoted: always compiles
	for i, l := range m.lines {
		for _, loc := range re.FindAllStringIndex(ansi.Strip(l), -1) {
			if len(f.hits) == maxHits {
				f.capped = true
				return
			}
			if loc[1] > loc[0] {
				f.hits = append(f.hits, hit{i, loc[0], loc[1]})
			}
		}
	}
	if f.cur >= len(f.hits) {
		f.cur = 0
	}
}

// step moves to the next (d=1) or previous (d=-1) match, wrapping.
func (m *Model) step(d int) {
	if n := len(m.find.hits); n > 0 {
		m.find.cur = (m.find.cur + d + n) % n
		m.jump()
	}
}

// jump scrolls so that the current match is on screen.
func (m *Model) jump() {
	f := &m.find
	if f.cur >= len(f.hits) {
		return
	}
	line, h, tab := f.hits[f.cur].line, m.bodyHeight(), m.Tab()
	if s := m.scroll[tab]; line < s || line >= s+h {
		m.scroll[tab] = min(max(line-h/3, 0), max(len(m.lines)-h, 0))
	}
}

// findLine is what the line under the tab bar shows while a find is on:
// the prompt and the count.
func (m *Model) findLine() string {
	s := m.ctx.Styles
	out := s.Accent.Render("/") + common.Trunc(m.find.query, max(m.width-16, 4))
	if m.find.editing {
		out += s.Cursor.Render(" ")
	}
	if st := m.FindStatus(); st != "" {
		out += "  " + s.Muted.Render(st)
	}
	return out
}

// highlight draws line i with its matches marked, or returns false when
// it has none.
func (m *Model) highlight(i int) (string, bool) {
	f := &m.find
	hs := f.hits
	j := sort.Search(len(hs), func(k int) bool { return hs[k].line >= i })
	if j == len(hs) || hs[j].line != i {
		return "", false
	}
	s := m.ctx.Styles
	p := ansi.Strip(m.lines[i])
	var b strings.Builder
	prev := 0
	for ; j < len(hs) && hs[j].line == i; j++ {
		st := s.Match
		if j == f.cur {
			st = s.MatchCur
		}
		b.WriteString(p[prev:hs[j].start])
		b.WriteString(st.Render(p[hs[j].start:hs[j].end]))
		prev = hs[j].end
	}
	b.WriteString(p[prev:])
	return b.String(), true
}
