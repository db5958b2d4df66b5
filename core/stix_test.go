package core

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// Known SCO ids. The first two are the expectations of the STIX 2.1
// reference implementation's tests (cti-python-stix2,
// stix2/test/v21/test_deterministic_ids.py); the third is
// uuid.uuid5(namespace, '{"value":"john@example.com"}') from Python's
// standard library.
func TestSTIXSCOIDKnownVectors(t *testing.T) {
	file := STIXSCOID("file", map[string]any{
		"name":   "example.exe",
		"hashes": map[string]string{"SHA-256": "841a8921140aba50671ebb0770fecc4ee308c4952cfeff8de154ab14eeef4649"},
		"extensions": map[string]any{
			"windows-pebinary-ext": map[string]any{
				"pe_type":     "exe",
				"machine_hex": "014c",
				"sections": []any{map[string]any{
					"name":    ".data",
					"size":    4096,
					"entropy": 7.980693,
					"hashes":  map[string]any{"SHA-256": "6e3b6f3978e5cd96ba7abee35c24e867b7e64072e2ecb22d0ee7a6e6af6894d0"},
				}},
			},
		},
	})
	if want := "file--ced31cd4-bdcb-537d-aefa-92d291bfc11d"; file != want {
		t.Errorf("file id %s, want %s", file, want)
	}
	key := STIXSCOID("windows-registry-key", map[string]any{
		"values": []any{
			map[string]any{"name": "Foo", "data": "qwerty"},
			map[string]any{"name": "Bar", "data": "42"},
		},
	})
	if want := "windows-registry-key--36594eba-bcc7-5014-9835-0e154264e588"; key != want {
		t.Errorf("registry key id %s, want %s", key, want)
	}
	addr := STIXSCOID("email-addr", map[string]any{"value": "john@example.com"})
	if want := "email-addr--7165e2a9-671f-585d-b1e1-ca59c671d934"; addr != want {
		t.Errorf("email-addr id %s, want %s", addr, want)
	}
	// One hash contributes, MD5 first (section 2.9).
	a := STIXSCOID("file", map[string]any{"hashes": map[string]string{"MD5": "aa", "SHA-256": "bb"}})
	b := STIXSCOID("file", map[string]any{"hashes": map[string]string{"MD5": "aa"}})
	if a != b {
		t.Errorf("the SHA-256 beside the MD5 changed the id: %s vs %s", a, b)
	}
	// No property: a random UUIDv4.
	if x, y := STIXSCOID("email-message", nil), STIXSCOID("email-message", nil); x == y || x[len("email-message--")+14] != '4' {
		t.Errorf("ids without properties: %s %s", x, y)
	}
}

func TestJCS(t *testing.T) {
	for _, c := range []struct {
		in   any
		want string
	}{
		{map[string]any{"b": 1, "a": "x"}, `{"a":"x","b":1}`},
		{"\u20ac$\u000f\nA'B\"\\\\\"/", `"€$\u000f\nA'B\"\\\\\"/"`},
		// RFC 8785 3.2.3's sorting example: UTF-16 code units, so the
		// emoji (a surrogate pair) sorts before U+FB33.
		{map[string]any{"\u20ac": "Euro", "\r": "CR", "\ufb33": "Hebrew", "1": "One", "\U0001F600": "Emoji", "\u0080": "Control", "\u00f6": "Umlaut"},
			"{\"\\r\":\"CR\",\"1\":\"One\",\"\u0080\":\"Control\",\"\u00f6\":\"Umlaut\",\"\u20ac\":\"Euro\",\"\U0001F600\":\"Emoji\",\"\ufb33\":\"Hebrew\"}"},
		{1e21, "1e+21"}, {1e-7, "1e-7"}, {0.000001, "0.000001"}, {-0.5, "-0.5"}, {float64(333333333), "333333333"},
		{[]any{true, false, nil}, "[true,false,null]"},
	} {
		var b strings.Builder
		jcsValue(&b, c.in)
		if b.String() != c.want {
			t.Errorf("jcs(%#v) = %s, want %s", c.in, b.String(), c.want)
		}
	}
}

