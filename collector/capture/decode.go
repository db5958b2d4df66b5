package capture

import (
	"bufio"
	"compress/gzip"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// decoder decodes link, IP and TCP layers without allocating per packet.
type decoder struct {
	eth     layers.Ethernet
	dot1q   layers.Dot1Q
	sll     layers.LinuxSLL
	sll2    layers.LinuxSLL2
	loop    layers.Loopback
	ip4     layers.IPv4
	ip6     layers.IPv6
	tcp     layers.TCP
	parsers map[gopacket.LayerType]*gopacket.DecodingLayerParser
	decoded []gopacket.LayerType
}

func newDecoder() *decoder {
	d := &decoder{parsers: map[gopacket.LayerType]*gopacket.DecodingLayerParser{}}
	for _, first := range []gopacket.LayerType{
		layers.LayerTypeEthernet, layers.LayerTypeLinuxSLL, layers.LayerTypeLinuxSLL2,
		layers.LayerTypeLoopback, layers.LayerTypeIPv4, layers.LayerTypeIPv6,
	} {
		p := gopacket.NewDecodingLayerParser(first,
			&d.eth, &d.dot1q, &d.sll, &d.sll2, &d.loop, &d.ip4, &d.ip6, &d.tcp)
		p.IgnoreUnsupported = true
		d.parsers[first] = p
	}
	d.decoded = make([]gopacket.LayerType, 0, 8)
	return d
}

// firstLayer maps a capture link type to the first layer to decode.
func firstLayer(lt layers.LinkType, data []byte) gopacket.LayerType {
	switch lt {
	case layers.LinkTypeEthernet:
		return layers.LayerTypeEthernet
	case layers.LinkTypeLinuxSLL:
		return layers.LayerTypeLinuxSLL
	case layers.LinkTypeLinuxSLL2:
		return layers.LayerTypeLinuxSLL2
	case layers.LinkTypeNull, layers.LinkTypeLoop:
		return layers.LayerTypeLoopback
	case layers.LinkTypeRaw, layers.LinkTypeIPv4, layers.LinkTypeIPv6, 12, 14:
		if len(data) > 0 && data[0]>>4 == 6 {
			return layers.LayerTypeIPv6
		}
		return layers.LayerTypeIPv4
	}
	return gopacket.LayerTypeZero
}

// decode returns the TCP layer and the network flow of a packet, or false
// when the packet is not TCP over IPv4/IPv6 (or is an IP fragment, or is
// malformed). Panics inside gopacket are turned into errors by the parser.
func (d *decoder) decode(data []byte, lt layers.LinkType) (*layers.TCP, gopacket.Flow, bool) {
	first := firstLayer(lt, data)
	p := d.parsers[first]
	if p == nil {
		return nil, gopacket.Flow{}, false
	}
	d.decoded = d.decoded[:0]
	if err := p.DecodeLayers(data, &d.decoded); err != nil && len(d.decoded) == 0 {
		return nil, gopacket.Flow{}, false
	}
	var flow gopacket.Flow
	haveIP, haveTCP := false, false
	for _, t := range d.decoded {
		switch t {
		case layers.LayerTypeIPv4:
			if d.ip4.Flags&layers.IPv4MoreFragments != 0 || d.ip4.FragOffset != 0 {
				return nil, flow, false
			}
			flow, haveIP = d.ip4.NetworkFlow(), true
		case layers.LayerTypeIPv6:
			flow, haveIP = d.ip6.NetworkFlow(), true
		case layers.LayerTypeTCP:
			haveTCP = true
		}
	}
	if !haveIP || !haveTCP {
		return nil, flow, false
	}
	return &d.tcp, flow, true
}

// newGzipPeek decompresses a gzip stream and returns a peekable reader.
func newGzipPeek(br *bufio.Reader, bufSize int) (*bufio.Reader, error) {
	gz, err := gzip.NewReader(br)
	if err != nil {
		return nil, err
	}
	return bufio.NewReaderSize(gz, bufSize), nil
}
