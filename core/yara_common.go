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
	"sync"
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

// YaraVars are the external variables of one scanned object, the ones
// Neo23x0's signature-base rules use (as LOKI and THOR set them): every
// rule set is compiled with them declared (default ""), and each scan
// sets them for what it scans.
type YaraVars struct {
	// Filename is the object's name: an attachment's file name (an
	// unnamed part is "part-<MIME part>"), "msg" for the message.
	Filename string
	// Filepath is where the object is in the email, from "msg" down
	// through the containers: "msg/attachment.zip/inner.exe".
	Filepath string
	// Extension is Filename's extension, lower case, with its dot
	// (".exe"; "" when none), as LOKI's os.path.splitext(...)[1].lower().
	Extension string
	// Filetype is YaraFileType of the object's first bytes ("EXE",
	// "ZIP", "PDF", "UNKNOWN").
	Filetype string
	// Owner is the file owner on the scanning host; mail has none: "".
	Owner string
	// MD5 is the object's MD5 (LOKI's legacy "md5" external).
	MD5 string
}

// yaraExternals are the names of YaraVars in libyara, in the order of
// yaraVarValues.
var yaraExternals = []string{"filename", "filepath", "extension", "filetype", "owner", "md5"}

func yaraVarValues(v YaraVars) []string {
	return []string{v.Filename, v.Filepath, v.Extension, v.Filetype, v.Owner, v.MD5}
}

// YaraExtension is LOKI's extension of a file name: Python's
// os.path.splitext(name)[1].lower() — the last dot and what follows it,
// leading dots of the name not counting.
func YaraExtension(name string) string {
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	rest := strings.TrimLeft(name, ".")
	i := strings.LastIndexByte(rest, '.')
	if i < 0 {
		return ""
	}
	return strings.ToLower(rest[i:])
}

// yaraFileSigs is signature-base's misc/file-type-signatures.txt (the
// magic bytes LOKI names a file's type by), in its order; for a
// signature listed twice the later name, as LOKI's dictionary keeps it.
// Parsed on first use.
var yaraFileSigs = sync.OnceValue(func() []struct {
	magic []byte
	name  string
} {
	const table = `1F 8B 08;GZIP
25 50 44 46;PDF
30 00 00 00 4C 66 4C 65;EVT Event Viewer File
50 4B 03 04 14 00 06 00;Office
50 4B 03 04 14 00 08 00;JAR
50 4B 53 70 58;PKSFX
37 7A BC AF 27 1C;7Zip
46 75 6E 63 74 69 6F 6E;VBS
42 5A 68;BZip2
5F 27 A8 89;JAR
FF D8 FF;JPEG
50 4B 05 06;PKZIP
52 61 72 21 1A 07;RAR
57 69 6E 5A 69 70;WinZIP
72 65 67 66;Registry Hive
7B 5C 72 74 66 31;RTF
75 73 74 61 72;TAR
D4 C3 B2 A1;WINPCAP
A1 B2 C3 D4;LIBPCAP
A1 B2 CD 34;LIBPCAP
CA FE BA BE;Class
FF 4B 45 59 42 20 20 20;SYS Keyboard Driver
FF FE 3C 00 3F 00 78 00 6D 00 6C;Windows At Job
3C 3F 70 68 70;PHP
0D 44 4F 43;DOC
1F 8B 08;GZIP
23 20 44 69 73 6B 20 44;VMDK
30 00 00 00 4C 66 4C 65;EVT
45 6C 66 46 69 6C;EVTX
41 45 53;AESCrypt
43 4F 57 44;VMDK
3C 3F 78 6D;XML
3C 3F 58 4D;XML
43 57 53;SWF
5A 57 53;SWF
47 49 46;GIF
46 49 4C 45;NTFS MFT
4A 41 52 43 53 00;JARCS
4B 44 4D;VMDK
4C 00 00 00 01 14 02 00;LNK
4D 53 43 46;CAB
50 4B 03 04;ZIP
FF FE 3C 00 25 00 40;JSP
5F 43 41 53 45 5F;Encase File
63 6F 6E 65 63 74 69 78;VHD
D0 CF 11 E0 A1 B1 1A E1;OLE
FF FF FF FF;SYS
23 21 2F;UNIX SCRIPT
4D 44 4D 50;MDMP
43 57 53;CWS
5A 57 53;ZWS
46 57 53;FWS (Flash)
7F 45;ELF
23 21;Script
60 EA;ARJ
1F 9D;TARZ
1F A0;TARZ
3C 25;JSP
4D 5A;EXE
FF FE;Windows Registry File
E8;SYS
E9;SYS
EB;SYS`
	type sig = struct {
		magic []byte
		name  string
	}
	var out []sig
	at := map[string]int{}
	for _, line := range strings.Split(table, "\n") {
		hexes, name, _ := strings.Cut(line, ";")
		var magic []byte
		for _, h := range strings.Fields(hexes) {
			var b byte
			fmt.Sscanf(h, "%02X", &b)
			magic = append(magic, b)
		}
		if i, dup := at[string(magic)]; dup {
			out[i].name = name
			continue
		}
		at[string(magic)] = len(out)
		out = append(out, sig{magic, name})
	}
	return out
})

// YaraFileType names the type of data as LOKI does for signature-base's
// "filetype" external: the first signature of file-type-signatures.txt
// its first bytes start with ("EXE", "ZIP", "Office", "PDF", "OLE"...),
// "UNKNOWN" when none.
func YaraFileType(data []byte) string {
	for _, s := range yaraFileSigs() {
		if len(data) >= len(s.magic) && string(data[:len(s.magic)]) == string(s.magic) {
			return s.name
		}
	}
	return "UNKNOWN"
}
