package ace

import (
	"bytes"
	"context"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
)

// TestSubmitStreamsFiles: a submission whose files are given by path is
// sent with its exact Content-Length (not chunked), the files' bytes
// exact; the body can be opened again (GetBody) with the same bytes; a
// file that changed or vanished after encoding fails the submission on
// this side, without blaming the node.
func TestSubmitStreamsFiles(t *testing.T) {
	dir := t.TempDir()
	session, email := filepath.Join(dir, "CX1"), filepath.Join(dir, "email")
	sessData := []byte("> EHLO x\n")
	emailData := bytes.Repeat([]byte("0123456789abcdef\r\n"), 200_000) // 3.6 MB
	for p, b := range map[string][]byte{session: sessData, email: emailData} {
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	s := &Submission{Analysis: BuildAnalysis(testRecord(), "CX1", 0, Template{}),
		Files: []File{{Name: "CX1", Path: session}, {Name: "CX1.0.email.rfc822", Path: email}}}
	body, err := Encode(s)
	if err != nil {
		t.Fatal(err)
	}
	first, _ := io.ReadAll(body.Open())
	again, _ := io.ReadAll(body.Open())
	if int64(len(first)) != body.Length || !bytes.Equal(first, again) {
		t.Fatalf("body: %d and %d bytes read, Length %d", len(first), len(again), body.Length)
	}

	var served atomic.Int64 // only the first request is whole
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if served.Add(1) > 1 {
			_, _ = io.Copy(io.Discard, r.Body)
			return
		}
		if r.ContentLength != body.Length || len(r.TransferEncoding) != 0 {
			t.Errorf("Content-Length %d (want %d), Transfer-Encoding %v", r.ContentLength, body.Length, r.TransferEncoding)
		}
		files := readFileParts(t, r)
		if !bytes.Equal(files["CX1"], sessData) || !bytes.Equal(files["CX1.0.email.rfc822"], emailData) {
			t.Errorf("file parts differ from the files (%d, %d bytes)", len(files["CX1"]), len(files["CX1.0.email.rfc822"]))
		}
		_, _ = w.Write([]byte(`{"result":{"uuid":"u-1"}}`))
	}))
	defer srv.Close()
	c, err := NewClient(ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if uuid, err := c.SubmitEncoded(context.Background(), srv.URL, body); err != nil || uuid != "u-1" {
		t.Fatalf("submit: %q %v", uuid, err)
	}

	if err := os.WriteFile(email, emailData[:100], 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = c.SubmitEncoded(context.Background(), srv.URL, body)
	if err == nil || NodeFailure(err) || IsPermanent(err) {
		t.Errorf("file changed after encoding: err %v (node failure %v, permanent %v); want a local, transient error", err, NodeFailure(err), IsPermanent(err))
	}
	if err := os.Remove(email); err != nil {
		t.Fatal(err)
	}
	if _, err = c.SubmitEncoded(context.Background(), srv.URL, body); NodeFailure(err) || !IsPermanent(err) {
		t.Errorf("file gone after encoding: err %v; want a permanent error that is not the node's", err)
	}
	if _, err := Encode(s); err == nil {
		t.Error("Encode of a missing file: no error")
	}
}

// readFileParts returns the "file" parts of a multipart request by
// file name.
func readFileParts(t *testing.T, r *http.Request) map[string][]byte {
	_, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil {
		t.Error(err)
		return nil
	}
	out := map[string][]byte{}
	mr := multipart.NewReader(r.Body, params["boundary"])
	for {
		p, err := mr.NextPart()
		if err != nil {
			if err != io.EOF {
				t.Error(err)
			}
			return out
		}
		if p.FormName() == "file" {
			out[p.FileName()], _ = io.ReadAll(p)
		}
	}
}
