package collector

// Damage checks of the queue database, run by OpenStore before bbolt maps
// the file: bbolt trusts its meta page, and a file shorter than the pages
// the meta page names makes every access beyond the end a SIGBUS.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/smtpscope/smtpscope/collector/internal/atomicfile"
	bolt "go.etcd.io/bbolt"
)

// ErrDamaged means the queue database is damaged (truncated, overwritten,
// inconsistent, or missing while the store holds emails). Nothing opens
// it; `smtpscope repair` rebuilds it from the store.
var ErrDamaged = errors.New("queue database damaged")

// DamageError names the damaged file and what is wrong with it.
type DamageError struct {
	Path string // the queue database
	What string
}

func (e *DamageError) Error() string {
	return fmt.Sprintf("%s: %s: %s; refusing to use it (run `smtpscope repair --data %s` to rebuild the queue from the stored emails; the damaged file is kept aside)",
		e.Path, ErrDamaged, e.What, filepath.Dir(e.Path))
}

func (e *DamageError) Unwrap() error { return ErrDamaged }

// boltMeta is what checkDBFile reads of a bbolt meta page (bbolt's
// on-disk layout, version 2: a 16-byte page header, then the meta).
type boltMeta struct {
	pageSize                   uint32
	root, freelist, pgid, txid uint64
}

const (
	boltMagic      = 0xED0CDAED
	boltVersion    = 2
	pageHeaderSize = 16
	metaSize       = 64
	noFreelist     = ^uint64(0)
)

// readMeta reads and validates the meta page at off.
func readMeta(r io.ReaderAt, off int64) (boltMeta, bool) {
	var b [pageHeaderSize + metaSize]byte
	if _, err := r.ReadAt(b[:], off); err != nil {
		return boltMeta{}, false
	}
	m := b[pageHeaderSize:]
	ne := binary.NativeEndian
	h := fnv.New64a()
	h.Write(m[:56])
	if ne.Uint32(m[0:]) != boltMagic || ne.Uint32(m[4:]) != boltVersion || ne.Uint64(m[56:]) != h.Sum64() {
		return boltMeta{}, false
	}
	return boltMeta{pageSize: ne.Uint32(m[8:]), root: ne.Uint64(m[16:]), freelist: ne.Uint64(m[32:]),
		pgid: ne.Uint64(m[40:]), txid: ne.Uint64(m[48:])}, true
}

// currentMeta finds the meta page bbolt would use: the valid one with the
// highest transaction id.
func currentMeta(r io.ReaderAt) (boltMeta, bool) {
	m0, ok0 := readMeta(r, 0)
	sizes := []int64{4096, 8192, 16384, 65536}
	if ok0 {
		sizes = []int64{int64(m0.pageSize)}
	}
	for _, ps := range sizes {
		if m1, ok1 := readMeta(r, ps); ok1 && (!ok0 || m1.txid > m0.txid) {
			return m1, true
		}
	}
	return m0, ok0
}

// checkDBFile validates a non-empty bbolt file before it is mapped.
func checkDBFile(path string, size int64) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("opening %s: %w", path, err)
	}
	defer f.Close()
	m, ok := currentMeta(f)
	if !ok {
		return &DamageError{Path: path, What: fmt.Sprintf("no valid meta page in its %d bytes (not a bbolt database, or overwritten)", size)}
	}
	ps := uint64(m.pageSize)
	if ps < 512 || ps > 1<<20 || ps&(ps-1) != 0 {
		return &DamageError{Path: path, What: fmt.Sprintf("page size %d is not possible", ps)}
	}
	if m.pgid > uint64(size)/ps {
		return &DamageError{Path: path, What: fmt.Sprintf("truncated: %d bytes, but its pages reach %d bytes (%d pages of %d)", size, m.pgid*ps, m.pgid, ps)}
	}
	if m.root >= m.pgid || (m.freelist >= m.pgid && m.freelist != noFreelist) {
		return &DamageError{Path: path, What: "meta page points beyond the end of the data"}
	}
	return nil
}

// checkDB runs bbolt's consistency check (every page reachable once, keys
// in order), turning a panic into damage.
func checkDB(path string, b *bolt.DB) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &DamageError{Path: path, What: fmt.Sprintf("reading it failed: %v", r)}
		}
	}()
	var problems []string
	err = b.View(func(tx *bolt.Tx) error {
		for e := range tx.Check() {
			if len(problems) < 3 {
				problems = append(problems, e.Error())
			}
		}
		return nil
	})
	if err == nil && len(problems) > 0 {
		err = &DamageError{Path: path, What: "inconsistent: " + strings.Join(problems, "; ")}
	}
	return err
}

// storedEmail returns a stored .eml file of the data dir, "" when there is
// none: a data dir whose queue database is missing or empty while it holds
// emails lost its queue.
func storedEmail(dir string) string {
	found := ""
	_ = filepath.WalkDir(filepath.Join(dir, EmailsDir), func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() && strings.HasSuffix(p, ".eml") && !atomicfile.IsTemp(d.Name()) {
			found = p
			return filepath.SkipAll
		}
		return nil
	})
	return found
}
