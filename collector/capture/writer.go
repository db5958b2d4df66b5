package capture

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/smtpscope/smtpscope/collector/internal/atomicfile"
)

// maxNameTries bounds the suffixes tried for one uid (see writeSession).
const maxNameTries = 1000

// writeSession writes sf into dir as <uid> and then <uid>.ready, never
// replacing a file: the data goes to a temporary file (fsynced when asked)
// that is hard-linked to its final name, which fails if the name exists.
// When <uid> or <uid>.ready already exists (an earlier run, another
// capture with the same session, a file not yet claimed by the
// collector), the session is written as <uid>-2, <uid>-3, … instead, with
// its @uid line changed to match. It returns the name used.
func writeSession(dir string, sf *SessionFile, sync bool) (string, error) {
	tmp := filepath.Join(dir, atomicfile.TempPrefix+sf.UID+"-"+atomicfile.TempSuffix())
	if err := writeTemp(tmp, sf.Data, sf.Start, sync); err != nil {
		return "", err
	}
	defer os.Remove(tmp)
	for n := 1; n <= maxNameTries; n++ {
		name := sf.UID
		if n > 1 {
			name += "-" + strconv.Itoa(n)
			if err := writeTemp(tmp, renameUID(sf.Data, sf.UID, name), sf.Start, sync); err != nil {
				return "", err
			}
		}
		path := filepath.Join(dir, name)
		if _, err := os.Lstat(path + ".ready"); err == nil {
			continue // a .ready whose session file is gone: the name is taken
		}
		err := os.Link(tmp, path)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return "", fmt.Errorf("capture: writing %s: %w", path, err)
		}
		return name, createReady(path + ".ready")
	}
	return "", fmt.Errorf("capture: writing %s: %d files with this uid exist already", filepath.Join(dir, sf.UID), maxNameTries)
}

// writeTemp (re)writes a temporary file.
func writeTemp(path string, data []byte, mtime time.Time, sync bool) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o640)
	if err != nil {
		return fmt.Errorf("capture: %w", err)
	}
	_, err = f.Write(data)
	if err == nil && sync {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil && !mtime.IsZero() {
		err = os.Chtimes(path, mtime, mtime)
	}
	if err != nil {
		os.Remove(path)
		return fmt.Errorf("capture: writing %s: %w", path, err)
	}
	return nil
}

// createReady creates the empty .ready marker, failing if it exists.
func createReady(path string) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o640)
	if err != nil {
		return fmt.Errorf("capture: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("capture: %w", err)
	}
	return nil
}

// renameUID returns data with its "@uid old" header line set to name.
func renameUID(data []byte, old, name string) []byte {
	from := []byte("\n@uid " + old + "\n")
	return bytes.Replace(data, from, []byte("\n@uid "+name+"\n"), 1)
}
