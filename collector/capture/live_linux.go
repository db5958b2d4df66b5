//go:build linux

package capture

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/afpacket"
	"github.com/gopacket/gopacket/layers"
	"golang.org/x/sys/unix"
)

// LiveSupported says whether this build can capture live (Linux only).
const LiveSupported = true

// Ring geometry of each interface's TPACKET_V3 socket: blocks of 2 MiB (a
// 64 KiB loopback GSO packet fits many times), as many as RingBytes holds.
const (
	ringBlock        = 2 << 20
	DefaultRingBytes = 64 << 20
)

// ErrNoCapNetRaw is returned (wrapped) when the packet socket cannot be
// opened for lack of privilege.
var ErrNoCapNetRaw = errors.New("needs the CAP_NET_RAW capability: run as root, or give it to this process only (systemd: AmbientCapabilities=CAP_NET_RAW, see the README)")

// CaptureDir captures live on the interfaces (AF_PACKET, TPACKET_V3, with
// a kernel BPF filter on opts.Ports, keeping the packets opts.Direction
// says; several interfaces feed one engine, their packets merged by
// timestamp: merge.go) and writes every SMTP session into dir as
// WriteDir does, through the same decode, reassembly and SMTP model as
// the pcap path. It runs until
// ctx ends, then writes every session still open (Cut CutShutdown) and
// returns the number of sessions written. ringBytes sizes each
// interface's ring (0: DefaultRingBytes). report, when not nil, gets the
// counters every second and once at the end.
func CaptureDir(ctx context.Context, ifaces []string, ringBytes int, opts Options, dir string, report func(LiveStats)) (int, error) {
	if len(ifaces) == 0 {
		return 0, errors.New("capture: no interface given")
	}
	opts.defaults()
	if ringBytes <= 0 {
		ringBytes = DefaultRingBytes
	}
	way, err := ParseDirection(string(opts.Direction))
	if err != nil {
		return 0, err
	}
	way = way.resolve(len(ifaces))
	for i, name := range ifaces {
		if slices.Contains(ifaces[:i], name) {
			return 0, fmt.Errorf("capture: interface %q given twice (each of its packets would be seen twice)", name)
		}
	}
	var srcs []liveSource
	closeAll := func() {
		for _, s := range srcs {
			s.Close()
		}
	}
	for _, name := range ifaces {
		s, err := openAFPacket(name, opts.Ports, ringBytes, way)
		if err != nil {
			closeAll()
			return 0, err
		}
		srcs = append(srcs, s)
	}
	return writeLive(ctx, srcs, opts, dir, report)
}

// afSource is an interface read through gopacket's afpacket.
type afSource struct {
	name  string
	lt    layers.LinkType
	tp    *afpacket.TPacket
	stamp int // the socket holding SO_TIMESTAMPNS (stampOnce), -1 if none
}

// stampOnce makes the kernel stamp each received packet once, so every
// packet socket (ours, a tcpdump beside us) reports the same time for
// it. Linux sets skb->tstamp on receive (net_timestamp_check in netif_rx
// and netif_receive_skb) only while some socket in the system asked for
// receive timestamps (SO_TIMESTAMP*: sock_enable_timestamp →
// net_enable_timestamp); otherwise tpacket_rcv reads the clock for each
// socket's copy, and two captures of the same packet differ by a
// microsecond or so. afpacket does not expose its socket, and the switch
// is global, so a UDP socket that holds SO_TIMESTAMPNS (and never
// receives) turns it on for as long as the capture runs; closing it
// turns it off again unless another socket still wants it. Linux turns
// it on from a work queue, so stampOnce waits until it is on (awaitStamping,
// at most 250 ms): the capture's first packets are stamped once too. It returns -1
// when no such socket can be made (the capture runs, with per-socket
// times).
func stampOnce() int {
	for _, fam := range []int{unix.AF_INET, unix.AF_INET6} {
		fd, err := unix.Socket(fam, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			continue
		}
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1); err != nil {
			unix.Close(fd)
			continue
		}
		if fam == unix.AF_INET {
			awaitStamping(fd, 250*time.Millisecond)
		}
		return fd
	}
	return -1
}

