package core

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// analyzeBoth analyses raw through enmime's part reader (the reference,
// enmime_ref_test.go) and through splitMIME (the analyzer's): both must
// agree.
func analyzeBoth(t *testing.T, raw string) []*Email {
	t.Helper()
	ref := withEnmimeReader(NewAnalyzer(DefaultOptions())).AnalyzeBytes([]byte(raw))
	return []*Email{ref, NewAnalyzer(DefaultOptions()).AnalyzeBytes([]byte(raw))}
}

func attachmentMessage(header string) string {
	return "Subject: x\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n" +
		"--b\r\nContent-Type: text/plain\r\n\r\nbody\r\n" +
		"--b\r\n" + header + "\r\nContent-Transfer-Encoding: base64\r\n\r\nQUJD\r\n--b--\r\n"
}

// TestRFC2231Filenames: continuations, the charset of segment 0 applying
// to every encoded segment (RFC 2231 4.1), mixed encoded and plain
// segments, segments out of order, name* in Content-Type.
func TestRFC2231Filenames(t *testing.T) {
	cases := []struct{ header, want string }{
		{`Content-Disposition: attachment; filename*0*=ISO-8859-1''Fran%E7ois_; filename*1*=rapport%20final.txt`, "François_rapport final.txt"},
		{`Content-Disposition: attachment; filename*0*=ISO-8859-1''ab%E7c; filename*1*=def.txt`, "abçcdef.txt"},
		{`Content-Disposition: attachment; filename*0*=ISO-8859-1''ab%E7; filename*1="c def.txt"`, "abçc def.txt"},
		{`Content-Disposition: attachment; filename*1*=%E9.txt; filename*0*=iso-8859-1''caf`, "café.txt"},
		{"Content-Type: application/octet-stream; name*0*=utf-8''%C3%A9t%C3; name*1*=%A9.txt", "été.txt"},
		{"Content-Type: application/octet-stream;\r\n name*1*=%E0.txt;\r\n name*0*=iso-8859-1'fr'd%E9j", "déjà.txt"},
		{`Content-Disposition: attachment; filename*=windows-1252''%80uro.txt`, "€uro.txt"},
		{`Content-Disposition: attachment; filename*0="long "; filename*1="name.txt"`, "long name.txt"},
		{`Content-Disposition: attachment; filename*0*=koi8-r''%F4%C5%D3%D4; filename*1=.doc`, "Тест.doc"},
	}
	for _, c := range cases {
		for i, e := range analyzeBoth(t, attachmentMessage(c.header)) {
			if len(e.Attachments) != 1 || e.Attachments[0].Filename != c.want {
				t.Errorf("path %d: %s\n got %+v, want filename %q", i, c.header, e.Attachments, c.want)
			}
		}
	}
}

