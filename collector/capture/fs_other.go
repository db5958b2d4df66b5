//go:build !linux

package capture

import (
	"errors"
	"os"
	"path/filepath"
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
