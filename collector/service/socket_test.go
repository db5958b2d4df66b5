package service

import (
	"bytes"
	"context"
	"github.com/smtpscope/smtpscope/collector/api"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestPeerPolicy(t *testing.T) {
	g := uint32(700)
	members := func(uid uint32) bool { return uid == 1003 }
	cases := []struct {
		name string
		pol  PeerPolicy
		cred PeerCred
		want bool
	}{
		{"root", PeerPolicy{Owner: 1000}, PeerCred{UID: 0, GID: 0}, true},
		{"owner", PeerPolicy{Owner: 1000}, PeerCred{UID: 1000, GID: 1000}, true},
		{"other user", PeerPolicy{Owner: 1000}, PeerCred{UID: 65534, GID: 65534}, false},
		{"other user, owner's gid", PeerPolicy{Owner: 1000}, PeerCred{UID: 1001, GID: 1000}, false},
		{"no group: gid 700 means nothing", PeerPolicy{Owner: 1000}, PeerCred{UID: 1002, GID: 700}, false},
		{"group: primary gid", PeerPolicy{Owner: 1000, Group: &g, Member: members}, PeerCred{UID: 1002, GID: 700}, true},
		{"group: listed member", PeerPolicy{Owner: 1000, Group: &g, Member: members}, PeerCred{UID: 1003, GID: 1003}, true},
		{"group: not a member", PeerPolicy{Owner: 1000, Group: &g, Member: members}, PeerCred{UID: 1004, GID: 1004}, false},
		{"group without a member lookup", PeerPolicy{Owner: 1000, Group: &g}, PeerCred{UID: 1003, GID: 1003}, false},
	}
	for _, c := range cases {
		if got := c.pol.Allow(c.cred); got != c.want {
			t.Errorf("%s: Allow(%+v) = %v, want %v", c.name, c.cred, got, c.want)
		}
	}
}

func mode(t *testing.T, p string) os.FileMode {
	t.Helper()
	st, err := os.Lstat(p)
	if err != nil {
		t.Fatal(err)
	}
	return st.Mode()
}

// TestListenPrivateDir: the socket is made inside DATA/run, 0700 and ours,
// with mode 0600; a run dir that is a symlink, writable by others or owned
// by someone else is refused, a loose mode left on our own dir is fixed.
func TestListenPrivateDir(t *testing.T) {
	dir := t.TempDir()
	l, err := Listen(dir, ListenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if m := mode(t, filepath.Join(dir, api.RunDir)); !m.IsDir() || m.Perm() != 0o700 {
		t.Errorf("run dir mode %v, want drwx------", m)
	}
	if m := mode(t, api.SocketPath(dir)); m&os.ModeSocket == 0 || m.Perm() != 0o600 {
		t.Errorf("socket mode %v, want srw-------", m)
	}
	if filepath.Dir(api.SocketPath(dir)) != filepath.Join(dir, api.RunDir) {
		t.Errorf("socket %s is not in the run dir", api.SocketPath(dir))
	}
	l.Close()

	run := filepath.Join(dir, api.RunDir)
	os.Chmod(run, 0o711) // loose but not writable: ours, so fixed
	l, err = Listen(dir, ListenOptions{})
	if err != nil {
		t.Fatalf("Listen over our own run dir: %v", err)
	}
	l.Close()
	if m := mode(t, run); m.Perm() != 0o700 {
		t.Errorf("run dir mode not restored: %v", m)
	}

	os.Chmod(run, 0o777)
	if _, err := Listen(dir, ListenOptions{}); err == nil || !strings.Contains(err.Error(), "writable") {
		t.Errorf("world-writable run dir accepted: %v", err)
	}
	os.Remove(api.SocketPath(dir))
	os.Remove(run)
	other := t.TempDir()
	if err := os.Symlink(other, run); err != nil {
		t.Fatal(err)
	}
	if _, err := Listen(dir, ListenOptions{}); err == nil || !strings.Contains(err.Error(), "symlink") {
		t.Errorf("symlinked run dir accepted: %v", err)
	}
	os.Remove(run)
	if os.Geteuid() != 0 {
		t.Log("not root: the foreign-owner case is not checked")
		return
	}
	os.Mkdir(run, 0o700)
	os.Chown(run, 65534, 65534)
	if _, err := Listen(dir, ListenOptions{}); err == nil || !strings.Contains(err.Error(), "owned by uid 65534") {
		t.Errorf("run dir owned by another user accepted: %v", err)
	}
}

// peerChildEnv makes the test binary a client of the socket it names:
// TestPeerChild then fetches /v1/status and prints what it got.
const peerChildEnv = "SMTPSCOPE_PEER_CHILD_SOCK"

// TestPeerChild is the child side of TestSocketPeerCheck (skipped
// otherwise).
func TestPeerChild(t *testing.T) {
	path := os.Getenv(peerChildEnv)
	if path == "" {
		t.Skip("child process of TestSocketPeerCheck only")
	}
	c, err := net.DialTimeout("unix", path, 5*time.Second)
	if err != nil {
		os.Stdout.WriteString("dial: " + err.Error() + "\n")
		return
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(c, "GET /v1/status HTTP/1.0\r\nHost: x\r\n\r\n")
	b, _ := io.ReadAll(c)
	os.Stdout.Write(b)
}

// TestSocketPeerCheck runs as root: a child process that setuid's to
// nobody connects to a real socket. Even with the file system letting it
// through (modes loosened as a lost race or umask 000 would leave them),
// the peer check must disconnect it, with a log line; with nobody's group
// as the UI group it is served.
func TestSocketPeerCheck(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (to run a child as nobody)")
	}
	nobody, err := user.Lookup("nobody")
	if err != nil {
		t.Skip("no user nobody:", err)
	}
	uid, _ := strconv.Atoi(nobody.Uid)
	gid, _ := strconv.Atoi(nobody.Gid)
	grp, err := user.LookupGroupId(nobody.Gid)
	if err != nil {
		t.Skip("nobody's group has no name:", err)
	}
	// A copy of this test binary and a data dir that nobody can reach.
	base, err := os.MkdirTemp("", "smtpscope-peer-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(base)
	os.Chmod(base, 0o755)
	self, _ := os.Executable()
	bin := filepath.Join(base, "backend.test")
	b, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	asNobody := func(sock string) string {
		cmd := exec.Command(bin, "-test.run=^TestPeerChild$")
		cmd.Env = append(os.Environ(), peerChildEnv+"="+sock)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("child: %v\n%s", err, out)
		}
		return string(out)
	}
	serve := func(data string, o ListenOptions) func() {
		if err := os.Mkdir(data, 0o755); err != nil {
			t.Fatal(err)
		}
		l, err := Listen(data, o)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- Serve(ctx, l, statusBackend{}) }()
		return func() { cancel(); <-done }
	}

	var logs bytes.Buffer
	data := filepath.Join(base, "data")
	stop := serve(data, ListenOptions{Log: slog.New(slog.NewTextHandler(&logs, nil))})
	os.Chmod(filepath.Join(data, api.RunDir), 0o777)
	os.Chmod(api.SocketPath(data), 0o777)
	out := asNobody(api.SocketPath(data))
	stop()
	if strings.Contains(out, "200 OK") || strings.Contains(out, "running") {
		t.Errorf("nobody was served by a socket of root's data dir:\n%s", out)
	}
	if !strings.Contains(logs.String(), "peer rejected") || !strings.Contains(logs.String(), "uid="+nobody.Uid) {
		t.Errorf("no log line for the rejected peer: %q", logs.String())
	}

	data = filepath.Join(base, "data-group")
	stop = serve(data, ListenOptions{Group: grp.Name})
	defer stop()
	if m := mode(t, filepath.Join(data, api.RunDir)); m.Perm() != 0o750 {
		t.Errorf("run dir with a UI group: %v, want drwxr-x---", m)
	}
	if m := mode(t, api.SocketPath(data)); m.Perm() != 0o660 {
		t.Errorf("socket with a UI group: %v, want srw-rw----", m)
	}
	if out := asNobody(api.SocketPath(data)); !strings.Contains(out, "200 OK") {
		t.Errorf("a member of ui_group %s was not served:\n%s", grp.Name, out)
	}
}

// statusBackend answers /v1/status only (what the peer tests fetch).
type statusBackend struct{ api.Backend }

func (statusBackend) Status(context.Context) (*api.Status, error) {
	return &api.Status{CollectorStatus: api.CollectorStatus{Running: true}, Mode: "stub"}, nil
}
