package mtatest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Tools the harness can use, and where Debian installs them.
const (
	PostfixMaster = "/usr/lib/postfix/sbin/master"
	PostfixCmd    = "postfix"
	Python3       = "/usr/bin/python3"
)

// Missing returns the tools (command names or absolute paths) that are not
// installed.
func Missing(tools ...string) []string {
	var out []string
	for _, t := range tools {
		if filepath.IsAbs(t) {
			if _, err := os.Stat(t); err != nil {
				out = append(out, t)
			}
			continue
		}
		if _, err := exec.LookPath(t); err != nil {
			out = append(out, t)
		}
	}
	return out
}

// Require skips the test when a tool is missing, naming it.
func Require(t testing.TB, tools ...string) {
	t.Helper()
	if m := Missing(tools...); len(m) > 0 {
		t.Skipf("skipping: %s not installed (`make test` installs postfix, swaks and tcpdump; Debian: apt-get install %s)",
			strings.Join(m, ", "), debPackages(m))
	}
}

func debPackages(m []string) string {
	var p []string
	for _, t := range m {
		switch {
		case strings.Contains(t, "postfix"):
			p = append(p, "postfix")
		case strings.Contains(t, "python3"):
			p = append(p, "python3")
		default:
			p = append(p, filepath.Base(t))
		}
	}
	return strings.Join(p, " ")
}

// RequireRoot skips the test unless it runs as root (Postfix's master and
// tcpdump need it).
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("skipping: needs root (Postfix master and tcpdump on lo)")
	}
}

// CaptureListener skips the test unless it runs as root (capturing on
// lo needs CAP_NET_RAW), then listens on 127.0.0.1 (any free port) for
// the test's own SMTP server; it returns the listener, closed when the
// test ends, and its port, the one the capture is told to watch.
func CaptureListener(t testing.TB) (net.Listener, int) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (CAP_NET_RAW) to capture on lo")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l, l.Addr().(*net.TCPAddr).Port
}

// FreePort returns a TCP port free on 127.0.0.1 right now.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("mtatest: no free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// RepoRoot is the directory holding go.mod, found from the working
// directory upwards.
func RepoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		p := filepath.Dir(dir)
		if p == dir {
			t.Fatal("mtatest: go.mod not found above the working directory")
		}
		dir = p
	}
}

// SharedTools returns ../shared/tools (relative to the repo root), or skips.
func SharedTools(t testing.TB) string {
	t.Helper()
	d := filepath.Join(RepoRoot(t), "..", "shared", "tools")
	if _, err := os.Stat(filepath.Join(d, "GENERATE.md")); err != nil {
		t.Skipf("skipping: shared tools not found at %s: %v", d, err)
	}
	return d
}

// Delivery is what Postfix does with accepted mail.
type Delivery int

const (
	// Discard accepts and throws every message away.
	Discard Delivery = iota
	// Maildir delivers every message for the test domains into one
	// Maildir (virtual delivery): <MaildirBase>/Maildir/new.
	Maildir
)

// PostfixConfig configures StartPostfix.
type PostfixConfig struct {
	Delivery Delivery
	// MaildirBase is virtual_mailbox_base for Maildir delivery; mail lands
	// in MaildirBase/Maildir/new. Empty: <Dir>/mail.
	MaildirBase string
	// Dir holds main.cf, master.cf, the queue, data and log. Empty: a new
	// temporary directory removed after the test.
	Dir string
	// Port to listen on (127.0.0.1); 0 picks a free one.
	Port int
	// Domains accepted for delivery (default example.test, example.org,
	// example.net, localhost).
	Domains []string
	// ExtraMainCF lines ("key = value") are appended to main.cf.
	ExtraMainCF []string
	// SystemConfig uses the system configuration (/etc/postfix, set up
	// as in GENERATE.md) instead of a private one; Port must then be the
	// port its master.cf listens on. Delivery, Dir and Domains are ignored.
	SystemConfig bool
	// Netns runs the instance in this network namespace (`ip netns exec
	// NS master`); Listen and Networks must then name its addresses, and
	// Port is used as it is (0: 25). Whether it listens is read from the
	// namespace's socket table (`ss -N`), so starting it sends nothing on
	// the namespace's links. The client's host name is not looked up.
	Netns string
	// Listen are the IPv4 and IPv6 addresses smtpd listens on (Port on
	// each; inet_protocols follows); empty: 127.0.0.1.
	Listen []string
	// Networks are the clients allowed to relay (mynetworks: CIDR, IPv6
	// as [addr]/len); empty: 127.0.0.0/8.
	Networks []string
}

