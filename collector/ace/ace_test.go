package ace

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/smtpscope/smtpscope/core"
)

func testRecord() *core.Email {
	return &core.Email{
		ID: "CX1.0", Index: 0, SHA256: "ab",
		Session: core.SessionInfo{UID: "CX1", SourceIP: "198.51.100.7", SourcePort: 40000,
			Time: time.Date(2024, 3, 5, 6, 7, 8, 123456000, time.FixedZone("x", 3600))},
		Envelope:    core.Envelope{MailFrom: "a@evil.example", RcptTo: []string{"b@corp.example", "c@corp.example"}},
		ServerReply: &core.Reply{Code: 250, Text: "ok"},
		Subject:     "hi",
		YARA:        []core.YaraMatch{{Rule: "R1"}},
		Attachments: []core.Attachment{{YARA: []core.YaraMatch{{Rule: "R2"}, {Rule: "R1"}}}},
	}
}

func TestBuildAnalysis(t *testing.T) {
	rec := testRecord()
	a := BuildAnalysis(rec, "CX1", 7, Template{ToolInstance: "sensor1"})
	if a.EventTime != "2024-03-05T05:07:08.123456+0000" {
		t.Errorf("event_time = %q", a.EventTime)
	}
	if a.Description != "BRO SMTP Scanner Detection - CX1" || a.Type != "bro - smtp" || a.AnalysisMode != "email" ||
		a.Queue != "default" || a.CompanyID != 7 || a.Tool != "smtpscope" || a.ToolInstance != "sensor1" {
		t.Errorf("header fields: %+v", a)
	}
	want := []Observable{
		{Type: "ipv4", Value: "198.51.100.7", Tags: []string{"sender_ip"}},
		{Type: "email_address", Value: "a@evil.example", Tags: []string{"smtp_mail_from"}},
		{Type: "email_address", Value: "b@corp.example", Tags: []string{"smtp_rcpt_to"}},
		{Type: "email_address", Value: "c@corp.example", Tags: []string{"smtp_rcpt_to"}},
		{Type: "file", Value: "CX1", Directives: []string{"no_scan", "original_smtp", "exclude_all"}},
		{Type: "file", Value: "CX1.0.email.rfc822", Directives: []string{"no_scan", "original_email", "rename_analysis", "archive"}},
	}
	if len(a.Observables) != len(want) {
		t.Fatalf("observables = %+v", a.Observables)
	}
	for i, o := range a.Observables {
		w := want[i]
		if o.Type != w.Type || o.Value != w.Value || strings.Join(o.Tags, ",") != strings.Join(w.Tags, ",") ||
			strings.Join(o.Directives, ",") != strings.Join(w.Directives, ",") || o.Time != a.EventTime {
			t.Errorf("observable %d = %+v, want %+v", i, o, w)
		}
	}
	if strings.Join(a.Tags, ",") != "yara:R1,yara:R2" {
		t.Errorf("tags = %v", a.Tags)
	}
	if cid := a.Details["community_id"]; cid != "" {
		t.Errorf("details community_id = %q for a session without a responder", cid)
	}
	rec.Session.DestIP, rec.Session.DestPort = "192.0.2.25", 25
	if cid, want := BuildAnalysis(rec, "CX1", 0, Template{}).Details["community_id"], core.CommunityID("198.51.100.7", 40000, "192.0.2.25", 25); cid != want || want == "" {
		t.Errorf("details community_id = %q, want %q", cid, want)
	}

	rec.ServerReply = &core.Reply{Code: 554, Text: "spam"}
	rec.Session.SourceIP = "2001:db8::1"
	a = BuildAnalysis(rec, "CX1", 0, Template{Description: "X {mail_from} {id}"})
	if a.Tags[0] != "smtp_rejected" {
		t.Errorf("rejected tags = %v", a.Tags)
	}
	if a.Observables[0].Type == "ipv4" {
		t.Errorf("IPv6 source produced an ipv4 observable")
	}
	if a.Description != "X a@evil.example CX1.0" {
		t.Errorf("template description = %q", a.Description)
	}
	rec.Session.SourceIP = "::ffff:192.0.2.1"
	if a = BuildAnalysis(rec, "", 0, Template{}); a.Observables[0].Value != "192.0.2.1" {
		t.Errorf("mapped IPv4: %+v", a.Observables[0])
	}
}

