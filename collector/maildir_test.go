package collector_test

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha1" //nolint:gosec // content addressing, as stoQ's filedir
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/smtpscope/smtpscope/collector"
	"github.com/smtpscope/smtpscope/core"
)

// rawEmail builds a raw RFC 822 message with a text body and, when
// attachment is not nil, one base64 attachment.
func rawEmail(subject, body, attName string, attachment []byte) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "From: sender@evil.example\r\nTo: victim@corp.example\r\nSubject: %s\r\nMessage-ID: <%s@evil.example>\r\nMIME-Version: 1.0\r\n", subject, strings.ReplaceAll(subject, " ", "-"))
	if attachment == nil {
		fmt.Fprintf(&b, "Content-Type: text/plain\r\n\r\n%s\r\n", body)
		return []byte(b.String())
	}
	b.WriteString("Content-Type: multipart/mixed; boundary=\"zz\"\r\n\r\n--zz\r\nContent-Type: text/plain\r\n\r\n")
	b.WriteString(body + "\r\n--zz\r\nContent-Type: application/octet-stream\r\n")
	fmt.Fprintf(&b, "Content-Disposition: attachment; filename=\"%s\"\r\nContent-Transfer-Encoding: base64\r\n\r\n", attName)
	enc := base64.StdEncoding.EncodeToString(attachment)
	for len(enc) > 76 {
		b.WriteString(enc[:76] + "\r\n")
		enc = enc[76:]
	}
	b.WriteString(enc + "\r\n--zz--\r\n")
	return []byte(b.String())
}

