package capture

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// fragOpts says how fragmentFrame splits a packet.
type fragOpts struct {
	size    int    // payload bytes per fragment (a multiple of 8)
	reverse bool   // fragments in reverse order (last first)
	ext     []byte // IPv6: extension headers before the fragment header (hop-by-hop, destination options), as one chain of 8-byte headers
	dupe    bool   // send the first fragment twice (a retransmitted fragment)
	id      uint32
}

// linkHeaderLen is the Ethernet header length of frames built by
// buildFrame with o (VLAN tags included).
func linkHeaderLen(o synthOpts) int { return 14 + 4*o.vlans }

// fragmentFrame splits an Ethernet frame made by buildFrame into IP
// fragments (IPv4 or IPv6 per o.v6); a frame whose IP payload fits in one
// fragment is returned as it is.
func fragmentFrame(o synthOpts, frame []byte, fo fragOpts) [][]byte {
	hl := linkHeaderLen(o)
	link, ipb := frame[:hl], frame[hl:]
	var out [][]byte
	if !o.v6 {
		ihl := int(ipb[0]&0x0f) * 4
		payload := ipb[ihl:]
		if len(payload) <= fo.size {
			return [][]byte{frame}
		}
		src, dst := net.IP(ipb[12:16]), net.IP(ipb[16:20])
		for off := 0; off < len(payload); off += fo.size {
			end := min(off+fo.size, len(payload))
			ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: src, DstIP: dst,
				Id: uint16(fo.id), FragOffset: uint16(off / 8)}
			if end < len(payload) {
				ip.Flags = layers.IPv4MoreFragments
			}
			buf := gopacket.NewSerializeBuffer()
			if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ip, gopacket.Payload(payload[off:end])); err != nil {
				panic(err)
			}
			out = append(out, append(append([]byte(nil), link...), buf.Bytes()...))
		}
	} else {
		next := ipb[6]
		payload := ipb[40:] // buildFrame writes no extension header
		if len(payload) <= fo.size {
			return [][]byte{frame}
		}
		for off := 0; off < len(payload); off += fo.size {
			end := min(off+fo.size, len(payload))
			hdr := append([]byte(nil), ipb[:40]...)
			ext := append([]byte(nil), fo.ext...)
			if len(ext) > 0 {
				hdr[6] = ext[0] // the chain's first header type is carried in ext[0]; see v6Ext
				ext = ext[1:]
				// the last extension header's next header is the fragment header
				ext[lastExtStart(ext)] = byte(layers.IPProtocolIPv6Fragment)
			} else {
				hdr[6] = byte(layers.IPProtocolIPv6Fragment)
			}
			fh := make([]byte, 8)
			fh[0] = next
			fo16 := uint16(off/8) << 3
			if end < len(payload) {
				fo16 |= 1
			}
			binary.BigEndian.PutUint16(fh[2:], fo16)
			binary.BigEndian.PutUint32(fh[4:], fo.id)
			body := append(append(ext, fh...), payload[off:end]...)
			binary.BigEndian.PutUint16(hdr[4:], uint16(len(body)))
			out = append(out, append(append(append([]byte(nil), link...), hdr...), body...))
		}
	}
	if fo.dupe {
		out = append([][]byte{out[0]}, out...)
	}
	if fo.reverse {
		for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
			out[i], out[j] = out[j], out[i]
		}
	}
	return out
}

// v6Ext is a chain of IPv6 extension headers for fragmentOpts.ext: its
// first byte is the type of the first header, then the headers (8 bytes
// each, a PadN option filling them), in the order given.
func v6Ext(types ...layers.IPProtocol) []byte {
	if len(types) == 0 {
		return nil
	}
	out := []byte{byte(types[0])}
	for i := range types {
		next := byte(0) // set to the fragment header by fragmentFrame
		if i+1 < len(types) {
			next = byte(types[i+1])
		}
		out = append(out, next, 0, 1, 4, 0, 0, 0, 0) // PadN of 4 bytes
	}
	return out
}

func lastExtStart(ext []byte) int { return len(ext) - 8 }

// fragmentSession fragments the payload packets of a synthetic session.
func fragmentSession(o synthOpts, pk []pkt, fo fragOpts) []pkt {
	var out []pkt
	for i, p := range pk {
		fo.id = uint32(1000 + i)
		for _, f := range fragmentFrame(o, p.data, fo) {
			out = append(out, pkt{client: p.client, data: f})
		}
	}
	return out
}

