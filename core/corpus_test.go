package core

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// sharedDir returns ../shared (beside the repository) or skips the test.
func sharedDir(t testing.TB, sub ...string) string {
	t.Helper()
	d := filepath.Join(append([]string{"..", "..", "shared"}, sub...)...)
	if _, err := os.Stat(d); err != nil {
		t.Skipf("shared corpus not found at %s (clone with ../shared beside the repo to run this test)", d)
	}
	return d
}

// corpusFiles lists the message files of the shared MIME corpus that have
// a message extension (differentialFiles lists the extensionless ones too).
func corpusFiles(t testing.TB) []string {
	root := sharedDir(t, "corpus", "eml")
	var files []string
	for _, rel := range differentialFiles(t, root) {
		switch strings.ToLower(path.Ext(rel)) {
		case ".eml", ".raw", ".msg", ".txt":
			files = append(files, filepath.Join(root, filepath.FromSlash(rel)))
		}
	}
	return files
}

// TestCorpusEveryMessageParses runs the whole shared corpus through the
// analyzer: no panic (an internal error would be recorded), hashes always
// present, every attachment hashed.
func TestCorpusEveryMessageParses(t *testing.T) {
	files := corpusFiles(t)
	if len(files) < 400 {
		t.Fatalf("only %d corpus files found", len(files))
	}
	a := NewAnalyzer(DefaultOptions())
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		e := a.AnalyzeBytes(raw)
		for _, er := range e.Errors {
			if strings.Contains(er, "internal error") {
				t.Errorf("%s: %s", f, er)
			}
		}
		sum := sha256.Sum256(raw)
		if e.SHA256 != hex.EncodeToString(sum[:]) || e.Size != int64(len(raw)) {
			t.Errorf("%s: wrong whole-email hash", f)
		}
		for _, at := range e.Attachments {
			if at.SHA256 == "" && (at.Encrypted || len(at.Errors) > 0) {
				continue // archive member listed but not extracted
			}
			if len(at.SHA256) != 64 || len(at.MD5) != 32 || len(at.SHA1) != 40 || at.DetectedType == "" || at.Part == "" {
				t.Errorf("%s: attachment %+v incomplete", f, at)
			}
		}
	}
}

