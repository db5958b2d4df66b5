package core

import (
	"bytes"
	"crypto/sha1" //nolint:gosec // the Community ID spec is defined over SHA-1
	"encoding/base64"
	"encoding/binary"
	"net/netip"
	"strings"
)

// CommunityID returns the Community ID v1 (seed 0, base64, "1:" prefix) of
// the TCP connection between the two endpoints, the flow hash Zeek's
// conn.log (community-id package), Suricata's EVE, Arkime and ECS
// (network.community_id) carry: the same string for both directions of a
// connection. It is "" when an address does not parse or a port is not in
// 1..65535 (an ACE session file names no responder: no Community ID).
// IPv4-mapped IPv6 addresses count as IPv4, as the spec says.
func CommunityID(srcIP string, srcPort int, dstIP string, dstPort int) string {
	src, ok1 := flowAddr(srcIP)
	dst, ok2 := flowAddr(dstIP)
	if !ok1 || !ok2 || srcPort <= 0 || srcPort > 65535 || dstPort <= 0 || dstPort > 65535 {
		return ""
	}
	if src.Is4() != dst.Is4() {
		return ""
	}
	return communityIDv1(0, src.AsSlice(), dst.AsSlice(), 6, uint16(srcPort), uint16(dstPort))
}

// communityIDv1 is the spec's v1 hash: the endpoints ordered (lower
// address first, or on equal addresses lower port first), then SHA-1 over
// seed, source and destination address, protocol, a zero byte and the two
// ports (big-endian), base64 with the "1:" prefix. Written here rather
// than imported: the Go package for it pulls a second, old gopacket whose
// init cost every smtpscope process 18 ms.
func communityIDv1(seed uint16, a1, a2 []byte, proto uint8, p1, p2 uint16) string {
	if c := bytes.Compare(a1, a2); c > 0 || (c == 0 && p1 > p2) {
		a1, a2, p1, p2 = a2, a1, p2, p1
	}
	buf := make([]byte, 0, 2+len(a1)+len(a2)+6)
	buf = binary.BigEndian.AppendUint16(buf, seed)
	buf = append(buf, a1...)
	buf = append(buf, a2...)
	buf = append(buf, proto, 0)
	buf = binary.BigEndian.AppendUint16(buf, p1)
	buf = binary.BigEndian.AppendUint16(buf, p2)
	sum := sha1.Sum(buf) //nolint:gosec // the spec's hash
	return "1:" + base64.StdEncoding.EncodeToString(sum[:])
}

func flowAddr(s string) (netip.Addr, bool) {
	a, err := netip.ParseAddr(strings.Trim(strings.TrimSpace(s), "[]"))
	if err != nil || a.Zone() != "" {
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}

// CID returns the session's Community ID: the stored one, else computed
// from its endpoints (records stored before the field existed).
func (si *SessionInfo) CID() string {
	if si.CommunityID != "" {
		return si.CommunityID
	}
	return CommunityID(si.SourceIP, si.SourcePort, si.DestIP, si.DestPort)
}
