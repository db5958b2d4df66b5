package core

import (
	"bytes"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/glaslos/ssdeep"
)

// fuzzyInputs are fixed inputs: random bytes and repetitive text.
func fuzzyInputs() [][]byte {
	r := make([]byte, 8192)
	rand.New(rand.NewSource(1)).Read(r)
	var sb strings.Builder
	for i := 1; i <= 2000; i++ {
		fmt.Fprintf(&sb, "line %d of the report\n", i)
	}
	return [][]byte{r, []byte(sb.String())}
}

// TestFuzzyHashVectors: digests of fixed inputs, as Debian's ssdeep 2.14
// and tlsh 3.4.4 tools print them (checked by hand when written;
// TestFuzzyHashesMatchTools redoes it where the tools are installed).
func TestFuzzyHashVectors(t *testing.T) {
	want := [][2]string{
		{"192:yNLaNQhSxEgVYkiA5Ih2fwMlvH4ojKh+N7/OIU5ly:meE86dAfwMl/10Auly", "T199F1BF3C7FA8F21BE584164775684529C7006607A29EB80733ECCA2B8B3DB95474A365"},
		{"384:HZCYfc5UKzUluXo5iF+O7B2NQxn4bJSKZ:HMUc5UKzUluXo5iF++B2NQh41/Z", "T1CD239134820C6F63F5A755D2F56998D2ABA6522242F3D824F8DBA7756E01CF18C7C08F"},
	}
	for i, in := range fuzzyInputs() {
		s, tl := FuzzyHashes(in)
		if s != want[i][0] || tl != want[i][1] {
			t.Errorf("input %d: got %s %s, want %s %s", i, s, tl, want[i][0], want[i][1])
		}
	}
}

// TestFuzzyHashBounds: nothing rather than garbage.
func TestFuzzyHashBounds(t *testing.T) {
	r := make([]byte, 8192)
	rand.New(rand.NewSource(2)).Read(r)
	cases := []struct {
		name     string
		in       []byte
		ssd, tls bool
	}{
		{"empty", nil, false, false},
		{"4096 bytes", r[:4096], false, true},
		{"4097 bytes", r[:4097], true, true},
		{"255 bytes", r[:255], false, false},
		{"256 bytes", r[:256], false, true},
		{"one byte repeated", bytes.Repeat([]byte("A"), 5000), true, false},
		{"two bytes repeated", bytes.Repeat([]byte("ab"), 500), false, false},
	}
	for _, c := range cases {
		s, tl := FuzzyHashes(c.in)
		if (s != "") != c.ssd || (tl != "") != c.tls {
			t.Errorf("%s: ssdeep %q tlsh %q, want ssdeep %v tlsh %v", c.name, s, tl, c.ssd, c.tls)
		}
	}
}

// TestFuzzyHashesMatchTools cross-checks with the reference tools (Debian
// packages ssdeep and tlsh-tools) on varied inputs: same digest, and a
// TLSH digest exactly when the tool gives one.
func TestFuzzyHashesMatchTools(t *testing.T) {
	if _, err := exec.LookPath("ssdeep"); err != nil {
		t.Skip("ssdeep tool not installed (apt-get install ssdeep)")
	}
	if _, err := exec.LookPath("tlsh"); err != nil {
		t.Skip("tlsh tool not installed (apt-get install tlsh-tools)")
	}
	dir := t.TempDir()
	r := rand.New(rand.NewSource(3))
	for i := 0; i < 12; i++ {
		n := []int{300, 1000, 5000, 70000}[i%4]
		in := make([]byte, n)
		if i%3 == 0 {
			r.Read(in)
		} else {
			for j := range in {
				in[j] = "abcdefgh \n"[r.Intn(3+i)%10]
			}
		}
		f := filepath.Join(dir, fmt.Sprint(i))
		if err := os.WriteFile(f, in, 0o644); err != nil {
			t.Fatal(err)
		}
		s, tl := FuzzyHashes(in)
		if n >= SSDeepMinBytes {
			out, err := exec.Command("ssdeep", "-s", "-b", f).Output()
			if err != nil || !strings.Contains(string(out), s+",") {
				t.Errorf("input %d: ssdeep %q, tool says %q (%v)", i, s, out, err)
			}
		}
		out, _ := exec.Command("tlsh", "-f", f).CombinedOutput()
		ref := strings.Fields(string(out))
		if ok := len(ref) == 2 && len(ref[0]) == 70; ok != (tl != "") || ok && "T1"+ref[0] != tl {
			t.Errorf("input %d: tlsh %q, tool says %q", i, tl, out)
		}
	}
}

