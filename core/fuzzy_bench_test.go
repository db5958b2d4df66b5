package core

import (
	"math/rand"
	"testing"
)

// BenchmarkFuzzyHashes is the cost of ssdeep + TLSH per byte (compare
// with the pipeline's MB/s: that ratio is why inputs are bounded).
func BenchmarkFuzzyHashes(b *testing.B) {
	data := make([]byte, 1<<20)
	rand.New(rand.NewSource(1)).Read(data)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		FuzzyHashes(data)
	}
}