// TestIPFragments: sessions whose segments travel as IP fragments (IPv4,
// IPv6, IPv6 with extension headers, under VLAN tags, out of order and
// repeated) give exactly the messages sent.
func TestIPFragments(t *testing.T) {
	cases := []struct {
		name string
		o    synthOpts
		fo   fragOpts
	}{
		{"ipv4", synthOpts{mss: 1400}, fragOpts{size: 512}},
		{"ipv4-reverse-dupe-qinq", synthOpts{mss: 1400, vlans: 2}, fragOpts{size: 256, reverse: true, dupe: true}},
		{"ipv6", synthOpts{mss: 1400, v6: true}, fragOpts{size: 512}},
		{"ipv6-hopbyhop-dstopts-reverse-vlan", synthOpts{mss: 1400, v6: true, vlans: 1},
			fragOpts{size: 376, reverse: true, dupe: true, ext: v6Ext(layers.IPProtocolIPv6HopByHop, layers.IPProtocolIPv6Destination)}},
		{"ipv6-routing", synthOpts{mss: 1400, v6: true}, fragOpts{size: 1000, ext: v6Ext(layers.IPProtocolIPv6Routing)}},
	}
	msgs := [][]byte{bytes.Repeat([]byte("fragmented line of the message body\r\n"), 120), testMsgs[0], testMsgs[1]}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			pk := fragmentSession(c.o, synthSession(c.o, smtpSession(msgs)), c.fo)
			var buf bytes.Buffer
			if err := writePcap(&buf, c.o, pk, false); err != nil {
				t.Fatal(err)
			}
			var st Stats
			sfs := runBytes(t, buf.Bytes(), Options{Stats: &st})
			if len(sfs) != 1 {
				t.Fatalf("%d sessions, want 1", len(sfs))
			}
			checkRoundTrip(t, sfs[0], msgs)
			if st.FragReassembled == 0 || st.Undecodable != 0 || st.FragDiscarded != 0 || st.GapBytes != 0 {
				t.Errorf("stats: %d reassembled, %d undecodable, %d discarded, %d gap bytes", st.FragReassembled, st.Undecodable, st.FragDiscarded, st.GapBytes)
			}
		})
	}
}

// TestIPv6ExtensionHeaders: unfragmented TCP behind hop-by-hop, routing
// and destination options headers, and behind an atomic fragment header,
// is decoded.
func TestIPv6ExtensionHeaders(t *testing.T) {
	o := synthOpts{v6: true}
	pk := synthSession(o, smtpSession(testMsgs[:1]))
	for _, ext := range [][]byte{
		v6Ext(layers.IPProtocolIPv6HopByHop),
		v6Ext(layers.IPProtocolIPv6HopByHop, layers.IPProtocolIPv6Destination, layers.IPProtocolIPv6Routing),
	} {
		var out []pkt
		for _, p := range pk {
			// a fragment size beyond the payload with an atomic
			// fragment header: offset 0, no more fragments
			fs := fragmentFrame(o, p.data, fragOpts{size: 1 << 16})
			d := fs[0]
			ipb := d[14:]
			payload := append([]byte(nil), ipb[40:]...)
			e := append([]byte(nil), ext[1:]...)
			e[lastExtStart(e)] = byte(layers.IPProtocolIPv6Fragment)
			atomic := []byte{byte(layers.IPProtocolTCP), 0, 0, 0, 0, 0, 0, 9}
			body := append(append(e, atomic...), payload...)
			hdr := append([]byte(nil), ipb[:40]...)
			hdr[6] = ext[0]
			binary.BigEndian.PutUint16(hdr[4:], uint16(len(body)))
			out = append(out, pkt{client: p.client, data: append(append(append([]byte(nil), d[:14]...), hdr...), body...)})
		}
		var buf bytes.Buffer
		if err := writePcap(&buf, o, out, false); err != nil {
			t.Fatal(err)
		}
		var st Stats
		sfs := runBytes(t, buf.Bytes(), Options{Stats: &st})
		if len(sfs) != 1 {
			t.Fatalf("%d sessions, want 1", len(sfs))
		}
		checkRoundTrip(t, sfs[0], testMsgs[:1])
		if st.Undecodable != 0 || st.Fragments != 0 {
			t.Errorf("%d undecodable, %d fragments (atomic fragments are not fragments)", st.Undecodable, st.Fragments)
		}
	}
}

