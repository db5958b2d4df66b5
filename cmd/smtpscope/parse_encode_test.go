package main

import (
	"bufio"
	"bytes"
	"testing"
	"time"

	"github.com/smtpscope/smtpscope/core"
)

// TestEncodeAllMatchesEncode: the records a job encodes into buffers
// (encodeAll, then writeTo in input order) are byte for byte what
// encoding them one by one onto the output prints, in every format, with
// and without --files-log, and the buffers come back empty from the pool.
func TestEncodeAllMatchesEncode(t *testing.T) {
	an := core.NewAnalyzer(core.DefaultOptions())
	emails := []*core.Email{
		an.AnalyzeBytes([]byte("Subject: one\r\nFrom: a@example.com\r\n\r\nsee http://example.net/x\r\n")),
		an.AnalyzeBytes([]byte("Subject: two\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n" +
			"--b\r\nContent-Type: text/plain\r\n\r\nbody \u200b\r\n--b\r\nContent-Type: application/octet-stream\r\n" +
			"Content-Disposition: attachment; filename=a.bin\r\n\r\nMZ\x90\x00 payload\r\n--b--\r\n")),
	}
	created := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, format := range []string{"record", "ecs", "zeek"} {
		for _, split := range []bool{false, true} {
			if split && format != "zeek" {
				continue
			}
			var wantOut, wantFiles, gotOut, gotFiles bytes.Buffer
			direct := &recordEncoder{format: format, out: bufio.NewWriter(&wantOut), created: created, internal: []string{"example.com"}}
			jobs := &recordEncoder{format: format, out: bufio.NewWriter(&gotOut), created: created, internal: []string{"example.com"}}
			if split {
				direct.files = bufio.NewWriter(&wantFiles)
				jobs.files = bufio.NewWriter(&gotFiles)
			}
			for _, e := range emails {
				if err := direct.encode(e); err != nil {
					t.Fatal(err)
				}
			}
			for i := range emails { // one file per email, then both in one
				if err := jobs.encodeAll(emails[i:i+1]).writeTo(jobs.out, jobs.files); err != nil {
					t.Fatal(err)
				}
			}
			if err := jobs.encodeAll(emails).writeTo(jobs.out, jobs.files); err != nil {
				t.Fatal(err)
			}
			for _, w := range []*bufio.Writer{direct.out, jobs.out, direct.files, jobs.files} {
				if w != nil {
					w.Flush()
				}
			}
			twice := func(b []byte) []byte { return append(append([]byte(nil), b...), b...) }
			if wantOut.Len() == 0 || !bytes.Equal(gotOut.Bytes(), twice(wantOut.Bytes())) {
				t.Errorf("%s split=%v: output\n%s\nwant twice\n%s", format, split, gotOut.Bytes(), wantOut.Bytes())
			}
			if split && (wantFiles.Len() == 0 || !bytes.Equal(gotFiles.Bytes(), twice(wantFiles.Bytes()))) {
				t.Errorf("%s: files.log\n%s\nwant twice\n%s", format, gotFiles.Bytes(), wantFiles.Bytes())
			}
		}
	}
	if b := getEncodeBuf(); b.Len() != 0 {
		t.Errorf("pooled buffer holds %d bytes", b.Len())
	}
}
