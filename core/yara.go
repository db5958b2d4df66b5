//go:build yara && cgo

package core

// A small binding to Debian's libyara (libyara-dev, 4.x), built only with
// the "yara" build tag. Design:
//
//   - yr_initialize is called once per process (sync.Once) and never
//     finalized: rules may be compiled and scanned at any time.
//   - Rules are compiled once by CompileYara and are read-only afterwards;
//     libyara 4.x creates a private scanner per yr_rules_scan_mem call, so
//     any number of goroutines may Scan the same rules concurrently (the
//     3.x limit of YR_MAX_THREADS concurrent scans is gone in 4.x).
//   - C never keeps a Go pointer: the scanned buffer is only borrowed for
//     the duration of the call, and callbacks reach Go state through a
//     runtime/cgo.Handle passed as an integer.
//   - SCAN_FLAGS_NO_TRYCATCH is set: libyara's try/catch installs
//     process-wide SIGSEGV/SIGBUS handlers during a scan, which only helps
//     with memory-mapped files that shrink under it; we only scan Go
//     memory, and the Go runtime must keep its own signal handlers.
//   - SCAN_FLAGS_FAST_MODE is off: every match of every string is seen.
//   - Close waits for running scans (RWMutex) and is idempotent.

/*
#cgo pkg-config: yara
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <yara.h>

extern int smtpscopeYaraRuleMatch(uintptr_t handle, YR_SCAN_CONTEXT* ctx, YR_RULE* rule);
extern void smtpscopeYaraCompileMessage(uintptr_t handle, int level, char* file, int line, char* msg);

static inline int smt_scan_cb(YR_SCAN_CONTEXT* ctx, int message, void* data, void* user) {
	switch (message) {
	case CALLBACK_MSG_RULE_MATCHING:
		return smtpscopeYaraRuleMatch((uintptr_t)user, ctx, (YR_RULE*)data);
	case CALLBACK_MSG_TOO_MANY_MATCHES:
		// A string matched more than libyara keeps (1,000,000 times):
		// carry on, its first matches are reported.
		return CALLBACK_CONTINUE;
	}
	return CALLBACK_CONTINUE;
}

static inline void smt_compile_cb(int level, const char* file, int line, const YR_RULE* rule, const char* msg, void* user) {
	smtpscopeYaraCompileMessage((uintptr_t)user, level, (char*)file, line, (char*)msg);
}

static inline void smt_compiler_set_callback(YR_COMPILER* c, uintptr_t h) {
	yr_compiler_set_callback(c, smt_compile_cb, (void*)h);
}

static const uint8_t smt_empty[1] = {0};

static inline int smt_scan_mem(YR_RULES* r, const uint8_t* buf, size_t n, int flags, uintptr_t h, int timeout) {
	if (buf == NULL) {
		buf = smt_empty;
		n = 0;
	}
	return yr_rules_scan_mem(r, buf, n, flags, smt_scan_cb, (void*)h, timeout);
}

// smt_scan_mem_vars scans with a scanner of its own, so that the
// external variables set for this scan are seen by no other scan.
static inline int smt_scan_mem_vars(YR_RULES* r, const uint8_t* buf, size_t n, int flags, uintptr_t h, int timeout,
		const char** names, const char** values, int nvars) {
	YR_SCANNER* s;
	int rc = yr_scanner_create(r, &s);
	if (rc != ERROR_SUCCESS) return rc;
	yr_scanner_set_callback(s, smt_scan_cb, (void*)h);
	yr_scanner_set_flags(s, flags);
	yr_scanner_set_timeout(s, timeout);
	for (int i = 0; i < nvars; i++) {
		rc = yr_scanner_define_string_variable(s, names[i], values[i]);
		if (rc != ERROR_SUCCESS) {
			yr_scanner_destroy(s);
			return rc;
		}
	}
	if (buf == NULL) {
		buf = smt_empty;
		n = 0;
	}
	rc = yr_scanner_scan_mem(s, buf, n);
	yr_scanner_destroy(s);
	return rc;
}

static inline uint32_t smt_rules_count(YR_RULES* r) {
	YR_RULES_STATS st;
	if (yr_rules_get_stats(r, &st) != ERROR_SUCCESS) return 0;
	return st.num_rules;
}

// Accessors: YR_RULE and friends use unions (DECLARE_REFERENCE) that cgo
// cannot see through.
static inline const char* smt_rule_identifier(YR_RULE* r) { return r->identifier; }
static inline const char* smt_rule_namespace(YR_RULE* r) { return r->ns != NULL ? r->ns->name : NULL; }
static inline const char* smt_rule_first_tag(YR_RULE* r) {
	return (r->tags != NULL && *r->tags != '\0') ? r->tags : NULL;
}
static inline const char* smt_next_tag(const char* t) {
	t += strlen(t) + 1;
	return *t != '\0' ? t : NULL;
}
static inline YR_META* smt_rule_metas(YR_RULE* r) { return r->metas; }
static inline YR_META* smt_meta_next(YR_META* m) { return META_IS_LAST_IN_RULE(m) ? NULL : m + 1; }
static inline const char* smt_meta_identifier(YR_META* m) { return m->identifier; }
static inline const char* smt_meta_string(YR_META* m) { return m->string; }
static inline YR_STRING* smt_rule_strings(YR_RULE* r) { return r->strings; }
static inline YR_STRING* smt_string_next(YR_STRING* s) { return STRING_IS_LAST_IN_RULE(s) ? NULL : s + 1; }
static inline int smt_string_private(YR_STRING* s) { return STRING_IS_PRIVATE(s) ? 1 : 0; }
static inline const char* smt_string_identifier(YR_STRING* s) { return s->identifier; }
static inline YR_MATCH* smt_string_matches(YR_SCAN_CONTEXT* ctx, YR_STRING* s) {
	return ctx->matches[s->idx].head;
}
*/
import "C"

