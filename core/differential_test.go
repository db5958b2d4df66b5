package core

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// The differential test parses every message file of the shared MIME
// corpus with smtpscope and with a reference, and compares the subject,
// the attachment names and the attachments' decoded sha256. The reference
// is the corpus's own expectation where one exists (stalwart mail-parser's
// JSON), else Python's email package as ACE and stoQ use it
// (testdata/pyref.py, run once over all files). Every disagreement must be
// listed, checked by hand, in testdata/corpus-differences.md; a listed one
// that no longer occurs fails the test too.

// refAttachment is one attachment as a reference sees it; a nil SHA256
// means the reference has no decoded bytes for it (compared by name only).
type refAttachment struct {
	Filename *string `json:"filename"`
	SHA256   *string `json:"sha256"`
}

// refMessage is a reference's reading of one file.
type refMessage struct {
	Path        string          `json:"path"`
	Subject     *string         `json:"subject"`
	Attachments []refAttachment `json:"attachments"`
	Error       *string         `json:"error"`
	// SubjectSource names the subject's reference, "python" or "stalwart".
	SubjectSource string `json:"-"`
}

// difference is one disagreement: field is "subject", "missing" (the
// reference has an attachment we lack), "extra" (we have one it lacks) or
// "sha256" (same name, other bytes); key names the attachment.
type difference struct {
	path, field, key, detail string
}

func (d difference) id() string { return d.field + " " + d.path + " " + d.key }

// differentialFiles lists every message file of the corpus (relative
// paths): everything but expected/, mbox files and the licence, readme and
// manifest files.
func differentialFiles(t testing.TB, root string) []string {
	var files []string
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if d.Name() == "expected" {
				return filepath.SkipDir
			}
			return nil
		}
		up := strings.ToUpper(d.Name())
		for _, skip := range []string{"COPYING", "README", "LICENSE", "MANIFEST", ".MD", ".MBOX.TXT"} {
			if strings.Contains(up, skip) {
				return nil
			}
		}
		rel, _ := filepath.Rel(root, p)
		files = append(files, filepath.ToSlash(rel))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(files)
	return files
}

// pythonReference runs testdata/pyref.py once over all files.
func pythonReference(t *testing.T, root string, files []string) map[string]*refMessage {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not found: the differential test needs it as its reference parser")
	}
	script, _ := filepath.Abs(filepath.Join("testdata", "pyref.py"))
	cmd := exec.Command(py, script)
	cmd.Dir = root
	cmd.Stdin = strings.NewReader(strings.Join(files, "\n") + "\n")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("pyref.py: %v\n%s", err, stderr.String())
	}
	refs := map[string]*refMessage{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<26)
	for sc.Scan() {
		m := &refMessage{SubjectSource: "python"}
		if err := json.Unmarshal(sc.Bytes(), m); err != nil {
			t.Fatalf("pyref.py output: %v", err)
		}
		refs[m.Path] = m
	}
	if len(refs) != len(files) {
		t.Fatalf("pyref.py answered for %d of %d files", len(refs), len(files))
	}
	return refs
}

// stalwartSubjects replaces the Python subject of each stalwart file by
// the one stalwart's expected JSON gives (its decoded Subject header).
func stalwartSubjects(t *testing.T, root string, refs map[string]*refMessage) {
	for path, ref := range refs {
		rel, ok := strings.CutPrefix(path, "stalwart-mail-parser/")
		if !ok {
			continue
		}
		j := filepath.Join(root, "expected", "stalwart-mail-parser", strings.TrimSuffix(rel, ".eml")+".json")
		data, err := os.ReadFile(j)
		if err != nil {
			continue // no expectation: Python stays the reference
		}
		var d struct {
			Parts []struct {
				Headers []struct {
					Name  any             `json:"name"`
					Value json.RawMessage `json:"value"`
				} `json:"headers"`
			} `json:"parts"`
		}
		if err := json.Unmarshal(data, &d); err != nil || len(d.Parts) == 0 {
			t.Fatalf("%s: %v", j, err)
		}
		subject := ""
		for _, h := range d.Parts[0].Headers {
			var v struct{ Text *string }
			if h.Name == "subject" && json.Unmarshal(h.Value, &v) == nil && v.Text != nil {
				subject = *v.Text
			}
		}
		ref.Subject, ref.SubjectSource = &subject, "stalwart"
	}
}

// knownDifferentialDifferences reads the lines "- <field> `<path>` `<key>`:
// reason" of testdata/corpus-differences.md (the key is empty for subject).
func knownDifferentialDifferences(t *testing.T) map[string]bool {
	data, err := os.ReadFile(filepath.Join("testdata", "corpus-differences.md"))
	if err != nil {
		t.Fatal(err)
	}
	known := map[string]bool{}
	for _, l := range strings.Split(string(data), "\n") {
		field, rest, ok := strings.Cut(strings.TrimPrefix(l, "- "), " `")
		if !strings.HasPrefix(l, "- ") || !ok || !differentialField(field) {
			continue
		}
		path, rest, _ := strings.Cut(rest, "`")
		key := ""
		if strings.HasPrefix(rest, " `") {
			key, _, _ = strings.Cut(rest[2:], "`")
		}
		known[difference{path: path, field: field, key: key}.id()] = true
	}
	return known
}

