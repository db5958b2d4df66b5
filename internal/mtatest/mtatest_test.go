package mtatest

import (
	"bytes"
	"fmt"
	"net"
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

func TestCountListening(t *testing.T) {
	// `ss -Hltn` as iproute2 6.1 prints it.
	ss := "LISTEN 0      100       10.201.0.2:25        0.0.0.0:*          \n" +
		"LISTEN 0      100    [fd00:201::2]:25           [::]:*          \n" +
		"LISTEN 0      4096       127.0.0.1:2525      0.0.0.0:*          \n"
	for _, c := range []struct {
		addrs []string
		want  int
	}{
		{[]string{"10.201.0.2:25", "[fd00:201::2]:25"}, 2},
		{[]string{"10.201.0.2:25", "[fd00:201::3]:25"}, 1},
		{[]string{"10.201.0.2:2525", "0.0.0.0:*"}, 0}, // a peer column is no local address
	} {
		if got := countListening(ss, c.addrs); got != c.want {
			t.Errorf("countListening(%v) = %d, want %d", c.addrs, got, c.want)
		}
	}
	if got := countListening("", []string{"127.0.0.1:25"}); got != 0 {
		t.Errorf("countListening of nothing = %d", got)
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

// TestPostfixInNetns starts an instance in a network namespace of its
// own on an IPv4 and an IPv6 address, sends a message to each with swaks
// run in the namespace, and stops it: Stop returns only when no daemon of
// the instance is left.
func TestPostfixInNetns(t *testing.T) {
	RequireRoot(t)
	Require(t, PostfixCmd, PostfixMaster, "swaks", "ip", "ss")
	ns := fmt.Sprintf("mtatest-postfix-%d", os.Getpid())
	if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
		t.Skipf("ip netns is not available: %v %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", ns).CombinedOutput(); err != nil {
			t.Errorf("ip netns del %s: %v\n%s", ns, err, out)
		}
	})
	for _, args := range [][]string{{"link", "set", "lo", "up"}, {"addr", "add", "10.209.0.1/32", "dev", "lo"},
		{"addr", "add", "fd00:209::1/128", "dev", "lo", "nodad"}} {
		if out, err := exec.Command("ip", append([]string{"-n", ns}, args...)...).CombinedOutput(); err != nil {
			t.Fatalf("ip %v: %v\n%s", args, err, out)
		}
	}
	pf := StartPostfix(t, PostfixConfig{Delivery: Maildir, Netns: ns, Listen: []string{"10.209.0.1", "fd00:209::1"},
		Networks: []string{"10.209.0.1/32", "[fd00:209::1]/128"}})
	if len(pf.Addrs) != 2 || pf.Addrs[1] != "[fd00:209::1]:25" {
		t.Fatalf("addresses %v", pf.Addrs)
	}
	for _, a := range pf.Addrs {
		host, port, _ := net.SplitHostPort(a)
		out, err := exec.Command("ip", "netns", "exec", ns, "swaks", "--server", host, "--port", port, "--timeout", "30",
			"--from", "a@example.test", "--to", "b@example.test", "--header", "Subject: to "+a).CombinedOutput()
		if err != nil {
			t.Fatalf("swaks to %s: %v\n%s", a, err, out)
		}
	}
	got := pf.WaitDelivered(t, 2, 30*time.Second)
	for i, a := range pf.Addrs {
		if !bytes.Contains(got[0], []byte("Subject: to "+a)) && !bytes.Contains(got[1], []byte("Subject: to "+a)) {
			t.Errorf("message %d (to %s) not delivered", i, a)
		}
	}
	pid := pf.cmd.Process.Pid
	// The master, qmgr, pickup, smtpd at least.
	if m, live := psGroup(t, pid), liveGroupMembers(pid); len(m) < 4 || len(live) < 4 {
		t.Fatalf("master %d leads a process group of %v (from /proc: %v): want it and its daemons", pid, m, live)
	}
	if err := pf.Stop(); err != nil {
		t.Fatal(err)
	}
	if m := psGroup(t, pid); len(m) != 0 {
		t.Errorf("processes %v of master %d still running after Stop", m, pid)
	}
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
