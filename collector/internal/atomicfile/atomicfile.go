// Package atomicfile writes files so that a reader never sees half of
// one: the data goes to a unique temporary name in the same directory,
// is fsynced (when asked), gets its mtime, and is renamed into place.
// Used by the collector's store and by the capture's session writer,
// which also share FDLinker: how this process names an open file (an
// unnamed O_TMPFILE file filled whole, a claimed spool file).
package atomicfile

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// TempPrefix starts the name of every temporary file written here (and by
// the capture's session writer): a crash may leave one behind, and
// readers of a directory skip them (IsTemp).
const TempPrefix = ".tmp-"

// IsTemp reports whether a file name is a temporary file's.
func IsTemp(name string) bool { return strings.HasPrefix(name, TempPrefix) }

// TempSuffix returns a random suffix for temporary names.
func TempSuffix() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Write stores data at path atomically. mtime, when not zero, is set on
// the file before it becomes visible. The directory itself is not
// fsynced: callers that need the rename to be durable sync it.
func Write(path string, data []byte, mtime time.Time, fsync bool) error {
	return WriteWith(path, mtime, fsync, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// WriteWith is Write for content that fill streams into the file.
func WriteWith(path string, mtime time.Time, fsync bool, fill func(io.Writer) error) error {
	tmp := filepath.Join(filepath.Dir(path), TempPrefix+filepath.Base(path)+"-"+TempSuffix())
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o640)
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	err = fill(f)
	if err == nil && fsync {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil && !mtime.IsZero() {
		err = os.Chtimes(tmp, mtime, mtime)
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}
