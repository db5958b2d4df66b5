package core

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"testing"
	"time"
)

// MISP rules the event is checked against: MISP's describeTypes
// (PyMISP pymisp/data/describeTypes.json: category_type_mappings, for
// the types this export writes), the event and attribute fields of
// MISP's JSON format (PyMISP's MISPEvent/MISPAttribute/MISPObject), and
// the object templates of misp-objects (objects/email, objects/file:
// their object_relation names and types).
var (
	mispCategories = map[string][]string{
		"Payload delivery": {"md5", "sha1", "sha256", "sha512", "filename", "ip-src", "ip-dst", "domain",
			"email-src", "email-dst", "email-subject", "email-attachment", "url", "mime-type", "text",
			"email-dst-display-name", "email-src-display-name", "email-header", "email-reply-to",
			"email-x-mailer", "email-message-id"},
		"Network activity":  {"ip-src", "ip-dst", "domain", "email-dst", "url", "hostname", "text"},
		"Other":             {"text", "size-in-bytes", "datetime"},
		"Artifacts dropped": {"md5", "sha1", "sha256", "sha512", "filename", "mime-type", "text"},
	}
	// misp-objects templates: object_relation -> attribute type.
	mispTemplates = map[string]struct {
		uuid, meta string
		rel        map[string]string
	}{
		"email": {MISPEmailTemplate, "network", map[string]string{
			"from": "email-src", "from-display-name": "email-src-display-name", "to": "email-dst",
			"cc": "email-dst", "reply-to": "email-reply-to", "return-path": "email-src",
			"subject": "email-subject", "message-id": "email-message-id", "send-date": "datetime",
			"x-mailer": "email-x-mailer", "user-agent": "text", "attachment": "email-attachment",
		}},
		"file": {MISPFileTemplate, "file", map[string]string{
			"filename": "filename", "md5": "md5", "sha1": "sha1", "sha256": "sha256",
			"size-in-bytes": "size-in-bytes", "mimetype": "mime-type",
		}},
	}
	mispUUIDRe  = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[1-5][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	mispDateRe  = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}$`)
	mispEpochRe = regexp.MustCompile(`^\d+$`)
	// Values by type.
	mispValueRe = map[string]*regexp.Regexp{
		"md5": regexp.MustCompile(`^[0-9a-f]{32}$`), "sha1": regexp.MustCompile(`^[0-9a-f]{40}$`),
		"sha256": regexp.MustCompile(`^[0-9a-f]{64}$`), "sha512": regexp.MustCompile(`^[0-9a-f]{128}$`),
		"email-src": regexp.MustCompile(`^[^@\s]+@[^@\s]+$`), "email-dst": regexp.MustCompile(`^[^@\s]+@[^@\s]+$`),
		"ip-src": regexp.MustCompile(`^[0-9a-fA-F:.]+$`), "ip-dst": regexp.MustCompile(`^[0-9a-fA-F:.]+$`),
		"size-in-bytes": regexp.MustCompile(`^\d+$`), "datetime": regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$`),
		"url": regexp.MustCompile(`^[a-z][a-z0-9+.-]*://`), "domain": regexp.MustCompile(`^[a-z0-9.-]+\.[a-z0-9-]+$`),
	}
)

// checkMISPAttr checks one attribute (relation "" at the event level).
func checkMISPAttr(t *testing.T, where string, a map[string]any, object string) {
	t.Helper()
	typ, cat, val := fmt.Sprint(a["type"]), fmt.Sprint(a["category"]), fmt.Sprint(a["value"])
	if !slices.Contains(mispCategories[cat], typ) {
		t.Errorf("%s: type %s is not allowed in category %q", where, typ, cat)
	}
	if _, ok := a["to_ids"].(bool); !ok {
		t.Errorf("%s: to_ids %v is not a boolean", where, a["to_ids"])
	}
	if !mispUUIDRe.MatchString(fmt.Sprint(a["uuid"])) {
		t.Errorf("%s: uuid %v", where, a["uuid"])
	}
	if val == "" {
		t.Errorf("%s: empty value", where)
	}
	if re := mispValueRe[typ]; re != nil && !re.MatchString(val) {
		t.Errorf("%s: %s value %q", where, typ, val)
	}
	rel, hasRel := a["object_relation"].(string)
	if object == "" && hasRel {
		t.Errorf("%s: an event attribute with an object_relation", where)
	}
	if object != "" {
		want, ok := mispTemplates[object].rel[rel]
		if !ok || want != typ {
			t.Errorf("%s: %s object relation %q of type %s (template: %q)", where, object, rel, typ, want)
		}
	}
}

