package core

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
)

// stoqTestEmail is a record as the analyzer makes it: an email with a zip
// attachment holding one member, an attached message with an attachment
// of its own, YARA hits, IOCs and errors.
func stoqTestEmail() *Email {
	return &Email{
		ID:      "CHhAvVGS1DHFjwGM9.0",
		Session: SessionInfo{UID: "CHhAvVGS1DHFjwGM9", SourceIP: "192.0.2.7", SourcePort: 49152, Helo: "mx.example.net", File: "/spool/smtp/CHhAvVGS1DHFjwGM9"},
		Envelope: Envelope{
			MailFrom: "billing@example.net", RcptTo: []string{"ap@example.org"},
		},
		ServerReply: &Reply{Code: 250, Text: "2.0.0 Ok: queued"},
		Size:        4242, MD5: "m-email", SHA1: "s1-email", SHA256: "s256-email",
		Subject: "Invoice 1234",
		Headers: map[string][]string{
			"from":     {"Billing <billing@example.net>"},
			"subject":  {"Invoice 1234 – überfällig"},
			"received": {"from a by b", "from c by d"},
		},
		RawHeader: []HeaderField{
			{Name: "Received", Value: "from a by b"},
			{Name: "From", Value: "Billing <billing@example.net>"},
			{Name: "Received", Value: "from c by d"},
			{Name: "Subject", Value: "=?utf-8?q?Invoice_1234_=E2=80=93_=C3=BCberf=C3=A4llig?="},
		},
		BodyText: "See http://evil.example.com/inv?id=1 <now>",
		BodyHTML: "<p>See <a href=\"http://evil.example.com/inv?id=1\">here</a></p>",
		Parts: []Part{
			{Part: "0", ContentType: "multipart/mixed"},
			{Part: "1", ContentType: "text/plain", Charset: "UTF-8"},
			{Part: "2", ContentType: "application/zip", Filename: "invoice.zip", Disposition: "attachment"},
			{Part: "3", ContentType: "message/rfc822", Disposition: "attachment"},
			{Part: "3.1", ContentType: "text/plain", Charset: "iso-8859-1", Parent: "3", Depth: 1},
			{Part: "3.2", ContentType: "application/pdf", Filename: "scan.pdf", Parent: "3", Depth: 1},
		},
		Attachments: []Attachment{
			{Filename: "invoice.zip", ContentType: "application/zip", DetectedType: "application/zip", Size: 300,
				MD5: "m-zip", SHA1: "s1-zip", SHA256: "s256-zip", Disposition: "attachment", Part: "2"},
			{Filename: "invoice.js", ContentType: "", DetectedType: "text/plain", Size: 120,
				MD5: "m-js", SHA1: "s1-js", SHA256: "s256-js", Part: "2!invoice.js", Depth: 1, Parent: "2",
				YARA: []YaraMatch{{Rule: "js_dropper", Namespace: "mail", Tags: []string{"dropper"},
					Meta: map[string]string{"score": "80"}, Strings: []YaraString{{Identifier: "$a", Offset: 17, Data: `WScript\x00`}}}}},
			{Filename: "locked.exe", Size: 4096, Part: "2!locked.exe", Depth: 1, Parent: "2", Encrypted: true},
			{Filename: "", ContentType: "message/rfc822", DetectedType: "message/rfc822", Size: 900,
				MD5: "m-msg", SHA1: "s1-msg", SHA256: "s256-msg", Disposition: "attachment", Part: "3"},
			{Filename: "scan.pdf", ContentType: "application/pdf", DetectedType: "application/pdf", Size: 2000,
				MD5: "m-pdf", SHA1: "s1-pdf", SHA256: "s256-pdf", Part: "3.2", Depth: 1, Parent: "3",
				Errors: []string{"yara: scan of 2000 bytes timed out after 1s"}},
		},
		IOCs: []IOC{
			{Type: IOCURL, Value: "http://evil.example.com/inv?id=1", Source: "body"},
			{Type: IOCDomain, Value: "evil.example.com", Source: "body"},
			{Type: IOCIPv4, Value: "192.0.2.99", Source: "header:received"},
			{Type: IOCSHA256, Value: strings.Repeat("ab", 32), Source: "body"},
		},
		YARA:   []YaraMatch{{Rule: "invoice_lure", Namespace: "mail"}},
		Flags:  []string{"pipelining"},
		Errors: []string{"part 3.1: bad charset"},
	}
}

