package capture

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// Test helpers that synthesise TCP sessions as capture files.

// seg is one application write by the client or the server.
type seg struct {
	client bool
	data   []byte
}

type synthOpts struct {
	link         layers.LinkType // Ethernet (default), LinuxSLL, LinuxSLL2, Null, Raw
	vlans        int             // 802.1Q tags on Ethernet (2 = QinQ)
	v6           bool
	cport, sport uint16
	mss          int  // payload bytes per segment (default 1448)
	noSYN        bool // capture starts after the handshake
	start        time.Time
}

func (o *synthOpts) defaults() {
	if o.link == 0 {
		o.link = layers.LinkTypeEthernet
	}
	if o.cport == 0 {
		o.cport = 40000
	}
	if o.sport == 0 {
		o.sport = 25
	}
	if o.mss == 0 {
		o.mss = 1448
	}
	if o.start.IsZero() {
		o.start = time.Unix(1700000000, 0)
	}
}

// pkt is one synthesised packet (link layer included).
type pkt struct {
	client bool
	data   []byte
}

// synthSession returns the packets of one TCP session carrying segs.
func synthSession(o synthOpts, segs []seg) []pkt {
	o.defaults()
	cip, sip := net.IP{10, 0, 0, 1}, net.IP{10, 0, 0, 2}
	if o.v6 {
		cip, sip = net.ParseIP("2001:db8::1"), net.ParseIP("2001:db8::2")
	}
	cseq, sseq := uint32(1000), uint32(500000)
	var out []pkt
	add := func(client bool, flags string, payload []byte) {
		src, dst, sp, dp, seq, ack := cip, sip, o.cport, o.sport, cseq, sseq
		if !client {
			src, dst, sp, dp, seq, ack = sip, cip, o.sport, o.cport, sseq, cseq
		}
		tcp := &layers.TCP{SrcPort: layers.TCPPort(sp), DstPort: layers.TCPPort(dp), Seq: seq, Ack: ack, Window: 65535}
		for _, f := range flags {
			switch f {
			case 'S':
				tcp.SYN = true
			case 'A':
				tcp.ACK = true
			case 'F':
				tcp.FIN = true
			case 'P':
				tcp.PSH = true
			}
		}
		out = append(out, pkt{client: client, data: buildFrame(o, src, dst, tcp, payload)})
		n := uint32(len(payload))
		if tcp.SYN || tcp.FIN {
			n++
		}
		if client {
			cseq += n
		} else {
			sseq += n
		}
	}
	if !o.noSYN {
		add(true, "S", nil)
		add(false, "SA", nil)
		add(true, "A", nil)
	} else {
		cseq++
		sseq++
	}
	for _, s := range segs {
		d := s.data
		for len(d) > 0 {
			n := len(d)
			if n > o.mss {
				n = o.mss
			}
			add(s.client, "PA", d[:n])
			d = d[n:]
		}
	}
	add(true, "FA", nil)
	add(false, "FA", nil)
	add(true, "A", nil)
	return out
}

func buildFrame(o synthOpts, src, dst net.IP, tcp *layers.TCP, payload []byte) []byte {
	buf := gopacket.NewSerializeBuffer()
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	var ipl gopacket.SerializableLayer
	ethType := layers.EthernetTypeIPv4
	if o.v6 {
		ip := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolTCP, SrcIP: src, DstIP: dst}
		_ = tcp.SetNetworkLayerForChecksum(ip)
		ipl, ethType = ip, layers.EthernetTypeIPv6
	} else {
		ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: src, DstIP: dst}
		_ = tcp.SetNetworkLayerForChecksum(ip)
		ipl = ip
	}
	if err := gopacket.SerializeLayers(buf, opts, ipl, tcp, gopacket.Payload(payload)); err != nil {
		panic(err)
	}
	ipb := buf.Bytes()
	var hdr []byte
	switch o.link {
	case layers.LinkTypeEthernet:
		hdr = []byte{2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1}
		for i := 0; i < o.vlans; i++ {
			tpid := uint16(0x8100)
			if i == 0 && o.vlans > 1 {
				tpid = 0x88a8 // QinQ outer tag
			}
			hdr = binary.BigEndian.AppendUint16(hdr, tpid)
			hdr = binary.BigEndian.AppendUint16(hdr, uint16(100+i)) // TCI: VLAN id
		}
		hdr = binary.BigEndian.AppendUint16(hdr, uint16(ethType))
	case layers.LinkTypeLinuxSLL:
		hdr = make([]byte, 16)
		binary.BigEndian.PutUint16(hdr[0:], 0) // to us
		binary.BigEndian.PutUint16(hdr[2:], 1) // ARPHRD_ETHER
		binary.BigEndian.PutUint16(hdr[4:], 6)
		copy(hdr[6:], []byte{2, 0, 0, 0, 0, 1})
		binary.BigEndian.PutUint16(hdr[14:], uint16(ethType))
	case layers.LinkTypeLinuxSLL2:
		hdr = make([]byte, 20)
		binary.BigEndian.PutUint16(hdr[0:], uint16(ethType))
		binary.BigEndian.PutUint32(hdr[4:], 1) // interface index
		binary.BigEndian.PutUint16(hdr[8:], 1) // ARPHRD_ETHER
		hdr[10] = 0
		hdr[11] = 6
		copy(hdr[12:], []byte{2, 0, 0, 0, 0, 1})
	case layers.LinkTypeNull:
		fam := uint32(layers.ProtocolFamilyIPv4)
		if o.v6 {
			fam = uint32(layers.ProtocolFamilyIPv6BSD)
		}
		hdr = binary.LittleEndian.AppendUint32(nil, fam)
	case layers.LinkTypeRaw:
	}
	return append(hdr, ipb...)
}

