package core

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// encodeJSONRef is the record as encoding/json writes it through
// NewJSONEncoder: the reference WriteEmailJSON must equal byte for byte.
func encodeJSONRef(t testing.TB, e *Email) ([]byte, error) {
	t.Helper()
	var buf bytes.Buffer
	err := NewJSONEncoder(&buf).Encode(e)
	return buf.Bytes(), err
}

func requireSameJSON(t testing.TB, what string, e *Email) {
	t.Helper()
	want, werr := encodeJSONRef(t, e)
	var got bytes.Buffer
	gerr := WriteEmailJSON(&got, e)
	if (werr == nil) != (gerr == nil) || werr != nil && werr.Error() != gerr.Error() {
		t.Fatalf("%s: error %v, encoding/json's %v", what, gerr, werr)
	}
	if !bytes.Equal(got.Bytes(), want) {
		g, w := got.Bytes(), want
		i := 0
		for i < len(g) && i < len(w) && g[i] == w[i] {
			i++
		}
		t.Fatalf("%s: differs from encoding/json at byte %d:\n got  %q\n want %q", what, i,
			g[max(0, i-60):min(len(g), i+60)], w[max(0, i-60):min(len(w), i+60)])
	}
}

// jsonTricky are strings that exercise every escape: quotes, backslash,
// C0 controls (short and \u00XX forms), HTML characters (kept), invalid
// UTF-8, U+2028/2029, the runes NewJSONEncoder escapes, plain runs longer
// than eight bytes around them.
var jsonTricky = []string{
	"",
	"plain ascii longer than eight bytes",
	`quote " backslash \ slash /`,
	"controls \x00\x01\b\f\n\r\t\x1f\x7f end",
	"<html> & 'x' >",
	"bad utf8 \xff\xfe and \xc3 cut",
	"separators \u2028 \u2029 and C1 \u0085 \u009b",
	"bidi \u202e evil \u2066\u2069 zw \u200b\u200d\u2060\ufeff \u061c",
	"unicode é ü 日本語 😀 fine",
	"\xed\xa0\x80 surrogate, \xf4\x90\x80\x80 too large",
	strings.Repeat("0123456789abcdef", 5) + "\"" + strings.Repeat("x", 9) + "\x1b[31m",
}

// fillValue sets every field reachable from v: mode 0 leaves all zero,
// mode 1 sets all non-empty (slices and maps of two elements, pointers
// allocated), mode 2 makes every slice, map and pointer hold one element
// whose leaves are empty (omitempty inside), mode 3 makes them empty but
// not nil, mode 4 picks one of those for each value with r.
func fillValue(v reflect.Value, mode int, s *int, r *rand.Rand) {
	m := mode
	if mode == 4 {
		m = r.Intn(4)
	}
	next := func() string {
		*s++
		return jsonTricky[*s%len(jsonTricky)] + string(rune('a'+*s%26))
	}
	switch v.Kind() {
	case reflect.String:
		if m == 1 {
			v.SetString(next())
		}
	case reflect.Bool:
		v.SetBool(m == 1)
	case reflect.Int, reflect.Int64:
		if m == 1 {
			*s++
			v.SetInt(int64(*s*1000003) - 7)
		}
	case reflect.Uint64:
		if m == 1 {
			v.SetUint(1<<63 + uint64(*s))
		}
	case reflect.Pointer:
		if m != 0 {
			v.Set(reflect.New(v.Type().Elem()))
			fillValue(v.Elem(), mode, s, r)
		}
	case reflect.Slice:
		n := []int{0, 2, 1, 0}[m]
		if m != 0 {
			v.Set(reflect.MakeSlice(v.Type(), n, n))
		}
		for i := 0; i < n; i++ {
			fillValue(v.Index(i), mode, s, r)
		}
	case reflect.Map:
		if m == 0 {
			return
		}
		v.Set(reflect.MakeMap(v.Type()))
		for i := 0; i < []int{0, 3, 1, 0}[m]; i++ {
			k := reflect.New(v.Type().Key()).Elem()
			if m == 1 {
				k.SetString(next())
			}
			val := reflect.New(v.Type().Elem()).Elem()
			fillValue(val, mode, s, r)
			v.SetMapIndex(k, val)
		}
	case reflect.Struct:
		if v.Type() == reflect.TypeFor[time.Time]() {
			if m == 1 {
				v.Set(reflect.ValueOf(time.Date(2026, 12, 7, 21, 30, 5, 123456789, time.FixedZone("x", 3600+1800))))
			}
			return
		}
		for i := 0; i < v.NumField(); i++ {
			fillValue(v.Field(i), mode, s, r)
		}
	default:
		panic("fillValue: no case for " + v.Type().String() + ": add one (and to WriteEmailJSON)")
	}
}

// TestEmailJSONEveryField: every field of the record, set, empty and
// zero, is written as encoding/json writes it. A field added to Email
// (or a type it holds) and not to WriteEmailJSON fails here.
func TestEmailJSONEveryField(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	for mode := range 5 {
		for seed := range 20 * len(jsonTricky) {
			s := seed
			var e Email
			fillValue(reflect.ValueOf(&e).Elem(), mode, &s, r)
			requireSameJSON(t, fmt.Sprintf("mode %d seed %d", mode, seed), &e)
		}
	}
	// Each field set in turn, the others zero.
	var full Email
	s := 0
	fillValue(reflect.ValueOf(&full).Elem(), 1, &s, r)
	fv := reflect.ValueOf(full)
	for i := 0; i < fv.NumField(); i++ {
		var e Email
		reflect.ValueOf(&e).Elem().Field(i).Set(fv.Field(i))
		requireSameJSON(t, "field "+fv.Type().Field(i).Name, &e)
	}
}

