package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// mss is the TCP payload per segment, as on an Ethernet LAN.
const mss = 1448

// dialogue is one SMTP session on the wire: who sends what, in order.
type turn struct {
	client bool
	data   []byte
}

// dotStuff doubles a leading dot of every line and appends the final
// "." line (RFC 5321 4.5.2); data ends in CRLF.
func dotStuff(data []byte) []byte {
	out := make([]byte, 0, len(data)+len(data)/64+8)
	bol := true
	for _, c := range data {
		if bol && c == '.' {
			out = append(out, '.')
		}
		out = append(out, c)
		bol = c == '\n'
	}
	if !bytes.HasSuffix(out, []byte("\r\n")) {
		out = append(out, '\r', '\n')
	}
	return append(out, ".\r\n"...)
}

// smtpTurns is the SMTP dialogue that carries s's messages.
func smtpTurns(s Session, i int) []turn {
	c := func(f string, a ...any) turn { return turn{true, fmt.Appendf(nil, f, a...)} }
	srv := func(l string) turn { return turn{false, []byte(l + "\r\n")} }
	t := []turn{srv("220 mx.example.test ESMTP"), c("EHLO client%d.example.test\r\n", i), srv("250 mx.example.test")}
	for _, m := range s.Mails {
		t = append(t, c("MAIL FROM:%s\r\n", m.From), srv("250 2.1.0 Ok"))
		for _, r := range m.Rcpts {
			t = append(t, c("RCPT TO:%s\r\n", r), srv("250 2.1.5 Ok"))
		}
		t = append(t, c("DATA\r\n"), srv("354 End data with <CR><LF>.<CR><LF>"),
			turn{true, dotStuff(m.Data)}, srv("250 2.0.0 Ok: queued"))
	}
	return append(t, c("QUIT\r\n"), srv("221 2.0.0 Bye"))
}

// clientAddr is the session's client address: its header's, else one made
// from i.
func clientAddr(s Session, i int) (net.IP, uint16) {
	if host, port, ok := strings.Cut(s.Client, ":"); ok {
		ip := net.ParseIP(host).To4()
		p, err := strconv.Atoi(port)
		if ip != nil && err == nil && p > 0 && p < 65536 {
			return ip, uint16(p)
		}
	}
	return net.IPv4(10, byte(i>>16), byte(i>>8), byte(i)).To4(), uint16(1024 + i%60000)
}

// synthPcap writes a pcap (Ethernet, IPv4, TCP to port 25) carrying every
// session of ss, one after the other: handshake, the SMTP dialogue in
// segments of up to mss bytes, FIN both ways. It returns the bytes written.
func synthPcap(w io.Writer, ss []Session) (int64, error) {
	cw := &countWriter{w: w}
	bw := bufio.NewWriterSize(cw, 1<<20)
	pw := pcapgo.NewWriter(bw)
	if err := pw.WriteFileHeader(65536, layers.LinkTypeEthernet); err != nil {
		return 0, err
	}
	ts := time.Unix(1700000000, 0).UTC()
	server := net.IPv4(192, 0, 2, 25).To4()
	buf := gopacket.NewSerializeBuffer()
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	for i, s := range ss {
		cip, cport := clientAddr(s, i)
		cseq, sseq := uint32(1000+i), uint32(5000000+i)
		send := func(fromClient bool, flags string, payload []byte) error {
			eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv4}
			ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: cip, DstIP: server}
			tcp := &layers.TCP{SrcPort: layers.TCPPort(cport), DstPort: 25, Window: 65535, Seq: cseq, Ack: sseq}
			if !fromClient {
				eth.SrcMAC, eth.DstMAC = eth.DstMAC, eth.SrcMAC
				ip.SrcIP, ip.DstIP = server, cip
				tcp.SrcPort, tcp.DstPort = 25, layers.TCPPort(cport)
				tcp.Seq, tcp.Ack = sseq, cseq
			}
			tcp.SYN = strings.Contains(flags, "S")
			tcp.FIN = strings.Contains(flags, "F")
			tcp.ACK = strings.Contains(flags, "A")
			tcp.PSH = len(payload) > 0
			if err := tcp.SetNetworkLayerForChecksum(ip); err != nil {
				return err
			}
			if err := gopacket.SerializeLayers(buf, opts, eth, ip, tcp, gopacket.Payload(payload)); err != nil {
				return err
			}
			b := buf.Bytes()
			ts = ts.Add(20 * time.Microsecond)
			if err := pw.WritePacket(gopacket.CaptureInfo{Timestamp: ts, CaptureLength: len(b), Length: len(b)}, b); err != nil {
				return err
			}
			n := uint32(len(payload))
			if tcp.SYN || tcp.FIN {
				n++
			}
			if fromClient {
				cseq += n
			} else {
				sseq += n
			}
			return nil
		}
		if err := send(true, "S", nil); err != nil {
			return cw.n, err
		}
		if err := send(false, "SA", nil); err != nil {
			return cw.n, err
		}
		if err := send(true, "A", nil); err != nil {
			return cw.n, err
		}
		for _, t := range smtpTurns(s, i) {
			for d := t.data; len(d) > 0; {
				k := min(len(d), mss)
				if err := send(t.client, "A", d[:k]); err != nil {
					return cw.n, err
				}
				d = d[k:]
			}
		}
		for _, step := range []struct {
			client bool
			flags  string
		}{{true, "FA"}, {false, "FA"}, {true, "A"}} {
			if err := send(step.client, step.flags, nil); err != nil {
				return cw.n, err
			}
		}
		ts = ts.Add(time.Millisecond)
	}
	if err := bw.Flush(); err != nil {
		return cw.n, err
	}
	return cw.n, nil
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// writePcapFile writes synthPcap(ss) to path.
func writePcapFile(path string, ss []Session) (int64, error) {
	f, err := os.Create(path)
	if err != nil {
		return 0, err
	}
	n, err := synthPcap(f, ss)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return n, err
}