// Postfix is a running Postfix master process and its configuration.
type Postfix struct {
	Addr        string   // the first listening address, 127.0.0.1:port by default
	Addrs       []string // every listening address (host:port)
	Port        int
	Dir         string // configuration directory
	MaildirBase string
	LogFile     string
	netns       string
	cmd         *exec.Cmd
	done        chan struct{}
}

// StartPostfix writes a private Postfix configuration, prepares its queue
// (`postfix -c DIR check`), starts the master daemon in the foreground as
// a child process (through `ip netns exec` with cfg.Netns: the same
// process) and waits until it listens on every address. The instance is
// stopped (by PID) when the test ends.
func StartPostfix(t testing.TB, cfg PostfixConfig) *Postfix {
	t.Helper()
	RequireRoot(t)
	Require(t, PostfixCmd, PostfixMaster)
	if cfg.Netns != "" {
		Require(t, "ip", "ss")
	}
	p := newPostfix(t, cfg)
	var args []string
	if cfg.SystemConfig {
		if cfg.Port == 0 {
			t.Fatal("mtatest: SystemConfig needs the Port its master.cf listens on")
		}
		p.Dir = "/etc/postfix"
	} else {
		if err := p.writeConfig(t, cfg); err != nil {
			t.Fatalf("mtatest: %v", err)
		}
		args = append(args, "-c", p.Dir)
		// In its namespace: check wants inet_interfaces to be local.
		argv := append(p.wrap(), PostfixCmd, "-c", p.Dir, "check")
		check := exec.Command(argv[0], argv[1:]...)
		if out, err := check.CombinedOutput(); err != nil {
			t.Fatalf("mtatest: postfix -c %s check: %v\n%s\nlog:\n%s", p.Dir, err, out, p.Log())
		}
	}
	if up, err := p.listening(); err != nil {
		t.Fatalf("mtatest: %v", err)
	} else if up > 0 {
		t.Fatalf("mtatest: something already listens on one of %v", p.Addrs)
	}
	argv := append(p.wrap(), PostfixMaster)
	p.cmd = exec.Command(argv[0], append(argv[1:], args...)...)
	p.cmd.Stdout, p.cmd.Stderr = os.Stderr, os.Stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("mtatest: starting %s: %v", PostfixMaster, err)
	}
	p.done = make(chan struct{})
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		if err := p.Stop(); err != nil {
			t.Errorf("mtatest: stopping postfix: %v", err)
		}
	})
	p.waitListening(t)
	return p
}

// newPostfix fills in the instance's port and addresses.
func newPostfix(t testing.TB, cfg PostfixConfig) *Postfix {
	t.Helper()
	p := &Postfix{Port: cfg.Port, netns: cfg.Netns}
	switch {
	case p.Port == 0 && cfg.Netns != "":
		p.Port = 25
	case p.Port == 0:
		p.Port = FreePort(t)
	}
	hosts := cfg.Listen
	if len(hosts) == 0 {
		hosts = []string{"127.0.0.1"}
	}
	for _, h := range hosts {
		ip := net.ParseIP(h)
		if ip == nil {
			t.Fatalf("mtatest: listen address %q is not an IP address", h)
		}
		p.Addrs = append(p.Addrs, net.JoinHostPort(ip.String(), strconv.Itoa(p.Port)))
	}
	p.Addr = p.Addrs[0]
	return p
}

