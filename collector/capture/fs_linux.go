package capture

import (
	"os"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/smtpscope/smtpscope/collector/internal/atomicfile"
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
// exists (by AT_EMPTY_PATH or /proc: atomicfile.FDLinker).
func linkAnon(fd, dirfd int, name string) error { return fdLinks.Link(fd, dirfd, name) }

// fdLinks remembers how this process names descriptors.
var fdLinks atomicfile.FDLinker

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
