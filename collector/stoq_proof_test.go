package collector_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/smtpscope/smtpscope/collector"
	"github.com/smtpscope/smtpscope/core"
	"github.com/smtpscope/smtpscope/internal/mtatest"
)

// TestProcStoqMaildirPostfix is the proof of stoQ parity: mail delivered
// by a real Postfix (virtual Maildir delivery on 127.0.0.1, sent with
// swaks) is processed by the smtpscope command that translates
//
//	stoq run -P dirmon -A filedir -C filedir -s smtp --plugin-opts \
//	    dirmon:source_dir=MAILDIR/new filedir:archive_dir=ARCHIVE filedir:results_dir=RESULTS \
//	    smtp:always_dispatch=hash,yara smtp:archive_attachments=True smtp:extract_iocs=True
//
// (README.md, "stoQ parity"), once with stoQ results and once,
// over a copy of the Maildir, with record results and ACE submission.
// It checks the Maildir moves, the archive paths and bytes, the results
// files and the IOCs (a defanged URL and IPs planted in the mails).
func TestProcStoqMaildirPostfix(t *testing.T) {
	mtatest.RequireRoot(t)
	mtatest.Require(t, mtatest.PostfixCmd, mtatest.PostfixMaster, "swaks")
	tmp := t.TempDir()
	if err := os.Chmod(tmp, 0o755); err != nil { // postfix's virtual delivery runs as nobody
		t.Fatal(err)
	}
	pf := mtatest.StartPostfix(t, mtatest.PostfixConfig{Delivery: mtatest.Maildir, MaildirBase: filepath.Join(tmp, "mail")})

	payload := []byte("MZ\x90\x00 stage two STOQ-PROOF-MARKER \x00\x01\x02")
	payFile := filepath.Join(tmp, "update.exe")
	if err := os.WriteFile(payFile, payload, 0o644); err != nil {
		t.Fatal(err)
	}
	docFile := filepath.Join(tmp, "notes.txt")
	if err := os.WriteFile(docFile, []byte("meeting notes, nothing else\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	mtatest.Swaks(t, pf.Addr, "--from", "billing@phish.example", "--to", "alice@example.test",
		"--header", "Subject: reset your password",
		"--body", "Reset at hxxp://phish-login[.]com/reset?u=alice now, or call 203.0.113.77.",
		"--attach-type", "application/octet-stream", "--attach", "@"+payFile)
	mtatest.Swaks(t, pf.Addr, "--from", "bob@partner.example", "--to", "carol@example.test",
		"--header", "Subject: notes", "--add-header", "X-Originating-IP: [198.51.100.44]",
		"--body", "see the notes", "--attach-type", "text/plain", "--attach", "@"+docFile)
	mtatest.Swaks(t, pf.Addr, "--from", "news@letters.example", "--to", "dave@example.test",
		"--header", "Subject: plain", "--body", "nothing to see at evil-cdn[.]net")
	delivered := pf.WaitDelivered(t, 3, 60*time.Second)
	maildir := filepath.Join(pf.MaildirBase, "Maildir")

	// a copy for the second run
	md2 := filepath.Join(tmp, "Maildir2")
	for i, f := range pf.MaildirFiles() {
		deliverMaildir(t, md2, filepath.Base(f), delivered[i])
	}

	yaraArgs := []string{}
	if core.YaraAvailable() {
		rules := writeFile(t, filepath.Join(tmp, "rules", "proof.yar"), `rule stoq_proof { strings: $m = "STOQ-PROOF-MARKER" condition: $m }`)
		yaraArgs = []string{"--yara-rules", filepath.Dir(rules)}
	} else {
		t.Log("YARA not compiled in: running without --yara-rules (go test -tags yara to include it)")
	}

	// run 1: the stoQ command, translated (stoQ results)
	archive, results, data := filepath.Join(tmp, "archive"), filepath.Join(tmp, "results"), filepath.Join(tmp, "data")
	args := append([]string{"--data", data, "--maildir", filepath.Join(maildir, "new"),
		"--archive-dir", archive, "--results-dir", results, "--results-format", "stoq",
		"--always-dispatch", "hash,yara", "--archive-attachments", "--extract-iocs",
		"--no-index", "--once-timeout", "60s"}, yaraArgs...)
	if code, stderr := runCollect(t, args...); code != 0 {
		t.Fatalf("collect exited %d:\n%s", code, stderr)
	}
	if n := collector.DirNames(t, filepath.Join(maildir, "new")); len(n) != 0 {
		t.Errorf("Maildir/new still holds %v", n)
	}
	cur := collector.DirNames(t, filepath.Join(maildir, "cur"))
	if len(cur) != 3 {
		t.Errorf("Maildir/cur = %v, want 3 files", cur)
	}
	for _, n := range cur {
		if !strings.HasSuffix(n, ":2,") {
			t.Errorf("Maildir/cur/%s lacks the :2, info", n)
		}
	}
	files := collector.DirNames(t, results)
	if len(files) != 3 {
		t.Fatalf("results dir: %v", files)
	}
	type stoqDoc struct {
		ScanID  string `json:"scan_id"`
		Results []struct {
			Size        int64 `json:"size"`
			PayloadMeta struct {
				ExtraData map[string]any `json:"extra_data"`
			} `json:"payload_meta"`
			Archivers map[string]struct {
				Path string `json:"path"`
			} `json:"archivers"`
			Workers map[string]json.RawMessage `json:"workers"`
		} `json:"results"`
	}
	iocs := map[string]bool{}
	yaraHits := 0
	archived := 0
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join(results, f))
		if err != nil {
			t.Fatal(err)
		}
		var doc stoqDoc
		if err := json.Unmarshal(b, &doc); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if doc.ScanID != f {
			t.Errorf("%s: scan_id %s", f, doc.ScanID)
		}
		if src, _ := doc.Results[0].PayloadMeta.ExtraData["source_dir"].(string); src != filepath.Join(maildir, "new") {
			t.Errorf("%s: source_dir %q", f, src)
		}
		for i, r := range doc.Results {
			p := r.Archivers["filedir"].Path
			if p == "" {
				t.Errorf("%s: result %d not archived", f, i)
				continue
			}
			c, err := os.ReadFile(p)
			if err != nil || sha1Hex(c) != filepath.Base(p) || int64(len(c)) != r.Size {
				t.Errorf("%s: result %d archived at %s: %v (sha1 %s, %d bytes)", f, i, p, err, sha1Hex(c), len(c))
			}
			if rel, _ := filepath.Rel(archive, p); rel != filepath.FromSlash(collectorFiledirRel(filepath.Base(p))) {
				t.Errorf("%s: archive path %s not in the filedir layout under %s", f, p, archive)
			}
			archived++
			var y struct {
				Matches []struct {
					Rule string `json:"rule"`
				} `json:"matches"`
			}
			if raw, ok := r.Workers["yara"]; ok {
				_ = json.Unmarshal(raw, &y)
				for _, m := range y.Matches {
					if m.Rule == "stoq_proof" {
						yaraHits++
					}
				}
			}
		}
		var found map[string][]string
		if raw, ok := doc.Results[0].Workers["iocextract"]; ok {
			if err := json.Unmarshal(raw, &found); err != nil {
				t.Fatal(err)
			}
		}
		for typ, vals := range found {
			for _, v := range vals {
				iocs[typ+":"+v] = true
			}
		}
	}
	if archived != 3+2 {
		t.Errorf("%d archived payloads, want 5 (3 emails, 2 attachments)", archived)
	}
	for _, want := range []string{"url:http://phish-login.com/reset?u=alice", "ipv4:203.0.113.77", "ipv4:198.51.100.44", "domain:evil-cdn.net"} {
		if !iocs[want] {
			t.Errorf("IOC %s missing from the stoQ results; have %v", want, sortedKeys(iocs))
		}
	}
	if core.YaraAvailable() && yaraHits != 1 {
		t.Errorf("%d stoq_proof YARA hits in the results, want 1 (the attachment)", yaraHits)
	}

	// run 2: the same options with record results, over the copy, with ACE
	sink := startSink(t, filepath.Join(tmp, "sink"))
	results2 := filepath.Join(tmp, "results2")
	args = append([]string{"--data", filepath.Join(tmp, "data2"), "--maildir", md2,
		"--archive-dir", archive, "--results-dir", results2, "--results-format", "record",
		"--always-dispatch", "hash,yara", "--archive-attachments", "--extract-iocs",
		"--ace", sink.url, "--no-index", "--once-timeout", "60s"}, yaraArgs...)
	if code, stderr := runCollect(t, args...); code != 0 {
		t.Fatalf("collect (record results) exited %d:\n%s", code, stderr)
	}
	files = collector.DirNames(t, results2)
	if len(files) != 3 {
		t.Fatalf("record results dir: %v", files)
	}
	subs := byEmail(t, filepath.Join(tmp, "sink"))
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join(results2, f))
		if err != nil {
			t.Fatal(err)
		}
		var rec core.Email
		if err := json.Unmarshal(b, &rec); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if f != rec.ID+".json" || !strings.HasPrefix(rec.Source, filepath.Join(md2, "new")+"/") || rec.Session.UID != "" {
			t.Errorf("%s: id %s source %s session %q", f, rec.ID, rec.Source, rec.Session.UID)
		}
		if len(subs[rec.ID]) != 1 {
			t.Errorf("%s: %d ACE submissions", rec.ID, len(subs[rec.ID]))
			continue
		}
		hasAtt := false
		for _, a := range rec.Attachments {
			hasAtt = hasAtt || a.Filename == "update.exe"
		}
		tags := strings.Join(subs[rec.ID][0].Analysis.Tags, ",")
		if core.YaraAvailable() && hasAtt != strings.Contains(tags, "yara:stoq_proof") {
			t.Errorf("%s: ACE tags %q (has update.exe: %v)", rec.ID, tags, hasAtt)
		}
	}
}

// collectorFiledirRel is stoQ's filedir layout, written out here
// independently of collector.FiledirRel.
func collectorFiledirRel(sha1 string) string {
	return strings.Join([]string{sha1[:1], sha1[1:2], sha1[2:3], sha1[3:4], sha1[4:5], sha1}, "/")
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
