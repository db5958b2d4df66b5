package core

import (
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestYaraFileType(t *testing.T) {
	for _, c := range []struct {
		data, want string
	}{
		{"MZ\x90\x00", "EXE"},
		{"PK\x03\x04\x14\x00\x06\x00rest", "Office"}, // the longer signature before ZIP's
		{"PK\x03\x04\x0a\x00", "ZIP"},
		{"%PDF-1.7", "PDF"},
		{"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "OLE"},
		{"CWS\x0a", "CWS"}, // listed as SWF then as CWS: the later name
		{"\x7fELF", "ELF"},
		{"#!/bin/sh", "UNIX SCRIPT"},
		{"{\\rtf1", "RTF"},
		{"M", "UNKNOWN"}, // shorter than every signature it starts
		{"", "UNKNOWN"},
		{"hello", "UNKNOWN"},
	} {
		if got := YaraFileType([]byte(c.data)); got != c.want {
			t.Errorf("YaraFileType(%q) = %q, want %q", c.data, got, c.want)
		}
	}
}

func TestYaraExtension(t *testing.T) {
	// Python's os.path.splitext(name)[1].lower(), as LOKI computes it.
	for name, want := range map[string]string{
		"invoice.PDF.exe": ".exe", "archive.tar.gz": ".gz", "README": "", ".bashrc": "",
		"..hidden": "", "a.": ".", "dir/x.JS": ".js", `C:\Users\x.Lnk`: ".lnk", "": "",
	} {
		if got := YaraExtension(name); got != want {
			t.Errorf("YaraExtension(%q) = %q, want %q", name, got, want)
		}
	}
}

// varScanner records the variables of each scan.
type varScanner struct {
	mu   sync.Mutex
	vars []YaraVars
}

func (s *varScanner) Scan(data []byte, timeout time.Duration) ([]YaraMatch, error) {
	panic("the analysis must use ScanVars")
}

func (s *varScanner) ScanVars(data []byte, v YaraVars, timeout time.Duration) ([]YaraMatch, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.vars = append(s.vars, v)
	return nil, nil
}

// TestYaraVarsPerObject: the analysis scans the message and each
// attachment with its own variables: names, paths through the
// containers, extensions and types.
func TestYaraVarsPerObject(t *testing.T) {
	sc := &varScanner{}
	opts := DefaultOptions()
	opts.Yara = sc
	opts.Unzip = true
	zipData := buildZip(t, []zipEntry{{name: "docs/Inner.EXE", data: []byte("MZ\x90\x00 program")}})
	raw := "From: a@b.example\r\nSubject: x\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n" +
		"--b\r\nContent-Type: text/plain\r\n\r\nhello\r\n" +
		"--b\r\nContent-Type: application/zip\r\nContent-Disposition: attachment; filename=\"attachment.zip\"\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
		strings.ReplaceAll(b64lines(zipData), "\n", "\r\n") +
		"--b\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
		strings.ReplaceAll(b64lines([]byte("%PDF-1.4 unnamed")), "\n", "\r\n") +
		"--b--\r\n"
	e := NewAnalyzer(opts).AnalyzeBytes([]byte(raw))
	byPath := map[string]YaraVars{}
	for _, v := range sc.vars {
		byPath[v.Filepath] = v
	}
	var unnamed string
	for _, a := range e.Attachments {
		if a.Filename == "" {
			unnamed = "part-" + a.Part
		}
	}
	var inner Attachment
	for _, a := range e.Attachments {
		if strings.HasSuffix(a.Part, "!docs/Inner.EXE") {
			inner = a
		}
	}
	want := []YaraVars{
		{Filename: "msg", Filepath: "msg", Filetype: "UNKNOWN", MD5: e.MD5},
		// archive/zip writes version 20 and flag 8 (data descriptor):
		// "50 4B 03 04 14 00 08 00", which signature-base names JAR.
		{Filename: "attachment.zip", Filepath: "msg/attachment.zip", Extension: ".zip", Filetype: "JAR", MD5: e.Attachments[0].MD5},
		{Filename: "Inner.EXE", Filepath: "msg/attachment.zip/docs/Inner.EXE", Extension: ".exe", Filetype: "EXE", MD5: inner.MD5},
		{Filename: unnamed, Filepath: "msg/" + unnamed, Filetype: "PDF"},
	}
	for _, w := range want {
		got, ok := byPath[w.Filepath]
		if w.MD5 == "" {
			w.MD5 = got.MD5
		}
		if !ok || got != w {
			var have []string
			for p := range byPath {
				have = append(have, p)
			}
			slices.Sort(have)
			t.Errorf("scan of %s: %+v (found %v), want %+v; scanned %v", w.Filepath, got, ok, w, have)
		}
	}
	if unnamed == "" || inner.MD5 == "" {
		t.Fatalf("attachments %+v", e.Attachments)
	}
}

// TestYaraExternalsMatch: with libyara, rules written as signature-base
// writes them (conditions on filename, filepath, extension, filetype,
// owner, md5) compile and match the object they describe, and only it.
func TestYaraExternalsMatch(t *testing.T) {
	needYara(t)
	dir := t.TempDir()
	p := writeRule(t, dir, "ext.yar", `
rule SUSP_Exe_In_Zip_By_Path {
	condition: filepath contains ".zip/" and extension == ".exe" and filetype == "EXE"
}
rule SUSP_Named_Inner {
	condition: filename == "Inner.EXE" and owner == ""
}
rule SUSP_Ext_Not_Type {
	condition: extension == ".pdf" and not filetype == "PDF"
}
rule SUSP_Message_Level {
	condition: filepath == "msg" and filename == "msg"
}
rule SUSP_Known_MD5 {
	condition: md5 == "`+md5hex("MZ\x90\x00 program")+`"
}
rule Owner_Set {
	condition: owner != ""
}
`)
	r, err := CompileYara([]string{p})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	zipData := buildZip(t, []zipEntry{{name: "docs/Inner.EXE", data: []byte("MZ\x90\x00 program")}})
	raw := "Subject: x\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n" +
		"--b\r\nContent-Type: application/zip\r\nContent-Disposition: attachment; filename=\"a.zip\"\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
		strings.ReplaceAll(b64lines(zipData), "\n", "\r\n") +
		"--b\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename=\"invoice.pdf\"\r\n\r\nMZ not a pdf\r\n" +
		"--b--\r\n"
	opts := DefaultOptions()
	opts.Yara, opts.Unzip, opts.YaraTimeout = r, true, 30*time.Second
	e := NewAnalyzer(opts).AnalyzeBytes([]byte(raw))
	hits := map[string][]string{"msg": nil}
	for _, m := range e.YARA {
		hits["msg"] = append(hits["msg"], m.Rule)
	}
	for _, a := range e.Attachments {
		var rules []string
		for _, m := range a.YARA {
			rules = append(rules, m.Rule)
		}
		slices.Sort(rules)
		hits[a.Filename] = rules
		if len(a.Errors) > 0 {
			t.Errorf("%s: %v", a.Filename, a.Errors)
		}
	}
	want := map[string][]string{
		"msg":            {"SUSP_Message_Level"},
		"a.zip":          nil,
		"docs/Inner.EXE": {"SUSP_Exe_In_Zip_By_Path", "SUSP_Known_MD5", "SUSP_Named_Inner"},
		"invoice.pdf":    {"SUSP_Ext_Not_Type"},
	}
	for k, w := range want {
		if !slices.Equal(hits[k], w) {
			t.Errorf("%s: rules %v, want %v", k, hits[k], w)
		}
	}
	// Scan (no object) leaves every variable at its default "".
	m, err := r.Scan([]byte("MZ"), 30*time.Second)
	if err != nil || len(m) != 0 {
		t.Errorf("Scan with the defaults: %v, %v", m, err)
	}
	// Concurrent scans each see their own variables.
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v := YaraVars{Filename: "Inner.EXE"}
			want := 1
			if i%2 == 1 {
				v.Filename, want = "other.exe", 0
			}
			m, err := r.ScanVars(nil, v, 30*time.Second)
			if err != nil || len(m) != want {
				t.Errorf("scan %d: %d hits, %v; want %d", i, len(m), err, want)
			}
		}()
	}
	wg.Wait()
}

func md5hex(s string) string {
	m, _, _ := hashes([]byte(s))
	return m
}
