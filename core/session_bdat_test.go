package core

import (
	"strings"
	"testing"
)

// TestSessionBDATWithoutChunkBytes: BDAT whose chunk bytes the session
// file does not carry (ACE's Zeek script cannot record them) is a partial
// message flagged no_data, never a complete empty one.
func TestSessionBDATWithoutChunkBytes(t *testing.T) {
	head := lines("> EHLO c", "< EHLO 250 CHUNKING", "> MAIL FROM:<a@x.org>", "< MAIL 250 ok", "> RCPT TO:<b@x.org>", "< RCPT 250 ok")
	cases := map[string]struct {
		in   string
		data string
	}{
		"last, no raw":        {head + lines("> BDAT 120 LAST", "< BDAT 250 queued", "> QUIT ", "< QUIT 221 bye"), ""},
		"two chunks, no raw":  {head + lines("> BDAT 100", "< BDAT 250 ok", "> BDAT 20 LAST", "< BDAT 250 queued"), ""},
		"end of file":         {head + lines("> BDAT 120 LAST"), ""},
		"second chunk absent": {head + lines("> BDAT 3") + "@raw 3\nabc\n" + lines("> BDAT 20 LAST", "< BDAT 250 ok", "< BDAT 250 queued"), "abc"},
		"short raw block":     {head + lines("> BDAT 10 LAST") + "@raw 3\nabc\n" + lines("< BDAT 250 queued"), "abc"},
	}
	a := NewAnalyzer(DefaultOptions())
	for name, c := range cases {
		s := parseString(t, c.in)
		if len(s.Messages) != 1 {
			t.Fatalf("%s: %d messages", name, len(s.Messages))
		}
		e := a.SessionEmails(s)[0]
		if string(s.Messages[0].Data) != c.data || !e.Partial || !hasFlag(e.Flags, FlagNoData) {
			t.Errorf("%s: data %q partial %v flags %v", name, s.Messages[0].Data, e.Partial, e.Flags)
		}
		if !strings.Contains(strings.Join(e.Errors, "\n"), "BDAT") {
			t.Errorf("%s: errors do not say why: %v", name, e.Errors)
		}
	}
	// A complete BDAT transfer, BDAT 0 LAST and a chunk cut by a capture
	// gap (flagged gap) are not flagged no_data.
	for _, in := range []string{
		head + lines("> BDAT 10 LAST", "@gap 6") + "@raw 4\nabcd\n" + lines("< BDAT 250 ok"),
		head + lines("> BDAT 3 LAST") + "@raw 3\nabc\n" + lines("< BDAT 250 queued"),
		head + lines("> BDAT 3") + "@raw 3\nabc\n" + lines("> BDAT 0 LAST", "< BDAT 250 ok", "< BDAT 250 queued"),
	} {
		e := a.SessionEmails(parseString(t, in))[0]
		if e.Partial != hasFlag(e.Flags, FlagGap) || hasFlag(e.Flags, FlagNoData) {
			t.Errorf("BDAT with all its bytes: partial %v flags %v", e.Partial, e.Flags)
		}
	}
}
