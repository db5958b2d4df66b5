package capture

import (
	"os"
	"strconv"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// syncFS makes the session files of a batch durable, with the directory
// entries naming them: syncfs(2) writes out every file of the file system
// holding dir, metadata included, in one journal commit instead of one
// per file. It returns writeback errors (Linux 5.8+).
func syncFS(dir *os.File, _ []string) error {
	return unix.Syncfs(int(dir.Fd()))
}

// mknodReady creates an empty regular file, failing if the name exists:
// one system call, where open and close take two.
func mknodReady(dirfd int, name string) error {
	return unix.Mknodat(dirfd, name, unix.S_IFREG|0o640, 0)
}

// openAnon opens an unnamed regular file in the directory dirfd
// (O_TMPFILE): it has no directory entry until linkAnon gives it its
// name, so a crash leaves nothing behind, and writing a session costs one
// directory entry instead of three (a temporary name, its link, its
// removal).
func openAnon(dirfd int) (int, error) {
	return unix.Openat(dirfd, ".", unix.O_TMPFILE|unix.O_WRONLY|unix.O_CLOEXEC, 0o640)
}

// linkAnon names the unnamed file fd as name in dirfd, failing if the name
// exists. linkat(2) with AT_EMPTY_PATH names the descriptor itself; before
// Linux 6.10 it needed CAP_DAC_READ_SEARCH (ENOENT without), since then
// the process that opened the file may. Where it is refused, the
// /proc/self/fd link works for any user (open(2), O_TMPFILE), at the cost
// of a path walk through /proc.
func linkAnon(fd, dirfd int, name string) error {
	if emptyPathLink.Load() >= 0 {
		err := unix.Linkat(fd, "", dirfd, name, unix.AT_EMPTY_PATH)
		if err == nil {
			emptyPathLink.Store(1)
			return nil
		}
		if emptyPathLink.Load() == 1 || (err != unix.ENOENT && err != unix.EPERM) {
			return err
		}
		emptyPathLink.Store(-1)
	}
	return unix.Linkat(unix.AT_FDCWD, "/proc/self/fd/"+strconv.Itoa(fd), dirfd, name, unix.AT_SYMLINK_FOLLOW)
}

// emptyPathLink: 1 once linkat(AT_EMPTY_PATH) worked, -1 once refused, 0
// before either.
var emptyPathLink atomic.Int32

// anonSupported reports whether unnamed files can be made and named in
// dirfd: the file system has O_TMPFILE and /proc is mounted.
func anonSupported(dirfd int) bool {
	fd, err := openAnon(dirfd)
	if err != nil {
		return false
	}
	unix.Close(fd)
	return unix.Access("/proc/self/fd", unix.F_OK) == nil
}

// futimens sets the access and modification times of fd (utimensat(2)
// with a NULL path: no path walk).
func futimens(fd int, ts *[2]unix.Timespec) error {
	_, _, e := unix.Syscall6(unix.SYS_UTIMENSAT, uintptr(fd), 0, uintptr(unsafe.Pointer(ts)), 0, 0, 0)
	if e != 0 {
		return e
	}
	return nil
}
