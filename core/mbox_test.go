package core

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestFromLineEml: a raw file that starts with an mbox From_ line is
// analysed from the line after it (header, MIME tree, attachments), with
// quoted From lines unquoted; size and hashes stay those of the file.
func TestFromLineEml(t *testing.T) {
	for _, nl := range []string{"\n", "\r\n"} {
		raw := strings.ReplaceAll("From alice@example.org Mon Jan  1 00:00:00 2024\nFrom: Alice <alice@example.org>\nSubject: hello\n"+
			"Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\n\n>From the start\n>>From here\n"+
			"--b\nContent-Type: application/pdf; name=broken.pdf\nContent-Transfer-Encoding: base64\n\nQUJD\n--b--\n", "\n", nl)
		for i, e := range analyzeBoth(t, raw) {
			if e.Subject != "hello" || e.From != "Alice <alice@example.org>" || len(e.Attachments) != 1 || e.Attachments[0].Filename != "broken.pdf" {
				t.Errorf("path %d: subject %q from %q attachments %+v errors %v", i, e.Subject, e.From, e.Attachments, e.Errors)
			}
			if e.BodyText != strings.ReplaceAll("From the start\n>From here", "\n", nl) {
				t.Errorf("path %d: body %q", i, e.BodyText)
			}
			if !hasFlag(e.Flags, FlagMboxFrom) || e.Size != int64(len(raw)) || e.SHA256 != sha256hex([]byte(raw)) {
				t.Errorf("path %d: flags %v size %d", i, e.Flags, e.Size)
			}
		}
	}
	// Without a From_ line nothing changes: ">From" in a body stays.
	e := NewAnalyzer(DefaultOptions()).AnalyzeBytes([]byte("Subject: s\n\n>From x\n"))
	if e.BodyText != ">From x\n" || hasFlag(e.Flags, FlagMboxFrom) {
		t.Errorf("body %q flags %v", e.BodyText, e.Flags)
	}
}

// TestCorpusFromLine: the mikel/mail files that start with a From_ line
// have the subject, sender and attachments Python finds.
func TestCorpusFromLine(t *testing.T) {
	n := eachOracleFile(t, func(raw []byte) bool { return fromLineLen(raw) != 0 }, func(name string, e *Email, want map[string]any) {
		if ws, _ := want["subject"].(string); strings.Join(strings.Fields(e.Subject), " ") != strings.Join(strings.Fields(ws), " ") {
			t.Errorf("%s: subject %q, Python %q", name, e.Subject, ws)
		}
		var names []string
		for _, at := range e.Attachments {
			names = append(names, at.Filename, at.FilenameRaw)
		}
		for _, wa := range want["attachments"].([]any) {
			if fn, _ := wa.(map[string]any)["filename"].(string); fn != "" && !strings.Contains(strings.Join(names, "\x00"), fn) {
				t.Errorf("%s: attachment %q missing (have %q)", name, fn, names)
			}
		}
	})
	if n < 5 {
		t.Errorf("only %d corpus files start with a From_ line (expected 5)", n)
	}
}

func readMbox(t *testing.T, in []byte, max int) ([][]byte, error) {
	t.Helper()
	r := NewMboxReader(bytes.NewReader(in), max)
	var out [][]byte
	for {
		m, err := r.Next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, m)
	}
}

// TestMboxReader: separators, the blank line before them, mboxrd and
// mboxo quoting, CRLF files, a byte order mark, and errors that name
// what is wrong.
func TestMboxReader(t *testing.T) {
	in := "\xef\xbb\xbfFrom a@x Mon Jan  1 00:00:00 2024\nSubject: 1\n\n>From me\n>>From you\nbody\n\n" +
		"From b@x Mon Jan  1 00:00:00 2024\r\nSubject: 2\r\n\r\nx\r\n\r\n" +
		"From c@x\nSubject: 3\n\nno final blank line\n"
	got, err := readMbox(t, []byte(in), 0)
	want := []string{"Subject: 1\n\nFrom me\n>From you\nbody\n", "Subject: 2\r\n\r\nx\r\n", "Subject: 3\n\nno final blank line\n"}
	if err != nil || len(got) != len(want) {
		t.Fatalf("%d messages, err %v", len(got), err)
	}
	for i := range want {
		if string(got[i]) != want[i] {
			t.Errorf("message %d: %q, want %q", i, got[i], want[i])
		}
	}
	for in, msg := range map[string]string{
		"Subject: not an mbox\n\nx\n": "not an mbox: line 1",
		"\n\n":                        "no \"From \" line",
		"From a\n" + strings.Repeat("x", 200) + "\n":        "mbox message 0 (line 2): larger than 100 bytes",
		"From a\nok\n\nFrom b\n" + strings.Repeat("y", 300): "mbox message 1 (line 5): larger than 100 bytes",
	} {
		got, err := readMbox(t, []byte(in), 100)
		if err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("%.30q: err %v, want %q", in, err, msg)
		}
		if strings.HasPrefix(in, "From a\nok") && (len(got) != 1 || string(got[0]) != "ok\n") {
			t.Errorf("message before the error lost: %q", got)
		}
	}
}

