package core

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// writeRule writes a rule file under dir (creating parent directories)
// and returns its path.
func writeRule(t testing.TB, dir, name, text string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func needYara(t testing.TB) {
	t.Helper()
	if !YaraAvailable() {
		t.Skip("YARA support not compiled in (run with -tags yara)")
	}
}

func TestYaraNotCompiled(t *testing.T) {
	if YaraAvailable() {
		t.Skip("YARA support is compiled in")
	}
	dir := t.TempDir()
	p := writeRule(t, dir, "a.yar", `rule a { condition: true }`)
	r, err := CompileYara([]string{p})
	if !errors.Is(err, ErrYaraNotCompiled) || r != nil {
		t.Fatalf("CompileYara = %v, %v; want ErrYaraNotCompiled", r, err)
	}
	if !strings.Contains(err.Error(), "-tags yara") || !strings.Contains(err.Error(), "libyara-dev") {
		t.Errorf("error does not say how to get YARA support: %q", err)
	}
	var nilRules *YaraRules
	if _, err := nilRules.Scan([]byte("x"), time.Second); !errors.Is(err, ErrYaraNotCompiled) {
		t.Errorf("Scan = %v; want ErrYaraNotCompiled", err)
	}
	nilRules.Close()
}

const yaraRulesA = `
rule invoice_lure : phishing lure {
    meta:
        author = "soc team"
        score = 75
        active = true
        ref = "first"
        ref = "second"
    strings:
        $subj = "Invoice-Payload"
        $p = "do-not-report" private
    condition:
        $subj and $p
}

private rule helper_private {
    strings:
        $x = "Invoice"
    condition:
        $x
}

rule uses_private {
    condition:
        helper_private
}
`

const yaraRulesB = `
rule mz_header : exe {
    strings:
        $mz = { 4D 5A 90 00 }
    condition:
        $mz at 0
}

rule evil_domain {
    meta:
        description = "evil domains with digits"
    strings:
        $re = /evil[0-9]{3}\.(com|net)/ nocase
    condition:
        $re
}

rule empty_input {
    condition:
        filesize == 0
}
`

func compileTestRules(t testing.TB) (*YaraRules, string) {
	t.Helper()
	dir := t.TempDir()
	writeRule(t, dir, "a.yar", yaraRulesA)
	writeRule(t, dir, "sub/b.yara", yaraRulesB)
	writeRule(t, dir, "sub/notes.txt", "rule not_loaded { condition: true }")
	writeRule(t, dir, ".hidden/h.yar", "rule hidden_not_loaded { condition: true }")
	r, err := CompileYara([]string{dir})
	if err != nil {
		t.Fatalf("CompileYara: %v", err)
	}
	t.Cleanup(r.Close)
	return r, dir
}

func matchByRule(ms []YaraMatch, rule string) *YaraMatch {
	for i := range ms {
		if ms[i].Rule == rule {
			return &ms[i]
		}
	}
	return nil
}

func ruleNames(ms []YaraMatch) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.Namespace+"."+m.Rule)
	}
	return out
}