// wrap is the command prefix that runs a program in the instance's
// network namespace (none without one).
func (p *Postfix) wrap() []string {
	if p.netns == "" {
		return nil
	}
	return []string{"ip", "netns", "exec", p.netns}
}

// waitListening waits (30 s at most) until the master listens on every
// address, and fails the test if it exits first.
func (p *Postfix) waitListening(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		up, err := p.listening()
		if err != nil {
			t.Fatalf("mtatest: %v", err)
		}
		if up == len(p.Addrs) {
			return
		}
		select {
		case <-p.done:
			t.Fatalf("mtatest: postfix master (pid %d) exited at start-up\nlog:\n%s", p.cmd.Process.Pid, p.Log())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("mtatest: postfix not listening on %v after 30s\nlog:\n%s", p.Addrs, p.Log())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// listening counts the instance's addresses that accept connections:
// on the host by connecting, in a namespace by reading its socket
// table, which sends nothing.
func (p *Postfix) listening() (int, error) {
	if p.netns == "" {
		n := 0
		for _, a := range p.Addrs {
			if conn, err := net.DialTimeout("tcp", a, time.Second); err == nil {
				conn.Close()
				n++
			}
		}
		return n, nil
	}
	out, err := exec.Command("ss", "-N", p.netns, "-H", "-l", "-t", "-n").CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("ss -N %s: %v\n%s", p.netns, err, out)
	}
	return countListening(string(out), p.Addrs), nil
}

// countListening counts the addresses (host:port) that are the local
// address of a line of `ss -Hltn` output.
func countListening(ssOut string, addrs []string) int {
	local := map[string]bool{}
	for _, l := range strings.Split(ssOut, "\n") {
		if f := strings.Fields(l); len(f) >= 5 {
			local[f[3]] = true
		}
	}
	n := 0
	for _, a := range addrs {
		if local[a] {
			n++
		}
	}
	return n
}

func (p *Postfix) writeConfig(t testing.TB, cfg PostfixConfig) error {
	p.Dir = cfg.Dir
	if p.Dir == "" {
		p.Dir = t.TempDir()
	}
	if err := os.MkdirAll(filepath.Join(p.Dir, "queue"), 0o755); err != nil {
		return err
	}
	pu, err := user.Lookup("postfix")
	if err != nil {
		return fmt.Errorf("no postfix user: %w", err)
	}
	puid, _ := strconv.Atoi(pu.Uid)
	data := filepath.Join(p.Dir, "data")
	if err := os.MkdirAll(data, 0o700); err != nil {
		return err
	}
	if err := os.Chown(data, puid, -1); err != nil {
		return err
	}
	// The queue's parent directories must be searchable by postfix.
	for d := p.Dir; d != "/" && d != "."; d = filepath.Dir(d) {
		if st, err := os.Stat(d); err == nil && st.Mode().Perm()&0o005 != 0o005 {
			_ = os.Chmod(d, st.Mode().Perm()|0o005)
		}
	}
	domains := cfg.Domains
	if len(domains) == 0 {
		domains = []string{"example.test", "example.org", "example.net", "localhost"}
	}
	p.LogFile = filepath.Join(p.Dir, "maillog")
	main := []string{
		"compatibility_level = 3.6",
		"queue_directory = " + filepath.Join(p.Dir, "queue"),
		"data_directory = " + data,
		"maillog_file = " + p.LogFile,
		"maillog_file_prefixes = " + p.Dir,
		fmt.Sprintf("syslog_name = postfix-mtatest-%d", p.Port),
		"myhostname = mtatest.localdomain",
		"smtpd_relay_restrictions = permit_mynetworks, reject",
		"smtpd_tls_security_level = none",
		"local_header_rewrite_clients =",
		"alias_maps =",
		"alias_database =",
		"biff = no",
		"message_size_limit = 104857600",
		"mailbox_size_limit = 0",
		"virtual_mailbox_limit = 0",
		"default_transport = discard:",
		"relay_transport = discard:",
		"local_transport = discard:",
		"local_recipient_maps =",
	}
	switch cfg.Delivery {
	case Discard:
		main = append(main, "mydestination = "+strings.Join(domains, ", "))
	case Maildir:
		p.MaildirBase = cfg.MaildirBase
		if p.MaildirBase == "" {
			p.MaildirBase = filepath.Join(p.Dir, "mail")
		}
		if err := os.MkdirAll(p.MaildirBase, 0o755); err != nil {
			return err
		}
		nobody, err := user.Lookup("nobody")
		if err != nil {
			return fmt.Errorf("no nobody user for Maildir delivery: %w", err)
		}
		uid, _ := strconv.Atoi(nobody.Uid)
		gid, _ := strconv.Atoi(nobody.Gid)
		if err := os.Chown(p.MaildirBase, uid, gid); err != nil {
			return err
		}
		var virt []string
		for _, d := range domains {
			if d != "localhost" {
				virt = append(virt, d)
			}
		}
		main = append(main,
			"mydestination = localhost",
			"virtual_mailbox_domains = "+strings.Join(virt, ", "),
			"virtual_mailbox_base = "+p.MaildirBase,
			"virtual_mailbox_maps = static:Maildir/",
			fmt.Sprintf("virtual_uid_maps = static:%d", uid),
			fmt.Sprintf("virtual_gid_maps = static:%d", gid),
			"virtual_minimum_uid = 1",
		)
	}
	netMain, listeners := p.netConfig(cfg)
	main = append(append(main, netMain...), cfg.ExtraMainCF...)
	master := listeners + masterServices
	if err := os.WriteFile(filepath.Join(p.Dir, "main.cf"), []byte(strings.Join(main, "\n")+"\n"), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(p.Dir, "master.cf"), []byte(master), 0o644)
}

// netConfig returns the main.cf lines that say where the instance
// listens and whom it relays for, and master.cf's smtpd line for each
// listening address.
func (p *Postfix) netConfig(cfg PostfixConfig) (main []string, master string) {
	var hosts []string
	v4, v6 := false, false
	for _, a := range p.Addrs {
		host, _, _ := net.SplitHostPort(a)
		hosts = append(hosts, host)
		if strings.Contains(host, ":") {
			v6 = true
			a = "[" + host + "]:" + strconv.Itoa(p.Port)
		} else {
			v4 = true
		}
		master += a + " inet n - n - - smtpd\n"
	}
	protocols := map[[2]bool]string{{true, false}: "ipv4", {false, true}: "ipv6", {true, true}: "all"}[[2]bool{v4, v6}]
	networks := cfg.Networks
	if len(networks) == 0 {
		networks = []string{"127.0.0.0/8"}
	}
	main = []string{
		"inet_interfaces = " + strings.Join(hosts, ", "),
		"inet_protocols = " + protocols,
		"mynetworks = " + strings.Join(networks, ", "),
	}
	if cfg.Netns != "" {
		main = append(main, "smtpd_peername_lookup = no")
	}
	return main, master
}

// masterServices are the internal services, none chrooted (the queue is
// private to the instance).
const masterServices = `pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
local     unix  -       n       n       -       -       local
virtual   unix  -       n       n       -       -       virtual
lmtp      unix  -       -       n       -       -       lmtp
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
`

// Stop terminates the master by its PID (SIGTERM; it passes the signal to
// its process group, the Postfix daemons), waits for it, then checks that
// none of its daemons is left (see waitGroupGone).
func (p *Postfix) Stop() error {
	if p.cmd == nil || p.cmd.Process == nil {
		return nil
	}
	pid := p.cmd.Process.Pid
	select {
	case <-p.done:
	default:
		if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
			return err
		}
		select {
		case <-p.done:
		case <-time.After(15 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.done
			return fmt.Errorf("postfix master pid %d did not stop on SIGTERM; killed", pid)
		}
	}
	return waitGroupGone(pid, 15*time.Second)
}

// waitGroupGone waits until no process of process group pgid is alive.
// The master starts a session of its own (its PID is the group's ID) and
// its daemons inherit the group, so an empty group means no daemon of the
// instance is left; those still alive after timeout are killed and
// reported. Daemons that exited but wait, as zombies, for their new
// parent (init) to reap them once the master is gone count as gone.
func waitGroupGone(pgid int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for live := liveGroupMembers(pgid); len(live) > 0; live = liveGroupMembers(pgid) {
		if time.Now().After(deadline) {
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
			return fmt.Errorf("postfix daemons %v of master pid %d still running %v after it stopped; killed", live, pgid, timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return nil
}

// liveGroupMembers returns the processes of process group pgid that are
// not zombies, from /proc.
func liveGroupMembers(pgid int) []int {
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	var live []int
	for _, f := range stats {
		b, err := os.ReadFile(f)
		if err != nil {
			continue // the process ended
		}
		// "pid (comm) state ppid pgrp ...": comm may hold spaces and ')'.
		var state string
		var ppid, pgrp int
		if _, err := fmt.Sscan(string(b[bytes.LastIndexByte(b, ')')+1:]), &state, &ppid, &pgrp); err != nil || pgrp != pgid || state == "Z" {
			continue
		}
		if pid, err := strconv.Atoi(filepath.Base(filepath.Dir(f))); err == nil {
			live = append(live, pid)
		}
	}
	return live
}

// Log returns the instance's mail log.
func (p *Postfix) Log() string {
	if p.LogFile == "" {
		return ""
	}
	b, _ := os.ReadFile(p.LogFile)
	return string(b)
}

// MaildirFiles returns the delivered message files (Maildir/new and cur),
// sorted by name (delivery time first).
func (p *Postfix) MaildirFiles() []string {
	var files []string
	for _, sub := range []string{"new", "cur"} {
		m, _ := filepath.Glob(filepath.Join(p.MaildirBase, "Maildir", sub, "*"))
		files = append(files, m...)
	}
	sort.Slice(files, func(i, j int) bool { return filepath.Base(files[i]) < filepath.Base(files[j]) })
	return files
}

// WaitDelivered waits until at least n messages are in the Maildir and
// returns their contents.
func (p *Postfix) WaitDelivered(t testing.TB, n int, timeout time.Duration) [][]byte {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		files := p.MaildirFiles()
		if len(files) >= n {
			var out [][]byte
			for _, f := range files {
				b, err := os.ReadFile(f)
				if err != nil {
					t.Fatalf("mtatest: %v", err)
				}
				out = append(out, b)
			}
			return out
		}
		if time.Now().After(deadline) {
			t.Fatalf("mtatest: %d of %d messages delivered after %v\nlog:\n%s", len(files), n, timeout, p.Log())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// ReceivedBytes turns a message Postfix delivered into a Maildir back into
// the bytes the client sent: it removes the header fields Postfix's
// delivery prepends at the top (Return-Path, X-Original-To, Delivered-To,
// and its own Received field with its continuation lines) and restores
// CRLF line ends (Postfix stores LF). This is exact for messages whose
// lines all end in CRLF and that are shorter than Postfix's line length
// limit (2048): Postfix changes nothing else when header rewriting is off.
func ReceivedBytes(b []byte) []byte {
	lines := bytes.SplitAfter(b, []byte("\n"))
	i := 0
	for i < len(lines) {
		l := lines[i]
		switch {
		case hasPrefixFold(l, "Return-Path:"), hasPrefixFold(l, "X-Original-To:"), hasPrefixFold(l, "Delivered-To:"):
			i++
			continue
		case hasPrefixFold(l, "Received:") && bytes.Contains(l, []byte("(Postfix)")) || hasPrefixFold(l, "Received:") && i+1 < len(lines) && bytes.Contains(lines[i+1], []byte("(Postfix)")):
			i++
			for i < len(lines) && len(lines[i]) > 0 && (lines[i][0] == ' ' || lines[i][0] == '\t') {
				i++
			}
		}
		break
	}
	rest := bytes.Join(lines[i:], nil)
	return bytes.ReplaceAll(rest, []byte("\n"), []byte("\r\n"))
}

func hasPrefixFold(l []byte, p string) bool {
	return len(l) >= len(p) && strings.EqualFold(string(l[:len(p)]), p)
}

// Capture is a running tcpdump writing a pcap file.
type Capture struct {
	Path   string
	cmd    *exec.Cmd
	stderr *lockedBuffer
	done   chan struct{}
}

// StartCapture runs tcpdump on the loopback interface for TCP port port
// (with --immediate-mode and -B 65536, which loopback captures need) and
// waits until it listens. Stop it with Stop (it is also stopped, by PID,
// when the test ends).
func StartCapture(t testing.TB, path string, port int) *Capture {
	t.Helper()
	RequireRoot(t)
	Require(t, "tcpdump")
	c := &Capture{Path: path, stderr: &lockedBuffer{}, done: make(chan struct{})}
	c.cmd = exec.Command("tcpdump", "-i", "lo", "-s", "0", "-U", "--immediate-mode", "-B", "65536", "-n",
		"-w", path, fmt.Sprintf("tcp port %d", port))
	c.cmd.Stderr = c.stderr
	if err := c.cmd.Start(); err != nil {
		t.Fatalf("mtatest: starting tcpdump: %v", err)
	}
	go func() { _ = c.cmd.Wait(); close(c.done) }()
	t.Cleanup(func() { _, _ = c.Stop() })
	deadline := time.Now().Add(15 * time.Second)
	for !strings.Contains(c.stderr.String(), "listening on") {
		select {
		case <-c.done:
			t.Fatalf("mtatest: tcpdump exited: %s", c.stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("mtatest: tcpdump not listening after 15s: %s", c.stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	return c
}

// Stop interrupts tcpdump by its PID (SIGINT: it flushes the file), waits,
// and returns the number of packets the kernel dropped.
func (c *Capture) Stop() (dropped int, err error) {
	select {
	case <-c.done:
	default:
		// Let the last packets reach tcpdump before stopping it.
		time.Sleep(300 * time.Millisecond)
		if err := c.cmd.Process.Signal(syscall.SIGINT); err != nil && !errors.Is(err, os.ErrProcessDone) {
			return -1, err
		}
		select {
		case <-c.done:
		case <-time.After(10 * time.Second):
			_ = c.cmd.Process.Kill()
			<-c.done
			return -1, errors.New("tcpdump did not stop on SIGINT; killed")
		}
	}
	sc := bufio.NewScanner(strings.NewReader(c.stderr.String()))
	for sc.Scan() {
		var n int
		if _, err := fmt.Sscanf(sc.Text(), "%d packets dropped by kernel", &n); err == nil {
			return n, nil
		}
	}
	return -1, fmt.Errorf("tcpdump printed no drop count: %s", c.stderr.String())
}

// Swaks runs swaks against addr (killed, by its PID, after 2 minutes) (host:port) with the given arguments and
// returns its transcript; the test fails if swaks fails.
func Swaks(t testing.TB, addr string, args ...string) string {
	t.Helper()
	Require(t, "swaks")
	host, port, _ := net.SplitHostPort(addr)
	all := append([]string{"--server", host, "--port", port, "--timeout", "30"}, args...)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "swaks", all...).CombinedOutput()
	if err != nil {
		t.Fatalf("mtatest: swaks %s: %v\n%s", strings.Join(all, " "), err, out)
	}
	return string(out)
}

// Python runs one of the ../shared/tools scripts with /usr/bin/python3
// (the working directory is the tools directory; killed, by its PID, after
// 2 minutes).
func Python(t testing.TB, script string, args ...string) string {
	t.Helper()
	Require(t, Python3)
	dir := SharedTools(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, Python3, append([]string{filepath.Join(dir, script)}, args...)...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("mtatest: python3 %s %v: %v\n%s", script, args, err, out)
	}
	return string(out)
}

// lockedBuffer is a bytes.Buffer safe for one writer and one reader.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
