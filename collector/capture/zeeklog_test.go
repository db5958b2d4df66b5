package capture

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/smtpscope/smtpscope/core"
)

// zeekBaselines maps Zeek's smtp.log baselines in the corpus to the
// capture they were made from (MANIFEST.txt).
var zeekBaselines = map[string]string{
	"scripts.base.protocols.smtp.basic":                     "zeek__smtp.pcap",
	"scripts.base.protocols.smtp.attachment":                "zeek__smtp.pcap",
	"scripts.base.protocols.smtp.bdat-pipeline-8bitmime":    "zeek__smtp-bdat-pipeline-8bitmime.pcap",
	"scripts.base.protocols.smtp.bdat-multipart-chunked":    "zeek__rfc3030-bdat-multipart-chunked.pcap",
	"scripts.base.protocols.smtp.one-side":                  "zeek__smtp-one-side-only.pcap",
	"scripts.base.protocols.smtp.attachment-msg":            "zeek__smtp-attachment-msg.pcap",
	"scripts.base.protocols.smtp.mail-transactions-invalid": "zeek__smtp-mail-transactions-invalid.pcap",
}

// zeekCompared are the smtp.log fields compared with Zeek's: every field
// both logs have except ts (the baselines mask it), uid and fuids (ids
// Zeek draws at random).
var zeekCompared = []string{"id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p", "trans_depth", "helo", "mailfrom", "rcptto",
	"date", "from", "to", "cc", "reply_to", "msg_id", "in_reply_to", "subject", "x_originating_ip", "first_received",
	"second_received", "last_reply", "path", "user_agent", "tls"}

// zeekTSV reads a Zeek ASCII log: one map per row, field -> value as
// written ("-" unset, "(empty)" empty).
func zeekTSV(t *testing.T, file string) (types map[string]string, rows []map[string]string) {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var fields []string
	types = map[string]string{}
	for _, l := range strings.Split(string(b), "\n") {
		switch {
		case strings.HasPrefix(l, "#fields\t"):
			fields = strings.Split(strings.TrimPrefix(l, "#fields\t"), "\t")
		case strings.HasPrefix(l, "#types\t"):
			for i, ty := range strings.Split(strings.TrimPrefix(l, "#types\t"), "\t") {
				types[fields[i]] = ty
			}
		case l == "" || strings.HasPrefix(l, "#"):
		default:
			cells := strings.Split(l, "\t")
			row := map[string]string{}
			for i, c := range cells {
				if i < len(fields) {
					row[fields[i]] = c
				}
			}
			rows = append(rows, row)
		}
	}
	return types, rows
}

// zeekCell writes a JSON value of ours as Zeek's ASCII writer would:
// sets sorted (Zeek's order is its hash order: compared as sets), vectors
// in order, bools T/F, unset "-", non-printable bytes \xNN.
func zeekCell(v any, typ string) string {
	esc := func(s string) string {
		var b strings.Builder
		for i := 0; i < len(s); i++ {
			if c := s[i]; c < 0x20 || c >= 0x7f || c == '\\' {
				fmt.Fprintf(&b, "\\x%02x", c)
			} else {
				b.WriteByte(c)
			}
		}
		return b.String()
	}
	switch x := v.(type) {
	case nil:
		return "-"
	case bool:
		if x {
			return "T"
		}
		return "F"
	case float64:
		return fmt.Sprint(int64(x))
	case string:
		return esc(x)
	case []any:
		var out []string
		for _, e := range x {
			out = append(out, esc(fmt.Sprint(e)))
		}
		if strings.HasPrefix(typ, "set[") {
			slices.Sort(out)
		}
		if len(out) == 0 {
			return "(empty)"
		}
		return strings.Join(out, ",")
	}
	return fmt.Sprint(v)
}

func sortedSet(cell, typ string) string {
	if !strings.HasPrefix(typ, "set[") || cell == "-" || cell == "(empty)" {
		return cell
	}
	parts := strings.Split(cell, ",")
	slices.Sort(parts)
	return strings.Join(parts, ",")
}

