package capture

import (
	"os"

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
