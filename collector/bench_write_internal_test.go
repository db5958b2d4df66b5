package collector

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkFileWriterWrite compares the store's two ways of writing a
// file whole (one op = one email's .eml and record, 22 KB and 14 KB,
// about the shared corpus's averages, into the day directories of the
// store's layout; no sync, fsync off, so only the writing is measured):
//
//   - unnamed: an O_TMPFILE file filled, then linked under its name
//     (writeAnon; the default where the system has them) by
//     linkat(AT_EMPTY_PATH) where the process may (root), else as
//     unnamed-proc;
//   - unnamed-proc: the same, linked through /proc/self/fd/<fd>;
//   - named: a .tmp-* file filled, then renamed (writeNamed).
//
// The files of every round stay until the benchmark ends: removing
// thousands just before the next round makes ext4 without a journal skip
// the freed inodes one by one on each create, a cost of the benchmark,
// not of either way. The temp dir must be on the file system measured
// (TMPDIR). Compare ns/op (wall, the system calls are synchronous) and
// the process's CPU-seconds.
func BenchmarkFileWriterWrite(b *testing.B) {
	root, err := os.MkdirTemp("", "bench-write-")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { os.RemoveAll(root) })
	eml, rec := make([]byte, 22<<10), make([]byte, 14<<10)
	for i := range eml {
		eml[i] = 'a' + byte(i%26)
	}
	copy(rec, eml)
	round := 0
	for _, way := range writeWays {
		named := way == "named"
		b.Run(way, func(b *testing.B) {
			if !named && !anonLinkOK() {
				b.Skip("no /proc/self/fd: no unnamed files here")
			}
			round++
			w := newFileWriterMode(syncNone)
			setWay(w, way)
			day := dayDir(time.Now())
			emails := filepath.Join(root, fmt.Sprint(round), EmailsDir, day)
			results := filepath.Join(root, fmt.Sprint(round), ResultsDir, day)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				id := fmt.Sprintf("C%08d.%d", i, i%3)
				if err := w.write(filepath.Join(emails, id+".eml"), eml, time.Time{}); err != nil {
					b.Fatal(err)
				}
				if err := w.write(filepath.Join(results, id+".json"), rec, time.Time{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
