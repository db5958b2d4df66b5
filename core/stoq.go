package core

// The stoQ v3 results envelope: what `stoq run ... -C filedir` writes to
// results_dir for one email scanned by the smtp worker, so that tools
// written for stoQ output keep working on smtpscope's.
//
// Shapes follow stoQ v3 (stoq/data_classes.py: StoqResponse,
// PayloadResults, PayloadMeta, RequestMeta, Error) and the public plugins
// (smtp, hash, mimetype, yara, iocextract, filedir, decompress). The
// mapping from the email record:
//
//	results[0]            the email itself (the payload stoQ's provider
//	                      hands to the smtp worker)
//	  size                Email.Size
//	  payload_meta        should_archive: archiving on and bytes known;
//	                      should_scan: true; dispatch_to: []
//	    extra_data        filename/source_dir: the .eml or session file the
//	                      email came from (as stoQ's dirmon/filedir put it);
//	                      "smtpscope": id, index, partial, session,
//	                      envelope, server_reply, flags (ours, beyond stoQ)
//	  extracted_from/by   [] (stoQ v3 lists)
//	  workers.smtp        header name (lower-cased) -> decoded value,
//	                      repeated headers joined with "\n", in header
//	                      order; then "body" and "body_html" unless the
//	                      body was omitted (omit_body), as stoQ's smtp worker
//	  workers.hash        md5, sha1, sha256 of the email bytes
//	  workers.yara        {"matches": [...]} when the email has YARA hits
//	  workers.iocextract  IOC type -> values (md5, sha1, sha256, sha512,
//	                      ipv4, ipv6, email, domain, url). stoQ's smtp worker
//	                      hands a synthetic text payload to iocextract; we
//	                      have no such payload and put the results on the
//	                      email's own result.
//	  archivers.filedir   {"path": ...} when archivePaths has Email.SHA1
//	results[1..]          one per attachment, in record order
//	  extracted_from      [payload_id of the enclosing attached message or
//	                      archive (Attachment.Parent), else of the email]
//	  extracted_by        ["smtp"] for MIME parts, ["decompress"] (stoQ's
//	                      archive extractor) for members of an archive
//	  payload_meta.extra_data  the smtp worker's keys: charset,
//	                      content-description (never known: null),
//	                      disposition, filename, type (declared content
//	                      type); "smtpscope": part, parent, depth,
//	                      content_id, detected_type, encrypted, errors
//	  workers.hash        md5, sha1, sha256 (absent when not extracted)
//	  workers.mimetype    {"mimetype": Attachment.DetectedType}
//	  workers.yara        {"matches": [...]} when it has hits
//	  archivers.filedir   {"path": archivePaths[SHA1]} when archived
//	errors                [{"error", "plugin_name", "payload_id"}]: the
//	                      email's errors (plugin "smtp") and each
//	                      attachment's ("yara" for YARA failures)
//	request_meta          {"archive_payloads": true, "source": null,
//	                      "extra_data": {}}
//	time                  now, ISO 8601 with microseconds, UTC
//	decorators            {}
//	scan_id               scanID, or a UUID derived from the email
//
// A YARA match is stoQ's {"tags", "namespace", "rule", "meta", "strings"}
// with strings as yara-python's [offset, identifier, data] triples (data
// as in the record: the first 64 bytes, \xNN-escaped when not printable).
// payload_ids are UUIDs derived from the scan_id and the payload's
// position, so the same inputs give the same document.

