package core

import (
	"encoding/json"
	"math"
	"net/netip"
	"strings"
	"testing"
)

// The Zeek log references, written from Zeek's documentation of
// SMTP::Info (base/protocols/smtp/main.zeek, smtp.log) and Files::Info
// (base/frameworks/files/main.zeek, files.log; uid and id as Zeek 5+
// write them), field -> Zeek type. Zeek's JSON writer (LogAscii::use_json,
// json_timestamps JSON::TS_EPOCH) writes time and interval as seconds
// (a number), port and count as integers, addr as a string, set and
// vector as arrays, and leaves unset optional fields out.
var zeekSMTPRef = map[string]string{
	"ts": "time", "uid": "string", "id.orig_h": "addr", "id.orig_p": "port", "id.resp_h": "addr", "id.resp_p": "port",
	"trans_depth": "count", "helo": "string", "mailfrom": "string", "rcptto": "set[string]", "date": "string",
	"from": "string", "to": "set[string]", "cc": "set[string]", "reply_to": "string", "msg_id": "string",
	"in_reply_to": "string", "subject": "string", "x_originating_ip": "addr", "first_received": "string",
	"second_received": "string", "last_reply": "string", "path": "vector[addr]", "user_agent": "string",
	"tls": "bool", "fuids": "vector[string]", "is_webmail": "bool",
}

var zeekFilesRef = map[string]string{
	"ts": "time", "fuid": "string", "uid": "string", "id.orig_h": "addr", "id.orig_p": "port", "id.resp_h": "addr",
	"id.resp_p": "port", "source": "string", "depth": "count", "analyzers": "set[string]", "mime_type": "string",
	"filename": "string", "duration": "interval", "local_orig": "bool", "is_orig": "bool", "seen_bytes": "count",
	"total_bytes": "count", "missing_bytes": "count", "overflow_bytes": "count", "timedout": "bool",
	"parent_fuid": "string", "md5": "string", "sha1": "string", "sha256": "string", "extracted": "string",
	"extracted_cutoff": "bool", "extracted_size": "count",
}

// Fields Zeek always writes (not &optional) in each log.
var (
	zeekSMTPRequired  = []string{"ts", "uid", "trans_depth"}
	zeekFilesRequired = []string{"ts", "fuid", "seen_bytes", "missing_bytes", "overflow_bytes"}
)

// checkZeekValue reports what is wrong with v as a JSON value of the
// Zeek type typ ("" when nothing).
func checkZeekValue(typ string, v any) string {
	if elem, ok := strings.CutPrefix(typ, "set["); ok {
		return checkZeekList(strings.TrimSuffix(elem, "]"), v)
	}
	if elem, ok := strings.CutPrefix(typ, "vector["); ok {
		return checkZeekList(strings.TrimSuffix(elem, "]"), v)
	}
	switch typ {
	case "string":
		if _, ok := v.(string); !ok {
			return "not a string"
		}
	case "bool":
		if _, ok := v.(bool); !ok {
			return "not a bool"
		}
	case "addr":
		s, ok := v.(string)
		if _, err := netip.ParseAddr(s); !ok || err != nil {
			return "not an IP address"
		}
	case "time", "interval":
		f, ok := v.(float64)
		if !ok || f < 0 || math.IsInf(f, 0) {
			return "not a non-negative number of seconds"
		}
	case "count", "port":
		f, ok := v.(float64)
		if !ok || f < 0 || f != math.Trunc(f) || (typ == "port" && f > 65535) {
			return "not a " + typ
		}
	default:
		return "unknown type " + typ
	}
	return ""
}

func checkZeekList(elem string, v any) string {
	l, ok := v.([]any)
	if !ok {
		return "not an array"
	}
	for _, x := range l {
		if p := checkZeekValue(elem, x); p != "" {
			return "element " + p
		}
	}
	return ""
}

// checkZeekLine checks one JSON line against a log's reference.
func checkZeekLine(t *testing.T, what string, line any, ref map[string]string, required []string) {
	t.Helper()
	b, err := json.Marshal(line)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for k, v := range m {
		typ, ok := ref[k]
		if !ok {
			t.Errorf("%s: field %q is not in Zeek's log", what, k)
			continue
		}
		if p := checkZeekValue(typ, v); p != "" {
			t.Errorf("%s: %s = %v: %s (Zeek type %s)", what, k, v, p, typ)
		}
	}
	for _, k := range required {
		if _, ok := m[k]; !ok {
			t.Errorf("%s: lacks %q, which Zeek always writes", what, k)
		}
	}
}

// TestZeekLogsAgainstReference: every smtp.log and files.log line of the
// real captures in testdata and of the ECS test emails (sessions, .eml
// files, every IOC type) has only fields of Zeek's logs, each with its
// Zeek type as Zeek's JSON writer writes it, and the fields Zeek always
// writes.
func TestZeekLogsAgainstReference(t *testing.T) {
	emails, _ := captureEmails(t)
	emails = append(emails, ecsTestEmails(t)...)
	files := 0
	for _, e := range emails {
		smtp, fl := Zeek(e)
		checkZeekLine(t, e.ID+" smtp.log", smtp, zeekSMTPRef, zeekSMTPRequired)
		for i := range fl {
			files++
			checkZeekLine(t, e.ID+" files.log", &fl[i], zeekFilesRef, zeekFilesRequired)
		}
	}
	if files == 0 {
		t.Fatal("no files.log line checked")
	}
}

// TestZeekCheckerCatches: the checker refuses what Zeek would not write.
func TestZeekCheckerCatches(t *testing.T) {
	for _, c := range []struct {
		typ string
		v   any
	}{{"addr", "not-an-ip"}, {"port", 70000.0}, {"count", 1.5}, {"set[string]", "x"}, {"vector[addr]", []any{"x"}},
		{"bool", "true"}, {"time", "2026-12-07"}} {
		if checkZeekValue(c.typ, c.v) == "" {
			t.Errorf("%s %v accepted", c.typ, c.v)
		}
	}
	if p := checkZeekValue("vector[addr]", []any{"192.0.2.1", "2001:db8::1"}); p != "" {
		t.Errorf("a valid path refused: %s", p)
	}
}
