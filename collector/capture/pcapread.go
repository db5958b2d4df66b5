package capture

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// pcapReader reads classic pcap files (both byte orders, micro- and
// nanosecond timestamps) and returns each packet as a slice of its own
// large read buffer: no per-packet copy, unlike pcapgo's reader, which
// copies every packet through two buffers. pcapng files go to pcapgo.
type pcapReader struct {
	r        io.Reader
	order    binary.ByteOrder
	nanos    bool
	snaplen  uint32
	linkType layers.LinkType
	buf      []byte
	chunk    int // bytes read ahead
	start    int // unread data is buf[start:end]
	end      int
	eof      bool
}

// maxPcapRecord is the record size always accepted (tcpdump's maximum
// snap length); larger records need a snap length that allows them, and
// nothing above hardMaxPcapRecord is believed (a corrupt length would
// otherwise make us allocate gigabytes).
const (
	maxPcapRecord     = 256 << 10
	hardMaxPcapRecord = 16 << 20
)

func newPcapReader(r io.Reader, hdr []byte, chunk int) (*pcapReader, error) {
	if len(hdr) < 24 {
		return nil, errors.New("truncated pcap file header")
	}
	// Twice the chunk: the reads into it are then at least a chunk long,
	// which the bufio.Reader under it (of chunk bytes) passes straight to
	// the file instead of copying them through its own buffer.
	p := &pcapReader{r: r, buf: make([]byte, 2*chunk), chunk: chunk}
	switch binary.LittleEndian.Uint32(hdr) {
	case 0xa1b2c3d4:
		p.order = binary.LittleEndian
	case 0xa1b23c4d:
		p.order, p.nanos = binary.LittleEndian, true
	case 0xd4c3b2a1:
		p.order = binary.BigEndian
	case 0x4d3cb2a1:
		p.order, p.nanos = binary.BigEndian, true
	default:
		return nil, fmt.Errorf("unknown pcap magic %x", hdr[:4])
	}
	p.snaplen = p.order.Uint32(hdr[16:])
	// The link type is in the low 16 bits; the upper bits carry the FCS
	// length flags of some writers.
	p.linkType = layers.LinkType(p.order.Uint32(hdr[20:]) & 0xffff)
	return p, nil
}

// fill makes at least n unread bytes available, unless the file ends.
func (p *pcapReader) fill(n int) error {
	if p.end-p.start >= n {
		return nil
	}
	if n > len(p.buf) {
		nb := make([]byte, n+p.chunk)
		p.end = copy(nb, p.buf[p.start:p.end])
		p.start, p.buf = 0, nb
	} else if p.start > 0 {
		p.end = copy(p.buf, p.buf[p.start:p.end])
		p.start = 0
	}
	for p.end-p.start < n && !p.eof {
		k, err := p.r.Read(p.buf[p.end:])
		p.end += k
		if err == io.EOF {
			p.eof = true
		} else if err != nil {
			return err
		}
	}
	if p.end-p.start < n {
		if p.end == p.start {
			return io.EOF
		}
		return io.ErrUnexpectedEOF
	}
	return nil
}

// ZeroCopyReadPacketData returns the next packet; data is valid until the
// next call.
func (p *pcapReader) ZeroCopyReadPacketData() ([]byte, gopacket.CaptureInfo, error) {
	var ci gopacket.CaptureInfo
	if err := p.fill(16); err != nil {
		return nil, ci, err
	}
	h := p.buf[p.start : p.start+16]
	sec, frac := p.order.Uint32(h), p.order.Uint32(h[4:])
	capLen, origLen := p.order.Uint32(h[8:]), p.order.Uint32(h[12:])
	if capLen > hardMaxPcapRecord || capLen > maxPcapRecord && capLen > p.snaplen {
		return nil, ci, fmt.Errorf("record of %d bytes exceeds the snap length %d", capLen, p.snaplen)
	}
	if err := p.fill(16 + int(capLen)); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, ci, err
	}
	data := p.buf[p.start+16 : p.start+16+int(capLen)]
	p.start += 16 + int(capLen)
	ns := int64(frac)
	if !p.nanos {
		ns *= 1000
	}
	ci.Timestamp = time.Unix(int64(sec), ns).UTC()
	ci.CaptureLength = int(capLen)
	ci.Length = int(origLen)
	return data, ci, nil
}