// checkMISPEvent checks an event; it returns it.
func checkMISPEvent(t *testing.T, data []byte) map[string]any {
	t.Helper()
	var doc map[string]any
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, data)
	}
	ev, ok := doc["Event"].(map[string]any)
	if !ok || len(doc) != 1 {
		t.Fatalf("want one Event: %s", data)
	}
	if s, _ := ev["info"].(string); s == "" {
		t.Error("no info")
	}
	if !mispDateRe.MatchString(fmt.Sprint(ev["date"])) {
		t.Errorf("date %v", ev["date"])
	}
	if !slices.Contains([]string{"1", "2", "3", "4"}, fmt.Sprint(ev["threat_level_id"])) {
		t.Errorf("threat_level_id %v", ev["threat_level_id"])
	}
	if !slices.Contains([]string{"0", "1", "2"}, fmt.Sprint(ev["analysis"])) {
		t.Errorf("analysis %v", ev["analysis"])
	}
	if !slices.Contains([]string{"0", "1", "2", "3", "4"}, fmt.Sprint(ev["distribution"])) {
		t.Errorf("distribution %v", ev["distribution"])
	}
	if !mispUUIDRe.MatchString(fmt.Sprint(ev["uuid"])) || !mispEpochRe.MatchString(fmt.Sprint(ev["timestamp"])) {
		t.Errorf("uuid %v timestamp %v", ev["uuid"], ev["timestamp"])
	}
	uuids := map[string]string{}
	objs, _ := ev["Object"].([]any)
	for i, o := range objs {
		obj := o.(map[string]any)
		name := fmt.Sprint(obj["name"])
		tpl, ok := mispTemplates[name]
		if !ok {
			t.Errorf("object %d: name %s", i, name)
			continue
		}
		if obj["template_uuid"] != tpl.uuid || obj["meta-category"] != tpl.meta {
			t.Errorf("object %d: template %v meta %v", i, obj["template_uuid"], obj["meta-category"])
		}
		id := fmt.Sprint(obj["uuid"])
		if !mispUUIDRe.MatchString(id) || uuids[id] != "" {
			t.Errorf("object %d: uuid %s", i, id)
		}
		uuids[id] = name
		attrs, _ := obj["Attribute"].([]any)
		if len(attrs) == 0 {
			t.Errorf("object %d (%s) has no attribute", i, name)
		}
		for j, a := range attrs {
			checkMISPAttr(t, fmt.Sprintf("object %d (%s) attribute %d", i, name, j), a.(map[string]any), name)
		}
	}
	for i, o := range objs {
		obj := o.(map[string]any)
		refs, _ := obj["ObjectReference"].([]any)
		for _, r := range refs {
			ref := r.(map[string]any)
			if uuids[fmt.Sprint(ref["referenced_uuid"])] == "" || ref["relationship_type"] == "" {
				t.Errorf("object %d: reference %v", i, ref)
			}
		}
	}
	attrs, ok := ev["Attribute"].([]any)
	if !ok {
		t.Errorf("Attribute %v is not a list", ev["Attribute"])
	}
	seen := map[string]bool{}
	for i, a := range attrs {
		am := a.(map[string]any)
		checkMISPAttr(t, fmt.Sprintf("event attribute %d", i), am, "")
		k := fmt.Sprint(am["type"], "|", am["value"])
		if seen[k] {
			t.Errorf("event attribute %s twice", k)
		}
		seen[k] = true
	}
	return ev
}

