//go:build !linux

package capture

import (
	"errors"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// syncFS makes the session files of a batch durable, with the directory
// entries naming them. Without syncfs(2) each file is fsynced, then the
// directory.
func syncFS(dir *os.File, batch []string) error {
	for _, p := range batch {
		f, err := os.Open(filepath.Join(dir.Name(), p))
		if err != nil {
			return err
		}
		err = f.Sync()
		f.Close()
		if err != nil {
			return err
		}
	}
	return dir.Sync()
}

// mknodReady reports that mknod is not used here (createReady opens the
// file instead).
func mknodReady(int, string) error { return errors.ErrUnsupported }

// Unnamed files (O_TMPFILE) are Linux's: elsewhere session files are
// written under a temporary name and linked.
func openAnon(int) (int, error)             { return -1, errors.ErrUnsupported }
func linkAnon(int, int, string) error       { return errors.ErrUnsupported }
func anonSupported(int) bool                { return false }
func futimens(int, *[2]unix.Timespec) error { return errors.ErrUnsupported }
