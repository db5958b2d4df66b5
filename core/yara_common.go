package core

// This file holds the parts of the YARA analyzer shared by the libyara
// binding (yara.go, build tag "yara") and the stub used when it is not
// compiled in (yara_stub.go): errors, rule-file discovery and the rendering
// of matched bytes. None of it needs cgo.

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// ErrYaraNotCompiled is returned by CompileYara and Scan when the binary was
// built without the "yara" build tag (or without cgo).
var ErrYaraNotCompiled = errors.New("YARA support is not compiled in (build with -tags yara; needs libyara-dev)")

// ErrYaraClosed is returned by Scan after Close.
var ErrYaraClosed = errors.New("yara: rules are closed")

// DefaultYaraTimeout is the per-scan timeout callers should use when the
// configuration does not say otherwise (stoQ's yara plugin default: 60 s).
const DefaultYaraTimeout = 60 * time.Second

// Limits on what one YARA hit carries into the record, so that a rule with
// a one-byte string cannot turn a megabyte of input into a megabyte of JSON.
const (
	// YaraMaxMatchData is how many bytes of each matched string are kept.
	YaraMaxMatchData = 64
	// yaraMaxMatchesPerString is how many matches of one string
	// identifier ($a) are reported per rule hit.
	yaraMaxMatchesPerString = 16
	// yaraMaxStringsPerRule caps the YaraString entries of one rule hit.
	yaraMaxStringsPerRule = 128
)

// YaraCompileError lists every problem found while compiling rule files:
// syntax errors as "file:line: message", unreadable files as
// "file: error". Its Error() joins them with newlines.
type YaraCompileError struct {
	Errors []string
}

func (e *YaraCompileError) Error() string {
	if len(e.Errors) == 1 {
		return "yara: " + e.Errors[0]
	}
	return fmt.Sprintf("yara: %d errors:\n%s", len(e.Errors), strings.Join(e.Errors, "\n"))
}

// yaraRuleFiles expands the configured paths: a file is taken as is
// (whatever its extension); a directory is walked recursively for *.yar
// and *.yara files (case-insensitive), in lexical order. Hidden files and
// directories (".name") inside a walked directory are skipped. Duplicates
// are removed. It fails when a path does not exist or when no rule file
// is found at all.
func yaraRuleFiles(paths []string) ([]string, error) {
	if len(paths) == 0 {
		return nil, errors.New("yara: no rule files or directories given")
	}
	var files []string
	seen := map[string]bool{}
	add := func(p string) {
		if !seen[p] {
			seen[p] = true
			files = append(files, p)
		}
	}
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("yara: rule path: %w", err)
		}
		if !st.IsDir() {
			add(filepath.Clean(p))
			continue
		}
		var found []string
		err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			name := d.Name()
			if path != p && strings.HasPrefix(name, ".") {
				if d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
			if d.IsDir() {
				return nil
			}
			ext := strings.ToLower(filepath.Ext(name))
			if ext == ".yar" || ext == ".yara" {
				found = append(found, filepath.Clean(path))
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("yara: walking rule directory %s: %w", p, err)
		}
		sort.Strings(found)
		for _, f := range found {
			add(f)
		}
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("yara: no *.yar or *.yara files in %s", strings.Join(paths, ", "))
	}
	return files, nil
}

// yaraNamespace is the namespace of the rules of one file: the file's base
// name without its extension ("rules/malware.yar" -> "malware").
func yaraNamespace(file string) string {
	base := filepath.Base(file)
	if ns := strings.TrimSuffix(base, filepath.Ext(base)); ns != "" {
		return ns
	}
	return base
}

// yaraEscape renders matched bytes for JSON: printable ASCII stays as is,
// a backslash is doubled, every other byte is written \xNN. The result is
// plain ASCII and maps back to the exact bytes.
func yaraEscape(b []byte) string {
	var sb strings.Builder
	sb.Grow(len(b))
	const hex = "0123456789abcdef"
	for _, c := range b {
		switch {
		case c == '\\':
			sb.WriteString(`\\`)
		case c >= 0x20 && c < 0x7f:
			sb.WriteByte(c)
		default:
			sb.WriteString(`\x`)
			sb.WriteByte(hex[c>>4])
			sb.WriteByte(hex[c&0xf])
		}
	}
	return sb.String()
}

// yaraTimeoutSeconds converts a timeout to libyara's whole seconds, rounding
// up (a 1.2 s timeout becomes 2 s, never 1 s); 0 or less means no timeout.
func yaraTimeoutSeconds(d time.Duration) int {
	if d <= 0 {
		return 0
	}
	s := (d + time.Second - 1) / time.Second
	if s > 1<<31-1 {
		return 1<<31 - 1
	}
	return int(s)
}