// TestFragTimeout: a datagram whose last fragment comes after FragTimeout
// (capture time) is discarded and counted; its bytes are a gap, never
// glued to fragments of another time. The defragmenters really forget it:
// the late fragment does not complete it.
func TestFragTimeout(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		t.Run(fmt.Sprintf("v6=%v", v6), func(t *testing.T) {
			o := synthOpts{mss: 1400, v6: v6}
			msg := bytes.Repeat([]byte("0123456789abcdef0123456789abcdef\r\n"), 30)
			pk := synthSession(o, smtpSession([][]byte{msg}))
			var out []pkt
			var ts []time.Time
			now := time.Unix(1700000000, 0)
			var late []byte
			for i, p := range pk {
				fs := fragmentFrame(o, p.data, fragOpts{size: 512, id: uint32(i + 1)})
				if len(fs) > 1 && late == nil {
					late = fs[len(fs)-1]
					fs = fs[:len(fs)-1]
				}
				for _, f := range fs {
					out = append(out, pkt{client: p.client, data: f})
					ts = append(ts, now)
					now = now.Add(time.Millisecond)
				}
				if late != nil && i == len(pk)-4 { // before the FINs
					now = now.Add(3 * time.Second)
					out = append(out, pkt{client: true, data: late})
					ts = append(ts, now)
				}
			}
			path := t.TempDir() + "/late.pcap"
			writeTimed(t, path, out, ts)
			var st Stats
			var sfs []*SessionFile
			err := Process(t.Context(), []string{path}, Options{MessageData: true, Stats: &st, FragTimeout: time.Second}, func(sf *SessionFile) error {
				sfs = append(sfs, sf)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if st.FragDiscarded != 1 {
				t.Errorf("FragDiscarded = %d, want 1", st.FragDiscarded)
			}
			if len(sfs) != 1 || len(sfs[0].Messages) != 1 || !sfs[0].Messages[0].Partial || st.GapBytes == 0 {
				t.Fatalf("want one session with one partial message and a gap; got %d sessions, %d gap bytes", len(sfs), st.GapBytes)
			}
			if !bytes.Contains(sfs[0].Data, []byte("@gap ")) {
				t.Errorf("no @gap line in the session file:\n%s", sfs[0].Data)
			}
		})
	}
}

// ip4Frag and ip6Frag build one fragment for the defragger unit tests.
func ip4Frag(id uint16, off int, more bool, n int) *layers.IPv4 {
	ip := &layers.IPv4{Version: 4, IHL: 5, Length: uint16(20 + n), Id: id, FragOffset: uint16(off / 8),
		Protocol: layers.IPProtocolTCP, SrcIP: net.IP{10, 0, 0, 1}, DstIP: net.IP{10, 0, 0, 2}}
	if more {
		ip.Flags = layers.IPv4MoreFragments
	}
	ip.Payload = bytes.Repeat([]byte{byte(id)}, n)
	return ip
}

func ip6Frag(id uint32, off int, more bool, n int) (*layers.IPv6, *layers.IPv6Fragment) {
	ip := &layers.IPv6{Version: 6, SrcIP: net.ParseIP("2001:db8::1"), DstIP: net.ParseIP("2001:db8::2")}
	fg := &layers.IPv6Fragment{NextHeader: layers.IPProtocolTCP, FragmentOffset: uint16(off / 8), MoreFragments: more, Identification: id}
	fg.Payload = bytes.Repeat([]byte{byte(id)}, n)
	return ip, fg
}

// TestDefraggerDiscardForgets: after a timeout discard, the rest of the
// datagram does not complete it (in either defragmenter), and a datagram
// sent again whole afterwards is reassembled.
func TestDefraggerDiscardForgets(t *testing.T) {
	t0 := time.Unix(1700000000, 0)
	var st Stats
	f := newDefragger(time.Second, 1<<20, &st)
	if f.ipv4(ip4Frag(7, 0, true, 64), t0) != nil {
		t.Fatal("first IPv4 fragment made a datagram")
	}
	if ip, fg := ip6Frag(7, 0, true, 64); f.ipv6(ip, fg, t0) != nil {
		t.Fatal("first IPv6 fragment made a packet")
	}
	later := t0.Add(2 * time.Second)
	if f.ipv4(ip4Frag(7, 64, false, 10), later) != nil {
		t.Error("IPv4: a fragment after the timeout completed a discarded datagram")
	}
	if ip, fg := ip6Frag(7, 64, false, 10); f.ipv6(ip, fg, later) != nil {
		t.Error("IPv6: a fragment after the timeout completed a discarded packet")
	}
	if st.FragDiscarded != 2 {
		t.Errorf("FragDiscarded = %d, want 2", st.FragDiscarded)
	}
	// The late fragments are held in turn; a fresh whole datagram with
	// another id still goes through.
	if f.ipv4(ip4Frag(8, 0, true, 64), later) != nil {
		t.Fatal("made a datagram early")
	}
	if out := f.ipv4(ip4Frag(8, 64, false, 10), later); out == nil || len(out.Payload) != 74 {
		t.Fatalf("IPv4 datagram 8 not reassembled: %v", out)
	}
	if ip, fg := ip6Frag(8, 0, true, 64); f.ipv6(ip, fg, later) != nil {
		t.Fatal("made a packet early")
	}
	if ip, fg := ip6Frag(8, 64, false, 10); f.ipv6(ip, fg, later) == nil {
		t.Fatal("IPv6 packet 8 not reassembled")
	}
	if st.FragReassembled != 2 {
		t.Errorf("FragReassembled = %d, want 2", st.FragReassembled)
	}
}

// TestDefraggerMemoryCap: a flood of datagrams that never complete (only
// their first fragment) holds at most MaxFragBytes (plus the fragment
// being added); the oldest are discarded and counted.
func TestDefraggerMemoryCap(t *testing.T) {
	t0 := time.Unix(1700000000, 0)
	var st Stats
	const maxBytes = 64 << 10
	f := newDefragger(time.Hour, maxBytes, &st)
	const n = 20000
	for i := 0; i < n; i++ {
		now := t0.Add(time.Duration(i) * time.Microsecond)
		if i%2 == 0 {
			f.ipv4(ip4Frag(uint16(i), 0, true, 1000), now)
		} else {
			ip, fg := ip6Frag(uint32(i), 0, true, 1000)
			f.ipv6(ip, fg, now)
		}
		if f.bytes > maxBytes {
			t.Fatalf("after %d datagrams: %d bytes held, cap %d", i+1, f.bytes, maxBytes)
		}
	}
	held := int64(len(f.pending))
	if held == 0 || held > maxBytes/1000 {
		t.Errorf("%d datagrams held, want 1..%d", held, maxBytes/1000)
	}
	if st.FragDiscarded != n-held {
		t.Errorf("FragDiscarded = %d, want %d", st.FragDiscarded, n-held)
	}
	if len(st.Warnings) != 1 {
		t.Errorf("warnings %q, want one", st.Warnings)
	}
	if live := len(f.fifo) - f.head; live > 2*int(held)+1100 {
		t.Errorf("the FIFO holds %d entries for %d datagrams", live, held)
	}
}

// FuzzDecode feeds arbitrary frames (a sequence: 1 byte link type
// selector, 2 bytes length, the frame) through the shared decode path with
// IP fragment reassembly, as the pcap reader and the live capture do. It
// must never panic, the fragment memory must stay within its cap, and a
// decoded TCP segment must lie within the bytes given or reassembled.
func FuzzDecode(f *testing.F) {
	links := []layers.LinkType{layers.LinkTypeEthernet, layers.LinkTypeRaw, layers.LinkTypeLinuxSLL, layers.LinkTypeLinuxSLL2, layers.LinkTypeNull}
	seed := func(o synthOpts, fo fragOpts) []byte {
		var in []byte
		for _, p := range synthSession(o, smtpSession(testMsgs[:1]))[3:5] {
			for _, fr := range fragmentFrame(o, p.data, fo) {
				in = append(in, 0)
				in = binary.BigEndian.AppendUint16(in, uint16(len(fr)))
				in = append(in, fr...)
			}
		}
		return in
	}
	f.Add([]byte{})
	f.Add(seed(synthOpts{mss: 1400}, fragOpts{size: 64}))
	f.Add(seed(synthOpts{mss: 1400, vlans: 2}, fragOpts{size: 64, reverse: true, dupe: true}))
	f.Add(seed(synthOpts{mss: 1400, v6: true}, fragOpts{size: 64}))
	f.Add(seed(synthOpts{mss: 1400, v6: true, vlans: 1}, fragOpts{size: 64, ext: v6Ext(layers.IPProtocolIPv6HopByHop, layers.IPProtocolIPv6Destination)}))
	f.Fuzz(func(t *testing.T, in []byte) {
		var st Stats
		d := newDecoder()
		const maxBytes = 4 << 10
		d.frag = newDefragger(time.Second, maxBytes, &st)
		now := time.Unix(1700000000, 0)
		for len(in) >= 3 {
			lt := links[int(in[0])%len(links)]
			n := min(int(binary.BigEndian.Uint16(in[1:])), len(in)-3)
			frame := in[3 : 3+n]
			in = in[3+n:]
			now = now.Add(time.Duration(n%7) * 100 * time.Millisecond)
			tcp, _, res := d.decode(frame, lt, now)
			if res == decodedTCP && (tcp == nil || len(tcp.Payload) > 65535) {
				t.Fatalf("decoded TCP %v with %d payload bytes", tcp, len(tcp.Payload))
			}
			if d.frag.bytes > maxBytes || len(d.frag.pending) > maxFragDatagrams || d.frag.bytes < 0 {
				t.Fatalf("fragment memory %d bytes, %d datagrams (cap %d bytes)", d.frag.bytes, len(d.frag.pending), maxBytes)
			}
		}
	})
}
