package index

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/smtpscope/smtpscope/collector/capture"
	"github.com/smtpscope/smtpscope/core"
)

const pcapCorpus = "../../shared/corpus/pcap"

// zeekFileHashes reads every hash Zeek's baselines give an SMTP file:
// the md5/sha1/sha256 lines of file-analysis "out" files (SMTP sources
// only) and the sha1 column of files.log / files.cut.
func zeekFileHashes(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	hexRe := regexp.MustCompile(`^[0-9a-f]{32}([0-9a-f]{8})?([0-9a-f]{24})?$`)
	files, _ := filepath.Glob(filepath.Join(pcapCorpus, "expected/zeek/*/*"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		base := filepath.Base(f)
		switch {
		case base == "out":
			for _, blk := range strings.Split(string(b), "FILE_NEW") {
				if !strings.Contains(blk, "source: SMTP") {
					continue
				}
				for _, l := range strings.Split(blk, "\n") {
					if k, v, ok := strings.Cut(l, ": "); ok && (k == "MD5" || k == "SHA1" || k == "SHA256") {
						out[v] = f
					}
				}
			}
		case strings.HasPrefix(base, "files."):
			var col = -1
			for _, l := range strings.Split(string(b), "\n") {
				cells := strings.Split(strings.TrimPrefix(l, "#fields\t"), "\t")
				for i, c := range cells {
					if c == "sha1" {
						col = i
					}
				}
				if col >= 0 && col < len(cells) && hexRe.MatchString(cells[col]) {
					out[cells[col]] = f
				}
			}
		}
	}
	return out
}

// TestZeekFilesLogPivot: every hash Zeek's files.log (and file analysis)
// gives an SMTP file finds its email with hash:, on an index of what
// smtpscope makes of the corpus pcaps (pcap -> session file -> records).
func TestZeekFilesLogPivot(t *testing.T) {
	if _, err := os.Stat(pcapCorpus); err != nil {
		t.Skipf("shared pcap corpus absent (%s): %v", pcapCorpus, err)
	}
	want := zeekFileHashes(t)
	if len(want) < 10 {
		t.Fatalf("only %d hashes in the zeek baselines", len(want))
	}
	pcaps, _ := filepath.Glob(filepath.Join(pcapCorpus, "*.pcap"))
	extra, _ := filepath.Glob(filepath.Join(pcapCorpus, "extra/zeek__*.pcap"))
	an := core.NewAnalyzer(core.DefaultOptions())
	var docs []EmailDoc
	for _, p := range append(pcaps, extra...) {
		err := capture.Process(context.Background(), []string{p}, capture.Options{}, func(sf *capture.SessionFile) error {
			s, err := core.ParseSession(bytes.NewReader(sf.Data), sf.UID, time.Time{})
			if err != nil {
				return err
			}
			for _, e := range an.SessionEmails(s) {
				docs = append(docs, EmailDoc{Email: e})
			}
			return nil
		})
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
	}
	ix := openTest(t)
	if err := ix.IndexEmails(docs); err != nil {
		t.Fatal(err)
	}
	for h, from := range want {
		if len(ids(t, ix, "hash:"+h)) == 0 {
			t.Errorf("hash:%s (%s) finds nothing", h, strings.TrimPrefix(from, pcapCorpus+"/"))
		}
	}
}
