package thehivesink

import (
	"bytes"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func post(t *testing.T, url, key, ctype string, body []byte) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	req.Header.Set("Content-Type", ctype)
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(resp.Body)
	return resp.StatusCode, b.String()
}

const okAlert = `{"type":"t","source":"s","sourceRef":"r1","title":"x","description":"d","severity":2,"tlp":2,"pap":2,"tags":["a"],` +
	`"observables":[{"dataType":"ip","data":"192.0.2.1"}]}`

// TestValidation: the stand-in refuses what TheHive refuses, with
// TheHive's statuses, and accepts a valid alert once.
func TestValidation(t *testing.T) {
	s := New("k")
	srv := httptest.NewServer(s)
	defer srv.Close()
	u := srv.URL + "/api/v1/alert"
	for _, c := range []struct {
		name, key, body string
		status          int
		want            string
	}{
		{"no key", "", okAlert, 401, "Authentication"},
		{"wrong key", "x", okAlert, 401, "Authentication"},
		{"missing sourceRef", "k", strings.Replace(okAlert, `"sourceRef":"r1",`, "", 1), 400, "sourceRef is missing"},
		{"severity 5", "k", strings.Replace(okAlert, `"severity":2`, `"severity":5`, 1), 400, "severity 5: out of range"},
		{"tlp 9", "k", strings.Replace(okAlert, `"tlp":2`, `"tlp":9`, 1), 400, "tlp 9"},
		{"pap 4", "k", strings.Replace(okAlert, `"pap":2`, `"pap":4`, 1), 400, "pap 4"},
		{"severity string", "k", strings.Replace(okAlert, `"severity":2`, `"severity":"high"`, 1), 400, `want int`},
		{"unknown field", "k", strings.Replace(okAlert, `"tlp":2`, `"tlp":2,"colour":"red"`, 1), 400, `unknown field`},
		{"bad dataType", "k", strings.Replace(okAlert, `"dataType":"ip"`, `"dataType":"ipaddr"`, 1), 400, "not an observable type"},
		{"observable without data", "k", strings.Replace(okAlert, `,"data":"192.0.2.1"`, "", 1), 400, "without data"},
		{"file without part", "k", strings.Replace(okAlert, `"dataType":"ip","data":"192.0.2.1"`, `"dataType":"file","attachment":"f0"`, 1), 400, "not a part"},
		{"ok", "k", okAlert, 201, `"_id"`},
		{"duplicate", "k", strings.Replace(okAlert, `"title":"x"`, `"title":"other"`, 1), 400, "already exists"},
	} {
		status, body := post(t, u, c.key, "application/json", []byte(c.body))
		if status != c.status || !strings.Contains(body, c.want) {
			t.Errorf("%s: %d %s; want %d with %q", c.name, status, body, c.status, c.want)
		}
	}
	if n := len(s.Alerts()); n != 1 {
		t.Errorf("%d alerts, want 1", n)
	}

	// multipart: the file observable's part, then the observable endpoint
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	_ = mw.WriteField("_json", `{"type":"t","source":"s","sourceRef":"r2","title":"x","description":"d","observables":[{"dataType":"file","attachment":"f0"}]}`)
	fw, _ := mw.CreateFormFile("f0", "a.bin")
	_, _ = fw.Write([]byte("abc"))
	_ = mw.Close()
	if status, body := post(t, u, "k", mw.FormDataContentType(), b.Bytes()); status != 201 {
		t.Fatalf("multipart alert: %d %s", status, body)
	}
	b.Reset()
	mw = multipart.NewWriter(&b)
	_ = mw.WriteField("_json", `{"dataType":"file","message":"m"}`)
	fw, _ = mw.CreateFormFile("attachment", "b.bin")
	_, _ = fw.Write([]byte("abcd"))
	_ = mw.Close()
	id := s.Alerts()[1].ID
	if status, body := post(t, srv.URL+"/api/v1/alert/"+id+"/observable", "k", mw.FormDataContentType(), b.Bytes()); status != 201 {
		t.Fatalf("observable upload: %d %s", status, body)
	}
	obs := s.Alerts()[1].Observables
	if len(obs) != 2 || obs[0].FileName != "a.bin" || obs[0].FileSize != 3 || obs[1].FileName != "b.bin" || obs[1].FileSize != 4 {
		t.Errorf("file observables %+v", obs)
	}
	s.FailNext(1)
	if status, _ := post(t, u, "k", "application/json", []byte(okAlert)); status != 500 {
		t.Errorf("FailNext: %d", status)
	}
}
