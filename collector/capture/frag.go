package capture

import (
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/ip4defrag"
	"github.com/gopacket/gopacket/ip6defrag"
	"github.com/gopacket/gopacket/layers"
)

// Default fragment limits (see Options.FragTimeout, Options.MaxFragBytes).
const (
	DefaultFragTimeout  = 30 * time.Second // Linux's ipfrag_time
	DefaultMaxFragBytes = 64 << 20
	// maxFragDatagrams caps the datagrams under reassembly whatever their
	// size (each costs a map entry and a list besides its bytes).
	maxFragDatagrams = 65536
)

// fragKey names one datagram under reassembly (RFC 791 section 2.3: source,
// destination, protocol and Id; RFC 8200 section 4.5: source, destination
// and Identification).
type fragKey struct {
	v6    bool
	flow  gopacket.Flow
	id    uint32
	proto layers.IPProtocol // IPv4 only
}

// fragEntry is our account of one datagram held by gopacket's
// defragmenters: when its first fragment came (capture time) and how many
// payload bytes were fed for it (an upper bound of what is held).
type fragEntry struct {
	key   fragKey
	first time.Time
	bytes int
	proto layers.IPProtocol
	gone  bool // completed, dropped or discarded: skipped in the FIFO
	// src, dst (copies) to address a discard to it.
	src, dst []byte
}

// defragger reassembles IPv4 fragments (gopacket's ip4defrag) and IPv6
// fragments (gopacket's ip6defrag), with the memory they hold bounded:
// a datagram not complete FragTimeout after its first fragment (capture
// time) is discarded, and beyond MaxFragBytes (or maxFragDatagrams) the
// oldest datagrams are discarded; each discard is counted
// (Stats.FragDiscarded). Neither gopacket defragmenter can forget one
// datagram on request, so a discard feeds the defragmenter a fragment
// that RFC 791/8200 receivers (and both packages) answer by dropping what
// they hold for that datagram: for IPv4 a non-final fragment shorter than
// 8 bytes, for IPv6 an empty fragment (TestFragTimeout proves the
// datagram is gone).
type defragger struct {
	v4       *ip4defrag.IPv4Defragmenter
	v6       *ip6defrag.IPv6Defragmenter
	pending  map[fragKey]*fragEntry
	fifo     []*fragEntry // by first fragment, oldest first
	head     int
	bytes    int64
	timeout  time.Duration
	maxBytes int64
	st       *Stats

	warnedCap, warnedTimeout bool
}

func newDefragger(timeout time.Duration, maxBytes int64, st *Stats) *defragger {
	return &defragger{
		v4: ip4defrag.NewIPv4Defragmenter(), v6: ip6defrag.NewIPv6Defragmenter(),
		pending: map[fragKey]*fragEntry{}, timeout: timeout, maxBytes: maxBytes, st: st,
	}
}

// expire discards the datagrams whose first fragment is older than the
// timeout, then the oldest ones while over the caps.
func (f *defragger) expire(now time.Time) {
	for f.head < len(f.fifo) {
		e := f.fifo[f.head]
		if !e.gone {
			over := f.bytes > f.maxBytes || len(f.pending) > maxFragDatagrams
			if !over && now.Sub(e.first) <= f.timeout {
				break
			}
			f.warnOnce(over)
			f.discard(e)
			f.st.FragDiscarded++
		}
		f.fifo[f.head] = nil
		f.head++
	}
	if f.head > 1024 && f.head > len(f.fifo)/2 {
		f.fifo = append(f.fifo[:0], f.fifo[f.head:]...)
		f.head = 0
	}
}

func (f *defragger) warnOnce(over bool) {
	if over {
		if f.warnedCap {
			return
		}
		f.warnedCap = true
		f.st.warn("more than %d bytes (or %d datagrams) of IP fragments waiting for the rest of their datagram: the oldest are discarded (see Stats.FragDiscarded)", f.maxBytes, maxFragDatagrams)
		return
	}
	if f.warnedTimeout {
		return
	}
	f.warnedTimeout = true
	f.st.warn("IP fragments whose datagram was not complete within %v are discarded (see Stats.FragDiscarded)", f.timeout)
}