// writePcap writes packets as a pcap file (pcapng when ng is true), one
// millisecond apart from o.start.
func writePcap(w io.Writer, o synthOpts, pkts []pkt, ng bool) error {
	o.defaults()
	ts := o.start
	if ng {
		nw, err := pcapgo.NewNgWriter(w, o.link)
		if err != nil {
			return err
		}
		for _, p := range pkts {
			ci := gopacket.CaptureInfo{Timestamp: ts, CaptureLength: len(p.data), Length: len(p.data)}
			if err := nw.WritePacket(ci, p.data); err != nil {
				return err
			}
			ts = ts.Add(time.Millisecond)
		}
		return nw.Flush()
	}
	pw := pcapgo.NewWriter(w)
	if err := pw.WriteFileHeader(262144, o.link); err != nil {
		return err
	}
	for _, p := range pkts {
		ci := gopacket.CaptureInfo{Timestamp: ts, CaptureLength: len(p.data), Length: len(p.data)}
		if err := pw.WritePacket(ci, p.data); err != nil {
			return err
		}
		ts = ts.Add(time.Millisecond)
	}
	return nil
}

// runBytes processes an in-memory capture and returns the sessions.
func runBytes(t testing.TB, capture []byte, opts Options) []*SessionFile {
	t.Helper()
	var out []*SessionFile
	opts.MessageData = true
	in := input{name: "synthetic.pcap", size: int64(len(capture)), open: func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(capture)), nil }}
	opts.defaults()
	st := opts.Stats
	if st == nil {
		st = &Stats{}
	}
	err := process(context.Background(), []input{in}, int64(len(capture)), &opts, st, func(sf *SessionFile) error {
		out = append(out, sf)
		return nil
	})
	if err != nil {
		t.Fatalf("process: %v", err)
	}
	return out
}

// smtpSession is a pipelining client sending msgs (already dot-stuffed
// payloads are built here) to a server that accepts everything.
func smtpSession(msgs [][]byte) []seg {
	s := []seg{
		{false, []byte("220 mx.example.test ESMTP\r\n")},
		{true, []byte("EHLO client.example.test\r\n")},
		{false, []byte("250-mx.example.test\r\n250-PIPELINING\r\n250-CHUNKING\r\n250 8BITMIME\r\n")},
	}
	for i, m := range msgs {
		if i%2 == 1 {
			// Every other message with BDAT, in two chunks, pipelined.
			half := len(m) / 2
			s = append(s,
				seg{true, append([]byte("MAIL FROM:<a@example.test>\r\nRCPT TO:<b@example.test>\r\nBDAT "+itoa(half)+"\r\n"), m[:half]...)},
				seg{false, []byte("250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n250 2.0.0 chunk ok\r\n")},
				seg{true, append([]byte("BDAT "+itoa(len(m)-half)+" LAST\r\n"), m[half:]...)},
				seg{false, []byte("250 2.0.0 Ok: queued\r\n")},
			)
			continue
		}
		s = append(s,
			seg{true, []byte("MAIL FROM:<a@example.test>\r\nRCPT TO:<b@example.test>\r\nDATA\r\n")},
			seg{false, []byte("250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n")},
			seg{true, append(dotStuff(m), ".\r\n"...)},
			seg{false, []byte("250 2.0.0 Ok: queued as X\r\n")},
		)
	}
	s = append(s, seg{true, []byte("QUIT\r\n")}, seg{false, []byte("221 2.0.0 Bye\r\n")})
	return s
}

func itoa(n int) string { return strconv.Itoa(n) }

// dotStuff doubles a leading dot on every line.
func dotStuff(m []byte) []byte {
	var out []byte
	start := true
	for _, c := range m {
		if start && c == '.' {
			out = append(out, '.')
		}
		out = append(out, c)
		start = c == '\n'
	}
	return out
}
