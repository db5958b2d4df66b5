//go:build !unix

package index

// dirLock relies on bleve's own root.bolt lock (with a timeout) where
// flock is not available.
type dirLock struct{}

func lockDir(string) (*dirLock, error) { return &dirLock{}, nil }

func (l *dirLock) unlock() {}
