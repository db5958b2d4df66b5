package core

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
)

// ecsField is one field of the ECS 8.x field reference
// (https://www.elastic.co/guide/en/ecs/8.11/ecs-field-reference.html):
// its type, and whether the reference says "this field should contain an
// array of values".
type ecsField struct {
	typ   string // keyword, wildcard, long, ip, date, boolean, object, nested
	array bool
}

// ecsReference is every ECS field the ECS documents may hold, as the ECS
// 8.11 reference defines it (the email, event, base, ecs, source,
// destination, network, observer, tls, threat, related, file/hash and url
// field sets as reused there). Objects are listed too: a field's parent
// must be an object (or a nested list) of the reference.
var ecsReference = map[string]ecsField{
	"@timestamp":  {typ: "date"},
	"ecs":         {typ: "object"},
	"ecs.version": {typ: "keyword"},

	"event":          {typ: "object"},
	"event.kind":     {typ: "keyword"},
	"event.category": {typ: "keyword", array: true},
	"event.type":     {typ: "keyword", array: true},
	"event.dataset":  {typ: "keyword"},
	"event.module":   {typ: "keyword"},
	"event.created":  {typ: "date"},
	"event.id":       {typ: "keyword"},
	"event.outcome":  {typ: "keyword"},

	"email":                              {typ: "object"},
	"email.attachments":                  {typ: "nested", array: true},
	"email.attachments.file":             {typ: "object"},
	"email.attachments.file.extension":   {typ: "keyword"},
	"email.attachments.file.mime_type":   {typ: "keyword"},
	"email.attachments.file.name":        {typ: "keyword"},
	"email.attachments.file.size":        {typ: "long"},
	"email.attachments.file.hash":        {typ: "object"},
	"email.attachments.file.hash.md5":    {typ: "keyword"},
	"email.attachments.file.hash.sha1":   {typ: "keyword"},
	"email.attachments.file.hash.sha256": {typ: "keyword"},
	"email.attachments.file.hash.sha384": {typ: "keyword"},
	"email.attachments.file.hash.sha512": {typ: "keyword"},
	"email.attachments.file.hash.ssdeep": {typ: "keyword"},
	"email.attachments.file.hash.tlsh":   {typ: "keyword"},
	"email.bcc":                          {typ: "object"},
	"email.bcc.address":                  {typ: "keyword", array: true},
	"email.cc":                           {typ: "object"},
	"email.cc.address":                   {typ: "keyword", array: true},
	"email.content_type":                 {typ: "keyword"},
	"email.delivery_timestamp":           {typ: "date"},
	"email.direction":                    {typ: "keyword"},
	"email.from":                         {typ: "object"},
	"email.from.address":                 {typ: "keyword", array: true},
	"email.local_id":                     {typ: "keyword"},
	"email.message_id":                   {typ: "wildcard"},
	"email.origination_timestamp":        {typ: "date"},
	"email.reply_to":                     {typ: "object"},
	"email.reply_to.address":             {typ: "keyword", array: true},
	"email.sender":                       {typ: "object"},
	"email.sender.address":               {typ: "keyword"},
	"email.subject":                      {typ: "keyword"},
	"email.to":                           {typ: "object"},
	"email.to.address":                   {typ: "keyword", array: true},
	"email.x_mailer":                     {typ: "keyword"},

	"source":           {typ: "object"},
	"source.ip":        {typ: "ip"},
	"source.port":      {typ: "long"},
	"destination":      {typ: "object"},
	"destination.ip":   {typ: "ip"},
	"destination.port": {typ: "long"},

	"network":              {typ: "object"},
	"network.community_id": {typ: "keyword"},
	"network.transport":    {typ: "keyword"},
	"network.protocol":     {typ: "keyword"},

	"observer":      {typ: "object"},
	"observer.name": {typ: "keyword"},
	"observer.type": {typ: "keyword"},

	"tls":             {typ: "object"},
	"tls.established": {typ: "boolean"},

	"threat":                                        {typ: "object"},
	"threat.enrichments":                            {typ: "nested", array: true},
	"threat.enrichments.indicator":                  {typ: "object"},
	"threat.enrichments.indicator.type":             {typ: "keyword"},
	"threat.enrichments.indicator.provider":         {typ: "keyword"},
	"threat.enrichments.indicator.description":      {typ: "keyword"},
	"threat.enrichments.indicator.ip":               {typ: "ip"},
	"threat.enrichments.indicator.url":              {typ: "object"},
	"threat.enrichments.indicator.url.full":         {typ: "wildcard"},
	"threat.enrichments.indicator.url.domain":       {typ: "keyword"},
	"threat.enrichments.indicator.email":            {typ: "object"},
	"threat.enrichments.indicator.email.address":    {typ: "keyword"},
	"threat.enrichments.indicator.file":             {typ: "object"},
	"threat.enrichments.indicator.file.hash":        {typ: "object"},
	"threat.enrichments.indicator.file.hash.md5":    {typ: "keyword"},
	"threat.enrichments.indicator.file.hash.sha1":   {typ: "keyword"},
	"threat.enrichments.indicator.file.hash.sha256": {typ: "keyword"},
	"threat.enrichments.indicator.file.hash.sha512": {typ: "keyword"},

	"related":       {typ: "object"},
	"related.hash":  {typ: "keyword", array: true},
	"related.hosts": {typ: "keyword", array: true},
	"related.ip":    {typ: "ip", array: true},
}

