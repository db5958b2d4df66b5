package capture

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// Flow is one TCP connection's two ends.
type Flow struct {
	ClientIP   string
	ClientPort int
	ServerIP   string
	ServerPort int
}

// ExtractFlow writes to w, as one pcap (nanosecond stamps, the files'
// link type), the packets of files (evidence pcaps, in order) that belong
// to the connection f: TCP between its two ends, either way, and IPv4/IPv6
// fragments between its two addresses (the reassembly may need them). It
// returns the number of packets written. Files of different link types
// are refused; a damaged file is an error naming it.
func ExtractFlow(files []string, f Flow, w io.Writer) (int, error) {
	cIP, sIP := net.ParseIP(f.ClientIP), net.ParseIP(f.ServerIP)
	if cIP == nil || sIP == nil || f.ClientPort <= 0 || f.ServerPort <= 0 {
		return 0, fmt.Errorf("the connection %s:%d ↔ %s:%d is not a complete TCP 5-tuple", f.ClientIP, f.ClientPort, f.ServerIP, f.ServerPort)
	}
	var pw *pcapgo.Writer
	var lt layers.LinkType
	n := 0
	for _, name := range files {
		fh, err := os.Open(name)
		if err != nil {
			return n, err
		}
		r, err := pcapgo.NewReader(bufio.NewReaderSize(fh, 1<<20))
		if err != nil {
			fh.Close()
			return n, fmt.Errorf("%s: not a pcap file: %w", name, err)
		}
		if pw == nil {
			lt = r.LinkType()
			pw = pcapgo.NewWriterNanos(w)
			if err := pw.WriteFileHeader(max(r.Snaplen(), 1<<16), lt); err != nil {
				fh.Close()
				return n, err
			}
		} else if r.LinkType() != lt {
			fh.Close()
			return n, fmt.Errorf("%s: link type %s, the files before it %s: one pcap cannot hold both", name, r.LinkType(), lt)
		}
		for {
			data, ci, err := r.ZeroCopyReadPacketData()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				fh.Close()
				if errors.Is(err, io.ErrUnexpectedEOF) {
					return n, fmt.Errorf("%s: truncated after %d packet(s) of the connection", name, n)
				}
				return n, fmt.Errorf("%s: %w", name, err)
			}
			if !inFlow(data, lt, cIP, sIP, uint16(f.ClientPort), uint16(f.ServerPort)) {
				continue
			}
			if err := pw.WritePacket(ci, data); err != nil {
				fh.Close()
				return n, err
			}
			n++
		}
		fh.Close()
	}
	if pw == nil {
		return 0, errors.New("no evidence pcap to read")
	}
	return n, nil
}

// inFlow says whether a packet belongs to the connection a:pa ↔ b:pb.
func inFlow(data []byte, lt layers.LinkType, a, b net.IP, pa, pb uint16) bool {
	p := gopacket.NewPacket(data, lt, gopacket.DecodeOptions{Lazy: true, NoCopy: true})
	var src, dst net.IP
	frag := false
	if ip4, ok := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4); ok {
		src, dst = ip4.SrcIP, ip4.DstIP
		frag = ip4.FragOffset != 0 || ip4.Flags&layers.IPv4MoreFragments != 0
	} else if ip6, ok := p.Layer(layers.LayerTypeIPv6).(*layers.IPv6); ok {
		src, dst = ip6.SrcIP, ip6.DstIP
		frag = p.Layer(layers.LayerTypeIPv6Fragment) != nil
	} else {
		return false
	}
	pair := src.Equal(a) && dst.Equal(b) || src.Equal(b) && dst.Equal(a)
	if !pair {
		return false
	}
	if tcp, ok := p.Layer(layers.LayerTypeTCP).(*layers.TCP); ok && !frag {
		sp, dp := uint16(tcp.SrcPort), uint16(tcp.DstPort)
		return src.Equal(a) && sp == pa && dp == pb || src.Equal(b) && sp == pb && dp == pa
	}
	return frag
}
