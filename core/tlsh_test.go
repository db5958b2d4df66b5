package core

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"maps"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// tlshSizes are the lengths the differential test hashes: the window,
// the reference's minimums (50, 256), the steps of the length encoding
// (656, 3199), the fuzzy bounds and the largest inputs.
var tlshSizes = []int{5, 6, 49, 50, 51, 255, 256, 257, 300, 655, 656, 657,
	1000, 3199, 3200, 4096, 4097, 16 << 10, 16<<10 + 1, 100_000, 1 << 20, 4 << 20}

// tlshShapes make inputs of a given length: random bytes, text, a small
// alphabet, mostly zeros, a repeated period, a ramp.
var tlshShapes = map[string]func(r *rand.Rand, n int) []byte{
	"random": func(r *rand.Rand, n int) []byte {
		b := make([]byte, n)
		r.Read(b)
		return b
	},
	"text": func(r *rand.Rand, n int) []byte {
		var sb strings.Builder
		for i := 0; sb.Len() < n; i++ {
			fmt.Fprintf(&sb, "Received: from mx%d.example.org (%d.%d.0.1) line %d\r\n", r.Intn(50), r.Intn(256), i%256, i)
		}
		return []byte(sb.String()[:n])
	},
	"alphabet": func(r *rand.Rand, n int) []byte {
		b := make([]byte, n)
		k := 2 + r.Intn(6)
		for i := range b {
			b[i] = "ab \ncdXY"[r.Intn(k)]
		}
		return b
	},
	"sparse": func(r *rand.Rand, n int) []byte {
		b := make([]byte, n)
		for i := 0; i < n/20; i++ {
			b[r.Intn(n)] = byte(r.Intn(256))
		}
		return b
	},
	"period": func(r *rand.Rand, n int) []byte {
		p := make([]byte, 1+r.Intn(40))
		r.Read(p)
		return bytes.Repeat(p, n/len(p)+1)[:n]
	},
	"ramp": func(r *rand.Rand, n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(i * 7 / 3)
		}
		return b
	},
}

// tlshTool runs the reference tool (tlsh -r) on the inputs and returns
// its digest of each ("" when it refuses one); it skips t without it.
func tlshTool(t testing.TB, ins [][]byte) []string {
	if _, err := exec.LookPath("tlsh"); err != nil {
		t.Skip("tlsh tool not installed (apt-get install tlsh-tools)")
	}
	dir := t.TempDir()
	for i, in := range ins {
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprint(i)), in, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out, _ := exec.Command("tlsh", "-r", dir).CombinedOutput()
	digests := make([]string, len(ins))
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) != 2 || len(f[0]) != 70 {
			continue
		}
		i, err := strconv.Atoi(filepath.Base(f[1]))
		if err != nil || i < 0 || i >= len(ins) {
			t.Fatalf("tlsh tool: unexpected line %q", line)
		}
		digests[i] = f[0]
	}
	return digests
}

// tlshAgrees reports whether our TLSH of an input agrees with the
// reference's digest ref of it: the same digest, or both none, or none
// here for a digest tlshVaried refuses (the median equal to the first
// quartile, which the reference accepts).
func tlshAgrees(ours, ref string) bool {
	if ours != "" || ref == "" {
		return ours == tlshPrefixed(ref)
	}
	bin, err := hex.DecodeString(ref)
	return err == nil && !tlshVaried(bin)
}

// tlshPrefixed is a reference digest as FuzzyHashes writes it.
func tlshPrefixed(ref string) string {
	if ref == "" {
		return ""
	}
	return "T1" + ref
}

// TestTLSHReferenceTable: the digests of testdata/tlsh_reference.txt,
// made by the reference tool from generated inputs of every shape and of
// lengths at the bounds (50, 255, 256), the steps of the length encoding
// (656, 3199) and up to 4 MiB; the tool, where installed, still makes them.
func TestTLSHReferenceTable(t *testing.T) {
	raw, err := os.ReadFile("testdata/tlsh_reference.txt")
	if err != nil {
		t.Fatal(err)
	}
	var ins [][]byte
	var want []string
	for _, line := range strings.Split(string(raw), "\n") {
		var shape, digest string
		var seed int64
		var n int
		if line == "" || line[0] == '#' {
			continue
		}
		if _, err := fmt.Sscan(line, &shape, &seed, &n, &digest); err != nil || tlshShapes[shape] == nil {
			t.Fatalf("tlsh_reference.txt: bad line %q (%v)", line, err)
		}
		ins = append(ins, tlshShapes[shape](rand.New(rand.NewSource(seed)), n))
		want = append(want, tlshPrefixed(strings.Trim(digest, "-")))
		if _, got := FuzzyHashes(ins[len(ins)-1]); got != want[len(want)-1] {
			t.Errorf("%s: %q", line, got)
		}
	}
	if len(ins) < 20 {
		t.Fatalf("tlsh_reference.txt: %d digests", len(ins))
	}
	for i, ref := range tlshTool(t, ins) {
		if tlshPrefixed(ref) != want[i] {
			t.Errorf("table %q, tool now %q", want[i], ref)
		}
	}
}