// ecsAllowed are the allowed values of the ECS categorization fields we
// set (ECS 8.11 "ECS Categorization Fields"), and the expected values of
// threat.enrichments.indicator.type.
var ecsAllowed = map[string][]string{
	"event.kind":                        {"alert", "enrichment", "event", "metric", "state", "pipeline_error", "signal"},
	"event.category":                    {"api", "authentication", "configuration", "database", "driver", "email", "file", "host", "iam", "intrusion_detection", "library", "malware", "network", "package", "process", "registry", "session", "threat", "vulnerability", "web"},
	"event.type":                        {"access", "admin", "allowed", "change", "connection", "creation", "deletion", "denied", "end", "error", "group", "indicator", "info", "installation", "protocol", "start", "user"},
	"event.outcome":                     {"failure", "success", "unknown"},
	"email.direction":                   {"inbound", "outbound", "internal", "external", "unknown"},
	"threat.enrichments.indicator.type": {"autonomous-system", "artifact", "directory", "domain-name", "email-addr", "file", "ipv4-addr", "ipv6-addr", "mac-addr", "mutex", "port", "process", "registry-key", "url", "user-account", "windows-registry-key", "x509-certificate"},
}

// checkECS walks one decoded ECS document and reports every field the
// reference does not define (outside smtpscope.*), and every value whose
// JSON type, array-ness or nesting is not the reference's.
func checkECS(name string, doc map[string]any, seen map[string]bool) (probs []string) {
	report := func(format string, args ...any) { probs = append(probs, fmt.Sprintf(format, args...)) }
	var walk func(path string, v any, inArray bool)
	walk = func(path string, v any, inArray bool) {
		f, ok := ecsReference[path]
		if !ok {
			report("%s: %s is not an ECS field (custom fields go under smtpscope.*)", name, path)
			return
		}
		seen[path] = true
		if arr, isArr := v.([]any); isArr && !inArray {
			if !f.array {
				report("%s: %s is a JSON array; ECS defines one %s value", name, path, f.typ)
				return
			}
			if len(arr) == 0 {
				report("%s: %s is an empty array (leave the field out)", name, path)
			}
			for _, e := range arr {
				walk(path, e, true)
			}
			return
		} else if f.array && !inArray {
			report("%s: %s is one %T; ECS says it holds an array", name, path, v)
		}
		switch f.typ {
		case "object", "nested":
			m, ok := v.(map[string]any)
			if !ok {
				report("%s: %s is %T, want an object", name, path, v)
				return
			}
			for k, sub := range m {
				walk(path+"."+k, sub, false)
			}
		case "keyword", "wildcard":
			s, ok := v.(string)
			if !ok || s == "" {
				report("%s: %s = %#v, want a non-empty string (%s)", name, path, v, f.typ)
			} else if allowed := ecsAllowed[path]; allowed != nil && !slices.Contains(allowed, s) {
				report("%s: %s = %q is not an allowed value %v", name, path, s, allowed)
			}
		case "long":
			n, ok := v.(json.Number)
			if !ok || strings.ContainsAny(n.String(), ".eE") {
				report("%s: %s = %#v, want an integer (long)", name, path, v)
			}
		case "ip":
			s, _ := v.(string)
			if _, err := netip.ParseAddr(s); err != nil {
				report("%s: %s = %#v, want an IP address", name, path, v)
			}
		case "date":
			s, _ := v.(string)
			if _, err := time.Parse(time.RFC3339Nano, s); err != nil {
				report("%s: %s = %#v, want an ISO 8601 date", name, path, v)
			}
		case "boolean":
			if _, ok := v.(bool); !ok {
				report("%s: %s = %#v, want true or false", name, path, v)
			}
		}
	}
	for k, v := range doc {
		if k == "smtpscope" {
			if _, ok := v.(map[string]any); !ok {
				report("%s: smtpscope is %T, want an object", name, v)
			}
			seen[k] = true
			continue
		}
		walk(k, v, false)
	}
	return probs
}

