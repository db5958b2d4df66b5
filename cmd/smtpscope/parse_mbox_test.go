package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/smtpscope/smtpscope/core"
)

// TestAnalyzeMbox: parse --mbox gives one record per message, source
// FILE#n, ids from the message bytes (as for the same message in an .eml
// file); an error keeps the messages read before it and names the file.
func TestAnalyzeMbox(t *testing.T) {
	dir := t.TempDir()
	msg1 := "Subject: one\n\n>From quoted\n"
	msg2 := "Subject: two\n\nbody\n"
	path := filepath.Join(dir, "box")
	if err := os.WriteFile(path, []byte("From a@x Mon Jan  1 00:00:00 2024\n"+msg1+"\nFrom b@x Mon Jan  1 00:00:00 2024\n"+msg2+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	an := core.NewAnalyzer(core.DefaultOptions())
	emails, err := analyzeMbox(an, path)
	if err != nil || len(emails) != 2 {
		t.Fatalf("%d emails, err %v", len(emails), err)
	}
	want := an.AnalyzeBytes([]byte(strings.Replace(msg1, ">From", "From", 1)))
	if emails[0].ID != want.ID || emails[0].Source != path+"#0" || emails[1].Source != path+"#1" || emails[1].Subject != "two" {
		t.Errorf("records %s %s %s %q", emails[0].ID, emails[0].Source, emails[1].Source, emails[1].Subject)
	}
	bad := filepath.Join(dir, "bad")
	if err := os.WriteFile(bad, []byte("Subject: not an mbox\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := analyzeMbox(an, bad); err == nil || !strings.Contains(err.Error(), bad+": not an mbox") {
		t.Errorf("err %v", err)
	}
}