// zipOf builds a zip archive of name -> content (in name order).
func zipOf(t testing.TB, files map[string][]byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		w, err := zw.Create(n)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(files[n]); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func sha1Hex(b []byte) string {
	s := sha1.Sum(b) //nolint:gosec
	return hex.EncodeToString(s[:])
}

// deliverMaildir puts a message into DIR/new the Maildir way: written to
// tmp/, then renamed.
func deliverMaildir(t testing.TB, dir, name string, data []byte) string {
	t.Helper()
	for _, sub := range []string{"tmp", "new", "cur"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	tmp := filepath.Join(dir, "tmp", name)
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(dir, "new", name)
	if err := os.Rename(tmp, dst); err != nil {
		t.Fatal(err)
	}
	return dst
}

func waitUntil(t testing.TB, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func noFsync() *bool { f := false; return &f }

// TestMaildirInput runs a spool-less collector on a Maildir: a file
// present at start-up and one delivered while running are analysed,
// stored with their path as source and no session, submitted to ACE and
// moved to cur/ with ":2,"; a restart ingests nothing again.
func TestMaildirInput(t *testing.T) {
	tmp := t.TempDir()
	md, data := filepath.Join(tmp, "Maildir"), filepath.Join(tmp, "data")
	sink, srv := sinkServer(t, filepath.Join(tmp, "sink"))
	first := deliverMaildir(t, md, "1700000001.M1P1.host", rawEmail("at start", "see hxxp://bad-site[.]com/x from 203.0.113.9", "", nil))
	// a file already carrying Maildir info keeps its flags
	flagged := deliverMaildir(t, md, "1700000002.M2P2.host:2,S", rawEmail("flagged", "seen already", "", nil))

	cfg := &collector.Config{Data: data, Maildir: []string{filepath.Join(md, "new")}, Fsync: noFsync(),
		RescanInterval: collector.Duration(200 * time.Millisecond),
		Groups:         []collector.GroupConfig{{Name: "g", Nodes: []string{srv.URL}, FullDelivery: true}}}
	col, err := collector.New(cfg, collector.Options{})
	if err != nil {
		t.Fatal(err)
	}
	stop := runCollector(t, col)

	waitUntil(t, "start-up files moved to cur/", 20*time.Second, func() bool { return len(collector.DirNames(t, filepath.Join(md, "cur"))) == 2 })
	second := deliverMaildir(t, md, "1700000003.M3P3.host", rawEmail("while running", "plain", "", nil))
	waitUntil(t, "new file moved to cur/", 20*time.Second, func() bool { return len(collector.DirNames(t, filepath.Join(md, "cur"))) == 3 })
	want := []string{"1700000001.M1P1.host:2,", "1700000002.M2P2.host:2,S", "1700000003.M3P3.host:2,"}
	if got := collector.DirNames(t, filepath.Join(md, "cur")); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("cur/ = %v, want %v", got, want)
	}
	if got := collector.DirNames(t, filepath.Join(md, "new")); len(got) != 0 {
		t.Errorf("new/ still holds %v", got)
	}
	waitUntil(t, "3 submissions", 20*time.Second, func() bool { return sink.Accepted() == 3 })
	if err := stop(); err != nil {
		t.Fatal(err)
	}

	st, err := collector.OpenStore(data, collector.StoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sources := map[string]*core.Email{}
	_ = st.ListEmails(func(m *collector.EmailMeta) bool {
		rec, err := st.Record(m.ID)
		if err != nil {
			t.Error(err)
			return true
		}
		if m.Session != "" || rec.Session.UID != "" || !rec.NoSession || rec.HasSession() {
			t.Errorf("%s: raw email with a session: %q %q (no_session %v)", m.ID, m.Session, rec.Session.UID, rec.NoSession)
		}
		sources[rec.Source] = rec
		return true
	})
	for _, p := range []string{first, flagged, second} {
		if sources[p] == nil {
			t.Errorf("no record with source %s (have %v)", p, keys(sources))
		}
	}
	if rec := sources[first]; rec != nil {
		var vals []string
		for _, i := range rec.IOCs {
			vals = append(vals, i.Type+":"+i.Value)
		}
		got := strings.Join(vals, " ")
		if !strings.Contains(got, "url:http://bad-site.com/x") || !strings.Contains(got, "ipv4:203.0.113.9") {
			t.Errorf("IOCs of %s: %s", first, got)
		}
	}
	_ = st.Close()

	// restart: nothing new, nothing ingested again
	col, err = collector.New(cfg, collector.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := col.RunOnce(context.Background(), 20*time.Second); err != nil {
		t.Fatal(err)
	}
	st, err = collector.OpenStore(data, collector.StoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	stats, _ := st.Stats()
	if stats.Emails != 3 || stats.DuplicateEmails != 0 || sink.Accepted() != 3 {
		t.Errorf("after restart: %+v, sink accepted %d", stats, sink.Accepted())
	}
}

// TestMaildirMoveFailure: when cur/ cannot be written the file stays in
// new/, is ingested once, and moves on a later pass without being
// ingested again.
func TestMaildirMoveFailure(t *testing.T) {
	tmp := t.TempDir()
	md, data := filepath.Join(tmp, "Maildir"), filepath.Join(tmp, "data")
	deliverMaildir(t, md, "1700000009.M9P9.host", rawEmail("stuck", "body", "", nil))
	cfg := &collector.Config{Data: data, Maildir: []string{md}, Fsync: noFsync(), RescanInterval: collector.Duration(100 * time.Millisecond)}
	col, err := collector.New(cfg, collector.Options{})
	if err != nil {
		t.Fatal(err)
	}
	// cur/ replaced by a file: link and rename into it fail
	if err := os.Remove(filepath.Join(md, "cur")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(md, "cur"), []byte("in the way"), 0o644); err != nil {
		t.Fatal(err)
	}
	stop := runCollector(t, col)
	waitUntil(t, "the email stored", 20*time.Second, func() bool {
		st, err := col.Store().Stats()
		return err == nil && st.Emails == 1
	})
	time.Sleep(500 * time.Millisecond) // several passes retry the move
	if got := collector.DirNames(t, filepath.Join(md, "new")); len(got) != 1 {
		t.Errorf("new/ = %v, want the file kept", got)
	}
	if err := os.Remove(filepath.Join(md, "cur")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(md, "cur"), 0o700); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the file moved", 20*time.Second, func() bool { return len(collector.DirNames(t, filepath.Join(md, "cur"))) == 1 })
	st, _ := col.Store().Stats()
	if st.Emails != 1 || st.DuplicateEmails != 0 {
		t.Errorf("stats %+v: the email was ingested again", st)
	}
	errs, _ := col.Store().LastErrors()
	found := false
	for _, e := range errs {
		found = found || strings.Contains(e.Where, "1700000009.M9P9.host") && strings.Contains(e.Msg, "moving to cur/")
	}
	if !found {
		t.Errorf("move failure not reported: %+v", errs)
	}
	_ = stop() // Run's error is not checked here
}

// TestEMLDirInput: .eml files (recursively), remembered across restarts,
// ingested again only when their content changes.
func TestEMLDirInput(t *testing.T) {
	tmp := t.TempDir()
	dir, data := filepath.Join(tmp, "eml"), filepath.Join(tmp, "data")
	old := time.Now().Add(-time.Minute)
	write := func(rel string, b []byte) string {
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, old, old); err != nil {
			t.Fatal(err)
		}
		return p
	}
	a := write("a.eml", rawEmail("eml a", "a", "", nil))
	b := write("sub/b.EML", rawEmail("eml b", "b", "", nil))
	write("notes.txt", []byte("not an email"))
	write(".hidden.eml", rawEmail("hidden", "h", "", nil))
	write("empty.eml", nil)

	run := func(recursive bool) collector.StoreStats {
		t.Helper()
		cfg := &collector.Config{Data: data, EMLDir: []string{dir}, EMLRecursive: recursive, Fsync: noFsync(),
			RescanInterval: collector.Duration(100 * time.Millisecond)}
		col, err := collector.New(cfg, collector.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if err := col.RunOnce(context.Background(), 20*time.Second); err != nil {
			t.Fatal(err)
		}
		st, err := collector.OpenStore(data, collector.StoreOptions{})
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		stats, err := st.Stats()
		if err != nil {
			t.Fatal(err)
		}
		return stats
	}
	if st := run(false); st.Emails != 1 {
		t.Errorf("not recursive: %d emails, want 1 (a.eml)", st.Emails)
	}
	if st := run(true); st.Emails != 2 || st.DuplicateEmails != 0 {
		t.Errorf("recursive: %+v, want 2 emails, a.eml not read again", st)
	}
	if st := run(true); st.Emails != 2 || st.DuplicateEmails != 0 {
		t.Errorf("restart: %+v, want nothing ingested again", st)
	}
	// touched only: read again, same content, not ingested again
	now := time.Now().Add(-30 * time.Second)
	if err := os.Chtimes(a, now, now); err != nil {
		t.Fatal(err)
	}
	// changed content: a new email
	write("sub/b.EML", rawEmail("eml b v2", "b changed", "", nil))
	if st := run(true); st.Emails != 3 || st.DuplicateEmails != 0 {
		t.Errorf("after changes: %+v, want 3 emails", st)
	}
	// a non-recursive pass does not forget what is in subdirectories
	run(false)
	if st := run(true); st.Emails != 3 || st.DuplicateEmails != 0 {
		t.Errorf("after a non-recursive pass: %+v, want sub/b.EML still remembered", st)
	}
	st, err := collector.OpenStore(data, collector.StoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var srcs []string
	_ = st.ListEmails(func(m *collector.EmailMeta) bool { srcs = append(srcs, m.Source); return true })
	sort.Strings(srcs)
	if want := []string{a, b, b}; strings.Join(srcs, "|") != strings.Join(want, "|") {
		t.Errorf("sources %v, want %v", srcs, want)
	}
	errs, _ := st.LastErrors()
	found := false
	for _, e := range errs {
		found = found || strings.Contains(e.Where, "empty.eml") && strings.Contains(e.Msg, "empty file")
	}
	if !found {
		t.Errorf("empty.eml not reported: %+v", errs)
	}
}

// TestFiledirOutputs: results_dir in both formats, archive_dir in stoQ's
// filedir layout (the email and its attachments, zip members included),
// and the zip's members in the stored record.
func TestFiledirOutputs(t *testing.T) {
	for _, format := range []string{collector.ResultsRecord, collector.ResultsStoq} {
		t.Run(format, func(t *testing.T) {
			tmp := t.TempDir()
			md, data := filepath.Join(tmp, "Maildir"), filepath.Join(tmp, "data")
			arch, res := filepath.Join(tmp, "archive"), filepath.Join(tmp, "results")
			inner := []byte("MZ pretend program \x00\x01 calling home")
			zipped := zipOf(t, map[string][]byte{"invoice.exe": inner, "readme.txt": []byte("open invoice.exe")})
			raw := rawEmail("zip inside", "open the zip; report to 198.51.100.23 or hxxps://c2-panel[.]net/beacon", "invoice.zip", zipped)
			deliverMaildir(t, md, "1700000100.M1P1.host", raw)
			yes := true
			cfg := &collector.Config{Data: data, Maildir: []string{md}, Fsync: noFsync(),
				Analysis: collector.AnalysisConfig{ArchiveAttachments: &yes, ArchiveDir: arch, ResultsDir: res, ResultsFormat: format,
					AlwaysDispatch: []string{"hash", "mimetype", "unzip"}}}
			col, err := collector.New(cfg, collector.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if err := col.RunOnce(context.Background(), 20*time.Second); err != nil {
				t.Fatal(err)
			}
			// archive: every file named after the sha1 of its bytes, at
			// <c1>/<c2>/<c3>/<c4>/<c5>/<sha1>
			archived := map[string]bool{}
			_ = filepath.WalkDir(arch, func(p string, d os.DirEntry, err error) error {
				if err != nil || d.IsDir() {
					return err
				}
				b, _ := os.ReadFile(p)
				sum := sha1Hex(b)
				rel, _ := filepath.Rel(arch, p)
				if want := filepath.FromSlash(collector.FiledirRel(sum)); rel != want {
					t.Errorf("archive file %s: want %s (sha1 of its content)", rel, want)
				}
				archived[sum] = true
				return nil
			})
			for what, b := range map[string][]byte{"email": raw, "zip": zipped, "member": inner} {
				if !archived[sha1Hex(b)] {
					t.Errorf("%s (%s) not archived; have %v", what, sha1Hex(b), archived)
				}
			}
			// the data dir's archive has the attachments too
			if _, err := os.Stat(filepath.Join(data, filepath.FromSlash(collector.ArchiveRel(sha1Hex(inner))))); err != nil {
				t.Errorf("data dir archive: %v", err)
			}
			files := collector.DirNames(t, res)
			if len(files) != 1 {
				t.Fatalf("results dir: %v", files)
			}
			b, err := os.ReadFile(filepath.Join(res, files[0]))
			if err != nil {
				t.Fatal(err)
			}
			st, err := collector.OpenStore(data, collector.StoreOptions{})
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			var id string
			_ = st.ListEmails(func(m *collector.EmailMeta) bool { id = m.ID; return false })
			rec, err := st.Record(id)
			if err != nil {
				t.Fatal(err)
			}
			var parts []string
			for _, a := range rec.Attachments {
				parts = append(parts, fmt.Sprintf("%s|%s|%d|%s", a.Part, a.Filename, a.Depth, a.Parent))
			}
			if want := "2|invoice.zip|0| 2!invoice.exe|invoice.exe|1|2 2!readme.txt|readme.txt|1|2"; strings.Join(parts, " ") != want {
				t.Errorf("stored attachments %q, want %q", strings.Join(parts, " "), want)
			}
			switch format {
			case collector.ResultsRecord:
				if files[0] != id+".json" {
					t.Errorf("results file %s, want %s.json", files[0], id)
				}
				var got core.Email
				if err := json.Unmarshal(b, &got); err != nil || got.ID != id || len(got.Attachments) != 3 {
					t.Errorf("record results: %v %+v", err, got.ID)
				}
				checkIOCs(t, got.IOCs)
			case collector.ResultsStoq:
				if files[0] != collector.StoqScanID(rec) {
					t.Errorf("results file %s, want the scan id %s", files[0], collector.StoqScanID(rec))
				}
				var doc struct {
					ScanID  string `json:"scan_id"`
					Results []struct {
						PayloadID     string   `json:"payload_id"`
						ExtractedFrom []string `json:"extracted_from"`
						ExtractedBy   []string `json:"extracted_by"`
						Archivers     map[string]struct {
							Path string `json:"path"`
						} `json:"archivers"`
						Workers map[string]json.RawMessage `json:"workers"`
					} `json:"results"`
				}
				if err := json.Unmarshal(b, &doc); err != nil {
					t.Fatalf("stoq results: %v\n%s", err, b)
				}
				if doc.ScanID != files[0] || len(doc.Results) != 4 {
					t.Fatalf("stoq results: scan_id %s, %d results", doc.ScanID, len(doc.Results))
				}
				for i, r := range doc.Results {
					p := r.Archivers["filedir"].Path
					if p == "" || !strings.HasPrefix(p, arch) {
						t.Errorf("result %d: archive path %q", i, p)
						continue
					}
					if c, err := os.ReadFile(p); err != nil || sha1Hex(c) != filepath.Base(p) {
						t.Errorf("result %d: archived file %s: %v", i, p, err)
					}
				}
				if by := doc.Results[2].ExtractedBy; len(by) != 1 || by[0] != "decompress" || doc.Results[2].ExtractedFrom[0] != doc.Results[1].PayloadID {
					t.Errorf("zip member: extracted_by %v from %v", by, doc.Results[2].ExtractedFrom)
				}
				var iocs map[string][]string
				if err := json.Unmarshal(doc.Results[0].Workers["iocextract"], &iocs); err != nil {
					t.Fatalf("iocextract: %v", err)
				}
				if !contains(iocs["ipv4"], "198.51.100.23") || !contains(iocs["url"], "https://c2-panel.net/beacon") {
					t.Errorf("iocextract %v", iocs)
				}
			}
		})
	}
}

func contains(list []string, v string) bool {
	for _, s := range list {
		if s == v {
			return true
		}
	}
	return false
}

func checkIOCs(t *testing.T, iocs []core.IOC) {
	t.Helper()
	var have []string
	for _, i := range iocs {
		have = append(have, i.Type+":"+i.Value)
	}
	for _, want := range []string{"ipv4:198.51.100.23", "url:https://c2-panel.net/beacon"} {
		if !contains(have, want) {
			t.Errorf("IOCs %v lack %s", have, want)
		}
	}
}

// TestAnalysisConfig: the stoQ option names are checked and mapped.
func TestAnalysisConfig(t *testing.T) {
	c := &collector.Config{Data: "d", EMLDir: []string{"x"}, Analysis: collector.AnalysisConfig{
		AlwaysDispatch: []string{"hash", "strings"}, ResultsFormat: "xml", ZipMaxRatio: -1}}
	err := c.Validate()
	for _, want := range []string{`unknown analyzer "strings"`, `results_format "xml"`, "results_dir is not", "zip_max_"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate: %v lacks %q", err, want)
		}
	}
	c = &collector.Config{Data: "d", Spool: "s", Analysis: collector.AnalysisConfig{AlwaysDispatch: []string{"hash"}, YaraRules: []string{"r.yar"}}}
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "leaves out yara") {
		t.Errorf("yara_rules without yara dispatch: %v", err)
	}
	c = &collector.Config{Data: "d", Maildir: []string{"m"}}
	if err := c.Validate(); err != nil {
		t.Errorf("spool-less Maildir collector: %v", err)
	}
}

// TestYaraNotCompiled: without the yara build tag, configuring rules fails
// with core's message.
func TestYaraNotCompiled(t *testing.T) {
	if core.YaraAvailable() {
		t.Skip("YARA is compiled in (see yara_test.go)")
	}
	tmp := t.TempDir()
	rules := filepath.Join(tmp, "r.yar")
	_ = os.WriteFile(rules, []byte("rule x { condition: true }"), 0o644)
	_, err := collector.New(&collector.Config{Data: filepath.Join(tmp, "data"), Spool: filepath.Join(tmp, "spool"),
		Analysis: collector.AnalysisConfig{YaraRules: []string{rules}}}, collector.Options{})
	if err == nil || !strings.Contains(err.Error(), core.ErrYaraNotCompiled.Error()) {
		t.Errorf("New with yara_rules: %v", err)
	}
}

// TestRawRetention: raw emails (no session) are removed by age like
// sessions, files included, unless still queued.
func TestRawRetention(t *testing.T) {
	tmp := t.TempDir()
	data := filepath.Join(tmp, "data")
	cfg := &collector.Config{Data: data, Spool: filepath.Join(tmp, "spool"), Fsync: noFsync(),
		Retention: collector.RetentionConfig{MaxAge: collector.Duration(time.Hour)}}
	col, err := collector.New(cfg, collector.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer col.Close()
	zipped := zipOf(t, map[string][]byte{"a.txt": []byte("member")})
	var metas []*collector.EmailMeta
	for i := 0; i < 3; i++ {
		em, err := col.IngestRaw(rawEmail(fmt.Sprintf("old %d", i), "x", "a.zip", zipped), fmt.Sprintf("/in/%d.eml", i))
		if err != nil {
			t.Fatal(err)
		}
		metas = append(metas, em)
	}
	if res, err := col.ApplyRetention(time.Now()); err != nil || res.Emails != 0 {
		t.Fatalf("fresh emails removed: %+v %v", res, err)
	}
	res, err := col.ApplyRetention(time.Now().Add(2 * time.Hour))
	if err != nil || res.Emails != 3 || res.Bytes <= 0 {
		t.Fatalf("retention: %+v %v", res, err)
	}
	st, _ := col.Store().Stats()
	if st.Emails != 0 || st.Removed != 3 {
		t.Errorf("stats after retention: %+v", st)
	}
	for _, m := range metas {
		for _, rel := range []string{m.EML, m.Record} {
			if _, err := os.Stat(filepath.Join(data, rel)); !os.IsNotExist(err) {
				t.Errorf("%s still there: %v", rel, err)
			}
		}
		if _, err := col.Store().Email(m.ID); err == nil {
			t.Errorf("%s still in the store", m.ID)
		}
	}
	if _, err := os.Stat(filepath.Join(data, filepath.FromSlash(collector.ArchiveRel(sha1Hex([]byte("member")))))); !os.IsNotExist(err) {
		t.Errorf("archived member still there: %v", err)
	}
}

// TestSpoolAndMaildir: one collector reads a spool and a Maildir; both
// kinds of email reach the index hook and ACE.
func TestSpoolAndMaildir(t *testing.T) {
	tmp := t.TempDir()
	spool, md, data := filepath.Join(tmp, "spool"), filepath.Join(tmp, "Maildir"), filepath.Join(tmp, "data")
	sink, srv := sinkServer(t, filepath.Join(tmp, "sink"))
	spoolWrite(t, spool, "Cmixed", simpleSession(3, 2), time.Time{})
	deliverMaildir(t, md, "1700000400.M1P1.host", rawEmail("from the maildir", "hello", "", nil))
	ix := &fakeIndexer{indexed: map[string]int{}, updates: map[string][]collector.SubmissionStatus{}}
	cfg := &collector.Config{Spool: spool, Maildir: []string{md}, Data: data, Fsync: noFsync(),
		RescanInterval: collector.Duration(100 * time.Millisecond),
		Groups:         []collector.GroupConfig{{Name: "g", Nodes: []string{srv.URL}}}}
	col, err := collector.New(cfg, collector.Options{Indexer: ix})
	if err != nil {
		t.Fatal(err)
	}
	if err := col.RunOnce(context.Background(), 30*time.Second); err != nil {
		t.Fatal(err)
	}
	if sink.Accepted() != 3 || len(ix.indexed) != 3 {
		t.Errorf("sink accepted %d, indexed %v; want 3 (2 from the session, 1 from the Maildir)", sink.Accepted(), ix.indexed)
	}
	raw := 0
	for id := range ix.indexed {
		if strings.HasPrefix(id, "eml-") {
			raw++
		}
	}
	if raw != 1 {
		t.Errorf("indexed %v: want one raw email", ix.indexed)
	}
	if got := collector.DirNames(t, filepath.Join(md, "cur")); len(got) != 1 || len(collector.DirNames(t, spool)) != 0 {
		t.Errorf("cur/ %v, spool %v", got, collector.DirNames(t, spool))
	}
}
