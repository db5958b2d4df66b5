package core

import (
	"encoding/hex"
	"math"
	"sync"
)

// TLSH (Oliver, Cheng, Chen: "TLSH - A Locality Sensitive Hash", 2013), the
// reference's standard variant: 128 buckets, 1-byte checksum. One pass over
// the input with a sliding window of 5 bytes; at each position six Pearson
// hashes of byte triplets pick the buckets to count, a seventh updates the
// checksum. The digest is the checksum, the log-encoded length, the two
// quartile ratios and 2 bits per bucket (which quartile its count is in).

// tlshPearson is the reference's Pearson table (v_table in tlsh_util.cpp).
var tlshPearson = [256]byte{
	1, 87, 49, 12, 176, 178, 102, 166, 121, 193, 6, 84, 249, 230, 44, 163,
	14, 197, 213, 181, 161, 85, 218, 80, 64, 239, 24, 226, 236, 142, 38, 200,
	110, 177, 104, 103, 141, 253, 255, 50, 77, 101, 81, 18, 45, 96, 31, 222,
	25, 107, 190, 70, 86, 237, 240, 34, 72, 242, 20, 214, 244, 227, 149, 235,
	97, 234, 57, 22, 60, 250, 82, 175, 208, 5, 127, 199, 111, 62, 135, 248,
	174, 169, 211, 58, 66, 154, 106, 195, 245, 171, 17, 187, 182, 179, 0, 243,
	132, 56, 148, 75, 128, 133, 158, 100, 130, 126, 91, 13, 153, 246, 216, 219,
	119, 68, 223, 78, 83, 88, 201, 99, 122, 11, 92, 32, 136, 114, 52, 10,
	138, 30, 48, 183, 156, 35, 61, 26, 143, 74, 251, 94, 129, 162, 63, 152,
	170, 7, 115, 167, 241, 206, 3, 150, 55, 59, 151, 220, 90, 53, 23, 131,
	125, 173, 15, 238, 79, 95, 89, 16, 105, 137, 225, 224, 217, 160, 37, 123,
	118, 73, 2, 157, 46, 116, 9, 145, 134, 228, 207, 212, 202, 215, 69, 229,
	27, 188, 67, 124, 168, 252, 42, 4, 29, 108, 21, 247, 19, 205, 39, 203,
	233, 40, 186, 147, 198, 192, 155, 33, 164, 191, 98, 204, 165, 180, 117, 76,
	140, 36, 210, 172, 41, 54, 159, 8, 185, 232, 113, 196, 231, 47, 146, 120,
	51, 65, 28, 144, 254, 221, 93, 189, 194, 139, 112, 43, 71, 109, 184, 209,
}

// tlshSalts are the salts of the checksum (0) and of the six triplets.
var tlshSalts = [7]byte{0, 2, 3, 5, 7, 11, 13}

// tlshTab holds the tables of tlshFill, built on first use (not by every
// process at start, most of which never hash: 830,000 instructions and
// 16 pages).
type tlshTab struct {
	// first[k][x] is the Pearson state after the salt tlshSalts[k] and
	// the first key x.
	first [7][256]byte
	// last[u<<8|y] is the last two Pearson steps, with u the state after
	// the first key xor the second key and y the third key: one lookup
	// instead of two for each bucket (64 KiB shared by the salts; the
	// loop is bound by its loads, and this makes it about 10 % faster).
	last [1 << 16]byte
}

var tlshTables = sync.OnceValue(func() *tlshTab {
	t := new(tlshTab)
	for k, s := range tlshSalts {
		for x := range 256 {
			t.first[k][x] = tlshPearson[tlshPearson[s]^byte(x)]
		}
	}
	for u := range 256 {
		for y := range 256 {
			t.last[u<<8|y] = tlshPearson[tlshPearson[u]^byte(y)]
		}
	}
	return t
})

// tlshWindow is the window length, so the shortest input with a digest.
const tlshWindow = 5

// tlshDigest returns the TLSH digest of b as TLSH 4 writes it ("T1" and
// 70 upper-case hex digits), or "" when b is shorter than the window or
// too uniform (tlshVaried).
func tlshDigest(b []byte) string {
	if len(b) < tlshWindow {
		return ""
	}
	var buckets [256]uint32
	sum := tlshFill(b, &buckets)
	q1, q2, q3 := tlshQuartiles(&buckets)
	if q3 == 0 {
		return ""
	}
	var bin [35]byte
	bin[0] = tlshSwap(sum)
	bin[1] = tlshSwap(tlshLength(len(b)))
	bin[2] = tlshRatio(q1, q3)<<4 | tlshRatio(q2, q3)
	tlshCode(&buckets, q1, q2, q3, (*[32]byte)(bin[3:]))
	if !tlshVaried(bin[:]) {
		return ""
	}
	var out [72]byte
	out[0], out[1] = 'T', '1'
	hex.Encode(out[2:], bin[:])
	for i, c := range out {
		if c >= 'a' {
			out[i] = c - 'a' + 'A'
		}
	}
	return string(out[:])
}

