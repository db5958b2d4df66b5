//go:build !yara || !cgo

package core

import "time"

// This build has no libyara: the API exists so that callers compile, and
// every entry point says clearly that YARA support is not compiled in.

// YaraAvailable reports whether YARA support is compiled in.
func YaraAvailable() bool { return false }

// YaraRules is a compiled rule set; in this build there never is one.
type YaraRules struct{}

// CompileYara always fails with ErrYaraNotCompiled in this build.
func CompileYara(paths []string) (*YaraRules, error) { return nil, ErrYaraNotCompiled }

// Scan always fails with ErrYaraNotCompiled in this build.
func (r *YaraRules) Scan(data []byte, timeout time.Duration) ([]YaraMatch, error) {
	return nil, ErrYaraNotCompiled
}

// Close does nothing in this build.
func (r *YaraRules) Close() {}

// Count is always 0 in this build.
func (r *YaraRules) Count() int { return 0 }

// Files is always empty in this build.
func (r *YaraRules) Files() []string { return nil }

// Warnings is always empty in this build.
func (r *YaraRules) Warnings() []string { return nil }

// ScanVars always fails with ErrYaraNotCompiled in this build.
func (r *YaraRules) ScanVars(data []byte, v YaraVars, timeout time.Duration) ([]YaraMatch, error) {
	return nil, ErrYaraNotCompiled
}