// TestZeekSMTPLogMatchesZeek: for each capture with a Zeek smtp.log
// baseline, the smtp.log lines smtpscope writes for its emails (pcap ->
// session file -> records -> core.Zeek) give the values Zeek logged, field
// by field, with Zeek's types (count and port as JSON numbers, bool as
// JSON true/false, sets and vectors as arrays).
func TestZeekSMTPLogMatchesZeek(t *testing.T) {
	if _, err := os.Stat(pcapCorpus); err != nil {
		t.Skipf("shared pcap corpus absent (%s): %v", pcapCorpus, err)
	}
	an := core.NewAnalyzer(core.DefaultOptions())
	matched := 0
	for dir, pcap := range zeekBaselines {
		logf := filepath.Join(pcapCorpus, "expected/zeek", dir, "smtp.log")
		if _, err := os.Stat(logf); err != nil {
			t.Errorf("%s: %v", dir, err)
			continue
		}
		types, rows := zeekTSV(t, logf)
		ours := map[string]map[string]any{}
		err := Process(context.Background(), []string{filepath.Join(pcapCorpus, pcap)}, Options{}, func(sf *SessionFile) error {
			s, err := core.ParseSession(bytes.NewReader(sf.Data), sf.UID, time.Time{})
			if err != nil {
				return err
			}
			for _, e := range an.SessionEmails(s) {
				line, _ := core.Zeek(e)
				var buf bytes.Buffer
				if err := core.NewJSONEncoder(&buf).Encode(line); err != nil {
					return err
				}
				m := map[string]any{}
				if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
					return err
				}
				for f, ty := range map[string]string{"id.orig_p": "port", "id.resp_p": "port", "trans_depth": "count", "tls": "bool", "rcptto": "set", "to": "set", "path": "vector"} {
					v, ok := m[f]
					if !ok {
						continue
					}
					okType := false
					switch ty {
					case "port", "count":
						_, okType = v.(float64)
					case "bool":
						_, okType = v.(bool)
					default:
						_, okType = v.([]any)
					}
					if !okType {
						t.Errorf("%s: field %s is %T, Zeek's %s is not", dir, f, v, ty)
					}
				}
				ours[fmt.Sprintf("%v/%v", m["id.orig_p"], m["trans_depth"])] = m
			}
			return nil
		})
		if err != nil {
			t.Fatalf("%s: %v", pcap, err)
		}
		// Our email is Zeek's line with the same client port and
		// Message-ID (else trans_depth): Zeek also logs transactions that
		// carried no message, and several at one depth when the session
		// is out of order; one of them must equal ours on every field.
		seen := map[string]bool{}
		for _, m := range ours {
			var cands []map[string]string
			for _, row := range rows {
				if row["id.orig_p"] != zeekCell(m["id.orig_p"], "port") {
					continue
				}
				if id := zeekCell(m["msg_id"], "string"); id != "-" {
					if row["msg_id"] == id {
						cands = append(cands, row)
					}
				} else if row["trans_depth"] == zeekCell(m["trans_depth"], "count") || zeekDepthDiffers[dir] {
					cands = append(cands, row)
				}
			}
			if len(cands) == 0 {
				t.Errorf("%s: no Zeek line for our email %v/%v (msg_id %v)", dir, m["id.orig_p"], m["trans_depth"], m["msg_id"])
				continue
			}
			var diffs []string
			for _, row := range cands {
				diffs = nil
				for _, f := range zeekCompared {
					want, ok := row[f]
					if !ok || (f == "trans_depth" && zeekDepthDiffers[dir]) {
						continue
					}
					got := zeekCell(m[f], types[f])
					if norm(got) != norm(sortedSet(want, types[f])) {
						diffs = append(diffs, fmt.Sprintf("%s = %q, Zeek logged %q", f, got, want))
					}
				}
				if diffs == nil {
					seen[row["msg_id"]] = true
					break
				}
			}
			if diffs != nil {
				t.Errorf("%s: our email %v/%v differs from Zeek's line:\n  %s", dir, m["id.orig_p"], m["trans_depth"], strings.Join(diffs, "\n  "))
				continue
			}
			matched++
		}
		for _, row := range rows {
			if row["msg_id"] != "-" && !seen[row["msg_id"]] {
				t.Errorf("%s: Zeek's line for message %s matches no email of ours", dir, row["msg_id"])
			}
		}
	}
	if matched < 8 {
		t.Fatalf("only %d Zeek smtp.log lines compared", matched)
	}
}

// zeekDepthDiffers: captures where Zeek's trans_depth is not the
// message's position: in a client-only capture Zeek sees no reply to end
// of data, so it never counts a message transferred (every line is depth
// 1).
var zeekDepthDiffers = map[string]bool{"scripts.base.protocols.smtp.one-side": true}

