package service

import (
	"errors"
	"fmt"
	"github.com/smtpscope/smtpscope/collector/api"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"time"
)

// The run directory (api.RunDir) holds the socket. It is created 0700
// (0750 with a UI group) and must be ours, not a symlink and writable by
// nobody else: the socket is never reachable, even for the instant between
// its creation and its chmod, by anyone the directory does not let
// through.

// ListenOptions say who may use the socket besides its owner.
type ListenOptions struct {
	// Group is the name of a group whose members may use the socket
	// (config ui_group); "" lets in only the data dir's owner and root.
	Group string
	// Log gets one line per rejected peer (nil: slog.Default()).
	Log *slog.Logger
}

// PeerCred is what the kernel says of the process at the other end of a
// connection (SO_PEERCRED on Linux): ids at the time it connected.
type PeerCred struct {
	PID      int32
	UID, GID uint32
}

// PeerPolicy decides who may talk to the socket, from the PeerCred of the
// connecting process.
type PeerPolicy struct {
	Owner uint32 // the data dir's owner
	// Group, when set, lets in processes whose primary group it is and
	// users Member reports in it.
	Group  *uint32
	Member func(uid uint32) bool
}

// Allow reports whether a peer may use the socket: root, the data dir's
// owner, or a member of the UI group.
func (p PeerPolicy) Allow(c PeerCred) bool {
	switch {
	case c.UID == 0, c.UID == p.Owner:
		return true
	case p.Group == nil:
		return false
	case c.GID == *p.Group:
		return true
	}
	return p.Member != nil && p.Member(c.UID)
}

// Listen creates the unix socket DATA/run/smtpscope.sock (mode 0600, or
// 0660 with the UI group) inside the private run directory, replacing a
// stale socket left by a dead process. Every accepted connection is
// checked against the PeerPolicy of the data dir (its owner, root, the
// UI group); other peers are logged and disconnected.
func Listen(dataDir string, o ListenOptions) (net.Listener, error) {
	pol, gid, err := peerPolicy(dataDir, o.Group)
	if err != nil {
		return nil, err
	}
	run := filepath.Join(dataDir, api.RunDir)
	if err := privateDir(run, gid); err != nil {
		return nil, err
	}
	path := api.SocketPath(dataDir)
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		c.Close()
		return nil, fmt.Errorf("%s: another process is serving this data dir", path)
	}
	_ = os.Remove(path)
	l, err := net.Listen("unix", path)
	if err != nil {
		return nil, err
	}
	if err := setMode(path, 0o600, 0o660, gid); err != nil {
		l.Close()
		return nil, err
	}
	log := o.Log
	if log == nil {
		log = slog.Default()
	}
	return &peerListener{Listener: l, policy: pol, log: log}, nil
}

// peerPolicy reads the data dir's owner and resolves the UI group.
func peerPolicy(dataDir, group string) (PeerPolicy, int, error) {
	st, err := os.Stat(dataDir)
	if err != nil {
		return PeerPolicy{}, -1, err
	}
	pol := PeerPolicy{Owner: st.Sys().(*syscall.Stat_t).Uid}
	if group == "" {
		return pol, -1, nil
	}
	g, err := user.LookupGroup(group)
	if err != nil {
		return PeerPolicy{}, -1, fmt.Errorf("ui_group: %w", err)
	}
	n, err := strconv.ParseUint(g.Gid, 10, 32)
	if err != nil {
		return PeerPolicy{}, -1, fmt.Errorf("ui_group %s: gid %q: %w", group, g.Gid, err)
	}
	gid := uint32(n)
	pol.Group = &gid
	pol.Member = func(uid uint32) bool {
		u, err := user.LookupId(strconv.FormatUint(uint64(uid), 10))
		if err != nil {
			return false
		}
		ids, err := u.GroupIds()
		return err == nil && slices.Contains(ids, g.Gid)
	}
	return pol, int(gid), nil
}

// privateDir creates dir (0700, or 0750 and group gid when gid >= 0) or
// checks the one that exists: a directory (not a symlink) owned by this
// process's user and writable by no one else.
func privateDir(dir string, gid int) error {
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	st, err := os.Lstat(dir)
	if err != nil {
		return err
	}
	switch {
	case !st.IsDir():
		return fmt.Errorf("%s: not a directory (a symlink?): refusing to put the UI socket there", dir)
	case st.Sys().(*syscall.Stat_t).Uid != uint32(os.Geteuid()):
		return fmt.Errorf("%s: owned by uid %d, not by us (uid %d): refusing to put the UI socket there", dir, st.Sys().(*syscall.Stat_t).Uid, os.Geteuid())
	case st.Mode().Perm()&0o022 != 0:
		return fmt.Errorf("%s: writable by group or others (mode %04o): refusing to put the UI socket there", dir, st.Mode().Perm())
	}
	return setMode(dir, 0o700, 0o750, gid)
}

// setMode gives path the owner-only mode own, or with gid >= 0 that
// group and the mode shared.
func setMode(path string, own, shared os.FileMode, gid int) error {
	if gid < 0 {
		return os.Chmod(path, own)
	}
	if err := os.Lchown(path, -1, gid); err != nil {
		return err
	}
	return os.Chmod(path, shared)
}

// peerListener accepts only the connections its policy allows.
type peerListener struct {
	net.Listener
	policy PeerPolicy
	log    *slog.Logger
}

func (l *peerListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		cred, err := peerCred(c)
		if err == nil && l.policy.Allow(cred) {
			return c, nil
		}
		l.log.Warn("UI socket: peer rejected", "uid", cred.UID, "gid", cred.GID, "pid", cred.PID, "err", err)
		c.Close()
	}
}
