package core

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func checkEscapeID(t *testing.T, s string) {
	t.Helper()
	e := EscapeID(s)
	if !utf8.ValidString(e) || strings.ContainsAny(e, "/\\\x00") {
		t.Fatalf("EscapeID(%q) = %q: invalid UTF-8 or a separator", s, e)
	}
	back, err := UnescapeID(e)
	if err != nil || back != s {
		t.Fatalf("UnescapeID(EscapeID(%q)) = %q, %v", s, back, err)
	}
	// a JSON round trip keeps the id (the queue keys are built from it)
	js, _ := json.Marshal(e)
	var rt string
	if err := json.Unmarshal(js, &rt); err != nil || rt != e {
		t.Fatalf("JSON changed %q into %q", e, rt)
	}
}

func TestEscapeID(t *testing.T) {
	for _, s := range []string{"CAbc123", "", "bad\xff", "bad\xfe", "a%FF", "a/b\\c", "x\x00y\n", "ünï", "\xed\xa0\x80", "%"} {
		checkEscapeID(t, s)
	}
	if EscapeID("bad\xff") == EscapeID("bad\xfe") || EscapeID("a%FF") == EscapeID("a\xff") {
		t.Error("different names share an id")
	}
	if EscapeID("CAbc123.session") != "CAbc123.session" || EscapeID("ünï") != "ünï" {
		t.Error("a valid name was changed")
	}
}

// TestSessionUIDEscaped: the uid from a file name and from @uid is escaped,
// so two names differing only in invalid bytes keep different uids.
func TestSessionUIDEscaped(t *testing.T) {
	body := "10.0.0.1:4000/tcp\n1700000000\n> HELO x\n< HELO 250 ok\n"
	ids := map[string]bool{}
	for _, name := range []string{"bad\xff", "bad\xfe"} {
		s, err := ParseSession(strings.NewReader(body), name, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		ids[s.Info.UID] = true
		if !utf8.ValidString(s.Info.UID) {
			t.Errorf("uid %q from the file name is not valid UTF-8", s.Info.UID)
		}
	}
	if len(ids) != 2 {
		t.Errorf("two names gave uids %v", ids)
	}
	s, err := ParseSession(bytes.NewReader([]byte("10.0.0.1:4000/tcp\n1700000000\n@uid C\xff/x\n> HELO x\n")), "f", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if s.Info.UID != "C%FF%2Fx" {
		t.Errorf("@uid gave %q", s.Info.UID)
	}
}

func FuzzEscapeID(f *testing.F) {
	for _, s := range []string{"CAbc", "bad\xff", "a%2F", "../x", "\x00", "é\xc3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		checkEscapeID(t, s)
		if s2 := s + "\xff"; EscapeID(s2) == EscapeID(s) {
			t.Fatalf("%q and %q share an id", s, s2)
		}
	})
}

// TestGlobalIDAlreadyGlobal: "<sensor>/<id>", reversed by SplitGlobalID; an id
// already global for that sensor (a hub's stored email) stays as it is,
// so a hub's event, alert or webhook names the email once, not as
// "s2/s2/C1.0".
func TestGlobalIDAlreadyGlobal(t *testing.T) {
	for _, c := range []struct{ sensor, id, want string }{
		{"s2", "C1.0", "s2/C1.0"},
		{"", "C1.0", "C1.0"},
		{"s2", "s2/C1.0", "s2/C1.0"},
		{"s2", "s2/C1.0+0123456789ab", "s2/C1.0+0123456789ab"},
		{"s2", "session/C1", "s2/session/C1"},
		{"s2", "s22/C1.0", "s2/s22/C1.0"},
	} {
		if got := GlobalID(c.sensor, c.id); got != c.want {
			t.Errorf("GlobalID(%q, %q) = %q, want %q", c.sensor, c.id, got, c.want)
		}
	}
	if s, id := SplitGlobalID(GlobalID("s2", "C1.0")); s != "s2" || id != "C1.0" {
		t.Errorf("SplitGlobalID(GlobalID(s2, C1.0)) = %q %q", s, id)
	}
}