import (
	"fmt"
	"os"
	"runtime"
	"runtime/cgo"
	"strconv"
	"strings"
	"sync"
	"time"
	"unsafe"
)

var (
	yaraInitOnce sync.Once
	yaraInitErr  error
)

func yaraInit() error {
	yaraInitOnce.Do(func() {
		if rc := C.yr_initialize(); rc != C.ERROR_SUCCESS {
			yaraInitErr = fmt.Errorf("yara: yr_initialize failed: %s", yaraErrorString(rc))
			return
		}
		// Keep no more matched bytes per match than the record shows.
		C.yr_set_configuration_uint32(C.YR_CONFIG_MAX_MATCH_DATA, C.uint32_t(YaraMaxMatchData))
	})
	return yaraInitErr
}

// YaraAvailable reports whether YARA support is compiled in.
func YaraAvailable() bool { return true }

// YaraRules is a compiled rule set. It is safe for concurrent Scan calls
// from many goroutines; Close waits for running scans.
type YaraRules struct {
	mu       sync.RWMutex
	rules    *C.YR_RULES
	count    int
	files    []string
	warnings []string
}

// compileState collects compiler messages (via a cgo.Handle).
type compileState struct {
	errors   []string
	warnings []string
}

//export smtpscopeYaraCompileMessage
func smtpscopeYaraCompileMessage(h C.uintptr_t, level C.int, file *C.char, line C.int, msg *C.char) {
	st, ok := cgo.Handle(h).Value().(*compileState)
	if !ok {
		return
	}
	where := "<rules>"
	if file != nil {
		where = C.GoString(file)
	}
	s := fmt.Sprintf("%s:%d: %s", where, int(line), C.GoString(msg))
	if level == C.YARA_ERROR_LEVEL_WARNING {
		st.warnings = append(st.warnings, s)
	} else {
		st.errors = append(st.errors, s)
	}
}