// exportEmails are two analysed emails: a multipart one with an
// attachment, a zip holding an executable and IOCs in its text; a plain
// one sharing a URL with the first.
func exportEmails(t *testing.T) []*Email {
	t.Helper()
	zipData := buildZip(t, []zipEntry{{name: "inner.exe", data: []byte("MZ\x90\x00 not really a program")}})
	var b strings.Builder
	b.WriteString("Received: from mx.evil.example.com (mx.evil.example.com [203.0.113.9]) by mx.corp.example\r\n" +
		"From: \"PayPal Service\" <service@pay-pal-secure.example.net>\r\n" +
		"To: alice@corp.example, Bob <bob@corp.example>\r\n" +
		"Cc: carol@corp.example\r\n" +
		"Reply-To: collect@evil.example.com\r\n" +
		"Return-Path: <bounce@evil.example.com>\r\n" +
		"Subject: Your account is locked\r\n" +
		"Date: Mon, 7 Dec 2026 10:00:00 +0100\r\n" +
		"Message-ID: <abc123@pay-pal-secure.example.net>\r\n" +
		"X-Mailer: PHPMailer 5.2\r\n" +
		"X-Weird: it's \"quoted\" \\ here\r\n" +
		"MIME-Version: 1.0\r\n" +
		"Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n" +
		"--b1\r\nContent-Type: text/plain\r\n\r\n" +
		"Log in at http://pay-pal-secure.example.net/login?id=1 or hxxp://evil[.]example[.]com/o'hare now.\r\n" +
		"Server 198.51.100.7, write to helpdesk@evil.example.com. Sample 44d88612fea8a8f36de82e1278abb02f\r\n" +
		"--b1\r\nContent-Type: application/pdf; name=\"invoice.pdf\"\r\nContent-Disposition: attachment; filename=\"invoice.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\n")
	b.WriteString(strings.ReplaceAll(b64lines([]byte("%PDF-1.4 fake invoice")), "\n", "\r\n"))
	b.WriteString("--b1\r\nContent-Type: application/zip; name=\"attachment.zip\"\r\nContent-Disposition: attachment; filename=\"attachment.zip\"\r\nContent-Transfer-Encoding: base64\r\n\r\n")
	b.WriteString(strings.ReplaceAll(b64lines(zipData), "\n", "\r\n"))
	b.WriteString("--b1--\r\n")
	a := NewAnalyzer(DefaultOptions())
	e1 := a.AnalyzeBytes([]byte(b.String()))
	e1.ID = "s1.0"
	e1.Session = SessionInfo{UID: "s1", SourceIP: "192.0.2.10", SourcePort: 40000, Time: time.Date(2026, 12, 7, 9, 0, 1, 0, time.UTC)}
	e2 := a.AnalyzeBytes([]byte("From: o'brien@evil.example.com\r\nTo: dave@corp.example\r\nSubject: again\r\n\r\nhttp://pay-pal-secure.example.net/login?id=1\r\n"))
	e2.ID = "s2.0"
	e2.Session = SessionInfo{UID: "s2", SourceIP: "2001:db8::5", Time: time.Date(2026, 12, 6, 8, 0, 0, 0, time.UTC)}
	if len(e1.Attachments) < 3 {
		t.Fatalf("want the pdf, the zip and its member; got %+v", e1.Attachments)
	}
	return []*Email{e1, e2}
}

