package capture

import (
	"bufio"
	"compress/gzip"
	"time"

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
	fg      layers.IPv6Fragment
	frag    *defragger                      // nil: fragments are undecodable
	parsers []*gopacket.DecodingLayerParser // by first layer type
	decoded []gopacket.LayerType
}

func newDecoder() *decoder {
	d := &decoder{}
	// The layers by type in a slice (DecodingLayerSparse), not the default
	// map: three map lookups a packet were a tenth of decode. One
	// container, built once, serves every parser (building one per
	// parser, a slice grown layer by layer, cost a fuzz run 20 times).
	dlc := gopacket.DecodingLayerContainer(gopacket.DecodingLayerSparse(make([]gopacket.DecodingLayer, 0, layers.LayerTypeLinuxSLL2+1)))
	for _, l := range []gopacket.DecodingLayer{&d.eth, &d.dot1q, &d.sll, &d.sll2, &d.loop, &d.ip4, &d.ip6, &d.tcp} {
		dlc = dlc.Put(l)
	}
	for _, first := range []gopacket.LayerType{
		layers.LayerTypeEthernet, layers.LayerTypeLinuxSLL, layers.LayerTypeLinuxSLL2,
		layers.LayerTypeLoopback, layers.LayerTypeIPv4, layers.LayerTypeIPv6,
	} {
		p := gopacket.NewDecodingLayerParser(first)
		p.SetDecodingLayerContainer(dlc)
		p.IgnoreUnsupported = true
		for int(first) >= len(d.parsers) {
			d.parsers = append(d.parsers, nil)
		}
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

// decodeResult says what decode made of a packet.
type decodeResult int

const (
	decodedTCP  decodeResult = iota // a TCP segment (maybe from reassembled fragments)
	undecodable                     // not TCP over IPv4/IPv6, or malformed
	fragHeld                        // an IP fragment, held until its datagram is whole
)

// maxExtHeaders bounds the IPv6 extension headers walked in one packet.
const maxExtHeaders = 16

// decode returns the TCP layer and the network flow of a packet. IPv4
// fragments and IPv6 fragments are reassembled (d.frag; fragHeld until
// the datagram is whole), IPv6 extension headers (hop-by-hop, routing,
// destination options, authentication, fragment) are walked. Panics
// inside gopacket are turned into errors by the parser.
func (d *decoder) decode(data []byte, lt layers.LinkType, ts time.Time) (*layers.TCP, gopacket.Flow, decodeResult) {
	first := firstLayer(lt, data)
	if first == layers.LayerTypeEthernet && len(data) >= 14 && data[12] == 0x08 && data[13] == 0x00 {
		return d.decodeEthIPv4(data, ts)
	}
	return d.decodeParsed(data, first, ts)
}

// decodeParsed is decode through the layer parser for the first layer.
func (d *decoder) decodeParsed(data []byte, first gopacket.LayerType, ts time.Time) (*layers.TCP, gopacket.Flow, decodeResult) {
	var p *gopacket.DecodingLayerParser
	if int(first) > 0 && int(first) < len(d.parsers) {
		p = d.parsers[first]
	}
	if p == nil {
		return nil, gopacket.Flow{}, undecodable
	}
	d.decoded = d.decoded[:0]
	if err := p.DecodeLayers(data, &d.decoded); err != nil && len(d.decoded) == 0 {
		return nil, gopacket.Flow{}, undecodable
	}
	var flow gopacket.Flow
	ip := gopacket.LayerTypeZero
	haveTCP := false
	for _, t := range d.decoded {
		switch t {
		case layers.LayerTypeIPv4:
			ip = t
			if isFragment(&d.ip4) {
				return d.fragment(flow, ts)
			}
			flow = d.ip4.NetworkFlow()
		case layers.LayerTypeIPv6:
			ip = t
			flow = d.ip6.NetworkFlow()
		case layers.LayerTypeTCP:
			haveTCP = true
		}
	}
	switch {
	case ip == gopacket.LayerTypeZero:
		return nil, flow, undecodable
	case haveTCP:
		return &d.tcp, flow, decodedTCP
	case ip == layers.LayerTypeIPv6:
		next := d.ip6.NextHeader
		if d.ip6.HopByHop != nil {
			next = d.ip6.HopByHop.NextHeader
		}
		return d.walkIPv6(next, d.ip6.Payload, flow, ts)
	}
	return nil, flow, undecodable
}

// isFragment says whether ip is a fragment of a larger datagram.
func isFragment(ip *layers.IPv4) bool {
	return ip.Flags&layers.IPv4MoreFragments != 0 || ip.FragOffset != 0
}

// fragment hands the IPv4 fragment in d.ip4 to the defragmenter: the TCP
// segment of the datagram it completes, fragHeld while the datagram is
// incomplete, undecodable without a defragmenter or for another protocol
// (flow is what the caller had decoded so far).
func (d *decoder) fragment(flow gopacket.Flow, ts time.Time) (*layers.TCP, gopacket.Flow, decodeResult) {
	if d.frag == nil || d.ip4.Protocol != layers.IPProtocolTCP {
		return nil, flow, undecodable
	}
	out := d.frag.ipv4(&d.ip4, ts)
	if out == nil {
		return nil, flow, fragHeld
	}
	return d.tcpFrom(out.Payload, out.NetworkFlow())
}

// decodeEthIPv4 decodes an Ethernet frame of type IPv4, nearly every
// packet of the usual capture, layer by layer without the parser: its
// walk through the layer container was half of decode's time. The result
// is the parser's (see decode): a layer that fails, or panics, makes the
// packet undecodable; a fragment goes to the defragmenter.
func (d *decoder) decodeEthIPv4(data []byte, ts time.Time) (*layers.TCP, gopacket.Flow, decodeResult) {
	var flow gopacket.Flow
	if !d.ethIPv4(data) {
		return nil, flow, undecodable
	}
	if isFragment(&d.ip4) {
		return d.fragment(flow, ts)
	}
	flow = d.ip4.NetworkFlow()
	if d.ip4.Protocol != layers.IPProtocolTCP {
		return nil, flow, undecodable
	}
	return d.tcpFrom(d.ip4.Payload, flow)
}

// ethIPv4 decodes the Ethernet and IPv4 headers of data; false if either
// fails or panics (as the parser turns panics into errors).
func (d *decoder) ethIPv4(data []byte) (ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	return d.eth.DecodeFromBytes(data, gopacket.NilDecodeFeedback) == nil &&
		d.ip4.DecodeFromBytes(d.eth.Payload, gopacket.NilDecodeFeedback) == nil
}

// walkIPv6 skips the IPv6 extension headers before the TCP header
// (RFC 8200 section 4); a fragment header hands the packet to the
// defragmenter, and the reassembled fragmentable part is walked in turn.
func (d *decoder) walkIPv6(next layers.IPProtocol, b []byte, flow gopacket.Flow, ts time.Time) (*layers.TCP, gopacket.Flow, decodeResult) {
	reassembled := false
	for i := 0; i < maxExtHeaders; i++ {
		switch next {
		case layers.IPProtocolTCP:
			return d.tcpFrom(b, flow)
		case layers.IPProtocolIPv6HopByHop, layers.IPProtocolIPv6Routing, layers.IPProtocolIPv6Destination, layers.IPProtocolAH:
			if len(b) < 8 {
				return nil, flow, undecodable
			}
			n := (int(b[1]) + 1) * 8
			if next == layers.IPProtocolAH {
				n = (int(b[1]) + 2) * 4 // RFC 4302: in 4-byte units, minus 2
			}
			if n > len(b) {
				return nil, flow, undecodable
			}
			next, b = layers.IPProtocol(b[0]), b[n:]
		case layers.IPProtocolIPv6Fragment:
			if err := d.fg.DecodeFromBytes(b, gopacket.NilDecodeFeedback); err != nil {
				return nil, flow, undecodable
			}
			if d.fg.FragmentOffset == 0 && !d.fg.MoreFragments {
				next, b = d.fg.NextHeader, b[8:] // an atomic fragment (RFC 6946)
				continue
			}
			if reassembled || d.frag == nil {
				return nil, flow, undecodable
			}
			out := d.frag.ipv6(&d.ip6, &d.fg, ts)
			if out == nil {
				return nil, flow, fragHeld
			}
			reassembled = true
			next, b = out.NextHeader, out.Payload
		default:
			return nil, flow, undecodable
		}
	}
	return nil, flow, undecodable
}

// tcpFrom decodes a TCP header (and payload) from b.
func (d *decoder) tcpFrom(b []byte, flow gopacket.Flow) (*layers.TCP, gopacket.Flow, decodeResult) {
	if err := d.tcp.DecodeFromBytes(b, gopacket.NilDecodeFeedback); err != nil {
		return nil, flow, undecodable
	}
	return &d.tcp, flow, decodedTCP
}

// newGzipPeek decompresses a gzip stream and returns a peekable reader.
func newGzipPeek(br *bufio.Reader, bufSize int) (*bufio.Reader, error) {
	gz, err := gzip.NewReader(br)
	if err != nil {
		return nil, err
	}
	return bufio.NewReaderSize(gz, bufSize), nil
}