func TestSafeName(t *testing.T) {
	for in, want := range map[string]string{"": "_", "../x": "_._x", "a/b": "a_b", ".hidden": "_hidden", "CAbc.0": "CAbc.0", "é": "__"} {
		if got := SafeName(in); got != want {
			t.Errorf("SafeName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestEncodeMultipart(t *testing.T) {
	s := &Submission{Analysis: BuildAnalysis(testRecord(), "CX1", 0, Template{}),
		Files: []File{{Name: "CX1", Data: []byte("session")}, {Name: "CX1.0.email.rfc822", Data: []byte("email")}}}
	body, err := Encode(s)
	if err != nil {
		t.Fatal(err)
	}
	_, params, err := mime.ParseMediaType(body.ContentType)
	if err != nil {
		t.Fatal(err)
	}
	mr := multipart.NewReader(body.Open(), params["boundary"])
	var names, files []string
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, p.FormName())
		if p.FormName() == "file" {
			files = append(files, p.FileName())
		}
	}
	if strings.Join(names, ",") != "analysis,file,file" || strings.Join(files, ",") != "CX1,CX1.0.email.rfc822" {
		t.Errorf("parts %v files %v", names, files)
	}
}

func post(t *testing.T, url string, fields map[string]string, files map[string]string, hdr http.Header) (*http.Response, string) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for k, v := range fields {
		_ = mw.WriteField(k, v)
	}
	for name, data := range files {
		w, _ := mw.CreateFormFile("file", name)
		_, _ = w.Write([]byte(data))
	}
	_ = mw.Close()
	req, _ := http.NewRequest(http.MethodPost, url+"/api/analysis/submit", &buf)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	for k, v := range hdr {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestSinkValidation(t *testing.T) {
	dir := t.TempDir()
	sink, err := NewSink(dir, SinkOptions{})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sink)
	defer srv.Close()
	good := `{"description":"d","event_time":"2024-03-05T05:07:08.123456+0000","observables":[{"type":"ipv4","value":"1.2.3.4","directives":["no_scan"]}],"tags":[]}`
	cases := []struct {
		name   string
		fields map[string]string
		status int
		msg    string
	}{
		{"missing analysis", map[string]string{"other": "x"}, 400, "missing analysis field"},
		{"bad json", map[string]string{"analysis": "{"}, 400, "invalid analysis JSON"},
		{"missing description", map[string]string{"analysis": `{"event_time":"2024-03-05T05:07:08.123456+0000"}`}, 400, "missing description"},
		{"bad event_time", map[string]string{"analysis": `{"description":"d","event_time":"yesterday"}`}, 400, "invalid event time"},
		{"observable without type", map[string]string{"analysis": `{"description":"d","observables":[{"value":"x"}]}`}, 400, "missing the type field"},
		{"observable without value", map[string]string{"analysis": `{"description":"d","observables":[{"type":"ipv4"}]}`}, 400, "missing the value field"},
		{"bad directive", map[string]string{"analysis": `{"description":"d","observables":[{"type":"ipv4","value":"x","directives":["nope"]}]}`}, 400, "invalid directive"},
		{"good", map[string]string{"analysis": good}, 200, `"uuid"`},
		{"old format", map[string]string{"analysis": `{"description":"d","event_time":"2024-03-05 05:07:08"}`}, 200, `"uuid"`},
	}
	for _, tc := range cases {
		resp, body := post(t, srv.URL, tc.fields, map[string]string{"f1": "data"}, nil)
		if resp.StatusCode != tc.status || !strings.Contains(body, tc.msg) {
			t.Errorf("%s: %d %q", tc.name, resp.StatusCode, body)
		}
	}
	subs, err := ReadSubmissions(dir)
	if err != nil || len(subs) != 2 {
		t.Fatalf("stored %d submissions (%v), want 2", len(subs), err)
	}
	if sink.Accepted() != 2 || sink.Rejected() != 7 {
		t.Errorf("accepted %d rejected %d", sink.Accepted(), sink.Rejected())
	}
	st := subs[0]
	if len(st.Meta.Files) != 1 || st.Meta.Files[0].Filename != "f1" {
		t.Errorf("files: %+v", st.Meta.Files)
	}
	if b, err := os.ReadFile(filepath.Join(st.Dir, "files", "f1")); err != nil || string(b) != "data" {
		t.Errorf("stored file: %q %v", b, err)
	}
	// status endpoint
	resp, err := http.Get(srv.URL + "/api/analysis/status/" + st.UUID)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("status: %v %v", resp, err)
	}
	resp.Body.Close()
	resp, _ = http.Get(srv.URL + "/api/analysis/status/00000000-0000-4000-8000-000000000000")
	if resp.StatusCode != 400 {
		t.Errorf("unknown uuid status %d", resp.StatusCode)
	}
	resp.Body.Close()
}

