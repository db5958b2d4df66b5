package ui

import (
	"github.com/smtpscope/smtpscope/internal/fakebackend"
	"strings"
	"testing"
	"time"
	"unicode"

	tea "charm.land/bubbletea/v2"

	"github.com/smtpscope/smtpscope/core"
	"github.com/smtpscope/smtpscope/ui/detail"
)

// FuzzRenderEmail draws every screen of an email whose strings are fuzzed
// and checks that nothing the data holds reaches the terminal raw.
func FuzzRenderEmail(f *testing.F) {
	for _, s := range []string{"plain", "\x1b[31mred", "\x1b]52;c;AAAA\x07", "\u009b2J", "\xff\xfe", "a\tb\r\nc", "\u202eexe.pdf", "日本語\x00"} {
		f.Add(s, s, s)
	}
	f.Fuzz(func(t *testing.T, subj, name, body string) {
		mem := fakebackend.NewMemory(t, "default")
		mem.Now = func() time.Time { return fixedNow }
		e := &core.Email{
			ID: "fz.0", Subject: subj, From: name, To: []string{name}, BodyText: body, BodyHTML: "<a href=\"" + name + "\">" + body + "</a>",
			Session:   core.SessionInfo{UID: "fz", SourceIP: name, Helo: subj, Time: fixedNow},
			Envelope:  core.Envelope{MailFrom: name, RcptTo: []string{subj}},
			RawHeader: []core.HeaderField{{Name: name, Value: subj}},
			Headers:   map[string][]string{strings.ToLower(name): {body}},
			Parts:     []core.Part{{Part: "1", ContentType: subj, Filename: name, Depth: 1}},
			Attachments: []core.Attachment{{Filename: name, ContentType: subj, DetectedType: body, Part: "1",
				YARA: []core.YaraMatch{{Rule: subj, Namespace: name}}}},
			IOCs:   []core.IOC{{Type: "url", Value: body, Source: name}},
			Errors: []string{body},
		}
		sess := &core.Session{Info: e.Session, Events: []core.Event{
			{Kind: core.EventClient, Cmd: "MAIL", Arg: name, Msg: -1},
			{Kind: core.EventServer, Code: 250, Text: subj, Msg: -1},
			{Kind: core.EventData, Msg: 0, Bytes: int64(len(body))},
			{Kind: core.EventAnomaly, Text: body, Msg: -1},
		}, Messages: []*core.Message{{Data: []byte(body)}}}
		mem.AddEmail(e, []byte(body), sess, nil)
		m := New(Options{Backend: mem, Plain: true, Now: func() time.Time { return fixedNow }, NoTick: true})
		defer m.Close()
		m.Update(tea.WindowSizeMsg{Width: 100, Height: 30})
		drive(m, m.runSearch(false, ""))
		assertClean(t, "list", m.View().Content)
		m.Update(tea.KeyPressMsg{Code: tea.KeyEnter})
		res := detail.Load(mem, *m.list.Selected())()
		m.Update(res)
		for _, k := range []string{"1", "2", "z", "3", "z", "4", "5", "6", "7", "8"} {
			m.Update(tea.KeyPressMsg{Code: rune(k[0]), Text: k})
			assertClean(t, "tab "+k, m.View().Content)
		}
	})
}

// FuzzClauses checks the query clause helpers on any input.
func FuzzClauses(f *testing.F) {
	for _, s := range []string{"", "a b", `subject:"a b" (x OR y)`, `"unclosed`, "((", "-x has:ioc"} {
		f.Add(s, "has:ioc")
	}
	f.Fuzz(func(t *testing.T, q, c string) {
		cs := splitClauses(q)
		for _, x := range cs {
			if x == "" {
				t.Fatalf("empty clause from %q", q)
			}
		}
		if c == "" || strings.ContainsAny(c, "\"()") || strings.IndexFunc(c, unicode.IsSpace) >= 0 || c != strings.TrimSpace(c) || !balanced(q) {
			return // an unbalanced query is the parser's to report
		}
		if clauses(q)[c] {
			if clauses(toggleClause(q, c))[c] {
				t.Fatalf("toggle off %q in %q kept it", c, q)
			}
			return
		}
		on := toggleClause(q, c)
		if !clauses(on)[c] {
			t.Fatalf("toggle on %q in %q gave %q", c, q, on)
		}
		if off := toggleClause(on, c); clauses(off)[c] {
			t.Fatalf("toggle off %q in %q gave %q", c, on, off)
		}
	})
}

// balanced reports whether q's quotes and parentheses are closed.
func balanced(q string) bool {
	depth, inQ := 0, false
	for _, r := range q {
		switch {
		case r == '"':
			inQ = !inQ
		case r == '(' && !inQ:
			depth++
		case r == ')' && !inQ:
			if depth == 0 {
				return false
			}
			depth--
		}
	}
	return depth == 0 && !inQ
}