// TestTLSHMatchesTool: the reference agrees with FuzzyHashes on every
// shape at every size, 5 bytes to 4 MiB.
func TestTLSHMatchesTool(t *testing.T) {
	r := rand.New(rand.NewSource(4))
	sizes := tlshSizes
	for range 20 {
		sizes = append(sizes, 5+r.Intn(20000))
	}
	var ins [][]byte
	for _, name := range slices.Sorted(maps.Keys(tlshShapes)) {
		for _, n := range sizes {
			ins = append(ins, tlshShapes[name](r, n))
		}
	}
	for i, ref := range tlshTool(t, ins) {
		if _, tl := FuzzyHashes(ins[i]); !tlshAgrees(tl, ref) {
			t.Errorf("%d bytes: %q, tool %q", len(ins[i]), tl, ref)
		}
	}
}

// FuzzTLSH: any input gets the reference's digest, or none when it gives
// none; tlshDigest never panics, even below the bounds.
func FuzzTLSH(f *testing.F) {
	r := rand.New(rand.NewSource(5))
	for _, name := range slices.Sorted(maps.Keys(tlshShapes)) {
		for _, n := range []int{5, 50, 256, 700} {
			f.Add(tlshShapes[name](r, n))
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if d := tlshDigest(b); d != "" && (len(b) < tlshWindow || len(d) != 72) {
			t.Fatalf("%d bytes: %q", len(b), d)
		}
		_, tl := FuzzyHashes(b)
		if ref := tlshTool(t, [][]byte{b})[0]; !tlshAgrees(tl, ref) {
			t.Fatalf("%q: %q, tool %q", b, tl, ref)
		}
	})
}

// TestTLSHAllocs: one pass without allocating; only the digest is.
func TestTLSHAllocs(t *testing.T) {
	in := tlshShapes["text"](rand.New(rand.NewSource(6)), 1<<16)
	if n := testing.AllocsPerRun(10, func() { tlshDigest(in) }); n != 1 {
		t.Errorf("%v allocations per digest, want 1 (the string)", n)
	}
}

// BenchmarkTLSH is TLSH alone on random input, fuzzy-bound sized and
// large (MB/cpu-s: the machine is shared).
func BenchmarkTLSH(b *testing.B) {
	impls := []struct {
		name string
		f    func([]byte) string
	}{{"onepass", tlshDigest}}
	for _, n := range []int{16 << 10, 1 << 20} {
		data := make([]byte, n)
		rand.New(rand.NewSource(1)).Read(data)
		for _, im := range impls {
			b.Run(fmt.Sprintf("%s/%dKiB", im.name, n>>10), func(b *testing.B) {
				b.SetBytes(int64(n))
				cpu0 := cpuTime()
				for b.Loop() {
					im.f(data)
				}
				reportCPU(b, cpu0, int64(n))
			})
		}
	}
}

// FuzzTLSHQuartiles: the quartiles tlshQuartiles selects are those of the
// sorted counts, whatever the counts (ties, runs, all equal, descending).
func FuzzTLSHQuartiles(f *testing.F) {
	f.Add([]byte{1, 2, 3}, uint8(0))
	f.Add([]byte{0}, uint8(1))
	f.Add([]byte{9, 9, 9, 1, 1}, uint8(2))
	f.Add([]byte{200, 100, 50, 25}, uint8(3))
	f.Fuzz(func(t *testing.T, seed []byte, mode uint8) {
		var b [256]uint32
		for i := range 128 {
			var v uint32
			if len(seed) > 0 {
				v = uint32(seed[i%len(seed)]) * uint32(1+i/len(seed))
			}
			switch mode % 4 {
			case 1:
				v = uint32(i)
			case 2:
				v = uint32(127 - i)
			case 3:
				v %= 4
			}
			b[i] = v
		}
		s := slices.Clone(b[:128])
		slices.Sort(s)
		q1, q2, q3 := tlshQuartiles(&b)
		if q1 != s[31] || q2 != s[63] || q3 != s[95] {
			t.Fatalf("quartiles %d %d %d, sorted %d %d %d", q1, q2, q3, s[31], s[63], s[95])
		}
	})
}