func TestSinkAPIKeyAndFaults(t *testing.T) {
	sink, err := NewSink(t.TempDir(), SinkOptions{APIKey: "s3cret"})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sink)
	defer srv.Close()
	ctx := context.Background()
	s := &Submission{Analysis: BuildAnalysis(testRecord(), "CX1", 0, Template{}), Files: []File{{Name: "CX1", Data: []byte("x")}}}

	noKey, _ := NewClient(ClientOptions{})
	if err := noKey.Ping(ctx, srv.URL); err == nil {
		t.Error("ping without key succeeded")
	}
	c, _ := NewClient(ClientOptions{APIKey: "s3cret", Timeout: 2 * time.Second})
	if err := c.Ping(ctx, srv.URL); err != nil {
		t.Fatalf("ping: %v", err)
	}
	uuid, err := c.Submit(ctx, srv.URL, s)
	if err != nil || !uuidRE().MatchString(uuid) {
		t.Fatalf("submit: %q %v", uuid, err)
	}

	sink.FailNext(1)
	_, err = c.Submit(ctx, srv.URL, s)
	var ae *Error
	if !errors.As(err, &ae) || ae.Status != 500 || ae.Permanent {
		t.Errorf("fail-next: %v", err)
	}
	sink.DropNext(1)
	_, err = c.Submit(ctx, srv.URL, s)
	if !errors.As(err, &ae) || ae.Status != 0 || ae.Permanent {
		t.Errorf("drop-next: %v", err)
	}
	sink.SetDelay(3 * time.Second)
	_, err = c.Submit(ctx, srv.URL, s)
	if err == nil || IsPermanent(err) {
		t.Errorf("timeout: %v", err)
	}
	sink.SetDelay(0)
	bad := *s
	bad.Analysis.EventTime = "nope"
	_, err = c.Submit(ctx, srv.URL, &bad)
	if !IsPermanent(err) || !strings.Contains(err.Error(), "invalid event time") {
		t.Errorf("400: %v", err)
	}
	if _, err := c.Submit(ctx, "http://127.0.0.1:1", s); err == nil || IsPermanent(err) {
		t.Errorf("connection refused: %v", err)
	}
}

func TestClientTLS(t *testing.T) {
	sink, _ := NewSink(t.TempDir(), SinkOptions{})
	srv := httptest.NewTLSServer(sink)
	defer srv.Close()
	ctx := context.Background()
	c, _ := NewClient(ClientOptions{})
	if err := c.Ping(ctx, srv.URL); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("self-signed certificate with verification on: %v", err)
	}
	ca := filepath.Join(t.TempDir(), "ca.pem")
	cert := srv.TLS.Certificates[0].Certificate[0]
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert}), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := NewClient(ClientOptions{CAFile: ca})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Ping(ctx, srv.URL); err != nil {
		t.Fatalf("with CA bundle: %v", err)
	}
	if _, err := NewClient(ClientOptions{CAFile: filepath.Join(t.TempDir(), "missing")}); err == nil {
		t.Error("missing CA file accepted")
	}
}