func TestYaraCompileAndScan(t *testing.T) {
	needYara(t)
	r, dir := compileTestRules(t)
	if r.Count() != 6 {
		t.Errorf("Count = %d, want 6 (hidden and .txt files must not load)", r.Count())
	}
	wantFiles := []string{filepath.Join(dir, "a.yar"), filepath.Join(dir, "sub", "b.yara")}
	if got := r.Files(); !reflect.DeepEqual(got, wantFiles) {
		t.Errorf("Files = %v, want %v", got, wantFiles)
	}

	// An "attachment": a fake executable carrying the lure text and a
	// defanged-looking domain in mixed case.
	var att bytes.Buffer
	att.Write([]byte{0x4d, 0x5a, 0x90, 0x00, 0x03, 0x00})
	att.WriteString(strings.Repeat("\x00", 58))
	att.WriteString("...Invoice-Payload...")
	att.WriteString("do-not-report")
	att.WriteString(" contact EVIL123.com now")
	data := att.Bytes()
	ms, err := r.Scan(data, 5*time.Second)
	if err != nil {
		t.Fatalf("Scan: %v", err)
	}
	got := ruleNames(ms)
	want := []string{"a.invoice_lure", "a.uses_private", "b.mz_header", "b.evil_domain"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("matches = %v, want %v", got, want)
	}

	lure := matchByRule(ms, "invoice_lure")
	if !reflect.DeepEqual(lure.Tags, []string{"phishing", "lure"}) {
		t.Errorf("tags = %v", lure.Tags)
	}
	wantMeta := map[string]string{"author": "soc team", "score": "75", "active": "true", "ref": "first; second"}
	if !reflect.DeepEqual(lure.Meta, wantMeta) {
		t.Errorf("meta = %v, want %v", lure.Meta, wantMeta)
	}
	subjOff := uint64(bytes.Index(data, []byte("Invoice-Payload")))
	wantStrings := []YaraString{{Identifier: "$subj", Offset: subjOff, Data: "Invoice-Payload"}}
	if !reflect.DeepEqual(lure.Strings, wantStrings) {
		t.Errorf("strings = %+v, want %+v (private $p must not appear)", lure.Strings, wantStrings)
	}

	mz := matchByRule(ms, "mz_header")
	if !reflect.DeepEqual(mz.Tags, []string{"exe"}) || len(mz.Meta) != 0 {
		t.Errorf("mz tags/meta = %v %v", mz.Tags, mz.Meta)
	}
	if len(mz.Strings) != 1 || mz.Strings[0] != (YaraString{"$mz", 0, `MZ\x90\x00`}) {
		t.Errorf("mz strings = %+v", mz.Strings)
	}
	evil := matchByRule(ms, "evil_domain")
	domOff := uint64(bytes.Index(data, []byte("EVIL123.com")))
	if len(evil.Strings) != 1 || evil.Strings[0] != (YaraString{"$re", domOff, "EVIL123.com"}) {
		t.Errorf("evil strings = %+v, want offset %d", evil.Strings, domOff)
	}
	if evil.Meta["description"] != "evil domains with digits" {
		t.Errorf("evil meta = %v", evil.Meta)
	}

	// Nothing matches clean text; the empty input matches filesize == 0.
	if ms, err := r.Scan([]byte("hello, nothing to see"), time.Second); err != nil || len(ms) != 0 {
		t.Errorf("clean scan = %v, %v", ruleNames(ms), err)
	}
	for _, empty := range [][]byte{nil, {}} {
		ms, err := r.Scan(empty, time.Second)
		if err != nil || !reflect.DeepEqual(ruleNames(ms), []string{"b.empty_input"}) {
			t.Errorf("empty scan = %v, %v", ruleNames(ms), err)
		}
	}
}