// TestCorpusMbox: MimeKit's mbox files split into as many messages as
// Python's mailbox module finds, with the same subjects.
func TestCorpusMbox(t *testing.T) {
	root := sharedDir(t, "corpus", "eml")
	want := map[string][]string{}
	for _, m := range oracleAll(t) {
		if _, ok := m["mbox_index"]; ok {
			s, _ := m["subject"].(string)
			want[m["file"].(string)] = append(want[m["file"].(string)], s)
		}
	}
	if len(want) == 0 {
		t.Skip("no mbox entries in the oracle")
	}
	a := NewAnalyzer(DefaultOptions())
	for name, subjects := range want {
		raw, err := os.ReadFile(filepath.Join(root, name))
		if err != nil {
			t.Fatal(err)
		}
		msgs, err := readMbox(t, raw, 0)
		if bytes.HasPrefix(raw, []byte("\xef\xbb\xbfFrom ")) && len(msgs) > 0 {
			// Python does not see the From_ line after a byte order
			// mark: its first message is our second.
			msgs = msgs[1:]
		}
		if err != nil || len(msgs) != len(subjects) {
			t.Errorf("%s: %d messages (err %v), Python finds %d", name, len(msgs), err, len(subjects))
			continue
		}
		for i, m := range msgs {
			if s := a.AnalyzeBytes(m).Subject; s != subjects[i] {
				t.Errorf("%s#%d: subject %q, Python %q", name, i, s, subjects[i])
			}
		}
	}
}

// FuzzMboxReader: never panics; messages written as mboxrd (From lines
// quoted, a blank line after each) read back exactly.
func FuzzMboxReader(f *testing.F) {
	f.Add([]byte("Subject: a\n\nFrom x\n>From y\n"), []byte("b\r\n\r\n"), []byte("From a\n\nx\n"))
	f.Add([]byte(""), []byte(">>From\n"), []byte("\xef\xbb\xbfFrom a\r\n"))
	f.Fuzz(func(t *testing.T, a, b, raw []byte) {
		_, _ = readMbox(t, raw, 1<<16)
		var box []byte
		var want [][]byte
		for _, m := range [][]byte{a, b} {
			if len(m) == 0 || m[len(m)-1] != '\n' {
				m = append(append([]byte(nil), m...), '\n')
			}
			want = append(want, m)
			box = append(box, "From sender Mon Jan  1 00:00:00 2024\n"...)
			for _, line := range bytes.SplitAfter(m, []byte("\n")) {
				if bytes.HasPrefix(line, fromPrefix) || isQuotedFrom(line) {
					box = append(box, '>')
				}
				box = append(box, line...)
			}
			box = append(box, '\n')
		}
		got, err := readMbox(t, box, 0)
		if err != nil || len(got) != 2 || !bytes.Equal(got[0], want[0]) || !bytes.Equal(got[1], want[1]) {
			t.Fatalf("round trip of %q: %q, %v", want, got, err)
		}
	})
}

// oracleAll is every line of the Python oracle, mbox members included.
func oracleAll(t *testing.T) []map[string]any {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(sharedDir(t, "corpus", "eml"), "expected", "python-email-oracle", "summary.jsonl"))
	if err != nil {
		t.Skipf("python oracle: %v", err)
	}
	var out []map[string]any
	for _, l := range bytes.Split(bytes.TrimSpace(data), []byte("\n")) {
		var m map[string]any
		if err := json.Unmarshal(l, &m); err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
	}
	return out
}
