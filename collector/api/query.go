package api

import (
	"slices"
	"strings"
)

// Field is one field filter of the query language (`name:value`).
// Fields is the one table of them: package index parses by it, the UI's
// help, facet filters and quick filters are built from it, and the
// README's table is checked against it (FieldTable).
type Field struct {
	Name string
	// Finds says what the field matches, the second column of the
	// README's table. Fields listed together in one row share the first
	// one's text and leave Finds empty.
	Finds string
	// Prefix: in search-as-you-type the value being typed also matches
	// as a prefix.
	Prefix bool
	// Values are the values of an enumerated field, which search-as-you-
	// type completes; nil for open fields.
	Values []string
	// Example is a clause the UI's help shows ("" for none).
	Example string
}

// Values of has: — a flag, or an IOC type (the same as ioctype:).
var (
	HasFlags = []string{"attachment", "ioc", "yara", "errors", "html", "encrypted", "anomaly"}
	IOCTypes = []string{"url", "domain", "ipv4", "ipv6", "email", "md5", "sha1", "sha256", "sha512"}
)

// Fields used by name in code (facet filters, quick filters).
const (
	FieldHas     = "has"
	FieldIs      = "is"
	FieldRisk    = "risk"
	FieldStatus  = "status"
	FieldSender  = "sender"
	FieldType    = "type"
	FieldIOCType = "ioctype"
	FieldSensor  = "sensor"
)

// Fields is every field filter of the query language, in the README's order.
var Fields = []Field{
	{Name: "from", Prefix: true, Example: "from:*@example.com", Finds: "header addresses: `from:bob@evil.example`, a domain `from:evil.example` (or `from:@evil.example`), a local part `from:bob`, a display-name word `from:\"IT Support\"`"},
	{Name: "to", Prefix: true},
	{Name: "cc", Prefix: true},
	{Name: "mailfrom", Prefix: true, Example: "mailfrom:bob@evil.example", Finds: "the SMTP envelope the client sent (MAIL FROM, every RCPT TO), refused ones too: sessions the server refused, that carried no email, are found by what they tried, and an email by what its session tried beside the email's own envelope (a refused MAIL FROM before the accepted one, a refused RCPT of another transaction: its transcript shows them, its row keeps its own MAIL FROM); same forms as `from:`; `mailfrom:<>` is the null sender (bounces; an email read from a file has no envelope and is not one)"},
	{Name: "rcpt", Prefix: true, Example: "rcpt:bob@corp.example"},
	{Name: "subject", Prefix: true, Example: "subject:invoice", Finds: "words (`subject:invoice`), a phrase (`subject:\"final notice\"`), a glob (`subject:inv*`)"},
	{Name: "body", Prefix: true, Finds: "words or a phrase in the body"},
	{Name: "helo", Prefix: true, Finds: "HELO/EHLO name; Message-ID (with or without `<>`); session uid; email id"},
	{Name: "msgid", Prefix: true},
	{Name: "uid", Prefix: true},
	{Name: "id"},
	{Name: "cid", Example: "cid:1:wCb3OG7yAFWelaUydu0D+125CLM=", Finds: "the session's Community ID v1, as Zeek's conn.log (community-id), Suricata's EVE, Arkime and ECS `network.community_id` give it (`1:` optional): sessions whose file names the responder (our Zeek script, pcap input); not ACE's session files, not emails read from files"},
	{Name: "ip", Example: "ip:203.0.113.5", Finds: "the client IP, the server IP, IPs in Received headers and IP IOCs: `ip:203.0.113.5`, `ip:2001:db8::25`, `ip:10.1.*`, `ip:10.0.0.0/8` (IPv4 /8 /16 /24 /32)"},
	{Name: "domain", Prefix: true, Example: "domain:evil.example", Finds: "any domain of the email: addresses (the envelope its session tried too), HELO, IOC domains, URL hosts; parents match too (`domain:example.com` finds `mail.example.com`)"},
	{Name: "url", Prefix: true, Example: "url:evil.example/login", Finds: "URL IOCs starting with the value, scheme optional (`url:evil.example/login`), or a glob (`url:*login.php*`)"},
	{Name: "ioc", Prefix: true, Example: "ioc:evil[.]example", Finds: "any IOC value: URL, domain, IP, email address, hash (`ioc:evil[.]example[.]com`)"},
	{Name: FieldIOCType, Finds: "emails with an IOC of that type: `ioctype:url` (same as `has:url`)"},
	{Name: FieldSender, Prefix: true, Example: "sender:evil.example", Finds: "the sender domain (envelope MAIL FROM, else header From) exactly, as in the facet panel: `sender:evil.example`"},
	{Name: "hash", Prefix: true, Example: "hash:<md5|sha1|sha256>", Finds: "MD5, SHA-1 or SHA-256 of the email, of any attachment or body part, Zeek's hashes of them (`zeek_md5`…, so a hash from Zeek's files.log finds the email), or a TLSH digest (`hash:T1…`)"},
	{Name: "similar", Finds: "emails whose ssdeep, or an attachment's, scores at least 60 against the given one (`similar:96:abc…:def…`), or at least N with `~N` (`similar:96:abc…:def…~80`, N 1–100)"},
	{Name: "filename", Prefix: true, Example: "filename:*.exe", Finds: "attachment names: `filename:*.exe` (extension), `filename:invoice*` (glob over whole names), `filename:invoice` (a word of a name), case-insensitive"},
	{Name: FieldType, Prefix: true, Example: "type:application/zip", Finds: "detected (or declared) attachment type: `type:application/zip`, `type:zip`, `type:*macro*`"},
	{Name: "yara", Prefix: true, Example: "yara:RuleName", Finds: "YARA rule names (`yara:Win_Trojan_X`, `yara:namespace:rule`, globs)"},
	{Name: FieldStatus, Values: []string{StateQueued, StateSent, StateRetrying, StateFailed}, Example: "status:failed", Finds: "submission state `queued`, `sent`, `retrying`, `failed`; `status:prod:failed` is \"failed in group prod\"; `group:prod`"},
	{Name: "group", Prefix: true, Example: "group:default"},
	{Name: "hunt", Prefix: true, Example: "hunt:invoice-exe", Finds: "emails a hunt of the collector's config matched (`[[hunt]]`, see \"Hunts\"): `hunt:invoice-exe`"},
	{Name: FieldHas, Values: append(slices.Clip(HasFlags), IOCTypes...), Example: "has:attachment", Finds: "`attachment`, `ioc`, `yara`, `encrypted`, `html`, `errors`, `anomaly`, or an IOC type (`url`, `domain`, `ipv4`, `ipv6`, `email`, `md5`, `sha1`, `sha256`, `sha512`)"},
	{Name: FieldIs, Prefix: true, Example: "is:partial", Finds: "`partial`, `starttls`, `auth`, `rejected`; record flags (`is:bdat`, `is:no_354`...) and risk codes (`is:double_ext`, `is:link_mismatch`...); sessions without email: `is:rejected`, `is:starttls`, `is:aborted`, `is:no_data`"},
	{Name: FieldRisk, Finds: "emails with at least N risk reasons (see \"Risk reasons\"): `risk:1` any, `risk:3` three or more; `-risk:1` none"},
	{Name: "kind", Values: []string{KindEmail, KindSession, KindReview}, Finds: "`email`, `session` (sessions that carried no email), `review` (quarantined files); `is:email` etc. work too"},
	{Name: FieldSensor, Prefix: true, Finds: "the sensor (collector) that stored the email, session or review entry, as in the facet panel: `sensor:dmz-1`"},
	{Name: "after", Example: "after:2026-01-01", Finds: "time of the session (else the Date header): `after:2026-01-01` (from midnight UTC, inclusive), `before:2026-01-31T08:00` (exclusive), RFC 3339, or relative: `after:7d` `after:12h` `after:30m` `after:2w`"},
	{Name: "before"},
	{Name: "larger", Example: "larger:2M", Finds: "message size in bytes: `larger:2M`, `smaller:500K` (K, M, G are powers of 1024; sizes are indexed up to 1 TiB)"},
	{Name: "smaller"},
}

