package capture_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/smtpscope/smtpscope/collector/capture"
	"github.com/smtpscope/smtpscope/core"
	"github.com/smtpscope/smtpscope/internal/mtatest"
)

func corpusDir(t testing.TB) string {
	d := filepath.Join(mtatest.RepoRoot(t), "..", "shared", "corpus", "pcap")
	if _, err := os.Stat(filepath.Join(d, "MANIFEST.txt")); err != nil {
		t.Skipf("shared pcap corpus not found at %s (../shared relative to the repo root): %v", d, err)
	}
	return d
}

// pcapResult is everything found in one capture.
type pcapResult struct {
	name     string
	sessions []*core.Session
	files    []*capture.SessionFile
	msgs     [][]byte // every message, in order
	emails   []*core.Email
}

func (r *pcapResult) hasSHA1(h string) bool {
	for _, m := range r.msgs {
		if fmt.Sprintf("%x", sha1.Sum(m)) == h {
			return true
		}
	}
	return false
}

func (r *pcapResult) hasBytes(b []byte) bool {
	for _, m := range r.msgs {
		if bytes.Equal(m, b) {
			return true
		}
	}
	return false
}

// attachment finds an attachment by any of its attributes ("" = any).
func (r *pcapResult) attachment(filename, md5h, sha1h, sha256h string) bool {
	for _, e := range r.emails {
		for _, a := range e.Attachments {
			if (filename == "" || a.Filename == filename) && (md5h == "" || a.MD5 == md5h) &&
				(sha1h == "" || a.SHA1 == sha1h) && (sha256h == "" || a.SHA256 == sha256h) {
				return true
			}
		}
	}
	return false
}

// address reports whether addr appears in a MAIL/RCPT command (accepted
// or not) or in From/To/Cc.
func (r *pcapResult) address(addr string) bool {
	addr = strings.ToLower(strings.Trim(addr, "<> "))
	for _, s := range r.sessions {
		for _, ev := range s.Events {
			if ev.Kind == core.EventClient && (ev.Cmd == "MAIL" || ev.Cmd == "RCPT") && strings.Contains(strings.ToLower(ev.Arg), addr) {
				return true
			}
		}
	}
	for _, e := range r.emails {
		all := []string{e.Envelope.MailFrom, e.From}
		all = append(all, e.Envelope.RcptTo...)
		all = append(all, e.Envelope.RcptRejected...)
		all = append(all, e.To...)
		all = append(all, e.Cc...)
		for _, a := range all {
			if strings.Contains(strings.ToLower(a), addr) {
				return true
			}
		}
	}
	return false
}

// runPcap processes one capture and checks the round trip: the messages
// found directly in the reassembled streams must be exactly the messages
// core's parser finds in the session file written for them.
func runPcap(t *testing.T, path string, an *core.Analyzer) *pcapResult {
	t.Helper()
	r := &pcapResult{name: filepath.Base(path)}
	err := capture.Process(context.Background(), []string{path}, capture.Options{MessageData: true}, func(sf *capture.SessionFile) error {
		s, err := core.ParseSession(bytes.NewReader(sf.Data), sf.UID, sf.Start)
		if err != nil {
			t.Errorf("%s: session %s: core cannot parse our session file: %v", r.name, sf.UID, err)
			return nil
		}
		if s.Info.UID != sf.UID {
			t.Errorf("%s: session %s: parser says uid %q", r.name, sf.UID, s.Info.UID)
		}
		parsed := s.Messages
		if len(parsed) != len(sf.Messages) {
			t.Errorf("%s: session %s: round trip: %d messages direct, %d after core.ParseSession", r.name, sf.UID, len(sf.Messages), len(parsed))
		}
		for i := 0; i < len(parsed) && i < len(sf.Messages); i++ {
			d, p := sf.Messages[i], parsed[i]
			if !bytes.Equal(d.Data, p.Data) {
				t.Errorf("%s: session %s message %d: round trip bytes differ: direct %d bytes sha1 %x, parsed %d bytes sha1 %x",
					r.name, sf.UID, i, len(d.Data), sha1.Sum(d.Data), len(p.Data), sha1.Sum(p.Data))
			}
			if d.Partial != p.Partial || d.Gap != hasFlag(p.Flags, core.FlagGap) {
				t.Errorf("%s: session %s message %d: partial %v gap %v directly, partial %v flags %v after parsing",
					r.name, sf.UID, i, d.Partial, d.Gap, p.Partial, p.Flags)
			}
		}
		r.sessions = append(r.sessions, s)
		r.files = append(r.files, sf)
		for _, m := range sf.Messages {
			r.msgs = append(r.msgs, m.Data)
		}
		r.emails = append(r.emails, an.SessionEmails(s)...)
		return nil
	})
	if err != nil {
		t.Errorf("%s: %v", r.name, err)
	}
	return r
}

