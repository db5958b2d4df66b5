package mtatest

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestReceivedBytes(t *testing.T) {
	stored := "Return-Path: <a@example.test>\nX-Original-To: b@example.test\nDelivered-To: b@example.test\n" +
		"Received: from vm (localhost [127.0.0.1])\n\tby mtatest.localdomain (Postfix) with ESMTP id 6D40598704B\n" +
		"\tfor <b@example.test>; Mon, 23 Nov 2026 01:11:11 +0000 (UTC)\n" +
		"Received: from elsewhere\nSubject: x\n\nbody\n"
	want := "Received: from elsewhere\r\nSubject: x\r\n\r\nbody\r\n"
	if got := string(ReceivedBytes([]byte(stored))); got != want {
		t.Errorf("ReceivedBytes = %q, want %q", got, want)
	}
	// Nothing to strip: only line ends change.
	if got := string(ReceivedBytes([]byte("Subject: y\n\nz\n"))); got != "Subject: y\r\n\r\nz\r\n" {
		t.Errorf("ReceivedBytes = %q", got)
	}
}

// TestPostfixMaildirAndDiscard starts both delivery modes and sends one
// message to each with swaks, capturing the Maildir one with tcpdump.
func TestPostfixMaildirAndDiscard(t *testing.T) {
	RequireRoot(t)
	Require(t, PostfixCmd, PostfixMaster, "swaks", "tcpdump")
	msg := "From: a@example.test\r\nTo: b@example.test\r\nSubject: mtatest\r\n\r\nhello from mtatest\r\n"
	dataFile := filepath.Join(t.TempDir(), "msg.eml")
	if err := os.WriteFile(dataFile, []byte(msg), 0o644); err != nil {
		t.Fatal(err)
	}

	md := StartPostfix(t, PostfixConfig{Delivery: Maildir})
	capPath := filepath.Join(t.TempDir(), "lo.pcap")
	c := StartCapture(t, capPath, md.Port)
	Swaks(t, md.Addr, "--from", "a@example.test", "--to", "b@example.test", "--data", "@"+dataFile)
	got := md.WaitDelivered(t, 1, 30*time.Second)
	// swaks sends the --data bytes followed by CRLF "." CRLF: a message
	// that ends in CRLF arrives with one more empty line.
	if want := msg + "\r\n"; !bytes.Equal(ReceivedBytes(got[0]), []byte(want)) {
		t.Errorf("Maildir message after ReceivedBytes = %q, want %q", ReceivedBytes(got[0]), want)
	}
	dropped, err := c.Stop()
	if err != nil || dropped != 0 {
		t.Errorf("tcpdump: dropped %d, %v", dropped, err)
	}
	if st, err := os.Stat(capPath); err != nil || st.Size() < 500 {
		t.Errorf("capture file: %v (size %v)", err, st)
	}

	ds := StartPostfix(t, PostfixConfig{Delivery: Discard})
	out := Swaks(t, ds.Addr, "--from", "a@example.test", "--to", "c@example.org", "--data", "@"+dataFile)
	if !strings.Contains(out, "250 2.0.0 Ok: queued") {
		t.Errorf("discard instance did not queue:\n%s", out)
	}
	if err := ds.Stop(); err != nil {
		t.Error(err)
	}
	if err := md.Stop(); err != nil {
		t.Error(err)
	}
}
