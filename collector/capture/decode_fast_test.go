package capture

import (
	"bytes"
	"math/rand"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// The Ethernet/IPv4 fast path of decode gives the layer parser's result
// for every frame: valid segments, fragments, other protocols, and frames
// cut or corrupted at every byte.
func TestDecodeEthIPv4MatchesParser(t *testing.T) {
	frame := func(proto layers.IPProtocol, flags layers.IPv4Flag, fragOff uint16, payload string, opts bool) []byte {
		eth := &layers.Ethernet{SrcMAC: []byte{2, 0, 0, 0, 0, 1}, DstMAC: []byte{2, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv4}
		ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: proto, Flags: flags, FragOffset: fragOff,
			SrcIP: []byte{10, 0, 0, 1}, DstIP: []byte{10, 0, 0, 2}}
		if opts {
			ip.Options = []layers.IPv4Option{{OptionType: 1}, {OptionType: 1}, {OptionType: 1}, {OptionType: 0}}
		}
		tcp := &layers.TCP{SrcPort: 40000, DstPort: 25, Seq: 1000, Ack: 77, PSH: true, ACK: true, Window: 512}
		tcp.SetNetworkLayerForChecksum(ip)
		buf := gopacket.NewSerializeBuffer()
		if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
			eth, ip, tcp, gopacket.Payload(payload)); err != nil {
			t.Fatal(err)
		}
		return bytes.Clone(buf.Bytes())
	}
	seeds := [][]byte{
		frame(layers.IPProtocolTCP, 0, 0, "EHLO example.org\r\n", false),
		frame(layers.IPProtocolTCP, layers.IPv4DontFragment, 0, "", true),
		frame(layers.IPProtocolTCP, layers.IPv4MoreFragments, 0, "MAIL FROM:<a@b>\r\n", false),
		frame(layers.IPProtocolTCP, 0, 3, "tail", false),
		frame(layers.IPProtocolUDP, 0, 0, "not tcp", false),
	}
	type result struct {
		res              decodeResult
		flow             gopacket.Flow
		src, dst         layers.TCPPort
		seq, ack         uint32
		syn, fin, rst    bool
		payload, options string
	}
	run := func(d *decoder, fast bool, data []byte, ts time.Time) result {
		var tcp *layers.TCP
		var r result
		if fast {
			tcp, r.flow, r.res = d.decode(data, layers.LinkTypeEthernet, ts)
		} else {
			tcp, r.flow, r.res = d.decodeParsed(data, layers.LayerTypeEthernet, ts)
		}
		if tcp != nil {
			r.src, r.dst, r.seq, r.ack = tcp.SrcPort, tcp.DstPort, tcp.Seq, tcp.Ack
			r.syn, r.fin, r.rst = tcp.SYN, tcp.FIN, tcp.RST
			r.payload, r.options = string(tcp.Payload), string(tcp.Contents)
		}
		return r
	}
	var stF, stP Stats
	fast, parsed := newDecoder(), newDecoder()
	fast.frag = newDefragger(time.Minute, 1<<20, &stF)
	parsed.frag = newDefragger(time.Minute, 1<<20, &stP)
	rng := rand.New(rand.NewSource(1))
	ts := time.Unix(1700000000, 0)
	n, tcps := 0, 0
	check := func(data []byte) {
		n++
		ts = ts.Add(time.Millisecond)
		if !(len(data) >= 14 && data[12] == 0x08 && data[13] == 0x00) {
			return // not the fast path's
		}
		a, b := run(fast, true, bytes.Clone(data), ts), run(parsed, false, bytes.Clone(data), ts)
		if a != b {
			t.Fatalf("frame % x:\nfast path %+v\nparser    %+v", data, a, b)
		}
		if a.res == decodedTCP {
			tcps++
		}
	}
	for _, s := range seeds {
		for cut := 0; cut <= len(s); cut++ {
			check(s[:cut])
		}
		for i := 14; i < len(s); i++ {
			for _, v := range []byte{0, 1, 0x0f, 0x40, 0x45, 0x4f, 0x50, 0x80, 0xff} {
				m := bytes.Clone(s)
				m[i] = v
				check(m)
			}
		}
		for k := 0; k < 2000; k++ {
			m := bytes.Clone(s)
			for j := rng.Intn(4); j >= 0; j-- {
				m[14+rng.Intn(len(m)-14)] = byte(rng.Intn(256))
			}
			check(m[:14+rng.Intn(len(m)-13)])
		}
	}
	if tcps < 100 {
		t.Fatalf("only %d of %d frames decoded as TCP: the comparison covers too little", tcps, n)
	}
}