// stalwartAttachmentNames reads the attachment names stalwart's parser
// expects for one message (unnamed attachments as "").
func stalwartAttachmentNames(t *testing.T, path string) []string {
	var d struct {
		Attachments []int `json:"attachments"`
		Parts       []struct {
			Headers []struct {
				Name  any             `json:"name"`
				Value json.RawMessage `json:"value"`
			} `json:"headers"`
		} `json:"parts"`
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var names []string
	for _, i := range d.Attachments {
		if i >= len(d.Parts) {
			continue
		}
		name, fromDisp := "", false
		for _, h := range d.Parts[i].Headers {
			hn, _ := h.Name.(string)
			var v struct {
				ContentType *struct {
					Attributes []struct{ Name, Value string } `json:"attributes"`
				} `json:"ContentType"`
			}
			if json.Unmarshal(h.Value, &v) != nil || v.ContentType == nil || (hn != "content_disposition" && hn != "content_type") {
				continue
			}
			for _, a := range v.ContentType.Attributes {
				if a.Name == "filename" || (a.Name == "name" && !fromDisp) {
					name = a.Value
					fromDisp = fromDisp || a.Name == "filename"
				}
			}
		}
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// knownDifferences reads core/testdata/corpus-differences.md: lines
// "- `<corpus path>`: reason".
func knownDifferences(t *testing.T) map[string]bool {
	f, err := os.Open(filepath.Join("testdata", "corpus-differences.md"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	known := map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l := sc.Text()
		if strings.HasPrefix(l, "- `") {
			if end := strings.Index(l[3:], "`"); end > 0 {
				known[l[3:3+end]] = true
			}
		}
	}
	return known
}

// TestCorpusStalwartAttachments compares our top-level attachment names
// with stalwart mail-parser's expectations; every disagreement must be
// listed, with its reason, in testdata/corpus-differences.md.
func TestCorpusStalwartAttachments(t *testing.T) {
	root := sharedDir(t, "corpus", "eml")
	known := knownDifferences(t)
	exp, _ := filepath.Glob(filepath.Join(root, "expected", "stalwart-mail-parser", "*", "*.json"))
	a := NewAnalyzer(DefaultOptions())
	checked, agree := 0, 0
	for _, j := range exp {
		if strings.HasSuffix(j, ".crlf.json") {
			continue
		}
		rel, _ := filepath.Rel(filepath.Join(root, "expected", "stalwart-mail-parser"), j)
		msg := filepath.Join(root, "stalwart-mail-parser", strings.TrimSuffix(rel, ".json")+".eml")
		raw, err := os.ReadFile(msg)
		if err != nil {
			continue
		}
		checked++
		want := stalwartAttachmentNames(t, j)
		e := a.AnalyzeBytes(raw)
		var got []string
		for _, at := range e.Attachments {
			if at.Depth == 0 && at.FilenameRaw != "" {
				got = append(got, at.FilenameRaw) // stalwart names the file as the header does
			} else if at.Depth == 0 {
				got = append(got, at.Filename)
			}
		}
		sort.Strings(got)
		key := "stalwart-mail-parser/" + strings.TrimSuffix(rel, ".json")
		same := strings.Join(got, "\x00") == strings.Join(want, "\x00")
		switch {
		case same && known[key]:
			t.Errorf("%s now agrees with stalwart: remove it from testdata/corpus-differences.md", key)
		case !same && !known[key]:
			t.Errorf("%s: attachments %q, stalwart expects %q (fix, or document the reason in testdata/corpus-differences.md)", key, got, want)
		case same:
			agree++
		}
	}
	if checked < 100 {
		t.Fatalf("only %d stalwart messages checked", checked)
	}
	t.Logf("stalwart: %d messages, %d agree exactly, %d documented differences", checked, agree, checked-agree)
}

// TestCorpusMime4jDecodedBytes checks attachment extraction byte for
// byte: every binary part mime4j decoded (its *_decoded_*.bin files) must
// be among our attachments, by sha256.
func TestCorpusMime4jDecodedBytes(t *testing.T) {
	root := sharedDir(t, "corpus", "eml")
	known := knownDifferences(t)
	bins, _ := filepath.Glob(filepath.Join(root, "expected", "james-mime4j", "*", "*_decoded_*.bin"))
	if len(bins) < 20 {
		t.Fatalf("only %d mime4j decoded parts found", len(bins))
	}
	a := NewAnalyzer(DefaultOptions())
	cache := map[string]map[string]bool{}
	found := 0
	for _, b := range bins {
		dir := filepath.Base(filepath.Dir(b))
		base := filepath.Base(b)
		name := base[:strings.Index(base, "_decoded_")]
		msg := filepath.Join(root, "james-mime4j", dir, name+".msg")
		key := "james-mime4j/" + dir + "/" + strings.TrimSuffix(base, ".bin")
		sums, ok := cache[msg]
		if !ok {
			raw, err := os.ReadFile(msg)
			if err != nil {
				continue
			}
			sums = map[string]bool{}
			for _, at := range a.AnalyzeBytes(raw).Attachments {
				sums[at.SHA256] = true
			}
			cache[msg] = sums
		}
		data, err := os.ReadFile(b)
		if err != nil {
			t.Fatal(err)
		}
		s := sha256.Sum256(data)
		hit := sums[hex.EncodeToString(s[:])]
		switch {
		case hit && known[key]:
			t.Errorf("%s now matches: remove it from testdata/corpus-differences.md", key)
		case !hit && !known[key]:
			t.Errorf("%s: no attachment with these decoded bytes (%d bytes)", key, len(data))
		case hit:
			found++
		}
	}
	t.Logf("mime4j: %d of %d decoded binary parts found byte-exact", found, len(bins))
}