func hasFlag(flags []string, f string) bool {
	for _, x := range flags {
		if x == f {
			return true
		}
	}
	return false
}

// groundTruth is one expectation from the corpus' own expected outputs.
type groundTruth struct {
	pcap   string
	kind   string // data-sha1, message-bytes, attachment, address, starttls, auth
	value  string
	source string
	check  func(r *pcapResult) bool
}

func (g groundTruth) key() string {
	v := g.value
	if len(v) > 100 {
		v = fmt.Sprintf("%s...(%d chars)", v[:60], len(v))
	}
	return g.pcap + " " + g.kind + " " + v
}

// knownDifferences reads the backquoted keys of KNOWN_DIFFERENCES.md.
func knownDifferences(t *testing.T) map[string]bool {
	b, err := os.ReadFile("KNOWN_DIFFERENCES.md")
	if err != nil {
		t.Fatalf("KNOWN_DIFFERENCES.md: %v", err)
	}
	known := map[string]bool{}
	for _, m := range regexp.MustCompile("(?m)^- `([^`]+)`").FindAllSubmatch(b, -1) {
		known[string(m[1])] = true
	}
	return known
}

func TestCorpus(t *testing.T) {
	dir := corpusDir(t)
	var files []string
	for _, pat := range []string{"*.pcap", "*.pcapng", "extra/*.pcap", "extra/*.pcapng"} {
		m, _ := filepath.Glob(filepath.Join(dir, pat))
		files = append(files, m...)
	}
	if len(files) == 0 {
		t.Skip("no captures in the corpus")
	}
	an := core.NewAnalyzer(core.DefaultOptions())
	results := map[string]*pcapResult{}
	nSess, nMsg := 0, 0
	for _, f := range files {
		r := runPcap(t, f, an)
		results[r.name] = r
		nSess += len(r.files)
		nMsg += len(r.msgs)
	}
	t.Logf("corpus: %d captures, %d SMTP sessions, %d messages; round trip pcap -> session file -> core.ParseSession checked for each", len(files), nSess, nMsg)

	truths := loadGroundTruth(t, dir)
	known := knownDifferences(t)
	pass, fail, knownFail := 0, 0, 0
	usedKnown := map[string]bool{}
	for _, g := range truths {
		r := results[g.pcap]
		if r == nil {
			continue
		}
		if g.check(r) {
			pass++
			if known[g.key()] {
				t.Errorf("%s is listed in KNOWN_DIFFERENCES.md but now matches: remove it", g.key())
			}
			continue
		}
		if known[g.key()] {
			knownFail++
			usedKnown[g.key()] = true
			continue
		}
		fail++
		t.Errorf("ground truth mismatch (fix it or list `%s` in KNOWN_DIFFERENCES.md): expected by %s", g.key(), g.source)
	}
	t.Logf("ground truth: %d checks, %d match, %d known differences, %d unexplained", len(truths), pass, knownFail, fail)
	for k := range known {
		if !usedKnown[k] && !strings.HasPrefix(k, "note ") {
			// A key for a check that no longer exists or now passes.
			found := false
			for _, g := range truths {
				if g.key() == k {
					found = true
				}
			}
			if !found {
				t.Errorf("KNOWN_DIFFERENCES.md lists `%s`, which is not a ground-truth check", k)
			}
		}
	}
}

var manifestLine = regexp.MustCompile(`^(\S+\.pcapn?g?)\s+<-\s+(zeek|suricata-verify|arkime|nDPI)\s+(\S+)`)