// TestFilenamePaths: a file name that is a path (Windows mailers write
// "C:\TEMP\x.png" unescaped) is saved by mail clients under its last
// component; the full value stays in filename_raw. Quoted pairs \" and \\
// are unescaped.
func TestFilenamePaths(t *testing.T) {
	cases := []struct{ header, want, raw string }{
		{`Content-Disposition: inline; filename="C:\TEMP\nsmailEG.png"`, "nsmailEG.png", `C:\TEMP\nsmailEG.png`},
		{`Content-Disposition: attachment; filename="C:\\Users\\x\\a.exe"`, "a.exe", `C:\Users\x\a.exe`},
		{`Content-Disposition: attachment; filename="../../etc/passwd"`, "passwd", "../../etc/passwd"},
		{`Content-Disposition: attachment; filename="say \"hi\".txt"`, `say "hi".txt`, ""},
		{`Content-Type: image/png; name="D:\pics\cat.png"`, "cat.png", `D:\pics\cat.png`},
		{`Content-Disposition: attachment; filename*=utf-8''dir%2F%C3%A9.txt`, "é.txt", "dir/é.txt"},
		{`Content-Disposition: attachment; filename="C:\TEMP\"`, `C:\TEMP\`, ""},
	}
	for _, c := range cases {
		for i, e := range analyzeBoth(t, attachmentMessage(c.header)) {
			if len(e.Attachments) != 1 {
				t.Fatalf("%s: attachments %+v", c.header, e.Attachments)
			}
			at := e.Attachments[0]
			if at.Filename != c.want || at.FilenameRaw != c.raw {
				t.Errorf("path %d: %s\n got filename %q raw %q, want %q raw %q", i, c.header, at.Filename, at.FilenameRaw, c.want, c.raw)
			}
			p := e.Parts[len(e.Parts)-1]
			if p.Filename != c.want || p.FilenameRaw != c.raw {
				t.Errorf("path %d: part %+v", i, p)
			}
		}
	}
}

// TestEncodedWordRawEightBit: raw 8-bit bytes inside an RFC 2047 encoded
// word are bytes of the word's charset (as Python, Stalwart and zbateson
// read them); the word is decoded.
func TestEncodedWordRawEightBit(t *testing.T) {
	cases := []struct{ in, want string }{
		{"=?iso-8859-1?Q?Die_Hasen_und_die_Fr\xf6sche?=", "Die Hasen und die Frösche"},
		{"=?utf-8?q?Fr\xc3\xb6sche?= und =?utf-8?q?H=C3=A4sen?=", "Frösche und Häsen"},
		{"Re: =?ISO-8859-1?Q?\xe9t\xe9?=", "Re: été"},
		{"=?utf-8?B?SMOk\xffc2Vu?=", "Häsen"},
		{"=?iso-8859-1?Q?a?= plain", "a plain"},
	}
	for _, c := range cases {
		if got := decodeHeader(c.in); got != c.want {
			t.Errorf("decodeHeader(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// oracle reads the Python email oracle's summaries of the shared corpus.
func oracle(t *testing.T) map[string]map[string]any {
	root := sharedDir(t, "corpus", "eml")
	f, err := os.Open(filepath.Join(root, "expected", "python-email-oracle", "summary.jsonl"))
	if err != nil {
		t.Skipf("python oracle: %v", err)
	}
	defer f.Close()
	out := map[string]map[string]any{}
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<24)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatal(err)
		}
		if _, mbox := m["mbox_index"]; !mbox {
			out[m["file"].(string)] = m
		}
	}
	return out
}

// eachOracleFile analyses every corpus file the Python oracle summarised
// (not the mbox members) for which keep(raw) holds, hands check the
// file's name, our analysis and the oracle's summary, and returns how
// many files it checked. It skips the test when the corpus or the
// oracle's summaries are absent.
func eachOracleFile(t *testing.T, keep func(raw []byte) bool, check func(name string, e *Email, want map[string]any)) int {
	t.Helper()
	root := sharedDir(t, "corpus", "eml")
	a := NewAnalyzer(DefaultOptions())
	n := 0
	for name, want := range oracle(t) {
		raw, err := os.ReadFile(filepath.Join(root, name))
		if err != nil {
			t.Fatal(err)
		}
		if !keep(raw) {
			continue
		}
		n++
		check(name, a.AnalyzeBytes(raw), want)
	}
	return n
}

// TestCorpusEightBitEncodedWordSubjects compares, for every corpus file
// whose Subject has raw 8-bit bytes inside an encoded word, our subject
// with Python's.
func TestCorpusEightBitEncodedWordSubjects(t *testing.T) {
	n := eachOracleFile(t, func(raw []byte) bool {
		return subjectHasEightBitWord(parseRawHeader(raw, DefaultMaxHeaderValue, DefaultMaxHeaderFields).fields)
	}, func(name string, e *Email, want map[string]any) {
		if ws, _ := want["subject"].(string); e.Subject != ws {
			t.Errorf("%s: subject %q, Python says %q", name, e.Subject, ws)
		}
	})
	if n < 15 {
		t.Errorf("only %d corpus files with 8-bit encoded-word subjects (expected about 20)", n)
	}
}

func subjectHasEightBitWord(fields []HeaderField) bool {
	for _, f := range fields {
		if !strings.EqualFold(f.Name, "subject") {
			continue
		}
		for _, w := range strings.Fields(f.Value) {
			if strings.HasPrefix(w, "=?") && strings.HasSuffix(w, "?=") && strings.IndexFunc(w, func(r rune) bool { return r >= 0x80 }) >= 0 {
				return true
			}
		}
	}
	return false
}

// TestDecodeHeaderKeepsText: decoded text is not rewritten ("a=b" stays,
// no quotes added).
func TestDecodeHeaderKeepsText(t *testing.T) {
	cases := []struct{ in, want string }{
		{"=?utf-8?q?a=3Db?=", "a=b"},
		{"=?utf-8?q?x?= y=z", "x y=z"},
		{"=?utf-8?Q?caf=C3=A9?= =?utf-8?Q?_au_lait?=", "café au lait"},
	}
	for _, c := range cases {
		if got := decodeHeader(c.in); got != c.want {
			t.Errorf("decodeHeader(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}