// TestEmailJSONTimeError: a session time without an RFC 3339 form fails
// as encoding/json fails, and nothing is written.
func TestEmailJSONTimeError(t *testing.T) {
	e := &Email{}
	e.Session.Time = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
	var buf bytes.Buffer
	err := WriteEmailJSON(&buf, e)
	_, want := encodeJSONRef(t, e)
	if err == nil || want == nil || err.Error() != want.Error() || buf.Len() != 0 {
		t.Fatalf("error %v, wrote %d bytes; encoding/json: %v", err, buf.Len(), want)
	}
	var te *jsonTimeError
	if !errors.As(err, &te) {
		t.Errorf("error %T", err)
	}
}

// TestEmailJSONStringsExhaustive: every one- and two-byte string, and
// every rune, in a string is escaped as encoding/json and safeJSONWriter
// escape it.
func TestEmailJSONStringsExhaustive(t *testing.T) {
	check := func(s string) {
		var ref bytes.Buffer
		if err := NewJSONEncoder(&ref).Encode(s); err != nil {
			t.Fatal(err)
		}
		got := append(appendJSONString(nil, s), '\n')
		if !bytes.Equal(got, ref.Bytes()) {
			t.Fatalf("%q: got %s want %s", s, got, ref.Bytes())
		}
	}
	for a := range 256 {
		check(string([]byte{byte(a)}))
		for b := range 256 {
			check(string([]byte{byte(a), byte(b)}))
		}
	}
	for r := rune(0); r <= utf8.MaxRune; r++ {
		if r >= 0x3000 && r < 0xe000 || r >= 0x10100 && r%97 != 0 {
			continue // the same rules as their neighbours: a sample
		}
		rs := string(r)
		check(rs)
		check("abcdefg" + rs + "hijklmnop")
	}
	// Eight-byte blocks with one special byte at each position.
	for _, c := range []byte{0, 0x1f, 0x20, '"', '\\', 0x7f, 0x80, 0xff} {
		for i := range 16 {
			b := []byte("ABCDEFGHIJKLMNOP")
			b[i] = c
			check(string(b))
		}
	}
}

// FuzzEmailJSON: any strings, in any of the record's string positions
// (map keys too), are written as encoding/json writes them.
func FuzzEmailJSON(f *testing.F) {
	for _, s := range jsonTricky {
		f.Add(s, s+"x", int64(len(s)))
	}
	f.Fuzz(func(t *testing.T, a, b string, n int64) {
		e := &Email{
			ID: a, Subject: b, From: a + b, To: []string{a, b}, Cc: []string{},
			Headers:   map[string][]string{a: {b}, b: {a, ""}, "x" + a: nil},
			RawHeader: []HeaderField{{Name: a, Value: b}},
			BodyText:  a, BodyHTML: b, Size: n, Index: int(n % 1000),
			Parts:       []Part{{Part: a, Filename: b, Size: n, ZeekHashes: ZeekHashes{ZeekMD5: a}}},
			Attachments: []Attachment{{Filename: b, Errors: []string{a}, YARA: []YaraMatch{{Rule: a, Meta: map[string]string{b: a, a: b}, Strings: []YaraString{{Identifier: a, Offset: uint64(n), Data: b}}}}}},
			IOCs:        []IOC{{Type: a, Value: b, Sources: []string{a}}},
			Risks:       []Risk{{Code: a, Evidence: b}},
			Truncated:   []Truncation{{Field: a, Kept: n, Original: -n}},
			Envelope:    Envelope{MailFrom: a, RcptTo: []string{b}},
			ServerReply: &Reply{Code: int(n % 1000), Text: b},
		}
		e.Session.UID, e.Session.Helo = b, a
		e.Session.Time = time.Unix(n%(1<<40), n%1e9).UTC()
		requireSameJSON(t, "fuzz", e)
	})
}

// TestEmailJSONCorpus: the records of the shared corpus, written by
// WriteEmailJSON and by encoding/json, are the same bytes.
func TestEmailJSONCorpus(t *testing.T) {
	files := corpusFiles(t)
	a := NewAnalyzer(DefaultOptions())
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		requireSameJSON(t, f, a.AnalyzeBytes(raw))
	}
}

// BenchmarkEmailJSON compares WriteEmailJSON with encoding/json on the
// records of the shared corpus.
func BenchmarkEmailJSON(b *testing.B) {
	a := NewAnalyzer(DefaultOptions())
	var recs []*Email
	for _, f := range corpusFiles(b) {
		raw, err := os.ReadFile(f)
		if err != nil {
			b.Fatal(err)
		}
		recs = append(recs, a.AnalyzeBytes(raw))
	}
	var buf bytes.Buffer
	for _, e := range recs {
		WriteEmailJSON(&buf, e)
	}
	size := int64(buf.Len())
	for _, impl := range []struct {
		name string
		f    func(*bytes.Buffer, *Email) error
	}{
		{"encoding-json", func(w *bytes.Buffer, e *Email) error { return NewJSONEncoder(w).Encode(e) }},
		{"by-hand", func(w *bytes.Buffer, e *Email) error { return WriteEmailJSON(w, e) }},
	} {
		b.Run(impl.name, func(b *testing.B) {
			b.SetBytes(size)
			b.ReportAllocs()
			cpu0 := cpuTime()
			for b.Loop() {
				for _, e := range recs {
					buf.Reset()
					if err := impl.f(&buf, e); err != nil {
						b.Fatal(err)
					}
				}
			}
			reportCPU(b, cpu0, size)
		})
	}
}