// loadGroundTruth reads the expectations of the corpus' expected/ tree.
func loadGroundTruth(t *testing.T, dir string) []groundTruth {
	exp := filepath.Join(dir, "expected")
	var out []groundTruth

	// Zeek baselines: message sha1s (files.cut, message/rfc822 rows),
	// exact messages (extract_files.mail), named parts (files.log.cut).
	zeekFor := map[string][]string{
		"zeek__smtp.pcap":                           {"scripts.base.protocols.smtp.rfc822-msg-file-analysis-multi-session"},
		"zeek__smtp-attachment-msg.pcap":            {"scripts.base.protocols.smtp.rfc822-msg-file-analysis"},
		"zeek__rfc3030-bdat-nonascii.pcap":          {"scripts.base.protocols.smtp.rfc822-msg-file-analysis-binary"},
		"zeek__smtp-bdat-pipeline-8bitmime.pcap":    {"scripts.base.protocols.smtp.rfc822-msg-file-analysis-multi-mail"},
		"zeek__rfc3030-bdat-multipart-chunked.pcap": {"scripts.base.protocols.smtp.bdat-multipart-chunked"},
		"zeek__smtp__rfc3030-bdat-multipart.pcap":   {"scripts.base.protocols.smtp.bdat-multipart"},
		"zeek__smtp-bdat-gap.pcap":                  {"scripts.base.protocols.smtp.bdat-gap"},
	}
	for pcap, dirs := range zeekFor {
		for _, d := range dirs {
			src := "zeek " + d
			for _, row := range readZeekTable(filepath.Join(exp, "zeek", d, "files.cut")) {
				if row["mime_type"] == "message/rfc822" && isHex(row["sha1"]) {
					h := row["sha1"]
					out = append(out, groundTruth{pcap: pcap, kind: "message-sha1", value: h, source: src + "/files.cut",
						check: func(r *pcapResult) bool { return r.hasSHA1(h) }})
				}
			}
			if b, err := os.ReadFile(filepath.Join(exp, "zeek", d, "extract_files.mail")); err == nil {
				h := fmt.Sprintf("%x", sha1.Sum(b))
				out = append(out, groundTruth{pcap: pcap, kind: "message-bytes", value: h, source: src + "/extract_files.mail",
					check: func(r *pcapResult) bool { return r.hasBytes(b) }})
			}
			for _, row := range readZeekTable(filepath.Join(exp, "zeek", d, "files.log.cut")) {
				fn, h := row["filename"], row["sha1"]
				if fn != "" && fn != "-" && isHex(h) {
					out = append(out, groundTruth{pcap: pcap, kind: "attachment", value: fn + " sha1:" + h, source: src + "/files.log.cut",
						check: func(r *pcapResult) bool { return r.attachment(fn, "", h, "") }})
				}
			}
		}
	}

	// The reference extractor's message sha1s (naive: DATA only).
	if f, err := os.Open(filepath.Join(exp, "DATA_message_sha1_reference.txt")); err == nil {
		sc := bufio.NewScanner(f)
		pcap := ""
		re := regexp.MustCompile(`sha1 ([0-9a-f]{40})`)
		for sc.Scan() {
			l := sc.Text()
			if strings.HasPrefix(l, "== ") {
				pcap = strings.TrimSpace(l[3:])
				continue
			}
			if m := re.FindStringSubmatch(l); m != nil && pcap != "" {
				h := m[1]
				out = append(out, groundTruth{pcap: pcap, kind: "data-sha1", value: h, source: "DATA_message_sha1_reference.txt",
					check: func(r *pcapResult) bool { return r.hasSHA1(h) }})
			}
		}
		f.Close()
	}

	// Arkime session documents: attachment names and hashes, addresses.
	arkime, _ := filepath.Glob(filepath.Join(exp, "arkime", "*.test"))
	for _, f := range arkime {
		pcap := "arkime__" + strings.TrimSuffix(filepath.Base(f), ".test") + ".pcap"
		if _, err := os.Stat(filepath.Join(dir, pcap)); err != nil {
			if _, err := os.Stat(filepath.Join(dir, "extra", pcap)); err != nil {
				continue
			}
		}
		out = append(out, arkimeTruth(t, f, pcap)...)
	}

	// Suricata-verify checks: fileinfo names/hashes, smtp envelopes.
	svFor := map[string]string{}
	mf, err := os.ReadFile(filepath.Join(dir, "MANIFEST.txt"))
	if err == nil {
		for _, l := range strings.Split(string(mf), "\n") {
			m := manifestLine.FindStringSubmatch(l)
			if m == nil || m[2] != "suricata-verify" {
				continue
			}
			p := strings.TrimPrefix(m[3], "tests/")
			svFor[m[1]] = strings.ReplaceAll(filepath.Dir(p), "/", "__")
		}
	}
	extra, _ := filepath.Glob(filepath.Join(dir, "extra", "sv__tests__*"))
	for _, f := range extra {
		b := strings.TrimPrefix(filepath.Base(f), "sv__tests__")
		if i := strings.LastIndex(b, "__"); i > 0 {
			svFor[filepath.Base(f)] = b[:i]
		}
	}
	for pcap, test := range svFor {
		out = append(out, suricataTruth(filepath.Join(exp, "suricata-verify", test, "test.yaml"), pcap)...)
	}

	// Per-session facts: STARTTLS and AUTH seen.
	if f, err := os.Open(filepath.Join(exp, "pcap_facts.jsonl")); err == nil {
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var rec struct {
				Pcap     string `json:"pcap"`
				Sessions []struct {
					Ports    string `json:"ports"`
					STARTTLS bool   `json:"STARTTLS"`
					AUTH     bool   `json:"AUTH"`
				} `json:"sessions"`
			}
			if json.Unmarshal(sc.Bytes(), &rec) != nil {
				continue
			}
			pcap := filepath.Base(rec.Pcap)
			for _, s := range rec.Sessions {
				cport, _ := strconv.Atoi(strings.Split(s.Ports, "->")[0])
				st, au := s.STARTTLS, s.AUTH
				find := func(r *pcapResult) *core.Session {
					for _, x := range r.sessions {
						if x.Info.SourcePort == cport {
							return x
						}
					}
					return nil
				}
				out = append(out,
					groundTruth{pcap: pcap, kind: "starttls", value: fmt.Sprintf("%s=%v", s.Ports, st), source: "pcap_facts.jsonl",
						check: func(r *pcapResult) bool { x := find(r); return x != nil && x.Info.StartTLS == st }},
					groundTruth{pcap: pcap, kind: "auth", value: fmt.Sprintf("%s=%v", s.Ports, au), source: "pcap_facts.jsonl",
						check: func(r *pcapResult) bool { x := find(r); return x != nil && x.Info.Auth == au }})
			}
		}
		f.Close()
	}
	sort.Slice(out, func(i, j int) bool { return out[i].key() < out[j].key() })
	return out
}

