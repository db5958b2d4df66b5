package core

import (
	"bytes"
	"fmt"
	"math/rand"
	"strings"
	"testing"

	"github.com/glaslos/tlsh"
)

// tlshLibrary is the digest github.com/glaslos/tlsh gives, with the
// variety rule of the reference applied.
func tlshLibrary(b []byte) string {
	t, err := tlsh.HashBytes(b)
	if err != nil || !tlshVaried(t.Binary()) {
		return ""
	}
	return "T1" + strings.ToUpper(t.String())
}

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

// TestTLSHMatchesLibrary: the one-pass TLSH gives the library's digest
// (or refuses, as the reference would) on every shape at every size.
func TestTLSHMatchesLibrary(t *testing.T) {
	r := rand.New(rand.NewSource(4))
	sizes := tlshSizes
	for range 40 {
		sizes = append(sizes, 5+r.Intn(20000))
	}
	for name, shape := range tlshShapes {
		for _, n := range sizes {
			if n > 1<<20 && testing.Short() {
				continue
			}
			in := shape(r, n)
			if got, want := tlshDigest(in), tlshLibrary(in); got != want {
				t.Errorf("%s, %d bytes: %q, library %q", name, n, got, want)
			}
		}
	}
}

// FuzzTLSH: any input of 5 bytes or more gets the library's digest.
func FuzzTLSH(f *testing.F) {
	r := rand.New(rand.NewSource(5))
	for _, shape := range tlshShapes {
		for _, n := range []int{5, 50, 256, 700} {
			f.Add(shape(r, n))
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) < tlshWindow {
			if d := tlshDigest(b); d != "" {
				t.Fatalf("%d bytes: %q", len(b), d)
			}
			return
		}
		if got, want := tlshDigest(b), tlshLibrary(b); got != want {
			t.Fatalf("%q: %q, library %q", b, got, want)
		}
	})
}

// BenchmarkTLSH is TLSH alone on random input, fuzzy-bound sized and
// large, one pass against the library (MB/cpu-s: the machine is shared).
func BenchmarkTLSH(b *testing.B) {
	impls := []struct {
		name string
		f    func([]byte) string
	}{{"onepass", tlshDigest}, {"library", tlshLibrary}}
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
