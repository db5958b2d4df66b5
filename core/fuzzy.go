package core

// Fuzzy-hash bounds. ssdeep (ssdeep.go) refuses inputs of
// 4096 bytes or less; TLSH (tlsh.go) follows its reference implementation,
// which wants at least 50 bytes (256 in its conservative mode, the one the
// tlsh tool used before version 4), and enough variety: more than half of
// its 128 buckets used.
const (
	SSDeepMinBytes = 4097
	TLSHMinBytes   = 256
	// DefaultFuzzyMaxBytes bounds the inputs that get fuzzy hashes: per
	// byte, both together cost about as much as the rest of the pipeline
	// (README, Fuzzy hashes; BenchmarkFuzzyBound).
	DefaultFuzzyMaxBytes = 16 << 10
)

// FuzzyHashes returns the ssdeep and TLSH digests of b, each "" when b
// is outside its bounds (see SSDeepMinBytes, TLSHMinBytes) or too
// uniform for a meaningful TLSH. TLSH is written as TLSH 4 writes it:
// "T1" and 70 upper-case hex digits.
func FuzzyHashes(b []byte) (ssd, tl string) {
	if len(b) >= SSDeepMinBytes {
		ssd = ssdeepDigest(b)
	}
	if len(b) >= TLSHMinBytes {
		tl = tlshDigest(b)
	}
	return ssd, tl
}

// tlshVaried reports whether a TLSH digest (checksum, length, quartile
// ratios, then 32 bytes of 2-bit bucket codes) comes from input with
// enough variety. The reference rejects input that leaves 64 or more of
// the 128 buckets empty; then the median is 0, so no bucket has code 1
// (above the first quartile, at most the median) and 64 or more have
// code 0. The digest is checked: every digest the reference refuses is
// refused here (and a few it accepts, whose median equals their first
// quartile).
func tlshVaried(bin []byte) bool {
	if len(bin) != 35 {
		return false
	}
	zero, one := 0, 0
	for _, c := range bin[3:] {
		for i := 0; i < 4; i++ {
			switch (c >> (2 * i)) & 3 {
			case 0:
				zero++
			case 1:
				one++
			}
		}
	}
	return one > 0 || zero < 64
}
