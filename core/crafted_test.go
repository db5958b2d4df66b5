package core

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// craftedWant is what testdata/crafted/NAME.want.json says of NAME.eml:
// values computed from the bytes the generator encoded (Python's hashlib,
// binascii, base64), not from smtpscope's output.
type craftedWant struct {
	Subject     string `json:"subject"`
	Attachments []struct {
		Filename    string `json:"filename"`
		FilenameRaw string `json:"filename_raw"`
		SHA256      string `json:"sha256"`
	} `json:"attachments"`
	Flags []string `json:"flags"`
}

// TestCraftedCorpus: one crafted message per fidelity defect class of
// issue 12 (RFC 2231 charsets, raw 8-bit in encoded words, uuencode parts
// and blocks, unclosed multiparts, mbox From_ lines, Windows paths, a
// boundary that never occurs). The files also seed FuzzAnalyze.
func TestCraftedCorpus(t *testing.T) {
	files, _ := filepath.Glob("testdata/crafted/*.eml")
	if len(files) == 0 {
		t.Fatal("no crafted files")
	}
	a := NewAnalyzer(DefaultOptions())
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var want craftedWant
		js, err := os.ReadFile(strings.TrimSuffix(f, ".eml") + ".want.json")
		if err == nil {
			err = json.Unmarshal(js, &want)
		}
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		e := a.AnalyzeBytes(raw)
		if e.Subject != want.Subject {
			t.Errorf("%s: subject %q, want %q", f, e.Subject, want.Subject)
		}
		if len(e.Attachments) != len(want.Attachments) {
			t.Errorf("%s: %d attachments, want %d: %+v", f, len(e.Attachments), len(want.Attachments), e.Attachments)
			continue
		}
		for i, w := range want.Attachments {
			g := e.Attachments[i]
			if g.Filename != w.Filename || g.FilenameRaw != w.FilenameRaw || g.SHA256 != w.SHA256 {
				t.Errorf("%s: attachment %d: %q (raw %q) %s, want %q (raw %q) %s", f, i, g.Filename, g.FilenameRaw, g.SHA256, w.Filename, w.FilenameRaw, w.SHA256)
			}
		}
		for _, fl := range want.Flags {
			if !slices.Contains(e.Flags, fl) {
				t.Errorf("%s: flags %v lack %q", f, e.Flags, fl)
			}
		}
	}
}