// ecsTestEmails are emails from every kind of input: the sample sessions
// (with and without a responder), the crafted .eml files, and a message
// with every IOC type and attachments, as from a session with STARTTLS.
func ecsTestEmails(t *testing.T) []*Email {
	t.Helper()
	an := NewAnalyzer(DefaultOptions())
	var out []*Email
	sessions, _ := filepath.Glob(filepath.Join("..", "testdata", "sessions", "generated", "*.session"))
	demo, _ := filepath.Glob(filepath.Join("..", "cmd", "smtpscope", "internal", "demo", "samples", "*.session"))
	for _, p := range append(sessions, demo...) {
		s, err := ParseSessionFile(p)
		if err != nil {
			continue // the garbage sample
		}
		for _, e := range an.SessionEmails(s) {
			e.Sensor = "dmz-1"
			out = append(out, e)
		}
	}
	emls, _ := filepath.Glob(filepath.Join("testdata", "crafted", "*.eml"))
	for _, p := range emls {
		e, err := an.AnalyzeFile(p)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, e)
	}
	msg := "From: \"IT, Support\" <it@evil.example>, b@c.example\r\nSender: s@evil.example\r\nTo: x@corp.example\r\nCc: y@corp.example\r\n" +
		"Reply-To: r@evil.example\r\nX-Mailer: Mailer 1\r\nDate: Mon, 5 Oct 2009 11:36:07 +0530\r\nMessage-ID: <m1@evil.example>\r\nSubject: iocs\r\n" +
		"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\n" +
		"http://evil.example.net/login 203.0.113.9 2001:db8::9 bad.example.net x@evil.example.net d41d8cd98f00b204e9800998ecf8427e\r\n" +
		"da39a3ee5e6b4b0d3255bfef95601890afd80709 e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\r\n" +
		"--b\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=\"invoice.PDF.exe\"\r\n" +
		"Content-Transfer-Encoding: base64\r\n\r\nTVqQAAMAAAAEAAAA\r\n--b\r\nContent-Type: text/plain\r\nContent-Disposition: attachment; filename=noext\r\n\r\nx\r\n--b--\r\n"
	e := an.AnalyzeBytes([]byte(msg))
	e.NoSession, e.Sensor, e.ID = false, "dmz-1", "C1.0"
	e.Session = SessionInfo{UID: "C1", SourceIP: "2001:db8::1", SourcePort: 40000, DestIP: "2001:db8::25", DestPort: 25, StartTLS: true,
		Time: time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)}
	e.ServerReply = &Reply{Code: 554, Text: "rejected"}
	out = append(out, e)
	return out
}

