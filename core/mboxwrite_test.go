package core

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"time"
)

// readMboxAll reads every message of an mbox.
func readMboxAll(t testing.TB, data []byte) [][]byte {
	t.Helper()
	r := NewMboxReader(bytes.NewReader(data), 0)
	var out [][]byte
	for {
		msg, err := r.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("reading back: %v\n%q", err, data)
		}
		out = append(out, msg)
	}
}

// TestMboxWriterRoundTrip: what MboxWriter writes, MboxReader reads back
// byte for byte: From lines quoted (mboxrd), CRLF and LF messages, blank
// lines at the end; a message without a final line end gains "\n" and is
// reported as not exact.
func TestMboxWriterRoundTrip(t *testing.T) {
	msgs := []string{
		"Subject: one\r\n\r\nFrom here\r\n>From there\r\n>>From everywhere\r\nFrom : obsolete\r\n",
		"Subject: two\n\nbody\n\n\n",
		"From the start\nSubject: three\n\n",
		"Subject: four\r\n\r\nends\r\n\r\n",
		"\r\n",
		"no line end",
	}
	var b bytes.Buffer
	w := NewMboxWriter(&b)
	when := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	for i, m := range msgs {
		exact, err := w.Write([]string{"a@x", "", "sp ace\x1b", ":c", "d", "e"}[i], when, []byte(m))
		if err != nil {
			t.Fatal(err)
		}
		if exact != strings.HasSuffix(m, "\n") {
			t.Errorf("message %d: exact %v", i, exact)
		}
	}
	out := b.String()
	for _, want := range []string{"From a@x Tue Jan  2 03:04:05 2024\n", "From MAILER-DAEMON ", "From sp_ace_ ", "From _c ", ">From here\r\n>>From there\r\n>>>From everywhere\r\n>From : obsolete\r\n", ">From the start\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("mbox lacks %q:\n%s", want, out)
		}
	}
	got := readMboxAll(t, b.Bytes())
	if len(got) != len(msgs) {
		t.Fatalf("%d messages read back, want %d", len(got), len(msgs))
	}
	for i, m := range msgs {
		want := m
		if !strings.HasSuffix(m, "\n") {
			want += "\n"
		}
		if string(got[i]) != want {
			t.Errorf("message %d: read back %q, want %q", i, got[i], want)
		}
	}
}

// FuzzMboxWriterRoundTrip: any messages, written and read back, are the
// same bytes (plus "\n" for one without a final line end).
func FuzzMboxWriterRoundTrip(f *testing.F) {
	f.Add([]byte("Subject: a\r\n\r\nFrom x\r\n"), []byte(">From y\n\n"), "s@x")
	f.Add([]byte("From "), []byte(""), "")
	f.Add([]byte("\n\n"), []byte("a\r"), "From")
	f.Fuzz(func(t *testing.T, a, b []byte, sender string) {
		var buf bytes.Buffer
		w := NewMboxWriter(&buf)
		for _, m := range [][]byte{a, b} {
			if _, err := w.Write(sender, time.Time{}, m); err != nil {
				t.Fatal(err)
			}
		}
		got := readMboxAll(t, buf.Bytes())
		if len(got) != 2 {
			t.Fatalf("%d messages read back\n%q", len(got), buf.Bytes())
		}
		for i, m := range [][]byte{a, b} {
			want := m
			if !bytes.HasSuffix(m, []byte("\n")) {
				want = append(append([]byte{}, m...), '\n')
			}
			if !bytes.Equal(got[i], want) {
				t.Fatalf("message %d: read back %q, want %q", i, got[i], want)
			}
		}
	})
}