// CompileYara compiles the rule files and directories (directories are
// walked recursively for *.yar and *.yara). The rules of each file live in
// a namespace named after the file (base name without extension). Every
// problem is reported, not just the first: syntax errors as
// "file:line: message" in a *YaraCompileError. Calling it again (e.g. on
// SIGHUP) builds a fresh, independent rule set; Close the old one when
// its scans are done.
func CompileYara(paths []string) (*YaraRules, error) {
	files, err := yaraRuleFiles(paths)
	if err != nil {
		return nil, err
	}
	if err := yaraInit(); err != nil {
		return nil, err
	}
	st := &compileState{}
	h := cgo.NewHandle(st)
	defer h.Delete()

	var comp *C.YR_COMPILER
	if rc := C.yr_compiler_create(&comp); rc != C.ERROR_SUCCESS {
		return nil, fmt.Errorf("yara: creating compiler: %s", yaraErrorString(rc))
	}
	defer C.yr_compiler_destroy(comp)
	C.smt_compiler_set_callback(comp, C.uintptr_t(h))
	if err := yaraDefineExternals(comp); err != nil {
		return nil, err
	}

	var problems []string
	failed := false
	for _, f := range files {
		if failed {
			// libyara forbids adding more sources to a compiler that has
			// reported errors; check the remaining files on their own so
			// that one run reports every broken file.
			problems = append(problems, yaraCheckFile(f)...)
			continue
		}
		before := len(st.errors)
		if err := yaraAddFile(comp, f); err != nil {
			problems = append(problems, err.Error())
			failed = true
			continue
		}
		if len(st.errors) > before {
			problems = append(problems, st.errors[before:]...)
			failed = true
		}
	}
	if failed {
		return nil, &YaraCompileError{Errors: problems}
	}

	var rules *C.YR_RULES
	if rc := C.yr_compiler_get_rules(comp, &rules); rc != C.ERROR_SUCCESS {
		return nil, fmt.Errorf("yara: building rules: %s", yaraErrorString(rc))
	}
	r := &YaraRules{
		rules:    rules,
		count:    int(C.smt_rules_count(rules)),
		files:    files,
		warnings: st.warnings,
	}
	// A rule set dropped without Close (e.g. after a reload) is still
	// freed; no scan can be running on an unreachable YaraRules.
	runtime.SetFinalizer(r, (*YaraRules).Close)
	return r, nil
}

// yaraDefineExternals declares the external variables of YaraVars, each
// "" until a scan sets it.
func yaraDefineExternals(comp *C.YR_COMPILER) error {
	empty := C.CString("")
	defer C.free(unsafe.Pointer(empty))
	for _, n := range yaraExternals {
		cn := C.CString(n)
		rc := C.yr_compiler_define_string_variable(comp, cn, empty)
		C.free(unsafe.Pointer(cn))
		if rc != C.ERROR_SUCCESS {
			return fmt.Errorf("yara: declaring the external variable %s: %s", n, yaraErrorString(rc))
		}
	}
	return nil
}

// yaraAddFile adds one file to the compiler. Errors other than syntax
// errors (which arrive through the callback) are returned.
func yaraAddFile(comp *C.YR_COMPILER, file string) error {
	f, err := os.Open(file)
	if err != nil {
		return fmt.Errorf("%s: %v", file, err)
	}
	defer f.Close()
	ns := C.CString(yaraNamespace(file))
	defer C.free(unsafe.Pointer(ns))
	name := C.CString(file)
	defer C.free(unsafe.Pointer(name))
	C.yr_compiler_add_fd(comp, C.YR_FILE_DESCRIPTOR(f.Fd()), ns, name)
	runtime.KeepAlive(f)
	return nil
}

// yaraCheckFile compiles one file in a throw-away compiler and returns its
// errors.
func yaraCheckFile(file string) []string {
	st := &compileState{}
	h := cgo.NewHandle(st)
	defer h.Delete()
	var comp *C.YR_COMPILER
	if rc := C.yr_compiler_create(&comp); rc != C.ERROR_SUCCESS {
		return []string{fmt.Sprintf("%s: creating compiler: %s", file, yaraErrorString(rc))}
	}
	defer C.yr_compiler_destroy(comp)
	C.smt_compiler_set_callback(comp, C.uintptr_t(h))
	if err := yaraDefineExternals(comp); err != nil {
		return []string{fmt.Sprintf("%s: %v", file, err)}
	}
	if err := yaraAddFile(comp, file); err != nil {
		return []string{err.Error()}
	}
	return st.errors
}