// STIX 2.1 rules the bundle is checked against (STIX 2.1 OS, and the
// JSON schemas of oasis-open/cti-stix2-json-schemas: common/core,
// bundle, observables/*, sdos/indicator, sdos/observed-data,
// sros/relationship).
var (
	// identifier: object-type--UUID (common/identifier.json).
	stixIDRe = regexp.MustCompile(`^([a-z0-9][a-z0-9-]+[a-z0-9])--([0-9a-f]{8}-[0-9a-f]{4}-([1-5])[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12})$`)
	// timestamp (common/timestamp.json) and created/modified at
	// millisecond precision (timestamp_millis).
	stixTSRe   = regexp.MustCompile(`^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])T([01]\d|2[0-3]):[0-5]\d:([0-5]\d|60)(\.\d+)?Z$`)
	stixTSMsRe = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$`)
	// A comparison expression of one observation: [type:path = 'string'].
	stixPatternRe = regexp.MustCompile(`^\[([a-z0-9-]+):([a-z_]+(?:\.(?:[a-z_]+|'[A-Za-z0-9-]+'))*) = '((?:[^'\\]|\\['\\])*)'\]$`)
	// hash values by algorithm (common/hashes-type.json and the spec's
	// hash vocabulary).
	stixHashRe = map[string]*regexp.Regexp{
		"MD5": regexp.MustCompile(`^[0-9a-fA-F]{32}$`), "SHA-1": regexp.MustCompile(`^[0-9a-fA-F]{40}$`),
		"SHA-256": regexp.MustCompile(`^[0-9a-fA-F]{64}$`), "SHA-512": regexp.MustCompile(`^[0-9a-fA-F]{128}$`),
	}
	stixSCOTypes = map[string]bool{"email-addr": true, "email-message": true, "file": true, "url": true,
		"domain-name": true, "ipv4-addr": true, "ipv6-addr": true, "artifact": true}
	// indicator-type-ov.
	stixIndicatorTypes = []string{"anomalous-activity", "anonymization", "benign", "compromised", "malicious-activity", "attribution", "unknown"}
	// pattern-type-ov.
	stixPatternTypes = []string{"stix", "pcre", "sigma", "snort", "suricata", "yara"}
	// The SCO id contributing properties (section 6).
	stixIDProps = map[string][]string{
		"email-addr": {"value"}, "email-message": {"from_ref", "subject", "body"},
		"file": {"hashes", "name", "extensions", "parent_directory_ref"}, "url": {"value"},
		"domain-name": {"value"}, "ipv4-addr": {"value"}, "ipv6-addr": {"value"},
	}
)

// checkSTIXBundle checks a bundle against the rules above; it returns the
// objects by id.
func checkSTIXBundle(t *testing.T, data []byte) map[string]map[string]any {
	t.Helper()
	var bundle map[string]any
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&bundle); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, data)
	}
	if bundle["type"] != "bundle" {
		t.Fatalf("bundle type %v", bundle["type"])
	}
	if m := stixIDRe.FindStringSubmatch(fmt.Sprint(bundle["id"])); m == nil || m[1] != "bundle" {
		t.Fatalf("bundle id %v", bundle["id"])
	}
	if _, ok := bundle["spec_version"]; ok {
		t.Error("a 2.1 bundle has no spec_version")
	}
	list, _ := bundle["objects"].([]any)
	if _, present := bundle["objects"]; present && len(list) == 0 {
		t.Fatal("objects present but empty (empty lists are prohibited)")
	}
	objs := map[string]map[string]any{}
	for _, o := range list {
		obj, ok := o.(map[string]any)
		if !ok {
			t.Fatalf("object %v is not an object", o)
		}
		id := fmt.Sprint(obj["id"])
		if objs[id] != nil {
			t.Errorf("two objects with id %s", id)
		}
		objs[id] = obj
	}
	var noEmpty func(path string, v any)
	noEmpty = func(path string, v any) {
		switch v := v.(type) {
		case []any:
			if len(v) == 0 {
				t.Errorf("%s: empty list", path)
			}
			for i, e := range v {
				noEmpty(fmt.Sprintf("%s[%d]", path, i), e)
			}
		case map[string]any:
			for k, e := range v {
				noEmpty(path+"."+k, e)
			}
		}
	}
	refOK := func(where, ref string, types ...string) {
		t.Helper()
		o := objs[ref]
		if o == nil {
			t.Errorf("%s: %s is not in the bundle", where, ref)
			return
		}
		if len(types) > 0 && !slices.Contains(types, fmt.Sprint(o["type"])) {
			t.Errorf("%s: %s is a %v, want %v", where, ref, o["type"], types)
		}
	}
	for id, o := range objs {
		typ, _ := o["type"].(string)
		m := stixIDRe.FindStringSubmatch(id)
		if m == nil || m[1] != typ {
			t.Errorf("id %s of a %s", id, typ)
			continue
		}
		noEmpty(id, o)
		if o["spec_version"] != "2.1" {
			t.Errorf("%s: spec_version %v", id, o["spec_version"])
		}
		for k, v := range o {
			switch {
			case strings.HasSuffix(k, "_ref"):
				if stixIDRe.FindString(fmt.Sprint(v)) == "" {
					t.Errorf("%s.%s = %v: not an identifier", id, k, v)
				}
				refOK(id+"."+k, fmt.Sprint(v))
			case strings.HasSuffix(k, "_refs"):
				for _, r := range v.([]any) {
					refOK(id+"."+k, fmt.Sprint(r))
				}
			}
		}
		if stixSCOTypes[typ] {
			// SCO: UUIDv5 from its contributing properties.
			props := map[string]any{}
			for _, p := range stixIDProps[typ] {
				if v, ok := o[p]; ok {
					if p == "hashes" {
						h := map[string]string{}
						for k, x := range v.(map[string]any) {
							h[k] = x.(string)
						}
						v = h
					}
					props[p] = v
				}
			}
			want := STIXSCOID(typ, props)
			if len(props) > 0 && want != id {
				t.Errorf("%s: the id of its contributing properties is %s", id, want)
			}
			if len(props) > 0 && m[3] != "5" {
				t.Errorf("%s: SCO id with contributing properties is not a UUIDv5", id)
			}
			if _, ok := o["created"]; ok {
				t.Errorf("%s: an SCO has no created", id)
			}
		} else {
			// SDO/SRO: created, modified at ms precision; UUIDv4; not in the SCO namespace.
			for _, k := range []string{"created", "modified"} {
				if !stixTSMsRe.MatchString(fmt.Sprint(o[k])) || !stixTSRe.MatchString(fmt.Sprint(o[k])) {
					t.Errorf("%s.%s = %v", id, k, o[k])
				}
			}
			if m[3] != "4" {
				t.Errorf("%s: SDO/SRO ids here are UUIDv4", id)
			}
		}
		switch typ {
		case "email-addr":
			if v := fmt.Sprint(o["value"]); !strings.Contains(v, "@") {
				t.Errorf("%s: value %q", id, v)
			}
		case "email-message":
			mp, ok := o["is_multipart"].(bool)
			if !ok {
				t.Errorf("%s: is_multipart missing or not a boolean", id)
			}
			if _, ok := o["body_multipart"]; ok && !mp {
				t.Errorf("%s: body_multipart on a message that is not multipart", id)
			}
			if _, ok := o["body"]; ok && mp {
				t.Errorf("%s: body on a multipart message", id)
			}
			if d, ok := o["date"]; ok && !stixTSRe.MatchString(fmt.Sprint(d)) {
				t.Errorf("%s: date %v", id, d)
			}
			if f, ok := o["from_ref"]; ok {
				refOK(id+".from_ref", fmt.Sprint(f), "email-addr")
			}
			for _, k := range []string{"to_refs", "cc_refs", "bcc_refs"} {
				if l, ok := o[k].([]any); ok {
					for _, r := range l {
						refOK(id+"."+k, fmt.Sprint(r), "email-addr")
					}
				}
			}
			if h, ok := o["additional_header_fields"].(map[string]any); ok {
				for k, v := range h {
					if len(k) > 250 || strings.ContainsFunc(k, func(r rune) bool { return r > 0x7e || r <= ' ' }) {
						t.Errorf("%s: header key %q", id, k)
					}
					l, ok := v.([]any)
					if !ok {
						t.Errorf("%s: header %s: not a list", id, k)
					}
					for _, s := range l {
						if _, ok := s.(string); !ok {
							t.Errorf("%s: header %s: %v is not a string", id, k, s)
						}
					}
				}
			}
			if bm, ok := o["body_multipart"].([]any); ok {
				for _, p := range bm {
					part := p.(map[string]any)
					_, hasBody := part["body"]
					raw, hasRaw := part["body_raw_ref"]
					if hasBody == hasRaw {
						t.Errorf("%s: a mime part has body or body_raw_ref, one of them: %v", id, part)
					}
					if hasRaw {
						refOK(id+".body_multipart", fmt.Sprint(raw), "artifact", "file")
					}
				}
			}
		case "file":
			h, _ := o["hashes"].(map[string]any)
			_, named := o["name"]
			if len(h) == 0 && !named {
				t.Errorf("%s: a file has hashes or name", id)
			}
			for alg, v := range h {
				if re := stixHashRe[alg]; re == nil || !re.MatchString(fmt.Sprint(v)) {
					t.Errorf("%s: hash %s = %v", id, alg, v)
				}
			}
			if s, ok := o["size"]; ok {
				if n, err := s.(json.Number).Int64(); err != nil || n < 0 {
					t.Errorf("%s: size %v", id, s)
				}
			}
		case "indicator":
			if !stixTSRe.MatchString(fmt.Sprint(o["valid_from"])) {
				t.Errorf("%s: valid_from %v", id, o["valid_from"])
			}
			if !slices.Contains(stixPatternTypes, fmt.Sprint(o["pattern_type"])) {
				t.Errorf("%s: pattern_type %v", id, o["pattern_type"])
			}
			for _, it := range o["indicator_types"].([]any) {
				if !slices.Contains(stixIndicatorTypes, fmt.Sprint(it)) {
					t.Errorf("%s: indicator type %v", id, it)
				}
			}
			pm := stixPatternRe.FindStringSubmatch(fmt.Sprint(o["pattern"]))
			if pm == nil {
				t.Errorf("%s: pattern %v", id, o["pattern"])
			} else if !stixSCOTypes[pm[1]] {
				t.Errorf("%s: pattern on object type %s", id, pm[1])
			}
		case "observed-data":
			first, last := fmt.Sprint(o["first_observed"]), fmt.Sprint(o["last_observed"])
			if !stixTSRe.MatchString(first) || !stixTSRe.MatchString(last) || last < first {
				t.Errorf("%s: observed %s .. %s", id, first, last)
			}
			n, err := o["number_observed"].(json.Number).Int64()
			if err != nil || n < 1 || n > 999999999 {
				t.Errorf("%s: number_observed %v", id, o["number_observed"])
			}
			refs, _ := o["object_refs"].([]any)
			if len(refs) == 0 {
				t.Errorf("%s: no object_refs", id)
			}
			for _, r := range refs {
				if ro := objs[fmt.Sprint(r)]; ro != nil && !stixSCOTypes[fmt.Sprint(ro["type"])] {
					t.Errorf("%s: object_refs holds %s", id, r)
				}
			}
		case "relationship":
			if o["relationship_type"] != "based-on" {
				t.Errorf("%s: relationship_type %v", id, o["relationship_type"])
			}
			refOK(id+".source_ref", fmt.Sprint(o["source_ref"]), "indicator")
			refOK(id+".target_ref", fmt.Sprint(o["target_ref"]), "observed-data")
		}
	}
	return objs
}

func TestSTIXBundle(t *testing.T) {
	emails := exportEmails(t)
	var buf bytes.Buffer
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	w := NewSTIXWriter(&buf, now)
	for _, e := range emails {
		if err := w.Add(e); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	objs := checkSTIXBundle(t, buf.Bytes())

	byType := map[string][]map[string]any{}
	patterns := map[string]map[string]any{}
	for _, o := range objs {
		byType[o["type"].(string)] = append(byType[o["type"].(string)], o)
		if o["type"] == "indicator" {
			patterns[o["pattern"].(string)] = o
		}
	}
	if n := len(byType["observed-data"]); n != 2 {
		t.Errorf("%d observed-data, want one per email", n)
	}
	e1 := emails[0]
	var pdf, zipA, inner *Attachment
	for i := range e1.Attachments {
		switch e1.Attachments[i].Filename {
		case "invoice.pdf":
			pdf = &e1.Attachments[i]
		case "attachment.zip":
			zipA = &e1.Attachments[i]
		case "inner.exe":
			inner = &e1.Attachments[i]
		}
	}
	if pdf == nil || zipA == nil || inner == nil {
		t.Fatalf("attachments %+v", e1.Attachments)
	}
	for _, want := range []string{
		"[file:hashes.'SHA-256' = '" + pdf.SHA256 + "']",
		"[file:hashes.'SHA-256' = '" + inner.SHA256 + "']",
		"[url:value = 'http://pay-pal-secure.example.net/login?id=1']",
		"[url:value = 'http://evil.example.com/o']", "[email-addr:value = 'o\\'brien@evil.example.com']",
		"[domain-name:value = 'evil.example.com']",
		"[ipv4-addr:value = '198.51.100.7']",
		"[email-addr:value = 'helpdesk@evil.example.com']",
		"[email-addr:value = 'service@pay-pal-secure.example.net']",
		"[file:hashes.'MD5' = '44d88612fea8a8f36de82e1278abb02f']",
	} {
		if patterns[want] == nil {
			var have []string
			for p := range patterns {
				have = append(have, p)
			}
			slices.Sort(have)
			t.Errorf("no indicator %s; have:\n%s", want, strings.Join(have, "\n"))
		}
	}
	// The shared URL: one indicator, based on both observations, valid
	// from the earlier email.
	url := patterns["[url:value = 'http://pay-pal-secure.example.net/login?id=1']"]
	if url != nil {
		if url["valid_from"] != "2026-12-06T08:00:00.000Z" {
			t.Errorf("valid_from %v, want the earlier email's time", url["valid_from"])
		}
		n := 0
		for _, r := range byType["relationship"] {
			if r["source_ref"] == url["id"] {
				n++
			}
		}
		if n != 2 {
			t.Errorf("%d relationships from the shared URL's indicator, want 2", n)
		}
	}
	// The message.
	var msg map[string]any
	for _, m := range byType["email-message"] {
		if m["subject"] == "Your account is locked" {
			msg = m
		}
	}
	if msg == nil {
		t.Fatal("no email-message of the first email")
	}
	from := objs[msg["from_ref"].(string)]
	if from["value"] != "service@pay-pal-secure.example.net" || from["display_name"] != "PayPal Service" {
		t.Errorf("from %v", from)
	}
	if got := len(msg["to_refs"].([]any)); got != 2 {
		t.Errorf("%d to_refs", got)
	}
	if msg["date"] != "2026-12-07T09:00:00.000Z" || msg["message_id"] != "<abc123@pay-pal-secure.example.net>" && msg["message_id"] != "abc123@pay-pal-secure.example.net" {
		t.Errorf("date %v message_id %v", msg["date"], msg["message_id"])
	}
	hdr := msg["additional_header_fields"].(map[string]any)
	if fmt.Sprint(hdr["X-Mailer"]) != "[PHPMailer 5.2]" || hdr["Subject"] != nil || hdr["From"] != nil {
		t.Errorf("additional_header_fields %v", hdr)
	}
	if len(msg["received_lines"].([]any)) != 1 {
		t.Errorf("received_lines %v", msg["received_lines"])
	}
	// The two MIME attachments in body_multipart; the member inside the zip.
	bm := msg["body_multipart"].([]any)
	if len(bm) != 2 {
		t.Errorf("body_multipart %v, want the pdf and the zip", bm)
	}
	var zipObj map[string]any
	for _, f := range byType["file"] {
		if f["name"] == "attachment.zip" {
			zipObj = f
		}
	}
	if zipObj == nil {
		t.Fatal("no file for the zip")
	}
	cr, _ := zipObj["contains_refs"].([]any)
	if len(cr) != 1 || objs[cr[0].(string)]["name"] != "inner.exe" {
		t.Errorf("the zip's contains_refs %v", cr)
	}
	h := zipObj["hashes"].(map[string]any)
	if h["SHA-256"] != zipA.SHA256 || h["MD5"] != zipA.MD5 || h["SHA-1"] != zipA.SHA1 {
		t.Errorf("zip hashes %v", h)
	}
	// The same export twice names the SCOs alike.
	var again bytes.Buffer
	w2 := NewSTIXWriter(&again, now)
	for _, e := range emails {
		w2.Add(e)
	}
	w2.Close()
	objs2 := checkSTIXBundle(t, again.Bytes())
	for id, o := range objs {
		if stixSCOTypes[o["type"].(string)] && objs2[id] == nil && o["type"] != "email-message" {
			t.Errorf("SCO %s not in the second export", id)
		}
	}
}

func TestSTIXEmptyBundle(t *testing.T) {
	var buf bytes.Buffer
	w := NewSTIXWriter(&buf, time.Now())
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	checkSTIXBundle(t, buf.Bytes())
	if bytes.Contains(buf.Bytes(), []byte("objects")) {
		t.Errorf("an empty bundle lists objects: %s", buf.Bytes())
	}
}

func TestSTIXPatternString(t *testing.T) {
	for in, want := range map[string]string{`a`: `'a'`, `o'hare`: `'o\'hare'`, `a\b`: `'a\\b'`, `\'`: `'\\\''`} {
		if got := STIXPatternString(in); got != want {
			t.Errorf("%q: %s, want %s", in, got, want)
		}
		if !stixPatternRe.MatchString("[url:value = " + STIXPatternString(in) + "]") {
			t.Errorf("%q: pattern does not parse", in)
		}
	}
}

// FuzzSTIXWriter: whatever an email holds, the bundle is valid JSON whose
// patterns parse.
func FuzzSTIXWriter(f *testing.F) {
	f.Add("Subject: x\r\nFrom: a@b.example\r\n\r\nhttp://x.example/'\\ 1.2.3.4\r\n")
	f.Add("Content-Type: multipart/mixed; boundary=z\r\n\r\n--z\r\nContent-Type: application/zip\r\n\r\nPK\x03\x04\r\n--z--\r\n")
	a := NewAnalyzer(DefaultOptions())
	f.Fuzz(func(t *testing.T, raw string) {
		e := a.AnalyzeBytes([]byte(raw))
		var buf bytes.Buffer
		w := NewSTIXWriter(&buf, time.Unix(0, 0))
		if err := w.Add(e); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		var v struct {
			Objects []map[string]any `json:"objects"`
		}
		if err := json.Unmarshal(buf.Bytes(), &v); err != nil {
			t.Fatalf("%v\n%s", err, buf.Bytes())
		}
		for _, o := range v.Objects {
			if p, ok := o["pattern"].(string); ok && !stixPatternRe.MatchString(p) {
				t.Fatalf("pattern %q", p)
			}
		}
	})
}