// tlshFill counts the triplets of every window of b (len(b) >= 5) in
// buckets and returns the checksum. j0 is the newest byte of the window,
// j4 the oldest. The checksum, a chain from byte to byte, stays on the
// small table (its latency is the loop's floor).
func tlshFill(b []byte, buckets *[256]uint32) (sum byte) {
	t := tlshTables()
	v, f, w := &tlshPearson, &t.first, &t.last
	j4, j3, j2, j1 := b[0], b[1], b[2], b[3]
	for _, j0 := range b[4:] {
		sum = v[v[f[0][j0]^j1]^sum]
		buckets[w[uint16(f[1][j0]^j1)<<8|uint16(j2)]]++
		buckets[w[uint16(f[2][j0]^j1)<<8|uint16(j3)]]++
		buckets[w[uint16(f[3][j0]^j2)<<8|uint16(j3)]]++
		buckets[w[uint16(f[4][j0]^j2)<<8|uint16(j4)]]++
		buckets[w[uint16(f[5][j0]^j1)<<8|uint16(j4)]]++
		buckets[w[uint16(f[6][j0]^j3)<<8|uint16(j4)]]++
		j4, j3, j2, j1 = j3, j2, j1, j0
	}
	return sum
}

// tlshQuartiles returns the counts at the first, second and third
// quartile of the 128 buckets that count (the other 128 are ignored, as
// in the reference).
func tlshQuartiles(buckets *[256]uint32) (q1, q2, q3 uint32) {
	s := *(*[128]uint32)(buckets[:128])
	// The values sorting would put at 31, 63 and 95, without sorting:
	// the median first, then each quartile in its half.
	q2 = selectNth(s[:], 63)
	q1 = selectNth(s[:63], 31)
	q3 = selectNth(s[64:], 31)
	return q1, q2, q3
}

// selectNth reorders a so that a[k] is the value sorting would put there,
// with no larger value before it and no smaller one after (quickselect,
// median-of-three pivots; a is at most 128 values, so even its worst case
// is cheap), and returns a[k].
func selectNth(a []uint32, k int) uint32 {
	lo, hi := 0, len(a)-1
	for lo < hi {
		mid := lo + (hi-lo)/2
		if a[mid] < a[lo] {
			a[mid], a[lo] = a[lo], a[mid]
		}
		if a[hi] < a[lo] {
			a[hi], a[lo] = a[lo], a[hi]
		}
		if a[mid] < a[hi] {
			a[mid], a[hi] = a[hi], a[mid]
		}
		// a[hi] is now the median of the three: the pivot.
		p, store := a[hi], lo
		for i := lo; i < hi; i++ {
			if a[i] < p {
				a[i], a[store] = a[store], a[i]
				store++
			}
		}
		a[store], a[hi] = a[hi], a[store]
		switch {
		case k < store:
			hi = store - 1
		case k > store:
			lo = store + 1
		default:
			return a[k]
		}
	}
	return a[k]
}

// tlshRatio is the reference's quartile ratio: q*100 (32 bits, as there)
// over q3 in single precision, truncated, modulo 16.
func tlshRatio(q, q3 uint32) byte {
	return byte(uint32(float32(q*100)/float32(q3)) % 16)
}

// tlshLength is the reference's log encoding of the input length
// (l_capturing): steps of 1.5x up to 656 bytes, 1.3x up to 3199, then 1.1x.
func tlshLength(n int) byte {
	l := math.Log(float64(n))
	var i float64
	switch {
	case n <= 656:
		i = math.Floor(l / 0.4054651)
	case n <= 3199:
		i = math.Floor(l/0.26236426 - 8.72777)
	default:
		i = math.Floor(l/0.095310180 - 62.5472)
	}
	return byte(int(i) & 0xFF)
}

// tlshCode writes 2 bits per bucket (0: count <= q1 … 3: count > q3),
// four buckets a byte, the last buckets first.
func tlshCode(buckets *[256]uint32, q1, q2, q3 uint32, code *[32]byte) {
	for i := range 32 {
		var h byte
		for j := range 4 {
			k := buckets[4*i+j]
			switch {
			case k > q3:
				h |= 3 << (2 * j)
			case k > q2:
				h |= 2 << (2 * j)
			case k > q1:
				h |= 1 << (2 * j)
			}
		}
		code[31-i] = h
	}
}

// tlshSwap swaps the nibbles of a byte, as the reference writes the
// checksum and the length.
func tlshSwap(c byte) byte { return c<<4 | c>>4 }