// ifaceLinkType maps the interface's ARP hardware type to the link layer
// of its packets on an AF_PACKET raw socket.
func ifaceLinkType(name string) (lt layers.LinkType, loopback bool, err error) {
	b, err := os.ReadFile("/sys/class/net/" + name + "/type")
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return 0, false, fmt.Errorf("capture: no network interface %q", name)
		}
		return 0, false, fmt.Errorf("capture: interface %q: %w", name, err)
	}
	t, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 0, false, fmt.Errorf("capture: interface %q: bad type %q", name, b)
	}
	switch t {
	case unix.ARPHRD_ETHER:
		return layers.LinkTypeEthernet, false, nil
	case unix.ARPHRD_LOOPBACK:
		return layers.LinkTypeEthernet, true, nil
	case unix.ARPHRD_NONE: // tun, wireguard: raw IP
		return layers.LinkTypeRaw, false, nil
	}
	return 0, false, fmt.Errorf("capture: interface %q has link type %d (ARPHRD); only Ethernet, loopback and raw IP (tun) interfaces are supported", name, t)
}

// openAFPacket opens name's ring with the port filter; the filter drops
// the packets the interface sends on lo (each is also received there)
// and with DirectionIn.
func openAFPacket(name string, ports []int, ringBytes int, dir Direction) (*afSource, error) {
	lt, loop, err := ifaceLinkType(name)
	if err != nil {
		return nil, err
	}
	filter, err := portFilter(ports, lt == layers.LinkTypeEthernet, loop || dir == DirectionIn)
	if err != nil {
		return nil, err
	}
	stamp := stampOnce() // before the ring opens: its packets are stamped once
	tp, err := afpacket.NewTPacket(afpacket.OptInterface(name), afpacket.TPacketVersion3,
		afpacket.OptBlockSize(ringBlock), afpacket.OptNumBlocks(max(ringBytes/ringBlock, 2)),
		afpacket.OptFrameSize(1<<16), afpacket.OptPollTimeout(ringPollTimeout), afpacket.OptBlockTimeout(ringBlockTimeout),
		afpacket.OptAddVLANHeader(true))
	if err != nil {
		closeFD(stamp)
		if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
			return nil, fmt.Errorf("capture: opening a packet socket on %s %w (%v)", name, ErrNoCapNetRaw, err)
		}
		return nil, fmt.Errorf("capture: opening a packet socket on %s: %w", name, err)
	}
	if err := tp.SetBPF(filter); err != nil {
		tp.Close()
		closeFD(stamp)
		return nil, fmt.Errorf("capture: attaching the port filter on %s: %w", name, err)
	}
	if lt == layers.LinkTypeEthernet && !loop {
		// A span port's traffic is for other hosts. Left on failure:
		// the capture still sees the host's own traffic.
		_ = tp.SetPromiscuous(true)
	}
	return &afSource{name: name, lt: lt, tp: tp, stamp: stamp}, nil
}

func closeFD(fd int) {
	if fd >= 0 {
		unix.Close(fd)
	}
}

func (s *afSource) Name() string              { return s.name }
func (s *afSource) LinkType() layers.LinkType { return s.lt }
func (s *afSource) Close() {
	s.tp.Close()
	closeFD(s.stamp)
	s.stamp = -1
}

func (s *afSource) ZeroCopyReadPacketData() ([]byte, gopacket.CaptureInfo, error) {
	data, ci, err := s.tp.ZeroCopyReadPacketData()
	if err == afpacket.ErrTimeout {
		return nil, ci, errTimeout
	}
	if err != nil {
		return nil, ci, fmt.Errorf("capture: reading %s: %w", s.name, err)
	}
	return data, ci, nil
}

func (s *afSource) KernelStats() IfaceStats {
	_, v3, err := s.tp.SocketStats()
	if err != nil {
		return IfaceStats{Name: s.name}
	}
	return IfaceStats{Name: s.name, KernelPackets: uint64(v3.Packets()), KernelDrops: uint64(v3.Drops()), QueueFreezes: uint64(v3.QueueFreezes())}
}