func differentialField(f string) bool {
	return f == "subject" || f == "missing" || f == "extra" || f == "sha256"
}

// normalSpace folds header whitespace: runs of spaces, tabs and line
// breaks become one space, and the ends are trimmed.
func normalSpace(s string) string { return strings.Join(strings.Fields(s), " ") }

// recordText is s as the JSON record carries it: invalid UTF-8 bytes
// become U+FFFD, as in the references' output.
func recordText(s string) string {
	b, _ := json.Marshal(s)
	var out string
	_ = json.Unmarshal(b, &out)
	return out
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// ourAttachments are the attachments of e a MIME parser would list: zip
// members are left out, names as the header gives them.
func ourAttachments(e *Email) []refAttachment {
	var out []refAttachment
	for _, at := range e.Attachments {
		if at.Disposition == "archive-member" {
			continue
		}
		name := at.Filename
		if at.FilenameRaw != "" {
			name = at.FilenameRaw
		}
		sum := at.SHA256
		out = append(out, refAttachment{Filename: &name, SHA256: &sum})
	}
	return out
}

// compareMessage lists the disagreements between our record and a
// reference's reading of the same file.
func compareMessage(path string, e *Email, ref *refMessage) []difference {
	var diffs []difference
	if got, want := normalSpace(recordText(e.Subject)), normalSpace(deref(ref.Subject)); got != want {
		diffs = append(diffs, difference{path, "subject", "", fmt.Sprintf("%q, %s says %q", got, ref.SubjectSource, want)})
	}
	return append(diffs, compareAttachments(path, ourAttachments(e), ref)...)
}

// compareAttachments pairs attachments by name and bytes first, then by
// name alone (a sha256 difference when both have bytes); what is left is
// missing or extra.
func compareAttachments(path string, ours []refAttachment, ref *refMessage) []difference {
	var diffs []difference
	used := make([]bool, len(ours))
	var rest []refAttachment
	for _, r := range ref.Attachments {
		if i := matchAttachment(ours, used, r, true); i >= 0 {
			used[i] = true
		} else {
			rest = append(rest, r)
		}
	}
	for _, r := range rest {
		key := attachmentKey(r.Filename)
		i := matchAttachment(ours, used, r, false)
		switch {
		case i < 0:
			diffs = append(diffs, difference{path, "missing", key, "python" + " lists it, we do not"})
		case r.SHA256 != nil:
			used[i] = true
			diffs = append(diffs, difference{path, "sha256", key, fmt.Sprintf("ours %s, %s %s", *ours[i].SHA256, "python", *r.SHA256)})
		default:
			used[i] = true
		}
	}
	for i, a := range ours {
		if !used[i] {
			diffs = append(diffs, difference{path, "extra", attachmentKey(a.Filename), "we list it, " + "python" + " does not"})
		}
	}
	return diffs
}

// findAttachment finds an unused attachment with r's name (and bytes,
// when exact and r has bytes).
func matchAttachment(ours []refAttachment, used []bool, r refAttachment, exact bool) int {
	for i, a := range ours {
		if used[i] || deref(a.Filename) != deref(r.Filename) {
			continue
		}
		if exact && (r.SHA256 == nil || *a.SHA256 != *r.SHA256) {
			continue
		}
		return i
	}
	return -1
}

func attachmentKey(name *string) string {
	if deref(name) == "" {
		return "(unnamed)"
	}
	return *name
}

// TestDifferentialCorpus is the differential test (issue 12).
func TestDifferentialCorpus(t *testing.T) {
	root := sharedDir(t, "corpus", "eml")
	files := differentialFiles(t, root)
	if len(files) < 500 {
		t.Fatalf("only %d corpus files found", len(files))
	}
	refs := pythonReference(t, root, files)
	stalwartSubjects(t, root, refs)
	known := knownDifferentialDifferences(t)
	seen := map[string]bool{}
	a := NewAnalyzer(DefaultOptions())
	fields, byField := 0, map[string]int{}
	for _, f := range files {
		raw, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			t.Fatal(err)
		}
		ref := refs[f]
		if ref.Error != nil {
			t.Errorf("%s: the reference failed: %s", f, *ref.Error)
			continue
		}
		e := a.AnalyzeBytes(raw)
		fields += 1 + 2*max(len(ref.Attachments), len(ourAttachments(e)))
		for _, d := range compareMessage(f, e, ref) {
			byField[d.field]++
			if known[d.id()] {
				seen[d.id()] = true
				continue
			}
			t.Errorf("%s %s `%s`: %s (fix, or list it with its reason in testdata/corpus-differences.md)", d.field, d.path, d.key, d.detail)
		}
	}
	for k := range known {
		if !seen[k] {
			t.Errorf("listed difference %q no longer occurs: remove it from testdata/corpus-differences.md", k)
		}
	}
	t.Logf("differential: %d files, %d compared fields, %d listed differences by field %v", len(files), fields, len(seen), byField)
}
