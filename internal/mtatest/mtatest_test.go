package mtatest

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
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

// psGroup lists, with ps, the processes of process group pgid that are
// not zombies.
func psGroup(t *testing.T, pgid int) []string {
	t.Helper()
	out, err := exec.Command("ps", "-e", "-o", "pid=,pgid=,stat=,comm=").Output()
	if err != nil {
		t.Fatalf("ps: %v", err)
	}
	var live []string
	for _, l := range strings.Split(string(out), "\n") {
		if f := strings.Fields(l); len(f) >= 4 && f[1] == strconv.Itoa(pgid) && !strings.HasPrefix(f[2], "Z") {
			live = append(live, f[0]+" "+f[3])
		}
	}
	return live
}

// orphanGroup starts a process group whose leader exits at once and
// leaves a `sleep 60` behind in it (as Postfix's master leaves its
// daemons): it returns the group's ID and the sleep's PID.
func orphanGroup(t *testing.T) (pgid, sleeper int) {
	t.Helper()
	cmd := exec.Command("sh", "-c", "sleep 60 >/dev/null 2>&1 & echo $!")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	if sleeper, err = strconv.Atoi(strings.TrimSpace(string(out))); err != nil {
		t.Fatalf("sleep's pid %q: %v", out, err)
	}
	pgid = cmd.Process.Pid
	t.Cleanup(func() { // on failure: the sleep, if it is still in the group
		if live := liveGroupMembers(pgid); len(live) == 1 && live[0] == sleeper {
			_ = syscall.Kill(sleeper, syscall.SIGKILL)
		}
	})
	return pgid, sleeper
}

// TestWaitGroupGone: waitGroupGone returns only when the group's last
// live process has exited (a zombie counts as gone), and after its
// timeout kills what is left and says so.
func TestWaitGroupGone(t *testing.T) {
	pgid, sleeper := orphanGroup(t)
	if live := liveGroupMembers(pgid); len(live) != 1 || live[0] != sleeper {
		t.Fatalf("live members of group %d: %v, want [%d]", pgid, live, sleeper)
	}
	done := make(chan error, 1)
	go func() { done <- waitGroupGone(pgid, time.Minute) }()
	if m := psGroup(t, pgid); len(m) != 1 {
		t.Fatalf("ps: group %d is %v, want the sleep alone", pgid, m)
	}
	select {
	case err := <-done:
		t.Fatalf("waitGroupGone returned (%v) while the sleep was alive", err)
	default:
	}
	if err := syscall.Kill(sleeper, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("waitGroupGone after the sleep ended: %v", err)
	}

	pgid, sleeper = orphanGroup(t)
	err := waitGroupGone(pgid, 100*time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("[%d]", sleeper)) || !strings.Contains(err.Error(), "killed") {
		t.Errorf("waitGroupGone past its timeout = %v, want the sleep named and killed", err)
	}
	if err := waitGroupGone(pgid, time.Minute); err != nil {
		t.Errorf("the group after the kill: %v", err)
	}
}
