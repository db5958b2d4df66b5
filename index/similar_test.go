package index

import (
	"fmt"
	"math/rand"
	"slices"
	"strings"
	"testing"

	"github.com/smtpscope/smtpscope/core"
)

func similarEmail(t *testing.T, id string, att []byte) EmailDoc {
	t.Helper()
	msg := "From: a@example.org\r\nSubject: s\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n" +
		"--b\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n--b\r\nContent-Type: text/plain; name=\"r.txt\"\r\n\r\n" +
		string(att) + "\r\n--b--\r\n"
	opts := core.DefaultOptions()
	opts.FuzzyMaxBytes = 1 << 20
	e := core.NewAnalyzer(opts).AnalyzeBytes([]byte(msg))
	if len(e.Attachments) != 1 || e.Attachments[0].SSDeep == "" {
		t.Fatalf("%s: no attachment ssdeep: %+v", id, e.Attachments)
	}
	e.ID = id
	return EmailDoc{Email: e}
}

func reportText(seed int64, n int) []byte {
	r := rand.New(rand.NewSource(seed))
	words := strings.Fields("alpha beta gamma delta invoice payment wire account report total amount due")
	var sb strings.Builder
	for sb.Len() < n {
		fmt.Fprintf(&sb, "%s %d %s\r\n", words[r.Intn(len(words))], r.Intn(100000), words[r.Intn(len(words))])
	}
	return []byte(sb.String())
}

// TestSimilarSearch: two near-identical attachments match each other
// above the threshold; an unrelated one does not; similar: combines with
// other terms; bad values are errors naming the column.
func TestSimilarSearch(t *testing.T) {
	a := reportText(1, 20000)
	near := append([]byte(nil), a...)
	copy(near[9000:], "CHANGED LINE IN THE MIDDLE OF THE REPORT\r\n")
	ix := openTest(t)
	docs := []EmailDoc{similarEmail(t, "orig", a), similarEmail(t, "near", near), similarEmail(t, "other", reportText(2, 20000))}
	if err := ix.IndexEmails(docs); err != nil {
		t.Fatal(err)
	}
	sig := docs[0].Email.Attachments[0].SSDeep
	for q, want := range map[string]string{
		"similar:" + sig:                                 "near orig",
		"similar:" + sig + "~100":                        "orig",
		"similar:" + sig + "~1 -id:orig":                 "near",
		"similar:" + docs[2].Email.Attachments[0].SSDeep: "other",
	} {
		got := ids(t, ix, q)
		if strings.Join(slices.Sorted(slices.Values(got)), " ") != want {
			t.Errorf("%s: got %v, want %s", q, got, want)
		}
	}
	for _, bad := range []string{"similar:abc", "similar:" + sig + "~0", "similar:" + sig + "~x", "similar:3:" + strings.Repeat("A", 65) + ":B"} {
		if _, err := ParseQuery(bad); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
}

// FuzzParseSimilar: any value is a digest with a score in 1..100 or an
// error, never a panic; accepted digests index without panicking.
func FuzzParseSimilar(f *testing.F) {
	f.Add("96:abcdefgh:ijklmnop~70")
	f.Add("3::~")
	f.Add("192:yNLaNQhSxEgVYkiA5Ih2fwMlvH4ojKh+N7/OIU5ly:meE86dAfwMl/10Auly")
	f.Fuzz(func(t *testing.T, v string) {
		sig, min, err := parseSimilar(v)
		if err != nil {
			return
		}
		if min < 1 || min > 100 {
			t.Fatalf("%q: score %d", v, min)
		}
		for _, g := range ssdeepGrams(sig) {
			if !strings.Contains(g, ":") {
				t.Fatalf("gram %q", g)
			}
		}
	})
}