func TestYaraMatchLimits(t *testing.T) {
	needYara(t)
	dir := t.TempDir()
	p := writeRule(t, dir, "limits.yar", `
rule long_match {
    strings:
        $long = /BEGIN[A-Z]{100}END/
    condition:
        $long
}
rule many {
    strings:
        $a = "ab"
    condition:
        #a > 20
}
`)
	r, err := CompileYara([]string{p})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	data := []byte("xx" + "BEGIN" + strings.Repeat("Q", 100) + "END" + strings.Repeat("ab", 100) + "\x01\xff\\")
	ms, err := r.Scan(data, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	long := matchByRule(ms, "long_match")
	if long == nil || len(long.Strings) != 1 {
		t.Fatalf("long_match = %+v", long)
	}
	if want := "BEGIN" + strings.Repeat("Q", YaraMaxMatchData-5); long.Strings[0].Data != want || long.Strings[0].Offset != 2 {
		t.Errorf("long match data = %q at %d, want first %d bytes at 2", long.Strings[0].Data, long.Strings[0].Offset, YaraMaxMatchData)
	}
	many := matchByRule(ms, "many")
	if many == nil || len(many.Strings) != yaraMaxMatchesPerString {
		t.Fatalf("many: %d strings, want the first %d", len(many.Strings), yaraMaxMatchesPerString)
	}
	first := uint64(bytes.Index(data, []byte("abab")))
	for i, s := range many.Strings {
		if s.Offset != first+uint64(2*i) || s.Data != "ab" {
			t.Errorf("many[%d] = %+v", i, s)
		}
	}
}

func TestYaraSyntaxErrors(t *testing.T) {
	needYara(t)
	dir := t.TempDir()
	good := writeRule(t, dir, "1good.yar", `rule fine { condition: true }`)
	bad1 := writeRule(t, dir, "2bad.yar", "rule broken {\n    strings:\n        $a = \"x\"\n    condition:\n        $a and and\n}\n")
	bad2 := writeRule(t, dir, "3bad.yar", "\n\nrule undefined_str {\n    condition:\n        $nope\n}\n")
	r, err := CompileYara([]string{dir})
	if err == nil {
		r.Close()
		t.Fatal("CompileYara succeeded on broken rules")
	}
	var ce *YaraCompileError
	if !errors.As(err, &ce) {
		t.Fatalf("error %T %v is not a *YaraCompileError", err, err)
	}
	if len(ce.Errors) != 2 {
		t.Fatalf("errors = %q, want one per broken file", ce.Errors)
	}
	if !strings.HasPrefix(ce.Errors[0], bad1+":5: ") {
		t.Errorf("first error %q does not start with %q", ce.Errors[0], bad1+":5: ")
	}
	// libyara notices the undefined string at the end of the condition
	// (line 5 or 6 depending on the version).
	if re := regexp.MustCompile(`^` + regexp.QuoteMeta(bad2) + `:[56]: .*\$nope`); !re.MatchString(ce.Errors[1]) {
		t.Errorf("second error %q does not match %s", ce.Errors[1], re)
	}
	// The good file alone still compiles (the failed compile left nothing
	// behind).
	r, err = CompileYara([]string{good})
	if err != nil {
		t.Fatalf("good file: %v", err)
	}
	r.Close()
}

func TestYaraPathErrors(t *testing.T) {
	needYara(t)
	dir := t.TempDir()
	if _, err := CompileYara(nil); err == nil {
		t.Error("no paths: no error")
	}
	if _, err := CompileYara([]string{filepath.Join(dir, "missing.yar")}); err == nil || !strings.Contains(err.Error(), "missing.yar") {
		t.Errorf("missing file: %v", err)
	}
	writeRule(t, dir, "readme.txt", "nothing")
	if _, err := CompileYara([]string{dir}); err == nil || !strings.Contains(err.Error(), "no *.yar") {
		t.Errorf("dir without rules: %v", err)
	}
	// An explicitly named file loads whatever its extension.
	p := writeRule(t, dir, "rules.txt", `rule txt_rule { condition: true }`)
	r, err := CompileYara([]string{p})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ms, err := r.Scan([]byte("x"), 0)
	if err != nil || len(ms) != 1 || ms[0].Namespace != "rules" {
		t.Errorf("scan = %+v, %v", ms, err)
	}
}

func TestYaraTestdataRules(t *testing.T) {
	needYara(t)
	r, err := CompileYara([]string{filepath.Join("testdata", "yara")})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if r.Count() == 0 {
		t.Fatal("no rules in testdata/yara")
	}
	ms, err := r.Scan([]byte("Please enable macros: Document_Open AutoOpen Shell("), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if m := matchByRule(ms, "office_macro_autoexec"); m == nil || m.Namespace != "example" {
		t.Errorf("matches = %v", ruleNames(ms))
	}
}

// TestYaraZipMember: a rule finds its string in a zip member once the
// member is unpacked, not in the deflated archive bytes.
func TestYaraZipMember(t *testing.T) {
	needYara(t)
	dir := t.TempDir()
	p := writeRule(t, dir, "zipped.yar", `
rule dropper_marker : dropper {
    strings:
        $m = "SMTPSCOPE-DROPPER-MARKER-7731"
    condition:
        $m
}`)
	r, err := CompileYara([]string{p})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	payload := []byte(strings.Repeat("filler line of a script\n", 40) + "run(\"SMTPSCOPE-DROPPER-MARKER-7731\")\n")
	inner := buildZip(t, []zipEntry{{name: "stage2.js", data: payload}})
	outer := buildZip(t, []zipEntry{{name: "readme.txt", data: []byte("hello")}, {name: "inner.zip", data: inner}})
	if bytes.Contains(outer, []byte("SMTPSCOPE-DROPPER")) {
		t.Fatal("test premise broken: marker visible in the compressed archive")
	}
	if ms, err := r.Scan(outer, time.Second); err != nil || len(ms) != 0 {
		t.Fatalf("archive bytes: %v, %v", ruleNames(ms), err)
	}
	members, warnings, err := UnzipMembers(outer, DefaultZipLimits())
	if err != nil || len(warnings) != 0 {
		t.Fatalf("UnzipMembers: %v %v", err, warnings)
	}
	var hits []string
	for _, m := range members {
		ms, err := r.Scan(m.Data, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range ms {
			hits = append(hits, m.Path+"="+h.Rule+fmt.Sprintf("@%d", h.Strings[0].Offset))
		}
	}
	want := []string{fmt.Sprintf("inner.zip!stage2.js=dropper_marker@%d", bytes.Index(payload, []byte("SMTPSCOPE")))}
	if !reflect.DeepEqual(hits, want) {
		t.Errorf("hits = %v, want %v", hits, want)
	}
}

func TestYaraTimeout(t *testing.T) {
	needYara(t)
	dir := t.TempDir()
	// A quadratic condition: ~10^10 steps on 100 kB, far beyond 1 s.
	p := writeRule(t, dir, "slow.yar", `
rule slow {
    condition:
        for any i in (0..filesize-1) : (
            for any j in (0..filesize-1) : ( uint8(i) == uint8(j) + 200 )
        )
}`)
	r, err := CompileYara([]string{p})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	data := make([]byte, 100_000)
	start := time.Now()
	ms, err := r.Scan(data, time.Millisecond) // rounds up to 1 s
	el := time.Since(start)
	if err == nil || !strings.Contains(err.Error(), "timed out after 1s") {
		t.Fatalf("Scan = %v, %v; want a timeout", ruleNames(ms), err)
	}
	if el < 900*time.Millisecond || el > 30*time.Second {
		t.Errorf("timeout took %v, want about 1 s", el)
	}
}

// TestYaraConcurrent: many goroutines share one rule set; each checks its
// own results. Run with -race.
func TestYaraConcurrent(t *testing.T) {
	needYara(t)
	r, _ := compileTestRules(t)
	const workers, scans = 24, 40
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			rng := rand.New(rand.NewSource(int64(w)))
			for i := 0; i < scans; i++ {
				buf := make([]byte, 1000+rng.Intn(20000))
				for j := range buf {
					buf[j] = 'a' + byte(rng.Intn(26))
				}
				want := []string{}
				if i%2 == 0 {
					off := 10 + rng.Intn(len(buf)-40)
					copy(buf[off:], fmt.Sprintf("evil%03d.net", rng.Intn(1000)))
					want = append(want, "b.evil_domain")
				}
				ms, err := r.Scan(buf, 10*time.Second)
				if err != nil {
					errs <- err
					return
				}
				got := append([]string{}, ruleNames(ms)...)
				if !reflect.DeepEqual(got, want) {
					errs <- fmt.Errorf("worker %d scan %d: got %v want %v", w, i, got, want)
					return
				}
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestYaraCloseWhileScanning(t *testing.T) {
	needYara(t)
	r, _ := compileTestRules(t)
	data := bytes.Repeat([]byte("Invoice-Payload do-not-report "), 10000)
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 20; i++ {
				ms, err := r.Scan(data, time.Second)
				if errors.Is(err, ErrYaraClosed) {
					return
				}
				if err != nil || len(ms) == 0 {
					t.Errorf("scan before close: %v %v", ruleNames(ms), err)
					return
				}
			}
		}()
	}
	time.Sleep(5 * time.Millisecond)
	r.Close()
	r.Close() // idempotent
	wg.Wait()
	if _, err := r.Scan(data, time.Second); !errors.Is(err, ErrYaraClosed) {
		t.Errorf("Scan after Close = %v", err)
	}
	// Reload: compiling again gives an independent, working rule set.
	r2, _ := compileTestRules(t)
	if ms, err := r2.Scan(data, time.Second); err != nil || len(ms) == 0 {
		t.Errorf("reloaded rules: %v %v", ruleNames(ms), err)
	}
}

func TestYaraEscape(t *testing.T) {
	cases := map[string]string{
		"":                 "",
		"plain text 123":   "plain text 123",
		"MZ\x90\x00":       `MZ\x90\x00`,
		`a\b`:              `a\\b`,
		"tab\there\r\n":    `tab\x09here\x0d\x0a`,
		"\xff\x7f~ ":       `\xff\x7f~ `,
		"h\x00i\x00":       `h\x00i\x00`,
		"caf\xc3\xa9 utf8": `caf\xc3\xa9 utf8`,
	}
	for in, want := range cases {
		if got := yaraEscape([]byte(in)); got != want {
			t.Errorf("yaraEscape(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestYaraTimeoutSeconds(t *testing.T) {
	cases := map[time.Duration]int{
		0: 0, -time.Second: 0, time.Nanosecond: 1, time.Second: 1,
		1200 * time.Millisecond: 2, time.Minute: 60,
	}
	for in, want := range cases {
		if got := yaraTimeoutSeconds(in); got != want {
			t.Errorf("yaraTimeoutSeconds(%v) = %d, want %d", in, got, want)
		}
	}
}

// yaraBenchRules writes n rules: mostly plain strings (some nocase/wide),
// hex strings with jumps and a few regexes, the mix of a typical mail
// rule set.
func yaraBenchRules(b *testing.B, n int, regex bool) *YaraRules {
	b.Helper()
	dir := b.TempDir()
	var sb strings.Builder
	for i := 0; i < n; i++ {
		switch i % 5 {
		case 0, 1:
			fmt.Fprintf(&sb, "rule s%d { strings: $a = \"marker-%04d-payload\" $b = \"urgent-notice-%d\" nocase condition: any of them }\n", i, i, i)
		case 2:
			fmt.Fprintf(&sb, "rule w%d { strings: $a = \"dropper%04d.exe\" wide ascii condition: $a }\n", i, i)
		case 3:
			fmt.Fprintf(&sb, "rule h%d { strings: $a = { 4D 5A [2-8] %02X %02X 00 00 } condition: $a }\n", i, i%256, (i*7)%256)
		case 4:
			if !regex {
				fmt.Fprintf(&sb, "rule l%d { strings: $a = \"gate%d.php?id=\" condition: $a }\n", i, i)
				continue
			}
			fmt.Fprintf(&sb, "rule r%d { strings: $a = /https?:\\/\\/[a-z0-9.]{3,40}\\/gate%d\\.php/ condition: $a }\n", i, i)
		}
	}
	p := writeRule(b, dir, "bench.yar", sb.String())
	r, err := CompileYara([]string{p})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(r.Close)
	return r
}

func yaraBenchData() []byte {
	rng := rand.New(rand.NewSource(1))
	words := []string{"the", "invoice", "attached", "please", "review", "http://example.com/a", "payment", "Subject:", "regards", "\r\n"}
	var buf bytes.Buffer
	for buf.Len() < 1<<20 {
		buf.WriteString(words[rng.Intn(len(words))])
		buf.WriteByte(' ')
	}
	return buf.Bytes()[:1<<20]
}

// BenchmarkYara100Rules1MB: 100 rules (20 of them regexes anchored on
// "http", which the text is full of) over a 1 MB text buffer (MB/s).
func BenchmarkYara100Rules1MB(b *testing.B) { benchYaraScan(b, true) }

// benchYaraScan scans the 1 MB text with 100 rules, with or without the
// regex ones, one scan at a time.
func benchYaraScan(b *testing.B, regexes bool) {
	needYara(b)
	r := yaraBenchRules(b, 100, regexes)
	data := yaraBenchData()
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := r.Scan(data, time.Minute); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkYara100Rules1MBParallel: the same, one scan per core at once.
func BenchmarkYara100Rules1MBParallel(b *testing.B) {
	needYara(b)
	r := yaraBenchRules(b, 100, true)
	data := yaraBenchData()
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := r.Scan(data, time.Minute); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkYara100LiteralRules1MB: the same without regexes (literal,
// nocase, wide and hex strings only).
func BenchmarkYara100LiteralRules1MB(b *testing.B) { benchYaraScan(b, false) }

// BenchmarkYaraCompile100Rules: the cost of a (re)load.
func BenchmarkYaraCompile100Rules(b *testing.B) {
	needYara(b)
	dir := b.TempDir()
	var sb strings.Builder
	for i := 0; i < 100; i++ {
		fmt.Fprintf(&sb, "rule s%d { strings: $a = \"marker-%04d-payload\" condition: $a }\n", i, i)
	}
	p := writeRule(b, dir, "c.yar", sb.String())
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r, err := CompileYara([]string{p})
		if err != nil {
			b.Fatal(err)
		}
		r.Close()
	}
}
