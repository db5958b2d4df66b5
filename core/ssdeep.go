package core

import "strconv"

// ssdeep (Kornblum's context-triggered piecewise hash), the algorithm of
// github.com/glaslos/ssdeep (FuzzyBytes), which follows ssdeep 2.13's
// fuzzy_digest: one pass over the input, a rolling hash over a window of
// 7 bytes, and for each block size 3<<i an FNV-like hash of the bytes
// since its last trigger, whose last 6 bits become a character of the
// signature. That package reads through io.Copy and calls a method per
// byte with its block hashes spread over a 31-element array of structs;
// here the loop over the input is one function over small arrays, which
// costs a third of the time for the same digest (FuzzSSDeepMatchesPackage
// compares the two; TestFuzzyHashesMatchTools compares with the ssdeep
// tool).

const (
	ssdWindow    = 7
	ssdBlockMin  = 3
	ssdLength    = 64 // characters of the first part of a signature
	ssdHalf      = ssdLength / 2
	ssdPrime     = 0x93
	ssdInit      = 0x27
	ssdBlocks    = 31
	ssdMaxTotal  = ssdBlockMin << (ssdBlocks - 1) * ssdLength
	ssdB64       = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	ssdNoTrigger = 1<<32 - 1
	ssdWords     = (ssdBlocks + 3) / 4
	ssdLanes     = 0x0001000100010001
	ssdLaneMask  = 0x003f003f003f003f
)

// lane returns the hash of block i in w.
func lane(w *[ssdWords]uint64, i int) byte { return byte(w[i>>2] >> (16 * (i & 3)) & 63) }

// setLane sets the hash of block i in w.
func setLane(w *[ssdWords]uint64, i int, h byte) {
	sh := 16 * (i & 3)
	w[i>>2] = w[i>>2]&^(0xffff<<sh) | uint64(h)<<sh
}

// ssdState is the digest state of one input of known length.
type ssdState struct {
	// h1 and h2 hold the block hashes (6 bits each), four block sizes
	// a word in 16-bit lanes: one multiply updates four (h < 64, so
	// h*19 stays in its lane).
	h1, h2       [ssdWords]uint64
	tail1, tail2 [ssdBlocks]byte
	strLen       [ssdBlocks]int
	str          [ssdBlocks][ssdLength]byte
	iStart, iEnd int
	bsizeMask    uint32
	total        uint64
	// top bounds the block sizes hashed: the digest uses the size its
	// length picks (i0) or a smaller one, and the next; a block's state
	// depends on the smaller ones only, so the larger are not kept.
	top  int
	roll uint32 // the rolling hash after the last byte
}

// ssdeepDigest returns the ssdeep signature of b ("" when b has 4096
// bytes or fewer, as ssdeep refuses them, or is too large).
func ssdeepDigest(b []byte) string {
	if len(b) <= SSDeepMinBytes-1 || uint64(len(b)) > ssdMaxTotal {
		return ""
	}
	s := &ssdState{iEnd: 1, total: uint64(len(b))}
	// i0: the size the length picks. The block size is 32 bits, as in
	// ssdeep, and its product wraps from 6 GiB of input: the bound on i
	// keeps this loop (and digest's) from running forever there.
	i0 := 0
	for i0 < ssdBlocks-1 && uint64(uint32(ssdBlockMin)<<i0*ssdLength) < s.total {
		i0++
	}
	s.top = min(i0+2, ssdBlocks)
	for i := range s.h1 {
		s.h1[i], s.h2[i] = ssdInit*ssdLanes, ssdInit*ssdLanes
	}
	s.run(b)
	return s.digest()
}