func isHex(s string) bool {
	if len(s) < 32 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}

// readZeekTable reads a zeek-cut table (a "#fields"-less header line
// naming the columns, tab-separated rows).
func readZeekTable(path string) []map[string]string {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	var cols []string
	var rows []map[string]string
	for _, l := range strings.Split(string(b), "\n") {
		if l == "" || strings.HasPrefix(l, "### ") {
			continue
		}
		f := strings.Split(l, "\t")
		if cols == nil {
			cols = f
			continue
		}
		row := map[string]string{}
		for i, c := range cols {
			if i < len(f) {
				row[strings.TrimSpace(c)] = strings.TrimSpace(f[i])
			}
		}
		rows = append(rows, row)
	}
	return rows
}

func arkimeTruth(t *testing.T, path, pcap string) []groundTruth {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	var doc struct {
		Sessions []struct {
			Body struct {
				Email struct {
					Filename []string `json:"filename"`
					MD5      []string `json:"md5"`
					SHA256   []string `json:"sha256"`
					Src      []string `json:"src"`
					Dst      []string `json:"dst"`
				} `json:"email"`
			} `json:"body"`
		} `json:"sessions3"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Logf("%s: %v", path, err)
		return nil
	}
	src := "arkime " + filepath.Base(path)
	var out []groundTruth
	for _, s := range doc.Sessions {
		e := s.Body.Email
		for _, fn := range e.Filename {
			fn := fn
			out = append(out, groundTruth{pcap: pcap, kind: "attachment", value: fn, source: src,
				check: func(r *pcapResult) bool { return r.attachment(fn, "", "", "") }})
		}
		for _, h := range e.MD5 {
			h := h
			out = append(out, groundTruth{pcap: pcap, kind: "attachment", value: "md5:" + h, source: src,
				check: func(r *pcapResult) bool { return r.attachment("", h, "", "") }})
		}
		for _, h := range e.SHA256 {
			h := h
			out = append(out, groundTruth{pcap: pcap, kind: "attachment", value: "sha256:" + h, source: src,
				check: func(r *pcapResult) bool { return r.attachment("", "", "", h) }})
		}
		for _, a := range append(append([]string{}, e.Src...), e.Dst...) {
			a := a
			out = append(out, groundTruth{pcap: pcap, kind: "address", value: a, source: src,
				check: func(r *pcapResult) bool { return r.address(a) }})
		}
	}
	return out
}

// suricataTruth reads the fileinfo and smtp envelope filters of a
// suricata-verify test.yaml (filters with count >= 1).
func suricataTruth(path, pcap string) []groundTruth {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	src := "suricata-verify " + filepath.Base(filepath.Dir(path)) + "/test.yaml"
	var out []groundTruth
	var filters []map[string]string
	var cur map[string]string
	for _, l := range strings.Split(string(b), "\n") {
		tl := strings.TrimSpace(l)
		if strings.HasPrefix(tl, "- filter:") || strings.HasPrefix(tl, "- ") && !strings.Contains(tl, ":") {
			cur = map[string]string{}
			filters = append(filters, cur)
			continue
		}
		if cur == nil || strings.HasPrefix(tl, "#") {
			continue
		}
		k, v, ok := strings.Cut(tl, ":")
		if !ok {
			continue
		}
		v = strings.TrimSpace(v)
		if uq, err := strconv.Unquote(v); err == nil {
			v = uq
		} else {
			v = strings.Trim(v, `'`)
		}
		cur[strings.TrimSpace(k)] = v
	}
	for _, f := range filters {
		if n, err := strconv.Atoi(f["count"]); err != nil || n < 1 {
			continue
		}
		switch f["event_type"] {
		case "fileinfo":
			if f["app_proto"] != "" && f["app_proto"] != "smtp" {
				continue
			}
			fn, h := f["fileinfo.filename"], f["fileinfo.sha256"]
			if fn == "" && h == "" {
				continue
			}
			out = append(out, groundTruth{pcap: pcap, kind: "attachment", value: strings.TrimSpace(fn + " " + h), source: src,
				check: func(r *pcapResult) bool { return r.attachment(fn, "", "", h) }})
		case "smtp":
			from := f["smtp.mail_from"]
			var rcpts []string
			for i := 0; ; i++ {
				v, ok := f[fmt.Sprintf("smtp.rcpt_to[%d]", i)]
				if !ok {
					break
				}
				rcpts = append(rcpts, v)
			}
			if from == "" || len(rcpts) == 0 {
				continue
			}
			out = append(out, groundTruth{pcap: pcap, kind: "envelope", value: from + " -> " + strings.Join(rcpts, ","), source: src,
				check: func(r *pcapResult) bool { return envelopeSeen(r, from, rcpts) }})
		}
	}
	return out
}

