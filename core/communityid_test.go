package core

import (
	"bytes"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// The Community ID spec's published TCP vectors (community-id-spec and
// Zeek's community_id_v1 btest, seed 0): both directions give one ID.
func TestCommunityIDSpecVectors(t *testing.T) {
	for _, tc := range []struct {
		src   string
		sport int
		dst   string
		dport int
		want  string
	}{
		{"1.2.3.4", 1122, "5.6.7.8", 3344, "1:wCb3OG7yAFWelaUydu0D+125CLM="},
		{"5.6.7.8", 3344, "1.2.3.4", 1122, "1:wCb3OG7yAFWelaUydu0D+125CLM="},
		{"::ffff:1.2.3.4", 1122, "5.6.7.8", 3344, "1:wCb3OG7yAFWelaUydu0D+125CLM="}, // mapped counts as IPv4
	} {
		if got := CommunityID(tc.src, tc.sport, tc.dst, tc.dport); got != tc.want {
			t.Errorf("CommunityID(%s:%d -> %s:%d) = %q, want %q", tc.src, tc.sport, tc.dst, tc.dport, got, tc.want)
		}
	}
}

// refCommunityID is the spec's rule written out: SHA-1 over seed (2
// bytes), the lower endpoint's address, the other's, protocol 6, a zero
// pad byte, then the two ports in the same order; base64, "1:" prefix.
func refCommunityID(src netip.Addr, sport uint16, dst netip.Addr, dport uint16) string {
	a, b := src.AsSlice(), dst.AsSlice()
	if c := bytes.Compare(a, b); c > 0 || (c == 0 && sport > dport) {
		a, b, sport, dport = b, a, dport, sport
	}
	var buf []byte
	buf = append(buf, 0, 0)
	buf = append(buf, a...)
	buf = append(buf, b...)
	buf = append(buf, 6, 0)
	buf = binary.BigEndian.AppendUint16(buf, sport)
	buf = binary.BigEndian.AppendUint16(buf, dport)
	sum := sha1.Sum(buf)
	return "1:" + base64.StdEncoding.EncodeToString(sum[:])
}

func TestCommunityIDReferenceRules(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 500 {
		var src, dst netip.Addr
		if i%2 == 0 {
			src = netip.AddrFrom4([4]byte{byte(r.IntN(256)), byte(r.IntN(256)), 0, byte(r.IntN(3))})
			dst = netip.AddrFrom4([4]byte{byte(r.IntN(256)), byte(r.IntN(256)), 0, byte(r.IntN(3))})
		} else {
			var a, b [16]byte
			a[0], b[0] = 0x20, 0x20
			a[15], b[15] = byte(r.IntN(3)), byte(r.IntN(3))
			src, dst = netip.AddrFrom16(a), netip.AddrFrom16(b)
		}
		sp, dp := uint16(1+r.IntN(3)), uint16(1+r.IntN(65535))
		if i%7 == 0 {
			dst, dp = src, sp+1 // same address: the ports order the endpoints
		}
		want := refCommunityID(src, sp, dst, dp)
		if got := CommunityID(src.String(), int(sp), dst.String(), int(dp)); got != want {
			t.Fatalf("%s:%d -> %s:%d: got %q, reference %q", src, sp, dst, dp, got, want)
		}
		if got := CommunityID(dst.String(), int(dp), src.String(), int(sp)); got != want {
			t.Fatalf("reverse of %s:%d -> %s:%d: got %q, reference %q", src, sp, dst, dp, got, want)
		}
	}
}

func TestCommunityIDNeedsBothEndpoints(t *testing.T) {
	for _, tc := range [][4]any{
		{"10.0.0.1", 1025, "", 0},
		{"10.0.0.1", 1025, "10.0.0.2", 0},
		{"10.0.0.1", 0, "10.0.0.2", 25},
		{"10.0.0.1", 70000, "10.0.0.2", 25},
		{"not-an-ip", 1025, "10.0.0.2", 25},
		{"10.0.0.1", 1025, "2001:db8::1", 25}, // families differ
		{"fe80::1%eth0", 1025, "fe80::2", 25},
	} {
		if got := CommunityID(tc[0].(string), tc[1].(int), tc[2].(string), tc[3].(int)); got != "" {
			t.Errorf("CommunityID%v = %q, want none", tc, got)
		}
	}
}

// A session file with an @resp line gets the Community ID in its
// emails' records; ACE's form (no responder) gets none.
func TestSessionCommunityID(t *testing.T) {
	const body = "> HELO a\n< HELO 250 ok\n> MAIL FROM:<a@example.test>\n< MAIL 250 ok\n> RCPT TO:<b@example.test>\n< RCPT 250 ok\n> DATA\n< DATA 354 go\nSubject: x\n\nhi\n> . .\n< . 250 ok\n"
	with := "1.2.3.4:1122/tcp\n1700000000\n@resp 5.6.7.8:3344/tcp\n" + body
	s, err := ParseSession(strings.NewReader(with), "c1", time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if s.Info.CommunityID != "1:wCb3OG7yAFWelaUydu0D+125CLM=" {
		t.Errorf("session community id %q", s.Info.CommunityID)
	}
	ems := NewAnalyzer(DefaultOptions()).SessionEmails(s)
	if len(ems) != 1 || ems[0].Session.CommunityID != s.Info.CommunityID {
		t.Fatalf("email records do not carry the session's community id: %+v", ems)
	}
	s, err = ParseSession(strings.NewReader("1.2.3.4:1122/tcp\n1700000000\n"+body), "c2", time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if s.Info.CommunityID != "" || s.Info.CID() != "" {
		t.Errorf("a session without a responder got community id %q", s.Info.CommunityID)
	}
	old := SessionInfo{SourceIP: "1.2.3.4", SourcePort: 1122, DestIP: "5.6.7.8", DestPort: 3344}
	if old.CID() != "1:wCb3OG7yAFWelaUydu0D+125CLM=" {
		t.Errorf("CID of a record stored without the field: %q", old.CID())
	}
}