func TestParseEventTime(t *testing.T) {
	for _, s := range []string{"2024-03-05T05:07:08.123456+0000", "2024-03-05T05:07:08.123+01:00", "2024-03-05 05:07:08 +0000", "2024-03-05 05:07:08"} {
		if _, err := ParseEventTime(s); err != nil {
			t.Errorf("%q: %v", s, err)
		}
	}
	for _, s := range []string{"", "2024-03-05", "2024-03-05T05:07:08Z", "2024-13-45T05:07:08.123456+0000"} {
		if _, err := ParseEventTime(s); err == nil {
			t.Errorf("%q accepted", s)
		}
	}
	got, _ := ParseEventTime(FormatEventTime(time.Date(2020, 1, 2, 3, 4, 5, 6000, time.UTC)))
	if !got.Equal(time.Date(2020, 1, 2, 3, 4, 5, 6000, time.UTC)) {
		t.Errorf("round trip: %v", got)
	}
}

func FuzzValidate(f *testing.F) {
	f.Add(`{"description":"d","event_time":"2024-03-05T05:07:08.123456+0000","observables":[{"type":"a","value":"b","time":"x","directives":["no_scan"]}],"tags":[]}`)
	f.Add(`{"observables":7}`)
	f.Add(`[]`)
	f.Add(`{"description":null,"observables":[null,{"directives":7}]}`)
	f.Fuzz(func(t *testing.T, s string) {
		msg := validate(s)
		var m map[string]any
		if json.Unmarshal([]byte(s), &m) != nil && msg == "" {
			t.Fatalf("invalid JSON accepted: %q", s)
		}
	})
}

func FuzzParseEventTime(f *testing.F) {
	f.Add("2024-03-05T05:07:08.123456+0000")
	f.Add("2024-03-05 05:07:08")
	f.Add("9999-99-99T99:99:99.999999+9999")
	f.Fuzz(func(t *testing.T, s string) {
		tm, err := ParseEventTime(s)
		if err == nil && tm.IsZero() && !strings.HasPrefix(strings.TrimSpace(s), "0001-01-01") {
			t.Fatalf("%q parsed to zero time", s)
		}
	})
}

// FuzzSinkSubmit feeds arbitrary multipart bodies to the sink: it must
// answer (never panic) and store only what it accepted.
func FuzzSinkSubmit(f *testing.F) {
	s := &Submission{Analysis: BuildAnalysis(testRecord(), "CX1", 0, Template{}), Files: []File{{Name: "CX1", Data: []byte("x")}}}
	body, _ := Encode(s)
	_, params, _ := mime.ParseMediaType(body.ContentType)
	boundary := params["boundary"]
	encoded, _ := io.ReadAll(body.Open())
	f.Add(encoded)
	f.Add([]byte("--" + boundary + "--\r\n"))
	f.Add([]byte("--" + boundary + "\r\nContent-Disposition: form-data; name=\"file\"; filename=\"../../x\"\r\n\r\nabc\r\n--" + boundary + "--\r\n"))
	dir := f.TempDir()
	sink, err := NewSink(dir, SinkOptions{})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		req := httptest.NewRequest(http.MethodPost, "/api/analysis/submit", bytes.NewReader(b))
		req.Header.Set("Content-Type", "multipart/form-data; boundary="+boundary)
		w := httptest.NewRecorder()
		before := sink.Accepted()
		sink.ServeHTTP(w, req)
		if w.Code == 200 && sink.Accepted() != before+1 {
			t.Fatalf("200 without a stored submission")
		}
		if w.Code != 200 && w.Code != 400 {
			t.Fatalf("status %d: %s", w.Code, w.Body.String())
		}
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			if strings.HasPrefix(e.Name(), ".") {
				t.Fatalf("leftover %s", e.Name())
			}
		}
	})
}
