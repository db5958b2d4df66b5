//go:build !linux

package capture

import "os"

// syncFS makes the session files of a batch durable, with the directory
// entries naming them. Without syncfs(2) each file is fsynced, then the
// directory.
func syncFS(dir *os.File, batch []string) error {
	for _, p := range batch {
		f, err := os.Open(p)
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