// FuzzFuzzyHashes: any input gives a well-formed digest or none.
func FuzzFuzzyHashes(f *testing.F) {
	for _, in := range fuzzyInputs() {
		f.Add(in[:300])
	}
	f.Add(bytes.Repeat([]byte{0}, 300))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, tl := FuzzyHashes(b)
		if s != "" && strings.Count(s, ":") != 2 {
			t.Errorf("ssdeep %q", s)
		}
		if tl != "" && (len(tl) != 72 || !strings.HasPrefix(tl, "T1")) {
			t.Errorf("tlsh %q", tl)
		}
	})
}

// BenchmarkFuzzyBound is the pipeline (BenchmarkSessionToRecords) with
// fuzzy hashes off (0: the baseline) and up to several bounds: what
// DefaultFuzzyMaxBytes costs.
func BenchmarkFuzzyBound(b *testing.B) {
	c := loadBenchCorpus(b)
	for _, max := range []int64{0, 16 << 10, 32 << 10, 64 << 10, 128 << 10, 256 << 10} {
		b.Run(fmt.Sprintf("%dKiB", max>>10), func(b *testing.B) {
			opts := DefaultOptions()
			opts.FuzzyMaxBytes = max
			a := NewAnalyzer(opts)
			b.SetBytes(c.bytes)
			cpu0 := cpuTime()
			for b.Loop() {
				for _, s := range c.sessions {
					sess, err := ParseSession(bytes.NewReader(s), "bench", time.Time{})
					if err != nil {
						b.Fatal(err)
					}
					a.SessionEmails(sess)
				}
			}
			reportCPU(b, cpu0, c.bytes)
		})
	}
}

// FuzzSSDeepMatchesPackage: ssdeepDigest gives github.com/glaslos/ssdeep's
// digest (the implementation it replaces) for any input, and none where
// that package refuses one.
func FuzzSSDeepMatchesPackage(f *testing.F) {
	for _, in := range fuzzyInputs() {
		f.Add(in, uint16(0))
	}
	f.Add([]byte("abc"), uint16(5000))
	f.Add(bytes.Repeat([]byte{0}, 5000), uint16(0))
	f.Fuzz(func(t *testing.T, seed []byte, pad uint16) {
		// Short seeds are stretched to ssdeep's minimum and beyond.
		b := seed
		for len(seed) > 0 && len(b) < SSDeepMinBytes+int(pad) {
			b = append(b, seed...)
		}
		want, err := ssdeep.FuzzyBytes(b)
		if err != nil {
			want = ""
		}
		if got := ssdeepDigest(b); got != want {
			t.Fatalf("%d bytes: %q, package %q", len(b), got, want)
		}
	})
}

// TestSSDeepMatchesPackage: the differential check over the shapes the
// TLSH tests use, at ssdeep's bounds and up to 1 MiB.
func TestSSDeepMatchesPackage(t *testing.T) {
	r := rand.New(rand.NewSource(7))
	for name, shape := range tlshShapes {
		for _, n := range []int{4096, 4097, 5000, 16 << 10, 16<<10 + 1, 100_000, 1 << 20} {
			b := shape(r, n)
			want, err := ssdeep.FuzzyBytes(b)
			if err != nil {
				want = ""
			}
			if got := ssdeepDigest(b); got != want {
				t.Errorf("%s, %d bytes: %q, package %q", name, n, got, want)
			}
		}
	}
}

// BenchmarkSSDeep: ssdeep alone on text at the fuzzy bound, this
// implementation against the package it replaces (MB/cpu-s: the machine
// is shared).
func BenchmarkSSDeep(b *testing.B) {
	in := tlshShapes["text"](rand.New(rand.NewSource(8)), 16<<10)
	b.Run("core", func(b *testing.B) {
		b.SetBytes(int64(len(in)))
		cpu0 := cpuTime()
		for range b.N {
			ssdeepDigest(in)
		}
		reportCPU(b, cpu0, int64(len(in)))
	})
	b.Run("glaslos", func(b *testing.B) {
		b.SetBytes(int64(len(in)))
		cpu0 := cpuTime()
		for range b.N {
			_, _ = ssdeep.FuzzyBytes(in)
		}
		reportCPU(b, cpu0, int64(len(in)))
	})
}
