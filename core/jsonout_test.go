package core

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

// TestJSONEncoderEscapesTerminalRunes: C1 controls, bidi controls and
// invisible characters come out as \uXXXX (QA: parse emitted a raw U+009B
// CSI and U+202E), the value decodes back the same, and other non-ASCII
// text is left as written.
func TestJSONEncoderEscapesTerminalRunes(t *testing.T) {
	in := &Email{Subject: "a\u009b31mb\u202etxt.exe\u200b\u061c\u2066\ufeff\u0085 é中", To: []string{"x\u2069"}}
	var buf bytes.Buffer
	if err := NewJSONEncoder(&buf).Encode(in); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{`\u009b`, `\u202e`, `\u200b`, `\u061c`, `\u2066`, `\ufeff`, `\u0085`, `\u2069`, "é中"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q: %s", want, out)
		}
	}
	assertNoUnsafeRunes(t, buf.Bytes())
	if strings.Count(out, "\n") != 1 || strings.Contains(out, "\n  ") {
		t.Errorf("not one compact line: %q", out)
	}
	var back Email
	if err := json.Unmarshal(buf.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if back.Subject != in.Subject || !reflect.DeepEqual(back.To, in.To) {
		t.Errorf("round trip: %q %q", back.Subject, back.To)
	}
}

func assertNoUnsafeRunes(t *testing.T, b []byte) {
	t.Helper()
	for i, r := range string(b) {
		if unsafeRune(r) {
			t.Fatalf("raw U+%04X at %d in %q", r, i, b)
		}
	}
}

// FuzzJSONEncoder: whatever the strings, the output is valid JSON that
// decodes to what encoding/json's own output decodes to, and holds none
// of the escaped runes raw.
func FuzzJSONEncoder(f *testing.F) {
	f.Add("plain", "\u009b[2J\u202e")
	f.Add("\xc2\x9b\xe2\x80\xae\xef\xbb\xbf", "\xc2")
	f.Add("<a href=x>&</a>", "\u2028\u2029\x00\x1b")
	f.Fuzz(func(t *testing.T, a, b string) {
		v := map[string]any{"a": a, "list": []string{b, a + b}, a: b}
		var buf bytes.Buffer
		if err := NewJSONEncoder(&buf).Encode(v); err != nil {
			t.Fatal(err)
		}
		if !json.Valid(buf.Bytes()) || !utf8.Valid(buf.Bytes()) {
			t.Fatalf("invalid output %q", buf.Bytes())
		}
		assertNoUnsafeRunes(t, buf.Bytes())
		std, _ := json.Marshal(v)
		var got, want any
		if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
			t.Fatal(err)
		}
		_ = json.Unmarshal(std, &want)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("decodes to %q, want %q", got, want)
		}
	})
}

// TestSafeJSONWriterAtEveryOffset: the eight-byte ASCII skip finds an
// escaped rune, and keeps other non-ASCII text, wherever it starts
// relative to the words it reads.
func TestSafeJSONWriterAtEveryOffset(t *testing.T) {
	for n := range 20 {
		for m := range 10 {
			pre, post := strings.Repeat("a", n), strings.Repeat("b", m)
			var buf bytes.Buffer
			if _, err := (safeJSONWriter{&buf}).Write([]byte(pre + "\u202e" + post + "é\u0085" + pre)); err != nil {
				t.Fatal(err)
			}
			if want := pre + `\u202e` + post + `é\u0085` + pre; buf.String() != want {
				t.Fatalf("%d/%d: %q, want %q", n, m, buf.String(), want)
			}
		}
	}
}