// Count is the number of rules compiled (private and global ones included).
func (r *YaraRules) Count() int {
	if r == nil {
		return 0
	}
	return r.count
}

// Files lists the rule files that were compiled, in compile order.
func (r *YaraRules) Files() []string {
	if r == nil {
		return nil
	}
	return append([]string(nil), r.files...)
}

// Warnings returns the compiler's warnings ("file:line: message"), e.g.
// slow strings.
func (r *YaraRules) Warnings() []string {
	if r == nil {
		return nil
	}
	return append([]string(nil), r.warnings...)
}

// Close frees the rules. It waits for running scans, is safe to call more
// than once, and later Scans return ErrYaraClosed.
func (r *YaraRules) Close() {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.rules != nil {
		C.yr_rules_destroy(r.rules)
		r.rules = nil
		runtime.SetFinalizer(r, nil)
	}
}

// scanState collects the hits of one scan (via a cgo.Handle).
type scanState struct {
	matches []YaraMatch
}

//export smtpscopeYaraRuleMatch
func smtpscopeYaraRuleMatch(h C.uintptr_t, ctx *C.YR_SCAN_CONTEXT, rule *C.YR_RULE) C.int {
	st, ok := cgo.Handle(h).Value().(*scanState)
	if !ok {
		return C.CALLBACK_ERROR
	}
	m := YaraMatch{
		Rule:      cString(C.smt_rule_identifier(rule)),
		Namespace: cString(C.smt_rule_namespace(rule)),
	}
	for t := C.smt_rule_first_tag(rule); t != nil; t = C.smt_next_tag(t) {
		m.Tags = append(m.Tags, C.GoString(t))
	}
	for meta := C.smt_rule_metas(rule); meta != nil; meta = C.smt_meta_next(meta) {
		key := cString(C.smt_meta_identifier(meta))
		var val string
		switch meta._type {
		case C.META_TYPE_INTEGER:
			val = strconv.FormatInt(int64(meta.integer), 10)
		case C.META_TYPE_BOOLEAN:
			val = strconv.FormatBool(meta.integer != 0)
		default:
			val = cString(C.smt_meta_string(meta))
		}
		if m.Meta == nil {
			m.Meta = map[string]string{}
		}
		if prev, dup := m.Meta[key]; dup {
			// YARA allows a meta key more than once; keep every value.
			val = prev + "; " + val
		}
		m.Meta[key] = val
	}
strings:
	for s := C.smt_rule_strings(rule); s != nil; s = C.smt_string_next(s) {
		if C.smt_string_private(s) != 0 {
			continue
		}
		id := cString(C.smt_string_identifier(s))
		n := 0
		for mt := C.smt_string_matches(ctx, s); mt != nil; mt = mt.next {
			if bool(mt.is_private) {
				continue
			}
			if n == yaraMaxMatchesPerString {
				break
			}
			if len(m.Strings) == yaraMaxStringsPerRule {
				break strings
			}
			dl := int(mt.data_length)
			if dl > YaraMaxMatchData {
				dl = YaraMaxMatchData
			}
			var data []byte
			if dl > 0 && mt.data != nil {
				data = C.GoBytes(unsafe.Pointer(mt.data), C.int(dl))
			}
			m.Strings = append(m.Strings, YaraString{
				Identifier: id,
				Offset:     uint64(int64(mt.base) + int64(mt.offset)),
				Data:       yaraEscape(data),
			})
			n++
		}
	}
	st.matches = append(st.matches, m)
	return C.CALLBACK_CONTINUE
}

func cString(p *C.char) string {
	if p == nil {
		return ""
	}
	return C.GoString(p)
}