import (
	"bytes"
	"crypto/sha1"
	"encoding/json"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// StoqResults renders the email as a stoQ v3 results document (compact
// JSON and a newline, as stoQ's filedir connector writes it). archivePaths
// maps the sha1 of archived payloads (the email's, the attachments') to
// the path they were archived at; nil means archiving is off. scanID names
// the scan (stoQ: a UUID; filedir names the results file after it); empty
// derives one from the email. now is the scan time.
func StoqResults(e *Email, archivePaths map[string]string, scanID string, now time.Time) ([]byte, error) {
	if e == nil {
		return nil, fmt.Errorf("stoq results: no email")
	}
	if scanID == "" {
		scanID = stoqUUID("smtpscope-scan", e.ID, e.SHA256)
	}
	b := &stoqBuilder{e: e, archive: archivePaths, scanID: scanID}
	resp := stoqResponse{
		Results:     b.results(),
		RequestMeta: stoqRequestMeta{ArchivePayloads: true, Source: nil, ExtraData: map[string]any{}},
		Errors:      b.errors,
		Time:        now.UTC().Format("2006-01-02T15:04:05.000000+00:00"),
		Decorators:  map[string]any{},
		ScanID:      scanID,
	}
	if resp.Errors == nil {
		resp.Errors = []stoqError{}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(resp); err != nil {
		return nil, fmt.Errorf("stoq results for %s: %w", e.ID, err)
	}
	return buf.Bytes(), nil
}

type stoqResponse struct {
	Results     []stoqPayloadResults `json:"results"`
	RequestMeta stoqRequestMeta      `json:"request_meta"`
	Errors      []stoqError          `json:"errors"`
	Time        string               `json:"time"`
	Decorators  map[string]any       `json:"decorators"`
	ScanID      string               `json:"scan_id"`
}

type stoqRequestMeta struct {
	ArchivePayloads bool           `json:"archive_payloads"`
	Source          *string        `json:"source"`
	ExtraData       map[string]any `json:"extra_data"`
}

type stoqError struct {
	Error      string `json:"error"`
	PluginName string `json:"plugin_name"`
	PayloadID  string `json:"payload_id"`
}

type stoqPayloadResults struct {
	Size          int64                   `json:"size"`
	PayloadID     string                  `json:"payload_id"`
	PayloadMeta   stoqPayloadMeta         `json:"payload_meta"`
	PluginsRun    stoqPluginsRun          `json:"plugins_run"`
	ExtractedFrom []string                `json:"extracted_from"`
	ExtractedBy   []string                `json:"extracted_by"`
	Workers       stoqWorkers             `json:"workers"`
	Archivers     map[string]stoqArchiver `json:"archivers"`
}

type stoqPayloadMeta struct {
	ShouldArchive bool       `json:"should_archive"`
	ShouldScan    bool       `json:"should_scan"`
	ExtraData     orderedMap `json:"extra_data"`
	DispatchTo    []string   `json:"dispatch_to"`
}

type stoqPluginsRun struct {
	Workers   []string `json:"workers"`
	Archivers []string `json:"archivers"`
}

type stoqArchiver struct {
	Path string `json:"path"`
}

// stoqWorkers: the worker results, in a fixed order.
type stoqWorkers struct {
	SMTP       *orderedMap   `json:"smtp,omitempty"`
	Hash       *stoqHash     `json:"hash,omitempty"`
	MimeType   *stoqMimeType `json:"mimetype,omitempty"`
	Yara       *stoqYara     `json:"yara,omitempty"`
	IOCExtract *orderedMap   `json:"iocextract,omitempty"`
}

func (w stoqWorkers) names() []string {
	var n []string
	if w.SMTP != nil {
		n = append(n, "smtp")
	}
	if w.Hash != nil {
		n = append(n, "hash")
	}
	if w.MimeType != nil {
		n = append(n, "mimetype")
	}
	if w.Yara != nil {
		n = append(n, "yara")
	}
	if w.IOCExtract != nil {
		n = append(n, "iocextract")
	}
	if n == nil {
		n = []string{}
	}
	return n
}

// stoqHash is the hash worker's result (its key order).
type stoqHash struct {
	SHA256 string `json:"sha256"`
	MD5    string `json:"md5"`
	SHA1   string `json:"sha1"`
}

type stoqMimeType struct {
	MimeType string `json:"mimetype"`
}

type stoqYara struct {
	Matches []stoqYaraMatch `json:"matches"`
}

type stoqYaraMatch struct {
	Tags      []string          `json:"tags"`
	Namespace string            `json:"namespace"`
	Rule      string            `json:"rule"`
	Meta      map[string]string `json:"meta"`
	Strings   [][3]any          `json:"strings"`
}

// orderedMap is a JSON object that keeps its keys in insertion order (as
// Python dicts do in stoQ's output).
type orderedMap []kv

type kv struct {
	Key   string
	Value any
}

func (m *orderedMap) set(k string, v any) { *m = append(*m, kv{k, v}) }

func (m orderedMap) MarshalJSON() ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteByte('{')
	for i, p := range m {
		if i > 0 {
			buf.WriteByte(',')
		}
		k, err := jsonNoEscape(p.Key)
		if err != nil {
			return nil, err
		}
		buf.Write(k)
		buf.WriteByte(':')
		v, err := jsonNoEscape(p.Value)
		if err != nil {
			return nil, err
		}
		buf.Write(v)
	}
	buf.WriteByte('}')
	return buf.Bytes(), nil
}

func jsonNoEscape(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}

// stoqUUID derives a version-5-style UUID from the parts.
func stoqUUID(parts ...string) string {
	h := sha1.Sum([]byte(strings.Join(parts, "\x00")))
	h[6] = (h[6] & 0x0f) | 0x50
	h[8] = (h[8] & 0x3f) | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", h[0:4], h[4:6], h[6:8], h[8:10], h[10:16])
}

type stoqBuilder struct {
	e       *Email
	archive map[string]string
	scanID  string
	errors  []stoqError
}

func (b *stoqBuilder) payloadID(n int) string {
	return stoqUUID(b.scanID, fmt.Sprint(n))
}

func (b *stoqBuilder) addError(payloadID, plugin, msg string) {
	b.errors = append(b.errors, stoqError{Error: msg, PluginName: plugin, PayloadID: payloadID})
}

// nullable renders "" as JSON null, as Python's None.
func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func (b *stoqBuilder) results() []stoqPayloadResults {
	e := b.e
	rootID := b.payloadID(0)
	out := []stoqPayloadResults{b.root(rootID)}

	// Attachments by part path, to find each one's parent payload.
	byPart := map[string]int{}
	for i, a := range e.Attachments {
		if _, dup := byPart[a.Part]; !dup && a.Part != "" {
			byPart[a.Part] = i
		}
	}
	charset := map[string]string{}
	for _, p := range e.Parts {
		if p.Charset != "" {
			charset[p.Part] = strings.ToLower(p.Charset)
		}
	}
	for i, a := range e.Attachments {
		id := b.payloadID(i + 1)
		from, by := rootID, "smtp"
		if pi, ok := byPart[a.Parent]; ok && a.Parent != "" && pi != i {
			from = b.payloadID(pi + 1)
			if pt := e.Attachments[pi]; !isMessageType(pt.ContentType) && !isMessageType(pt.DetectedType) {
				by = "decompress"
			}
		}
		r := stoqPayloadResults{
			Size:          a.Size,
			PayloadID:     id,
			ExtractedFrom: []string{from},
			ExtractedBy:   []string{by},
			Archivers:     map[string]stoqArchiver{},
		}
		ours := orderedMap{}
		ours.set("part", a.Part)
		ours.set("parent", nullable(a.Parent))
		ours.set("depth", a.Depth)
		ours.set("content_id", nullable(a.ContentID))
		ours.set("detected_type", nullable(a.DetectedType))
		if a.Encrypted {
			ours.set("encrypted", true)
		}
		if len(a.Errors) > 0 {
			ours.set("errors", a.Errors)
		}
		extra := orderedMap{}
		extra.set("charset", nullable(charset[a.Part]))
		extra.set("content-description", nil)
		extra.set("disposition", nullable(a.Disposition))
		extra.set("filename", nullable(a.Filename))
		extra.set("type", nullable(a.ContentType))
		extra.set("smtpscope", ours)
		r.PayloadMeta = stoqPayloadMeta{ExtraData: extra, ShouldScan: true}

		if a.SHA256 != "" {
			r.Workers.Hash = &stoqHash{SHA256: a.SHA256, MD5: a.MD5, SHA1: a.SHA1}
		}
		if a.DetectedType != "" {
			r.Workers.MimeType = &stoqMimeType{MimeType: a.DetectedType}
		}
		if len(a.YARA) > 0 {
			r.Workers.Yara = stoqYaraResults(a.YARA)
		}
		b.archivers(&r, a.SHA1)
		r.PayloadMeta.DispatchTo = r.Workers.names()
		r.PluginsRun.Workers = r.Workers.names()
		for _, msg := range a.Errors {
			plugin := by
			if strings.HasPrefix(msg, "yara") {
				plugin = "yara"
			}
			b.addError(id, plugin, msg)
		}
		out = append(out, r)
	}
	return out
}

func isMessageType(t string) bool {
	t = strings.ToLower(t)
	return t == "message/rfc822" || t == "message/global"
}

// archivers fills the filedir archiver result of a payload with the given
// sha1.
func (b *stoqBuilder) archivers(r *stoqPayloadResults, sha1 string) {
	r.PluginsRun.Archivers = []string{}
	r.PayloadMeta.ShouldArchive = b.archive != nil && sha1 != ""
	if p, ok := b.archive[sha1]; ok && sha1 != "" {
		r.Archivers["filedir"] = stoqArchiver{Path: p}
		r.PluginsRun.Archivers = []string{"filedir"}
	}
}

func (b *stoqBuilder) root(id string) stoqPayloadResults {
	e := b.e
	r := stoqPayloadResults{
		Size:          e.Size,
		PayloadID:     id,
		ExtractedFrom: []string{},
		ExtractedBy:   []string{},
		Archivers:     map[string]stoqArchiver{},
	}
	extra := orderedMap{}
	src := e.Source
	if src == "" {
		src = e.Session.File
	}
	if src != "" {
		extra.set("filename", filepath.Base(src))
		extra.set("source_dir", filepath.Dir(src))
	}
	ours := orderedMap{}
	ours.set("id", e.ID)
	ours.set("index", e.Index)
	ours.set("partial", e.Partial)
	if e.Session.UID != "" {
		ours.set("session", e.Session)
	}
	ours.set("envelope", e.Envelope)
	ours.set("server_reply", e.ServerReply)
	if len(e.Flags) > 0 {
		ours.set("flags", e.Flags)
	}
	extra.set("smtpscope", ours)
	r.PayloadMeta = stoqPayloadMeta{ExtraData: extra, ShouldScan: true, DispatchTo: []string{}}

	smtp := stoqSMTPResults(e)
	r.Workers.SMTP = &smtp
	if e.SHA256 != "" {
		r.Workers.Hash = &stoqHash{SHA256: e.SHA256, MD5: e.MD5, SHA1: e.SHA1}
	}
	if len(e.YARA) > 0 {
		r.Workers.Yara = stoqYaraResults(e.YARA)
	}
	iocs := stoqIOCResults(e.IOCs)
	r.Workers.IOCExtract = &iocs
	b.archivers(&r, e.SHA1)
	r.PluginsRun.Workers = r.Workers.names()
	for _, msg := range e.Errors {
		b.addError(id, "smtp", msg)
	}
	return r
}

// stoqSMTPResults is the smtp worker's output: every header (name
// lower-cased, values of repeated headers joined with "\n"), in the order
// of first appearance, then the bodies.
func stoqSMTPResults(e *Email) orderedMap {
	m := orderedMap{}
	seen := map[string]bool{}
	add := func(name string) {
		if seen[name] {
			return
		}
		seen[name] = true
		vals := e.Headers[name]
		if vals == nil {
			for _, h := range e.RawHeader {
				if strings.ToLower(h.Name) == name {
					vals = append(vals, h.Value)
				}
			}
		}
		m.set(name, strings.Join(vals, "\n"))
	}
	for _, h := range e.RawHeader {
		add(strings.ToLower(h.Name))
	}
	// Decoded headers the raw list lacks (records built without it).
	var rest []string
	for name := range e.Headers {
		if !seen[name] {
			rest = append(rest, name)
		}
	}
	sort.Strings(rest)
	for _, name := range rest {
		add(name)
	}
	if !e.BodyOmitted {
		m.set("body", e.BodyText)
		m.set("body_html", e.BodyHTML)
	}
	return m
}

// stoqIOCOrder is the iocextract plugin's order of indicator types.
var stoqIOCOrder = []string{IOCMD5, IOCSHA1, IOCSHA256, IOCSHA512, IOCIPv4, IOCIPv6, "mac_address", IOCEmail, IOCDomain, IOCURL}

func stoqIOCResults(iocs []IOC) orderedMap {
	byType := map[string][]string{}
	for _, i := range iocs {
		byType[i.Type] = append(byType[i.Type], i.Value)
	}
	m := orderedMap{}
	for _, t := range stoqIOCOrder {
		if v := byType[t]; len(v) > 0 {
			m.set(t, v)
			delete(byType, t)
		}
	}
	// Types iocextract does not know (none today) keep their own keys.
	var rest []string
	for t := range byType {
		rest = append(rest, t)
	}
	sort.Strings(rest)
	for _, t := range rest {
		m.set(t, byType[t])
	}
	return m
}

func stoqYaraResults(ms []YaraMatch) *stoqYara {
	out := &stoqYara{Matches: []stoqYaraMatch{}}
	for _, m := range ms {
		sm := stoqYaraMatch{
			Tags:      m.Tags,
			Namespace: m.Namespace,
			Rule:      m.Rule,
			Meta:      m.Meta,
			Strings:   [][3]any{},
		}
		if sm.Tags == nil {
			sm.Tags = []string{}
		}
		if sm.Meta == nil {
			sm.Meta = map[string]string{}
		}
		for _, s := range m.Strings {
			sm.Strings = append(sm.Strings, [3]any{s.Offset, s.Identifier, s.Data})
		}
		out.Matches = append(out.Matches, sm)
	}
	return out
}