func decodeStoq(t *testing.T, b []byte) map[string]any {
	t.Helper()
	if !bytes.HasSuffix(b, []byte("}\n")) || bytes.Count(b, []byte("\n")) != 1 {
		t.Fatalf("not one compact JSON line: %q", b)
	}
	var m map[string]any
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	if err := d.Decode(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

// dig walks a decoded JSON document: string keys and int indexes.
func dig(t *testing.T, v any, path ...any) any {
	t.Helper()
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				t.Fatalf("at %v: %T is not an object", path, v)
			}
			if v, ok = m[k]; !ok {
				t.Fatalf("at %v: no key %q (keys %v)", path, k, keys(m))
			}
		case int:
			a, ok := v.([]any)
			if !ok || k >= len(a) {
				t.Fatalf("at %v: %v is not an array with index %d", path, v, k)
			}
			v = a[k]
		}
	}
	return v
}

func keys(m map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestStoqResults(t *testing.T) {
	e := stoqTestEmail()
	now := time.Date(2026, 11, 23, 1, 2, 3, 456789000, time.FixedZone("X", 3600))
	archive := map[string]string{
		"s1-email": "/arch/s/1/-/e/m/s1-email",
		"s1-js":    "/arch/s/1/-/j/s/s1-js",
	}
	out, err := StoqResults(e, archive, "scan-0001", now)
	if err != nil {
		t.Fatal(err)
	}
	doc := decodeStoq(t, out)

	// The envelope.
	wantTop := []string{"decorators", "errors", "request_meta", "results", "scan_id", "time"}
	if got := keys(doc); !sameSet(got, wantTop) {
		t.Errorf("top-level keys %v, want %v", got, wantTop)
	}
	if doc["scan_id"] != "scan-0001" || doc["time"] != "2026-11-23T00:02:03.456789+00:00" {
		t.Errorf("scan_id %v time %v", doc["scan_id"], doc["time"])
	}
	if !reflect.DeepEqual(doc["request_meta"], map[string]any{"archive_payloads": true, "source": nil, "extra_data": map[string]any{}}) {
		t.Errorf("request_meta = %v", doc["request_meta"])
	}
	if !reflect.DeepEqual(doc["decorators"], map[string]any{}) {
		t.Errorf("decorators = %v", doc["decorators"])
	}
	results := dig(t, doc, "results").([]any)
	if len(results) != 6 {
		t.Fatalf("%d results, want the email and its 5 attachments", len(results))
	}
	ids := map[string]int{}
	for i := range results {
		id := dig(t, results, i, "payload_id").(string)
		if len(id) != 36 || id[14] != '5' {
			t.Errorf("payload_id %q is not a v5-style UUID", id)
		}
		ids[id] = i
		wantKeys := []string{"size", "payload_id", "payload_meta", "plugins_run", "extracted_from", "extracted_by", "workers", "archivers"}
		if got := keys(results[i].(map[string]any)); !sameSet(got, wantKeys) {
			t.Errorf("result %d keys %v", i, got)
		}
	}
	if len(ids) != 6 {
		t.Error("payload_ids are not unique")
	}
	id := func(i int) string { return dig(t, results, i, "payload_id").(string) }

	// The email.
	root := results[0]
	if dig(t, root, "size") != json.Number("4242") {
		t.Errorf("root size %v", dig(t, root, "size"))
	}
	if !reflect.DeepEqual(dig(t, root, "extracted_from"), []any{}) || !reflect.DeepEqual(dig(t, root, "extracted_by"), []any{}) {
		t.Error("root extracted_from/by not empty lists")
	}
	meta := dig(t, root, "payload_meta").(map[string]any)
	if meta["should_archive"] != true || meta["should_scan"] != true || !reflect.DeepEqual(meta["dispatch_to"], []any{}) {
		t.Errorf("root payload_meta = %v", meta)
	}
	if dig(t, meta, "extra_data", "filename") != "CHhAvVGS1DHFjwGM9" || dig(t, meta, "extra_data", "source_dir") != "/spool/smtp" {
		t.Errorf("root extra_data = %v", meta["extra_data"])
	}
	if dig(t, meta, "extra_data", "smtpscope", "id") != e.ID || dig(t, meta, "extra_data", "smtpscope", "envelope", "mail_from") != "billing@example.net" ||
		dig(t, meta, "extra_data", "smtpscope", "server_reply", "code") != json.Number("250") {
		t.Errorf("root smtpscope extra = %v", dig(t, meta, "extra_data", "smtpscope"))
	}
	smtp := dig(t, root, "workers", "smtp").(map[string]any)
	wantSMTP := map[string]any{
		"received":  "from a by b\nfrom c by d",
		"from":      "Billing <billing@example.net>",
		"subject":   "Invoice 1234 – überfällig",
		"body":      e.BodyText,
		"body_html": e.BodyHTML,
	}
	if !reflect.DeepEqual(smtp, wantSMTP) {
		t.Errorf("smtp worker = %v", smtp)
	}
	// Header order is the message's (first appearance).
	if i, j, k := bytes.Index(out, []byte(`"received":`)), bytes.Index(out, []byte(`"from":"Billing`)), bytes.Index(out, []byte(`"body":`)); !(i < j && j < k) {
		t.Errorf("smtp keys out of order: received %d from %d body %d", i, j, k)
	}
	if !bytes.Contains(out, []byte(`<now>`)) {
		t.Error("HTML characters escaped in the output")
	}
	if !reflect.DeepEqual(dig(t, root, "workers", "hash"), map[string]any{"md5": "m-email", "sha1": "s1-email", "sha256": "s256-email"}) {
		t.Errorf("root hash = %v", dig(t, root, "workers", "hash"))
	}
	wantIOC := map[string]any{
		"sha256": []any{strings.Repeat("ab", 32)}, "ipv4": []any{"192.0.2.99"},
		"domain": []any{"evil.example.com"}, "url": []any{"http://evil.example.com/inv?id=1"},
	}
	if !reflect.DeepEqual(dig(t, root, "workers", "iocextract"), wantIOC) {
		t.Errorf("iocextract = %v", dig(t, root, "workers", "iocextract"))
	}
	wantRootYara := map[string]any{"matches": []any{map[string]any{"tags": []any{}, "namespace": "mail", "rule": "invoice_lure", "meta": map[string]any{}, "strings": []any{}}}}
	if !reflect.DeepEqual(dig(t, root, "workers", "yara"), wantRootYara) {
		t.Errorf("root yara = %v", dig(t, root, "workers", "yara"))
	}
	if dig(t, root, "archivers", "filedir", "path") != "/arch/s/1/-/e/m/s1-email" {
		t.Errorf("root archivers = %v", dig(t, root, "archivers"))
	}
	if !reflect.DeepEqual(dig(t, root, "plugins_run"), map[string]any{"workers": []any{"smtp", "hash", "yara", "iocextract"}, "archivers": []any{"filedir"}}) {
		t.Errorf("root plugins_run = %v", dig(t, root, "plugins_run"))
	}

	// The zip: from the email, by smtp; not archived (no path given).
	zipR := results[1]
	if !reflect.DeepEqual(dig(t, zipR, "extracted_from"), []any{id(0)}) || !reflect.DeepEqual(dig(t, zipR, "extracted_by"), []any{"smtp"}) {
		t.Errorf("zip lineage %v %v", dig(t, zipR, "extracted_from"), dig(t, zipR, "extracted_by"))
	}
	wantExtra := map[string]any{"charset": nil, "content-description": nil, "disposition": "attachment", "filename": "invoice.zip", "type": "application/zip",
		"smtpscope": map[string]any{"part": "2", "parent": nil, "depth": json.Number("0"), "content_id": nil, "detected_type": "application/zip"}}
	if got := dig(t, zipR, "payload_meta", "extra_data"); !reflect.DeepEqual(got, wantExtra) {
		t.Errorf("zip extra_data = %v", got)
	}
	if dig(t, zipR, "payload_meta", "should_archive") != true || !reflect.DeepEqual(dig(t, zipR, "archivers"), map[string]any{}) {
		t.Errorf("zip archive state: %v %v", dig(t, zipR, "payload_meta", "should_archive"), dig(t, zipR, "archivers"))
	}
	if !reflect.DeepEqual(dig(t, zipR, "workers"), map[string]any{
		"hash":     map[string]any{"md5": "m-zip", "sha1": "s1-zip", "sha256": "s256-zip"},
		"mimetype": map[string]any{"mimetype": "application/zip"},
	}) {
		t.Errorf("zip workers = %v", dig(t, zipR, "workers"))
	}
	if !reflect.DeepEqual(dig(t, zipR, "payload_meta", "dispatch_to"), []any{"hash", "mimetype"}) {
		t.Errorf("zip dispatch_to = %v", dig(t, zipR, "payload_meta", "dispatch_to"))
	}

	// The zip member: from the zip, by decompress; YARA strings as triples.
	js := results[2]
	if !reflect.DeepEqual(dig(t, js, "extracted_from"), []any{id(1)}) || !reflect.DeepEqual(dig(t, js, "extracted_by"), []any{"decompress"}) {
		t.Errorf("member lineage %v %v", dig(t, js, "extracted_from"), dig(t, js, "extracted_by"))
	}
	wantYara := map[string]any{"matches": []any{map[string]any{
		"tags": []any{"dropper"}, "namespace": "mail", "rule": "js_dropper", "meta": map[string]any{"score": "80"},
		"strings": []any{[]any{json.Number("17"), "$a", `WScript\x00`}},
	}}}
	if !reflect.DeepEqual(dig(t, js, "workers", "yara"), wantYara) {
		t.Errorf("member yara = %v", dig(t, js, "workers", "yara"))
	}
	if dig(t, js, "archivers", "filedir", "path") != "/arch/s/1/-/j/s/s1-js" {
		t.Errorf("member archivers = %v", dig(t, js, "archivers"))
	}

	// The encrypted member: listed, no hash, not archivable.
	enc := results[3]
	if dig(t, enc, "payload_meta", "extra_data", "smtpscope", "encrypted") != true || dig(t, enc, "payload_meta", "should_archive") != false {
		t.Errorf("encrypted member meta = %v", dig(t, enc, "payload_meta"))
	}
	if !reflect.DeepEqual(dig(t, enc, "workers"), map[string]any{}) || dig(t, enc, "size") != json.Number("4096") {
		t.Errorf("encrypted member = %v", enc)
	}

	// The attached message's attachment: from the message, by smtp.
	pdf := results[5]
	if !reflect.DeepEqual(dig(t, pdf, "extracted_from"), []any{id(4)}) || !reflect.DeepEqual(dig(t, pdf, "extracted_by"), []any{"smtp"}) {
		t.Errorf("pdf lineage %v %v", dig(t, pdf, "extracted_from"), dig(t, pdf, "extracted_by"))
	}
	if dig(t, results, 4, "payload_meta", "extra_data", "filename") != nil {
		t.Error("unnamed attached message has a filename")
	}

	// Errors: the email's, then the attachments'.
	wantErrs := []any{
		map[string]any{"error": "part 3.1: bad charset", "plugin_name": "smtp", "payload_id": id(0)},
		map[string]any{"error": "yara: scan of 2000 bytes timed out after 1s", "plugin_name": "yara", "payload_id": id(5)},
	}
	if !reflect.DeepEqual(doc["errors"], wantErrs) {
		t.Errorf("errors = %v", doc["errors"])
	}

	// Deterministic: same inputs, same bytes; another scan, other ids.
	again, _ := StoqResults(e, archive, "scan-0001", now)
	if !bytes.Equal(out, again) {
		t.Error("output not deterministic")
	}
	other, _ := StoqResults(e, archive, "scan-0002", now)
	if dig(t, decodeStoq(t, other), "results", 0, "payload_id") == id(0) {
		t.Error("payload_id does not depend on the scan")
	}
}

func TestStoqResultsMinimal(t *testing.T) {
	// An .eml with the body omitted, nothing archived, no scan id.
	e := &Email{ID: "eml-0123", Source: "/mail/new/1700000000.M1.host", Size: 10, SHA1: "x", SHA256: "y", MD5: "z",
		RawHeader: []HeaderField{{Name: "Subject", Value: "hi"}}, Headers: map[string][]string{"subject": {"hi"}, "x-extra": {"1"}},
		BodyText: "secret", BodyOmitted: true}
	out, err := StoqResults(e, nil, "", time.Unix(0, 0))
	if err != nil {
		t.Fatal(err)
	}
	doc := decodeStoq(t, out)
	sid := doc["scan_id"].(string)
	if len(sid) != 36 {
		t.Errorf("derived scan_id %q", sid)
	}
	if !reflect.DeepEqual(dig(t, doc, "results", 0, "workers", "smtp"), map[string]any{"subject": "hi", "x-extra": "1"}) {
		t.Errorf("smtp = %v (bodies must be left out)", dig(t, doc, "results", 0, "workers", "smtp"))
	}
	if dig(t, doc, "results", 0, "payload_meta", "should_archive") != false || dig(t, doc, "results", 0, "payload_meta", "extra_data", "filename") != "1700000000.M1.host" {
		t.Errorf("payload_meta = %v", dig(t, doc, "results", 0, "payload_meta"))
	}
	if !reflect.DeepEqual(doc["errors"], []any{}) || !reflect.DeepEqual(dig(t, doc, "results", 0, "workers", "iocextract"), map[string]any{}) {
		t.Errorf("errors %v iocextract %v", doc["errors"], dig(t, doc, "results", 0, "workers", "iocextract"))
	}
	if _, err := StoqResults(nil, nil, "", time.Now()); err == nil {
		t.Error("nil email: no error")
	}
}

// TestStoqResultsFromAnalyzer runs a real message through the analyzer
// (and YARA when compiled in) into the stoQ envelope.
func TestStoqResultsFromAnalyzer(t *testing.T) {
	zipData := buildZip(t, []zipEntry{{name: "run.js", data: []byte("var s = 'STOQ-TEST-MARKER';")}})
	msg := "From: a@example.net\r\nTo: b@example.org\r\nSubject: test\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/mixed; boundary=XX\r\n\r\n--XX\r\nContent-Type: text/plain\r\n\r\nsee hxxp://bad[.]example[.]com/x\r\n" +
		"--XX\r\nContent-Type: application/zip; name=a.zip\r\nContent-Disposition: attachment; filename=a.zip\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
		base64.StdEncoding.EncodeToString(zipData) + "\r\n--XX--\r\n"
	opts := DefaultOptions()
	if YaraAvailable() {
		dir := t.TempDir()
		p := writeRule(t, dir, "z.yar", `rule zip_magic { strings: $pk = { 50 4B 03 04 } condition: $pk at 0 }`)
		r, err := CompileYara([]string{p})
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		opts.Yara = r
		opts.YaraTimeout = 5 * time.Second
	}
	e := NewAnalyzer(opts).AnalyzeBytes([]byte(msg))
	if len(e.Attachments) == 0 {
		t.Fatalf("analyzer found no attachment: %v", e.Errors)
	}
	out, err := StoqResults(e, map[string]string{e.Attachments[0].SHA1: "/a/" + e.Attachments[0].SHA1}, "s", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	doc := decodeStoq(t, out)
	att := dig(t, doc, "results", 1)
	if dig(t, att, "payload_meta", "extra_data", "filename") != "a.zip" || dig(t, att, "workers", "hash", "sha1") != e.Attachments[0].SHA1 ||
		dig(t, att, "archivers", "filedir", "path") != "/a/"+e.Attachments[0].SHA1 {
		t.Errorf("attachment result = %v", att)
	}
	if dig(t, att, "workers", "mimetype", "mimetype") != "application/zip" {
		t.Errorf("mimetype = %v", dig(t, att, "workers", "mimetype"))
	}
	if YaraAvailable() && dig(t, att, "workers", "yara", "matches", 0, "rule") != "zip_magic" {
		t.Errorf("yara = %v", dig(t, att, "workers"))
	}
	if urls := dig(t, doc, "results", 0, "workers", "iocextract", "url"); !reflect.DeepEqual(urls, []any{"http://bad.example.com/x"}) {
		t.Errorf("iocextract url = %v", urls)
	}
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	m := map[string]int{}
	for _, x := range a {
		m[x]++
	}
	for _, x := range b {
		m[x]--
	}
	for _, v := range m {
		if v != 0 {
			return false
		}
	}
	return true
}
