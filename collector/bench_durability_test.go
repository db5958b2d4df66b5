package collector

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/smtpscope/smtpscope/collector/internal/atomicfile"
	"golang.org/x/sys/unix"
)

// BenchmarkDurability compares ways of making one commit group's files
// durable (one op = one group of 20 sessions' files: session copy 38 KB,
// .eml 22 KB, record 6 KB each, about the shared corpus's averages, in
// the store's directory layout):
//
//   - fsync-each: temp file fsynced before its rename, then one fsync per
//     directory (the store's writer before group commit);
//   - fdatasync-parallel: files written without sync, then every file and
//     directory of the group fdatasynced from 8 goroutines;
//   - syncfs: files written without sync, then one syncfs(2).
//
// fileWriter.sync is syncfs by default (fsync_mode "syncfs") and
// fdatasync-parallel with fsync_mode "files" (see fsutil.go for the
// figures and the trade-off).
//
// The test's temp dir must be on the file system whose cost is measured
// (TMPDIR). Compare wall time per op; all variants write the same bytes.
func BenchmarkDurability(b *testing.B) {
	const perGroup = 20
	sizes := []struct {
		dir  string
		size int
	}{{SessionsDir, 38 << 10}, {EmailsDir, 22 << 10}, {ResultsDir, 6 << 10}}
	bufs := make([][]byte, len(sizes))
	for i, s := range sizes {
		bufs[i] = make([]byte, s.size)
		for j := range bufs[i] {
			bufs[i][j] = byte('a' + j%26)
		}
	}
	for _, variant := range []string{"fsync-each", "fdatasync-parallel", "syncfs"} {
		b.Run(variant, func(b *testing.B) {
			root := b.TempDir()
			day := dayDir(time.Now())
			var dirs []string
			for _, s := range sizes {
				d := filepath.Join(root, s.dir, filepath.FromSlash(day))
				if err := os.MkdirAll(d, 0o750); err != nil {
					b.Fatal(err)
				}
				dirs = append(dirs, d)
			}
			if err := syncFS(root); err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(perGroup * (38 + 22 + 6) << 10))
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				var files []string
				for k := 0; k < perGroup; k++ {
					for d, dir := range dirs {
						p := filepath.Join(dir, fmt.Sprintf("g%d-%d", i, k))
						if err := atomicfile.Write(p, bufs[d], time.Time{}, variant == "fsync-each"); err != nil {
							b.Fatal(err)
						}
						files = append(files, p)
					}
				}
				var err error
				switch variant {
				case "fsync-each":
					for _, d := range dirs {
						if err = syncDir(d); err != nil {
							break
						}
					}
				case "fdatasync-parallel":
					err = errors.Join(syncFiles(byPath(files), syncWorkers, fdatasyncFD), syncFiles(byPath(dirs), syncWorkers, fdatasyncFD))
				case "syncfs":
					err = syncFS(root)
				}
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// byPath makes paths pending files synced by path.
func byPath(paths []string) []pendingFile {
	out := make([]pendingFile, len(paths))
	for i, p := range paths {
		out[i] = pendingFile{p, -1}
	}
	return out
}

// syncFS runs syncfs(2) on the file system holding dir.
func syncFS(dir string) error {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("syncfs %s: %w", dir, err)
	}
	defer unix.Close(fd)
	for {
		err = unix.Syncfs(fd)
		if err != syscall.EINTR {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("syncfs %s: %w", dir, err)
	}
	return nil
}
