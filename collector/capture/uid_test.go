package capture

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math/rand"
	"net"
	"testing"
	"time"
)

// refUID is the uid derivation as specified (and as first written): the
// SHA-256 of the formatted 5-tuple and start, then the repeat counter.
func refUID(cIP net.IP, cPort int, sIP net.IP, sPort int, start time.Time, n int) string {
	h := sha256.New()
	fmt.Fprintf(h, "tcp|%s|%d|%s|%d|%d", ipString(cIP), cPort, ipString(sIP), sPort, start.UnixNano())
	if n > 0 {
		var b [8]byte
		binary.BigEndian.PutUint64(b[:], uint64(n))
		h.Write(b[:])
	}
	return "S" + uidEnc.EncodeToString(h.Sum(nil))[:17]
}

// uids stay those of earlier versions (session file names and Zeek-like
// uids must not change between releases), repeats included.
func TestUIDDerivation(t *testing.T) {
	e := &engine{uids: map[string]bool{}, oldUIDs: map[string]bool{}}
	rng := rand.New(rand.NewSource(3))
	ips := []net.IP{
		net.ParseIP("10.0.0.1"), net.ParseIP("192.168.200.254"), net.IPv4(1, 2, 3, 4).To16(),
		net.ParseIP("2001:db8::25"), net.ParseIP("fe80::1:2:3:4"), net.ParseIP("::ffff:172.16.0.9"),
		net.ParseIP("2001:db8:ffff:ffff:ffff:ffff:ffff:ffff"),
	}
	for i := 0; i < 500; i++ {
		cIP, sIP := ips[rng.Intn(len(ips))], ips[rng.Intn(len(ips))]
		cPort, sPort := rng.Intn(65536), []int{25, 465, 587, 65535}[rng.Intn(4)]
		start := time.Unix(rng.Int63n(4e9), rng.Int63n(1e9))
		if i%50 == 0 {
			start = time.Unix(-rng.Int63n(1e9), 0) // before 1970: a negative UnixNano
		}
		for n := 0; n < 1+i%3; n++ { // the same tuple again: counters 1 and 2
			got := e.uid(cIP, cPort, sIP, sPort, start)
			if want := refUID(cIP, cPort, sIP, sPort, start, n); got != want {
				t.Fatalf("uid(%s:%d -> %s:%d at %v) repeat %d = %s, want %s", cIP, cPort, sIP, sPort, start, n, got, want)
			}
		}
	}
}
