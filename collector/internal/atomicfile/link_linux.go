package atomicfile

import (
	"strconv"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// Ways an FDLinker names descriptors.
const (
	LinkUnknown   int32 = iota // not tried yet
	LinkEmptyPath              // linkat(fd, "", AT_EMPTY_PATH) links
	LinkProc                   // it does not: /proc/self/fd/<fd> only
)

// FDLinker gives open files (an unnamed O_TMPFILE file, a claimed spool
// file) a name. linkat(2) with AT_EMPTY_PATH names the descriptor itself;
// before Linux 6.10 it needed CAP_DAC_READ_SEARCH (ENOENT without), since
// then the process that opened the file may. Where it is refused, the
// /proc/self/fd link works for any user (open(2), O_TMPFILE), at the cost
// of a path walk through /proc. The linker remembers which way works.
// The zero value is ready to use.
type FDLinker struct{ mode atomic.Int32 }

// Link names the open file fd as name relative to dirfd (unix.AT_FDCWD
// for a path), failing when the name exists (EEXIST) or its directory is
// missing (ENOENT).
func (l *FDLinker) Link(fd, dirfd int, name string) error {
	proc := func() error {
		return retryEINTR(func() error {
			return unix.Linkat(unix.AT_FDCWD, "/proc/self/fd/"+strconv.Itoa(fd), dirfd, name, unix.AT_SYMLINK_FOLLOW)
		})
	}
	mode := l.mode.Load()
	if mode == LinkProc {
		return proc()
	}
	err := retryEINTR(func() error { return unix.Linkat(fd, "", dirfd, name, unix.AT_EMPTY_PATH) })
	switch {
	case err == nil:
		l.mode.CompareAndSwap(LinkUnknown, LinkEmptyPath)
		return nil
	case (err == unix.ENOENT || err == unix.EPERM) && mode == LinkUnknown:
		// Refused, or the directory is missing: only a /proc link that
		// works says which.
		if perr := proc(); perr != nil {
			return perr
		}
		l.mode.Store(LinkProc)
		return nil
	}
	return err
}

// Mode is the way the linker names descriptors (LinkUnknown before the
// first link).
func (l *FDLinker) Mode() int32 { return l.mode.Load() }

// UseProc makes the linker name descriptors through /proc only, as for a
// process refused AT_EMPTY_PATH (tests); Reset forgets the way found.
func (l *FDLinker) UseProc() { l.mode.Store(LinkProc) }

// Reset makes the linker find its way again at the next link.
func (l *FDLinker) Reset() { l.mode.Store(LinkUnknown) }

func retryEINTR(call func() error) error {
	for {
		if err := call(); err != unix.EINTR {
			return err
		}
	}
}