// run feeds every byte of b through the rolling hash and the block hashes.
func (s *ssdState) run(b []byte) {
	var win [ssdWindow]byte
	var r1, r2, r3 uint32
	n := 0
	lo, hi := s.words()
	for _, c := range b {
		// Every lane of the words in use is updated: blocks below iStart
		// are never read again, and a block from iEnd up gets its hashes
		// when it starts. h*0x93 and h*19 agree in their low 6 bits.
		cc := uint64(c&63) * ssdLanes
		for k := lo; k <= hi; k++ {
			s.h1[k] = (s.h1[k]*(ssdPrime&63) ^ cc) & ssdLaneMask
			s.h2[k] = (s.h2[k]*(ssdPrime&63) ^ cc) & ssdLaneMask
		}
		r2 = r2 - r1 + ssdWindow*uint32(c)
		r1 = r1 + uint32(c) - uint32(win[n])
		win[n] = c
		if n++; n == ssdWindow {
			n = 0
		}
		r3 = r3<<5 ^ uint32(c)
		// t = rh+1 (0: rh is the value that never triggers); the
		// smallest block in use triggers when 3 divides t and the low
		// iStart bits of t/3 are zero.
		t := r1 + r2 + r3 + 1
		q := t / ssdBlockMin
		if t == 0 || t != q*ssdBlockMin || q&s.bsizeMask != 0 {
			continue
		}
		s.trigger(t - 1)
		lo, hi = s.words()
	}
	s.roll = r1 + r2 + r3
}

// words returns the first and last word of h1 and h2 in use.
func (s *ssdState) words() (lo, hi int) {
	return s.iStart >> 2, (min(s.iEnd, s.top) - 1) >> 2
}

// trigger ends a piece of every block size rh triggers (the part of
// ssdeep's loop that runs once in about three block sizes' bytes).
func (s *ssdState) trigger(rh uint32) {
	// rh%bs == bs-1 for bs = 3<<i, and (rh+1)%3 == 0 here: block i
	// triggers when the low i bits of (rh+1)/3 are zero, so the blocks
	// that do are the smallest ones up to the first that does not.
	q := (rh + 1) / ssdBlockMin
	for i := s.iStart; i < min(s.iEnd, s.top); i++ {
		if q&(1<<i-1) != 0 {
			break
		}
		if s.strLen[i] == 0 && s.iEnd <= ssdBlocks-1 {
			setLane(&s.h1, s.iEnd, lane(&s.h1, s.iEnd-1))
			setLane(&s.h2, s.iEnd, lane(&s.h2, s.iEnd-1))
			s.iEnd++
		}
		s.tail1[i], s.tail2[i] = lane(&s.h1, i), lane(&s.h2, i)
		if s.strLen[i] < ssdLength-1 {
			s.str[i][s.strLen[i]] = s.tail1[i]
			s.strLen[i]++
			s.tail1[i] = 0
			setLane(&s.h1, i, ssdInit)
			if s.strLen[i] < ssdHalf {
				setLane(&s.h2, i, ssdInit)
				s.tail2[i] = 0
			}
		} else if s.total > uint64(uint32(ssdBlockMin)<<s.iStart*ssdLength) && s.strLen[s.iStart+1] >= ssdHalf {
			s.iStart++
			s.bsizeMask = s.bsizeMask<<1 + 1
		}
	}
}

// digest writes the signature: the block size chosen for the input's
// length (smaller while its string is short), its string and the next
// size's, each ended by the hash of the bytes after the last trigger.
func (s *ssdState) digest() string {
	i := s.iStart
	for i < ssdBlocks-1 && uint64(uint32(ssdBlockMin)<<i*ssdLength) < s.total {
		i++
	}
	if i >= s.iEnd {
		i = s.iEnd - 1
	}
	for i > s.iStart && s.strLen[i] < ssdHalf {
		i--
	}
	one := append([]byte(nil), s.str[i][:s.strLen[i]]...)
	j := i + 1 // the next size; the same when there is none
	if i >= s.iEnd-1 {
		j = i
	}
	two := append([]byte(nil), s.str[j][:min(s.strLen[j], ssdHalf-1)]...)
	if s.roll != 0 {
		one = append(one, lane(&s.h1, i))
		two = append(two, lane(&s.h2, j))
	} else {
		if len(one) == ssdLength-1 && s.tail1[i] != 0 {
			one = append(one, s.tail1[i])
		}
		if s.tail2[j] != 0 {
			two = append(two, s.tail2[j])
		}
	}
	out := strconv.AppendUint(make([]byte, 0, 16+len(one)+len(two)), uint64(uint32(ssdBlockMin)<<i), 10)
	out = append(out, ':')
	for _, c := range one {
		out = append(out, ssdB64[c])
	}
	out = append(out, ':')
	for _, c := range two {
		out = append(out, ssdB64[c])
	}
	return string(out)
}
