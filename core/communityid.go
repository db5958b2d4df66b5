package core

import (
	"net/netip"
	"strings"

	"github.com/satta/gommunityid"
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
	cid, err := gommunityid.GetCommunityIDByVersion(1, 0)
	if err != nil {
		return ""
	}
	ft := gommunityid.MakeFlowTupleTCP(src.AsSlice(), dst.AsSlice(), uint16(srcPort), uint16(dstPort))
	return cid.CalcBase64(ft)
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