// envelopeSeen looks for a message with this envelope, or a transaction
// with this sender and recipients (accepted or not) in the session
// transcripts: Suricata logs every transaction, also those that carried no
// message.
func envelopeSeen(r *pcapResult, from string, rcpts []string) bool {
	norm := func(s string) string { return core.NormalizeAddress(strings.TrimSpace(s)) }
	// A message's envelope (what core made of the replies) first.
	for _, s := range r.sessions {
		for _, m := range s.Messages {
			if norm(m.Envelope.MailFrom) != norm(from) {
				continue
			}
			got := map[string]bool{}
			for _, rc := range append(append([]string(nil), m.Envelope.RcptTo...), m.Envelope.RcptRejected...) {
				got[norm(rc)] = true
			}
			all := true
			for _, rc := range rcpts {
				all = all && got[norm(rc)]
			}
			if all {
				return true
			}
		}
	}
	// Else a transaction in the transcript that carried no message.
	for _, s := range r.sessions {
		for i, ev := range s.Events {
			if ev.Kind != core.EventClient || ev.Cmd != "MAIL" || norm(pathOf(ev.Arg)) != norm(from) {
				continue
			}
			got := map[string]bool{}
			for _, e2 := range s.Events[i+1:] {
				if e2.Kind == core.EventClient && (e2.Cmd == "MAIL" || e2.Cmd == "RSET") {
					break
				}
				if e2.Kind == core.EventClient && e2.Cmd == "RCPT" {
					got[norm(pathOf(e2.Arg))] = true
				}
			}
			all := true
			for _, rc := range rcpts {
				if !got[norm(rc)] {
					all = false
				}
			}
			if all {
				return true
			}
		}
	}
	return false
}

// pathOf returns the path of a MAIL/RCPT argument ("FROM:<a@b> SIZE=1").
func pathOf(arg string) string {
	if i := strings.IndexByte(arg, ':'); i >= 0 {
		arg = arg[i+1:]
	}
	arg = strings.TrimSpace(arg)
	if strings.HasPrefix(arg, "<") {
		if j := strings.IndexByte(arg, '>'); j > 0 {
			return arg[:j+1]
		}
	}
	if f := strings.Fields(arg); len(f) > 0 {
		return f[0]
	}
	return arg
}
