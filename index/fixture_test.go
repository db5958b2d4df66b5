package index

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/smtpscope/smtpscope/core"
)

func day(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

// fixture is a small data set with known answers.
type fixture struct {
	emails   []EmailDoc
	sessions []SessionDoc
	reviews  []ReviewDoc
}

const (
	attMD5    = "0123456789abcdef0123456789abcdef"
	e3SHA256  = "3333333333333333333333333333333333333333333333333333333333333333"
	iocSHA256 = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
)

func newFixture() *fixture {
	e1 := &core.Email{
		ID:     "s1.0",
		Sensor: "dmz-1",
		Session: core.SessionInfo{UID: "s1", SourceIP: "203.0.113.5", SourcePort: 40000, DestIP: "192.0.2.25", DestPort: 25,
			Time: day("2026-01-10T12:00:00Z"), Helo: "mail.evil.example", StartTLS: true},
		Envelope:  core.Envelope{MailFrom: "bob@evil.example", RcptTo: []string{"alice@corp.example", "carol@corp.example"}},
		Size:      3 << 20,
		MD5:       "11111111111111111111111111111111",
		SHA256:    "1111111111111111111111111111111111111111111111111111111111111111",
		Subject:   "Invoice overdue payment",
		From:      "Bob Evil <bob@evil.example>",
		To:        []string{"alice@corp.example"},
		Cc:        []string{"Carol <carol@corp.example>"},
		MessageID: "<abc123@evil.example>",
		Headers:   map[string][]string{"received": {"from mail.evil.example (mail.evil.example [203.0.113.5]) by mx.corp.example; Sat, 10 Jan 2026 12:00:00 +0000"}},
		BodyText:  "Please pay the invoice at hxxp://pay[.]evil[.]example/login today.",
		Attachments: []core.Attachment{{
			Filename: "invoice.pdf.exe", ContentType: "application/pdf", DetectedType: "application/x-dosexec",
			Size: 1000, MD5: attMD5, SHA1: "2222222222222222222222222222222222222222", Part: "2",
			YARA: []core.YaraMatch{{Rule: "Win_Trojan_X", Namespace: "mal"}},
		}},
		IOCs: []core.IOC{
			{Type: core.IOCURL, Value: "http://pay.evil.example/login", Source: "body", Defanged: true},
			{Type: core.IOCDomain, Value: "pay.evil.example", Source: "body", Defanged: true},
		},
	}
	e2 := &core.Email{
		ID:       "s2.0",
		Sensor:   "dmz-1",
		Session:  core.SessionInfo{UID: "s2", SourceIP: "198.51.100.7", Time: day("2026-01-05T08:00:00Z"), Helo: "mta.shop.example"},
		Envelope: core.Envelope{MailFrom: "news@shop.example", RcptTo: []string{"alice@corp.example", "dave@corp.example"}},
		Partial:  true,
		Size:     20 << 10,
		Subject:  "Weekly newsletter",
		From:     "Shop <news@shop.example>",
		To:       []string{"alice@corp.example", "dave@corp.example"},
		BodyText: "Great deals on shoes",
		BodyHTML: "<p>Great deals on <b>shoes</b></p>",
		Attachments: []core.Attachment{{
			Filename: "Report_2026.DOCX", ContentType: "application/octet-stream",
			DetectedType: "application/vnd.openxmlformats-officedocument.wordprocessingml.document", Size: 5000,
		}},
		IOCs: []core.IOC{{Type: core.IOCIPv4, Value: "192.0.2.44", Source: "body"}},
	}
	e3 := &core.Email{
		ID:       "s3.0",
		Sensor:   "Edge_2",
		Session:  core.SessionInfo{UID: "s3", SourceIP: "203.0.113.9", Time: day("2025-12-20T09:00:00Z"), Helo: "laptop"},
		Envelope: core.Envelope{MailFrom: "alice@corp.example", RcptTo: []string{"bob@partner.example"}},
		Size:     2 << 10,
		SHA256:   e3SHA256,
		Subject:  "Re: lunch",
		From:     "alice@corp.example",
		To:       []string{"bob@partner.example"},
		Headers:  map[string][]string{"received": {"from laptop ([IPv6:2001:db8::25]) by mx.corp.example with ESMTPSA"}},
		BodyText: "see you at noon",
	}
	e4 := &core.Email{
		ID:       "eml-abcdef",
		Date:     "2025-11-01T10:00:00Z",
		Size:     5 << 10,
		Subject:  "Password reset",
		From:     "IT Support <it@corp-support.example>",
		To:       []string{"alice@corp.example"},
		BodyText: "reset your password at https://corp-support.example/reset",
		Attachments: []core.Attachment{{
			Filename: "scan.zip", ContentType: "application/zip", DetectedType: "application/zip", Size: 900, Encrypted: true,
		}},
		IOCs: []core.IOC{
			{Type: core.IOCURL, Value: "https://corp-support.example/reset", Source: "body"},
			{Type: core.IOCSHA256, Value: iocSHA256, Source: "body"},
		},
		Source: "/cases/reset.eml",
	}
	return &fixture{
		emails: []EmailDoc{
			{Email: e1, Status: map[string]string{"prod": "sent"}, Transcript: "> EHLO mail.evil.example\n< EHLO 250 ok"},
			{Email: e2, Status: map[string]string{"prod": "failed", "lab": "queued"}},
			{Email: e3, Status: map[string]string{"prod": "retrying"}},
			{Email: e4},
		},
		sessions: []SessionDoc{
			{Sensor: "dmz-1", Info: core.SessionInfo{UID: "CsessX", SourceIP: "192.0.2.99", Time: day("2026-01-08T00:00:00Z"), Helo: "bulk.example"},
				Transcript: "> MAIL FROM:<spam@bulk.example>\n< MAIL 550 5.7.1 blocked by policy", Reason: "rejected"},
			{Info: core.SessionInfo{UID: "CsessY", SourceIP: "198.51.100.20", Time: day("2026-01-07T00:00:00Z"), StartTLS: true, Helo: "tls.example"},
				Transcript: "> STARTTLS\n< STARTTLS 220 go ahead", Reason: "starttls"},
		},
		reviews: []ReviewDoc{{Sensor: "edge_2", Name: "bad-session-123", Reason: "parse error: truncated header", Time: day("2026-01-09T00:00:00Z")}},
	}
}

// load indexes the fixture.
func (f *fixture) load(t testing.TB, ix *Index) {
	t.Helper()
	if err := ix.IndexEmails(f.emails); err != nil {
		t.Fatal(err)
	}
	for _, s := range f.sessions {
		if err := ix.IndexSession(s); err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range f.reviews {
		if err := ix.IndexReview(r); err != nil {
			t.Fatal(err)
		}
	}
}

// memSource is a Source over the fixture (what the collector's store is).
type memSource struct {
	mu   sync.Mutex
	docs []Doc
}

func (f *fixture) source() *memSource {
	s := &memSource{}
	for i := range f.emails {
		d := f.emails[i]
		s.docs = append(s.docs, Doc{Email: &d})
	}
	for i := range f.sessions {
		d := f.sessions[i]
		s.docs = append(s.docs, Doc{Session: &d})
	}
	for i := range f.reviews {
		d := f.reviews[i]
		s.docs = append(s.docs, Doc{Review: &d})
	}
	return s
}

func (s *memSource) Count() (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.docs), nil
}

func (s *memSource) Walk(want func(string) bool, fn func(Doc) error) error {
	s.mu.Lock()
	docs := append([]Doc(nil), s.docs...)
	s.mu.Unlock()
	for _, d := range docs {
		if want != nil && !want(d.ID()) {
			continue
		}
		if err := fn(d); err != nil {
			return err
		}
	}
	return nil
}

func (s *memSource) LoadEmail(id string) (EmailDoc, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, d := range s.docs {
		if d.Email != nil && d.Email.Email.ID == id {
			return *d.Email, nil
		}
	}
	return EmailDoc{}, fmt.Errorf("no email %s", id)
}
