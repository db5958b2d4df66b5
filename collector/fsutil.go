package collector

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/smtpscope/smtpscope/collector/internal/atomicfile"
)

// fileWriter writes files atomically (temp file in the same directory,
// fsync, rename) and remembers the directories touched so that one
// fsync per directory makes the renames durable before the queue commit.
type fileWriter struct {
	fsync  bool
	mu     sync.Mutex
	dirs   map[string]bool
	syncMu sync.Mutex // held for a whole sync: a caller returns only once every directory written before it is durable
}

func newFileWriter(fsync bool) *fileWriter {
	return &fileWriter{fsync: fsync, dirs: map[string]bool{}}
}

func tmpSuffix() string { return atomicfile.TempSuffix() }

// write stores data at path atomically; mtime, when not zero, is set on
// the file before it becomes visible.
func (w *fileWriter) write(path string, data []byte, mtime time.Time) error {
	return w.writeWith(path, func(f io.Writer) error {
		_, err := f.Write(data)
		return err
	}, mtime)
}

// writeWith is write for content that fill streams into the file.
func (w *fileWriter) writeWith(path string, fill func(io.Writer) error, mtime time.Time) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return err
	}
	if err := atomicfile.WriteWith(path, mtime, w.fsync, fill); err != nil {
		return err
	}
	w.mu.Lock()
	w.dirs[dir] = true
	w.mu.Unlock()
	return nil
}

// sync fsyncs every directory written since the last call.
func (w *fileWriter) sync() error {
	w.syncMu.Lock()
	defer w.syncMu.Unlock()
	w.mu.Lock()
	dirs := w.dirs
	w.dirs = map[string]bool{}
	w.mu.Unlock()
	if !w.fsync {
		return nil
	}
	for d := range dirs {
		if err := syncDir(d); err != nil {
			return err
		}
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("fsync %s: %w", dir, err)
	}
	return nil
}

// removeTemps deletes temp files a crash left behind under root.
func removeTemps(root string) {
	_ = filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if !d.IsDir() && atomicfile.IsTemp(d.Name()) {
			_ = os.Remove(p)
		}
		return nil
	})
}