// Scan runs the rules over data. timeout bounds the scan (libyara counts
// whole seconds: it is rounded up; 0 means no timeout). Matches come in
// rule order. A scan that times out returns an error and no matches.
func (r *YaraRules) Scan(data []byte, timeout time.Duration) ([]YaraMatch, error) {
	return r.scan(data, timeout, func(p *C.uint8_t, n C.size_t, h C.uintptr_t, secs C.int) C.int {
		return C.smt_scan_mem(r.rules, p, n, C.SCAN_FLAGS_NO_TRYCATCH, h, secs)
	})
}

// ScanVars is Scan with the external variables of the scanned object
// set (YaraVars); the rules' other scans keep theirs.
func (r *YaraRules) ScanVars(data []byte, v YaraVars, timeout time.Duration) ([]YaraMatch, error) {
	return r.scan(data, timeout, func(p *C.uint8_t, n C.size_t, h C.uintptr_t, secs C.int) C.int {
		// The names and values are C strings; the two arrays of pointers
		// to them are Go memory holding no Go pointer, which cgo lets C
		// read during the call.
		vals := yaraVarValues(v)
		k := len(yaraExternals)
		names := make([]*C.char, k)
		values := make([]*C.char, k)
		for i := 0; i < k; i++ {
			names[i] = C.CString(yaraExternals[i])
			values[i] = C.CString(strings.ReplaceAll(vals[i], "\x00", ""))
		}
		defer func() {
			for i := 0; i < k; i++ {
				C.free(unsafe.Pointer(names[i]))
				C.free(unsafe.Pointer(values[i]))
			}
		}()
		return C.smt_scan_mem_vars(r.rules, p, n, C.SCAN_FLAGS_NO_TRYCATCH, h, secs, &names[0], &values[0], C.int(k))
	})
}

// scan holds the rules while call scans data (its first byte, length,
// the handle of the scan's state and the timeout in seconds), and turns
// libyara's result into the matches or an error.
func (r *YaraRules) scan(data []byte, timeout time.Duration, call func(p *C.uint8_t, n C.size_t, h C.uintptr_t, secs C.int) C.int) ([]YaraMatch, error) {
	if r == nil {
		return nil, ErrYaraClosed
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.rules == nil {
		return nil, ErrYaraClosed
	}
	st := &scanState{}
	h := cgo.NewHandle(st)
	defer h.Delete()
	var p *C.uint8_t
	if len(data) > 0 {
		p = (*C.uint8_t)(unsafe.Pointer(&data[0]))
	}
	secs := yaraTimeoutSeconds(timeout)
	rc := call(p, C.size_t(len(data)), C.uintptr_t(h), C.int(secs))
	runtime.KeepAlive(data)
	switch rc {
	case C.ERROR_SUCCESS:
		return st.matches, nil
	case C.ERROR_SCAN_TIMEOUT:
		return nil, fmt.Errorf("yara: scan of %d bytes timed out after %ds", len(data), secs)
	default:
		return nil, fmt.Errorf("yara: scan of %d bytes failed: %s", len(data), yaraErrorString(rc))
	}
}

func yaraErrorString(rc C.int) string {
	switch rc {
	case C.ERROR_INSUFFICIENT_MEMORY:
		return "insufficient memory"
	case C.ERROR_SCAN_TIMEOUT:
		return "timeout"
	case C.ERROR_TOO_MANY_MATCHES:
		return "too many matches"
	case C.ERROR_CALLBACK_ERROR:
		return "callback error"
	case C.ERROR_EXEC_STACK_OVERFLOW:
		return "condition stack overflow"
	case C.ERROR_TOO_MANY_RE_FIBERS:
		return "too many regular expression fibers"
	case C.ERROR_INTERNAL_FATAL_ERROR:
		return "internal fatal error"
	case C.ERROR_COULD_NOT_OPEN_FILE:
		return "could not open file"
	case C.ERROR_INVALID_ARGUMENT:
		return "invalid argument"
	}
	return fmt.Sprintf("libyara error %d", int(rc))
}