// LookupField returns the field named name.
func LookupField(name string) (Field, bool) {
	i := slices.IndexFunc(Fields, func(f Field) bool { return f.Name == name })
	if i < 0 {
		return Field{}, false
	}
	return Fields[i], true
}

// Clause writes a query-language clause: field:value, the value quoted
// when it must be.
func Clause(field, value string) string { return field + ":" + QuoteTerm(value) }

// QuickFilters are the clauses the UI's keys 1..5 toggle.
var QuickFilters = [5]string{
	Clause(FieldHas, "attachment"), Clause(FieldHas, "ioc"), Clause(FieldHas, "yara"),
	Clause(FieldStatus, StateFailed), Clause(FieldIs, "partial"),
}

// FieldTable renders Fields as the rows of the README's query-language
// table: `| `a:` `b:` | what they find |`, one line per row.
func FieldTable() []string {
	var rows []string
	var names []string
	finds := ""
	flush := func() {
		if names != nil {
			rows = append(rows, "| "+strings.Join(names, " ")+" | "+finds+" |")
		}
	}
	for _, f := range Fields {
		if f.Finds != "" {
			flush()
			names, finds = nil, f.Finds
		}
		names = append(names, "`"+f.Name+":`")
	}
	flush()
	return rows
}

// Examples are the example clauses of Fields, in table order.
func Examples() []string {
	var out []string
	for _, f := range Fields {
		if f.Example != "" {
			out = append(out, f.Example)
		}
	}
	return out
}