// norm collapses runs of white space: the record keeps header fields
// unfolded with one space where the field was folded; Zeek keeps the
// folding white space.
func norm(s string) string { return strings.Join(strings.Fields(s), " ") }

// zeekFilesBaselines maps Zeek's files.log baselines (whole, or cut to
// some columns) to their captures.
var zeekFilesBaselines = map[string]string{
	"scripts.base.protocols.smtp.attachment/files.log":                 "zeek__smtp.pcap",
	"scripts.base.protocols.smtp.bdat-pipeline-8bitmime/files.log.cut": "zeek__smtp-bdat-pipeline-8bitmime.pcap",
	"scripts.base.protocols.smtp.bdat-multipart-chunked/files.log.cut": "zeek__rfc3030-bdat-multipart-chunked.pcap",
}

// TestZeekFilesLogMatchesZeek: the files.log lines of the emails of a
// capture give, column for column, the rows Zeek logged for it (source,
// depth, mime_type, filename and the hashes where the baseline has them;
// compared as a multiset: fuids and uids are drawn at random by Zeek).
// seen_bytes is not compared: for quoted-printable and 7bit parts Zeek
// counts the bytes it hashes (see core.ZeekHashes), ours the decoded size.
func TestZeekFilesLogMatchesZeek(t *testing.T) {
	if _, err := os.Stat(pcapCorpus); err != nil {
		t.Skipf("shared pcap corpus absent (%s): %v", pcapCorpus, err)
	}
	an := core.NewAnalyzer(core.DefaultOptions())
	compared := 0
	for base, pcap := range zeekFilesBaselines {
		b, err := os.ReadFile(filepath.Join(pcapCorpus, "expected/zeek", base))
		if err != nil {
			t.Fatal(err)
		}
		var cols []string
		var want []string
		for _, l := range strings.Split(string(b), "\n") {
			switch {
			case strings.HasPrefix(l, "#fields\t"):
				cols = strings.Split(strings.TrimPrefix(l, "#fields\t"), "\t")
			case l == "" || strings.HasPrefix(l, "#"):
			case cols == nil: // a .cut file: its first line names the columns
				cols = strings.Split(strings.TrimRight(l, "\t"), "\t")
			default:
				cells := strings.Split(l, "\t")
				var row []string
				for i, c := range cols {
					if zeekFileCompared(c) && !zeekFilesSkip[base][c] && i < len(cells) {
						row = append(row, c+"="+cells[i])
					}
				}
				want = append(want, strings.Join(row, " "))
			}
		}
		var got []string
		err = Process(context.Background(), []string{filepath.Join(pcapCorpus, pcap)}, Options{}, func(sf *SessionFile) error {
			s, err := core.ParseSession(bytes.NewReader(sf.Data), sf.UID, time.Time{})
			if err != nil {
				return err
			}
			for _, e := range an.SessionEmails(s) {
				_, files := core.Zeek(e)
				for _, f := range files {
					var buf bytes.Buffer
					if err := core.NewJSONEncoder(&buf).Encode(f); err != nil {
						return err
					}
					m := map[string]any{}
					if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
						return err
					}
					var row []string
					for _, c := range cols {
						if zeekFileCompared(c) && !zeekFilesSkip[base][c] {
							row = append(row, c+"="+zeekCell(m[c], "string"))
						}
					}
					got = append(got, strings.Join(row, " "))
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		slices.Sort(want)
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("%s: our files.log rows\n  %s\nZeek's\n  %s", base, strings.Join(got, "\n  "), strings.Join(want, "\n  "))
		}
		compared += len(want)
	}
	if compared < 5 {
		t.Fatalf("only %d files.log rows compared", compared)
	}
}

// zeekFilesSkip: columns not compared for a baseline, and why. In a
// session of several messages Zeek goes on counting MIME entities from
// the earlier messages (depth 2 for the second message's only part) and
// its libmagic calls that text/plain part text/x-diff; our depth counts
// within the message, and a body part keeps its declared type.
var zeekFilesSkip = map[string]map[string]bool{
	"scripts.base.protocols.smtp.bdat-pipeline-8bitmime/files.log.cut": {"depth": true, "mime_type": true},
}

func zeekFileCompared(col string) bool {
	switch col {
	case "source", "depth", "mime_type", "filename", "md5", "sha1", "sha256":
		return true
	}
	return false
}