func TestMISPEvent(t *testing.T) {
	emails := exportEmails(t)
	var buf bytes.Buffer
	w := NewMISPWriter(&buf, time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC))
	for _, e := range emails {
		if err := w.Add(e); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close("phishing wave"); err != nil {
		t.Fatal(err)
	}
	ev := checkMISPEvent(t, buf.Bytes())
	if ev["info"] != "phishing wave" || ev["date"] != "2026-12-06" {
		t.Errorf("info %v date %v (want the earliest email's day)", ev["info"], ev["date"])
	}
	type attr struct{ rel, typ, val string }
	objects := map[string][][]attr{}
	for _, o := range ev["Object"].([]any) {
		obj := o.(map[string]any)
		var as []attr
		for _, a := range obj["Attribute"].([]any) {
			am := a.(map[string]any)
			rel, _ := am["object_relation"].(string)
			as = append(as, attr{rel, am["type"].(string), am["value"].(string)})
		}
		objects[obj["name"].(string)] = append(objects[obj["name"].(string)], as)
	}
	if len(objects["email"]) != 2 || len(objects["file"]) != len(emails[0].Attachments) {
		t.Fatalf("%d email and %d file objects", len(objects["email"]), len(objects["file"]))
	}
	first := objects["email"][0]
	for _, want := range []attr{
		{"from", "email-src", "service@pay-pal-secure.example.net"},
		{"from-display-name", "email-src-display-name", "PayPal Service"},
		{"to", "email-dst", "alice@corp.example"}, {"to", "email-dst", "bob@corp.example"},
		{"cc", "email-dst", "carol@corp.example"},
		{"reply-to", "email-reply-to", "collect@evil.example.com"},
		{"return-path", "email-src", "bounce@evil.example.com"},
		{"subject", "email-subject", "Your account is locked"},
		{"send-date", "datetime", "2026-12-07T09:00:00Z"},
		{"x-mailer", "email-x-mailer", "PHPMailer 5.2"},
		{"attachment", "email-attachment", "invoice.pdf"},
		{"attachment", "email-attachment", "inner.exe"},
	} {
		if !slices.Contains(first, want) {
			t.Errorf("email object lacks %v: %v", want, first)
		}
	}
	pdf := emails[0].Attachments[0]
	found := false
	for _, f := range objects["file"] {
		if slices.Contains(f, attr{"sha256", "sha256", pdf.SHA256}) {
			found = true
			for _, want := range []attr{{"filename", "filename", "invoice.pdf"}, {"md5", "md5", pdf.MD5},
				{"sha1", "sha1", pdf.SHA1}, {"size-in-bytes", "size-in-bytes", fmt.Sprint(pdf.Size)},
				{"mimetype", "mime-type", "application/pdf"}} {
				if !slices.Contains(f, want) {
					t.Errorf("file object lacks %v: %v", want, f)
				}
			}
		}
	}
	if !found {
		t.Errorf("no file object for %s", pdf.SHA256)
	}
	refs := ev["Object"].([]any)
	n := 0
	for _, o := range refs {
		if r, ok := o.(map[string]any)["ObjectReference"].([]any); ok {
			n += len(r)
		}
	}
	if n != len(emails[0].Attachments) {
		t.Errorf("%d references from the email objects, want one per file", n)
	}
	have := map[string]bool{}
	for _, a := range ev["Attribute"].([]any) {
		am := a.(map[string]any)
		have[fmt.Sprint(am["type"], " ", am["value"], " ", am["to_ids"])] = true
	}
	for _, want := range []string{
		"url http://pay-pal-secure.example.net/login?id=1 true",
		"domain evil.example.com true",
		"ip-dst 198.51.100.7 true",
		"email-dst helpdesk@evil.example.com true",
		"md5 44d88612fea8a8f36de82e1278abb02f true",
		"ip-src 192.0.2.10 false",
		"ip-src 2001:db8::5 false",
	} {
		if !have[want] {
			t.Errorf("no event attribute %q; have %v", want, have)
		}
	}
}

func TestMISPEmptyEvent(t *testing.T) {
	var buf bytes.Buffer
	w := NewMISPWriter(&buf, time.Now())
	if err := w.Close("nothing"); err != nil {
		t.Fatal(err)
	}
	ev := checkMISPEvent(t, buf.Bytes())
	if objs, _ := ev["Object"].([]any); len(objs) != 0 {
		t.Errorf("objects %v", objs)
	}
}

// FuzzMISPWriter: whatever an email holds, the event is valid JSON with
// one Event.
func FuzzMISPWriter(f *testing.F) {
	f.Add("Subject: x\r\nFrom: \"a\" <a@b.example>\r\nTo: ,,<>\r\n\r\nhttp://x.example/ 1.2.3.4\r\n")
	a := NewAnalyzer(DefaultOptions())
	f.Fuzz(func(t *testing.T, raw string) {
		e := a.AnalyzeBytes([]byte(raw))
		var buf bytes.Buffer
		w := NewMISPWriter(&buf, time.Unix(0, 0))
		if err := w.Add(e); err != nil {
			t.Fatal(err)
		}
		if err := w.Close("fuzz"); err != nil {
			t.Fatal(err)
		}
		var v struct {
			Event struct {
				Object []struct {
					Attribute []map[string]any
				}
			}
		}
		if err := json.Unmarshal(buf.Bytes(), &v); err != nil {
			t.Fatalf("%v\n%s", err, buf.Bytes())
		}
		for _, o := range v.Event.Object {
			if len(o.Attribute) == 0 {
				t.Fatal("an object without attributes")
			}
		}
	})
}