// TestECSAgainstReference: every field of the ECS documents is an ECS
// 8.11 field with its type, array-ness and nesting, categorization values
// are allowed ones, and the only custom field is smtpscope (documented in
// the README, each of its keys too).
func TestECSAgainstReference(t *testing.T) {
	emails := ecsTestEmails(t)
	if len(emails) < 15 {
		t.Fatalf("only %d test emails", len(emails))
	}
	seen := map[string]bool{}
	custom := map[string]bool{}
	for _, e := range emails {
		var buf bytes.Buffer
		if err := NewJSONEncoder(&buf).Encode(ECS(e, time.Date(2026, 12, 7, 10, 0, 1, 0, time.UTC))); err != nil {
			t.Fatal(err)
		}
		dec := json.NewDecoder(&buf)
		dec.UseNumber()
		doc := map[string]any{}
		if err := dec.Decode(&doc); err != nil {
			t.Fatal(err)
		}
		for _, p := range checkECS(e.ID, doc, seen) {
			t.Error(p)
		}
		for k := range doc["smtpscope"].(map[string]any) {
			custom[k] = true
		}
		// what the record says is where ECS says it goes
		if e.HasSession() {
			if cid := e.Session.CID(); cid != "" && doc["network"].(map[string]any)["community_id"] != cid {
				t.Errorf("%s: network.community_id is not the session's %s", e.ID, cid)
			}
		} else if doc["source"] != nil || doc["network"] != nil {
			t.Errorf("%s: an email read from a file has source/network", e.ID)
		}
	}
	// the crafted email exercises every field we emit
	for _, want := range []string{"email.attachments.file.extension", "email.sender.address", "email.reply_to.address", "email.x_mailer",
		"email.cc.address", "email.origination_timestamp", "threat.enrichments.indicator.url.full", "threat.enrichments.indicator.url.domain",
		"threat.enrichments.indicator.ip", "threat.enrichments.indicator.email.address", "threat.enrichments.indicator.file.hash.sha256",
		"tls.established", "network.community_id", "observer.name", "event.outcome", "email.delivery_timestamp", "related.ip"} {
		if !seen[want] {
			t.Errorf("no test email emitted %s", want)
		}
	}
	readme, err := os.ReadFile(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for k := range custom {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	sec := string(readme)
	if i := strings.Index(sec, "### Event logs for SIEM shippers"); i >= 0 {
		sec = sec[i:]
	}
	for _, k := range keys {
		if !regexp.MustCompile("`" + regexp.QuoteMeta(k) + "(\\[\\])?`").MatchString(sec) {
			t.Errorf("custom field smtpscope.%s is not documented in the README's event log section", k)
		}
	}
}

// TestECSValues: the ECS document of the crafted email carries the
// record's values where ECS puts them.
func TestECSValues(t *testing.T) {
	emails := ecsTestEmails(t)
	e := emails[len(emails)-1]
	ev := ECS(e, time.Date(2026, 12, 7, 10, 0, 1, 0, time.UTC))
	em := ev.Email
	if em.From == nil || !slices.Equal(em.From.Address, []string{"it@evil.example", "b@c.example"}) {
		t.Errorf("email.from.address %+v", em.From)
	}
	if em.Sender == nil || em.Sender.Address != "s@evil.example" || em.XMailer != "Mailer 1" || em.MessageID != "m1@evil.example" {
		t.Errorf("sender %+v x_mailer %q message_id %q", em.Sender, em.XMailer, em.MessageID)
	}
	if em.OriginationTimestamp != "2009-10-05T06:06:07Z" || em.ContentType != "multipart/mixed" {
		t.Errorf("origination_timestamp %q content_type %q", em.OriginationTimestamp, em.ContentType)
	}
	if len(em.Attachments) != 2 || em.Attachments[0].File.Extension != "exe" || em.Attachments[0].File.Name != "invoice.PDF.exe" ||
		em.Attachments[0].File.Hash.SHA256 != e.Attachments[0].SHA256 || em.Attachments[1].File.Extension != "" {
		t.Errorf("attachments %+v", em.Attachments)
	}
	if ev.Event.Outcome != "failure" || em.DeliveryTimestamp != "" || !ev.TLS.Established || ev.Source.IP != "2001:db8::1" ||
		ev.Network.CommunityID != CommunityID("2001:db8::1", 40000, "2001:db8::25", 25) || ev.Observer.Name != "dmz-1" || ev.Event.ID != "dmz-1/C1.0" {
		t.Errorf("event %+v tls %+v source %+v network %+v observer %+v", ev.Event, ev.TLS, ev.Source, ev.Network, ev.Observer)
	}
	types := map[string]bool{}
	for _, en := range ev.Threat.Enrichments {
		types[en.Indicator.Type] = true
	}
	for _, w := range []string{"url", "domain-name", "ipv4-addr", "ipv6-addr", "email-addr", "file"} {
		if !types[w] {
			t.Errorf("no %s indicator among %v (IOCs %+v)", w, types, e.IOCs)
		}
	}
}

// TestECSCheckerCatches: the reference check reports each kind of
// mistake (so a passing TestECSAgainstReference means something).
func TestECSCheckerCatches(t *testing.T) {
	for _, tc := range []struct{ doc, want string }{
		{`{"email":{"subject":["a"]}}`, "is a JSON array"},
		{`{"email":{"to":{"address":"a@b"}}}`, "holds an array"},
		{`{"source":{"port":"25"}}`, "want an integer"},
		{`{"source":{"ip":"not-ip"}}`, "want an IP"},
		{`{"email":{"attachments":[{"file":{"size":1.5}}]}}`, "want an integer"},
		{`{"tls":{"established":"yes"}}`, "want true or false"},
		{`{"@timestamp":"yesterday"}`, "want an ISO 8601 date"},
		{`{"email":{"importance":"high"}}`, "is not an ECS field"},
		{`{"x_custom":1}`, "is not an ECS field"},
		{`{"event":{"kind":"happening"}}`, "not an allowed value"},
		{`{"threat":{"indicator":{"ip":"1.2.3.4"}}}`, "is not an ECS field"},
		{`{"email":{"from":"a@b"}}`, "want an object"},
	} {
		dec := json.NewDecoder(strings.NewReader(tc.doc))
		dec.UseNumber()
		doc := map[string]any{}
		if err := dec.Decode(&doc); err != nil {
			t.Fatal(err)
		}
		probs := checkECS("doc", doc, map[string]bool{})
		if !strings.Contains(strings.Join(probs, "\n"), tc.want) {
			t.Errorf("%s: problems %q, want one saying %q", tc.doc, probs, tc.want)
		}
	}
}

// TestEmailDirection: email.direction from the organisation's domains
// (a subdomain counts, case and a trailing dot do not matter); none
// configured: no direction.
func TestEmailDirection(t *testing.T) {
	own := []string{"Corp.example", ".sub.org."}
	for _, c := range []struct {
		sender string
		rcpts  []string
		want   string
	}{
		{"x@evil.example", []string{"a@corp.example"}, "inbound"},
		{"x@evil.example", []string{"a@mail.CORP.example", "b@other.example"}, "inbound"},
		{"a@corp.example", []string{"x@evil.example"}, "outbound"},
		{"a@corp.example", []string{"b@corp.example", "x@evil.example"}, "outbound"},
		{"a@corp.example", []string{"b@x.sub.org"}, "internal"},
		{"x@evil.example", []string{"y@other.example"}, "external"},
		{"x@notcorp.example", []string{"y@corp.example.evil"}, "external"},
		{"", []string{"a@corp.example"}, "unknown"},
		{"a@corp.example", nil, "unknown"},
	} {
		if got := EmailDirection(c.sender, c.rcpts, own); got != c.want {
			t.Errorf("EmailDirection(%q, %v) = %q, want %q", c.sender, c.rcpts, got, c.want)
		}
	}
	e := &Email{Envelope: Envelope{MailFrom: "x@evil.example", RcptTo: []string{"a@corp.example"}}}
	ev := ECS(e, time.Now())
	ev.SetDirection(e, nil)
	if ev.Email.Direction != "" {
		t.Errorf("direction %q without internal domains", ev.Email.Direction)
	}
	ev.SetDirection(e, own)
	if ev.Email.Direction != "inbound" {
		t.Errorf("direction %q, want inbound", ev.Email.Direction)
	}
	// no envelope (an .eml file): the From and To headers
	f := &Email{Headers: map[string][]string{"from": {"A <a@corp.example>"}}, To: []string{"x@evil.example"}}
	ev = ECS(f, time.Now())
	ev.SetDirection(f, own)
	if ev.Email.Direction != "outbound" {
		t.Errorf("direction from headers %q, want outbound", ev.Email.Direction)
	}
}