// discard makes the defragmenter forget e's datagram.
func (f *defragger) discard(e *fragEntry) {
	f.forget(e)
	if e.key.v6 {
		ip := &layers.IPv6{Version: 6, SrcIP: e.src, DstIP: e.dst}
		fg := &layers.IPv6Fragment{NextHeader: e.proto, MoreFragments: true, Identification: e.key.id}
		f.v6.DefragIPv6(ip, fg) // empty: the datagram is dropped
		return
	}
	ip := &layers.IPv4{Version: 4, IHL: 5, Length: 20 + 1, Flags: layers.IPv4MoreFragments,
		Id: uint16(e.key.id), Protocol: e.key.proto, SrcIP: e.src, DstIP: e.dst}
	ip.Payload = []byte{0}
	_, _ = f.v4.DefragIPv4WithTimestamp(ip, e.first) // too small: the datagram is dropped
}

func (f *defragger) forget(e *fragEntry) {
	if e.gone {
		return
	}
	e.gone = true
	f.bytes -= int64(e.bytes)
	delete(f.pending, e.key)
}

// account records n more bytes fed for key.
func (f *defragger) account(key fragKey, proto layers.IPProtocol, src, dst []byte, n int, now time.Time) *fragEntry {
	e := f.pending[key]
	if e == nil {
		e = &fragEntry{key: key, proto: proto, first: now, src: append([]byte(nil), src...), dst: append([]byte(nil), dst...)}
		f.pending[key] = e
		f.fifo = append(f.fifo, e)
	}
	e.bytes += n
	f.bytes += int64(n)
	return e
}

// ipv4 feeds an IPv4 fragment (ip as decoded, its payload still in the
// packet buffer) and returns the whole datagram once complete.
func (f *defragger) ipv4(ip *layers.IPv4, now time.Time) *layers.IPv4 {
	f.st.Fragments++
	f.expire(now)
	c := &layers.IPv4{Version: ip.Version, IHL: ip.IHL, TOS: ip.TOS, Length: ip.Length, Id: ip.Id,
		Flags: ip.Flags, FragOffset: ip.FragOffset, TTL: ip.TTL, Protocol: ip.Protocol,
		SrcIP: append([]byte(nil), ip.SrcIP...), DstIP: append([]byte(nil), ip.DstIP...)}
	c.Payload = append([]byte(nil), ip.Payload...)
	key := fragKey{flow: c.NetworkFlow(), id: uint32(c.Id), proto: c.Protocol}
	e := f.account(key, c.Protocol, c.SrcIP, c.DstIP, len(c.Payload), now)
	out, err := f.v4.DefragIPv4WithTimestamp(c, now)
	if err != nil {
		f.st.FragInvalid++ // the defragmenter dropped the datagram
		f.forget(e)
		return nil
	}
	if out != nil {
		f.st.FragReassembled++
		f.forget(e)
	}
	f.expire(now)
	return out
}

// ipv6 feeds an IPv6 fragment (header fg, behind ip) and returns the
// whole packet once complete: NextHeader is the header after the
// fragment header, Payload the reassembled fragmentable part.
func (f *defragger) ipv6(ip *layers.IPv6, fg *layers.IPv6Fragment, now time.Time) *layers.IPv6 {
	f.st.Fragments++
	f.expire(now)
	c := &layers.IPv6{Version: 6, TrafficClass: ip.TrafficClass, FlowLabel: ip.FlowLabel, HopLimit: ip.HopLimit,
		SrcIP: append([]byte(nil), ip.SrcIP...), DstIP: append([]byte(nil), ip.DstIP...)}
	g := &layers.IPv6Fragment{NextHeader: fg.NextHeader, FragmentOffset: fg.FragmentOffset,
		MoreFragments: fg.MoreFragments, Identification: fg.Identification}
	g.Payload = append([]byte(nil), fg.Payload...)
	key := fragKey{v6: true, flow: c.NetworkFlow(), id: g.Identification}
	e := f.account(key, g.NextHeader, c.SrcIP, c.DstIP, len(g.Payload), now)
	out := f.v6.DefragIPv6(c, g)
	if out != nil {
		f.st.FragReassembled++
		f.forget(e)
	}
	f.expire(now)
	return out
}
