package capture

import (
	"errors"
	"fmt"

	"golang.org/x/net/bpf"
)

// filterSnap is what the live filter keeps of an accepted packet (the
// whole packet: tcpdump's maximum snap length).
const filterSnap = 262144

// maxFilterPorts bounds the ports of one filter (each costs 12
// instructions; the kernel takes 4096).
const maxFilterPorts = 200

// packetOutgoing is Linux's PACKET_OUTGOING packet type (SKF_AD_PKTTYPE).
const packetOutgoing = 4

// portFilter assembles the classic BPF program the live capture attaches
// to its AF_PACKET socket (golang.org/x/net/bpf): it accepts TCP segments
// with one of ports at either end over IPv4 and IPv6, on Ethernet with up
// to two VLAN tags (802.1Q 0x8100, 802.1ad 0x88a8, 0x9100) or on raw IP
// links (ethernet false), and everything the decoder must see to rebuild
// such segments: IPv4 fragments of TCP after the first (they carry no
// ports) and IPv6 packets whose first header is an extension header
// (hop-by-hop, routing, fragment, destination options, AH); the decoder
// drops what is not SMTP. Everything else is dropped in the kernel. With
// dropOutgoing the packets the interface sends (type PACKET_OUTGOING)
// are dropped too: on a loopback interface every packet reaches the
// socket twice, outgoing and incoming, and the outgoing copy is dropped,
// as libpcap does, so that a capture of lo has each packet once, with
// tcpdump's timestamp; elsewhere it is DirectionIn.
func portFilter(ports []int, ethernet, dropOutgoing bool) ([]bpf.RawInstruction, error) {
	prog, err := portProgram(ports, ethernet, dropOutgoing)
	if err != nil {
		return nil, err
	}
	return bpf.Assemble(prog)
}

// portProgram is portFilter's program before assembly (for bpf.VM).
func portProgram(ports []int, ethernet, dropOutgoing bool) ([]bpf.Instruction, error) {
	if len(ports) == 0 {
		return nil, errors.New("capture: no port to filter on")
	}
	if len(ports) > maxFilterPorts {
		return nil, fmt.Errorf("capture: %d ports; at most %d", len(ports), maxFilterPorts)
	}
	for _, p := range ports {
		if p <= 0 || p > 65535 {
			return nil, fmt.Errorf("capture: port %d out of range 1-65535", p)
		}
	}
	var a asm
	if dropOutgoing {
		a.add(bpf.LoadExtension{Num: bpf.ExtType})
		a.far(bpf.JumpEqual, packetOutgoing, "drop")
	}
	if ethernet {
		// Link header: 14 bytes, plus 4 per VLAN tag (at most two).
		a.add(bpf.LoadAbsolute{Off: 12, Size: 2})
		a.dispatchEther(14, "vlan1")
		a.label("vlan1")
		a.add(bpf.LoadAbsolute{Off: 16, Size: 2})
		a.dispatchEther(18, "vlan2")
		a.label("vlan2")
		a.add(bpf.LoadAbsolute{Off: 20, Size: 2})
		a.dispatchEther(22, "")
		for _, l := range []uint32{14, 18, 22} {
			a.ipv4(l, ports)
			a.ipv6(l, ports)
		}
	} else {
		a.add(bpf.LoadAbsolute{Off: 0, Size: 1})
		a.add(bpf.ALUOpConstant{Op: bpf.ALUOpShiftRight, Val: 4})
		a.jeq(4, "ip4_0")
		a.jeq(6, "ip6_0")
		a.add(bpf.RetConstant{Val: 0})
		a.ipv4(0, ports)
		a.ipv6(0, ports)
	}
	a.label("accept")
	a.add(bpf.RetConstant{Val: filterSnap})
	a.label("drop")
	a.add(bpf.RetConstant{Val: 0})
	return a.resolve()
}

// asm is a BPF program with symbolic jump targets.
type asm struct {
	ins    []bpf.Instruction
	jumps  map[int]jumpTo // instruction index → targets
	labels map[string]int
}

type jumpTo struct{ t, f string } // "" = next instruction

func (a *asm) add(i bpf.Instruction) { a.ins = append(a.ins, i) }

func (a *asm) label(l string) {
	if a.labels == nil {
		a.labels = map[string]int{}
	}
	a.labels[l] = len(a.ins)
}

// jump adds a conditional jump to t when true, f when false.
func (a *asm) jump(cond bpf.JumpTest, val uint32, t, f string) {
	if a.jumps == nil {
		a.jumps = map[int]jumpTo{}
	}
	a.jumps[len(a.ins)] = jumpTo{t, f}
	a.add(bpf.JumpIf{Cond: cond, Val: val})
}

func (a *asm) jeq(val uint32, t string) { a.far(bpf.JumpEqual, val, t) }

// far jumps to l when cond holds, through an unconditional jump (whose
// offset is not limited to 255 instructions like a conditional one's).
func (a *asm) far(cond bpf.JumpTest, val uint32, l string) {
	a.add(bpf.JumpIf{Cond: cond, Val: val, SkipTrue: 0, SkipFalse: 1})
	a.goTo(l)
}

// goTo adds an unconditional jump.
func (a *asm) goTo(l string) {
	if a.jumps == nil {
		a.jumps = map[int]jumpTo{}
	}
	a.jumps[len(a.ins)] = jumpTo{t: l}
	a.add(bpf.Jump{})
}

// dispatchEther jumps on the EtherType in A: IPv4 or IPv6 at link header
// length l, another VLAN tag to vlan ("" : none allowed), else drop.
func (a *asm) dispatchEther(l uint32, vlan string) {
	a.jeq(0x0800, fmt.Sprintf("ip4_%d", l))
	a.jeq(0x86dd, fmt.Sprintf("ip6_%d", l))
	if vlan != "" {
		for _, tpid := range []uint32{0x8100, 0x88a8, 0x9100} {
			a.jeq(tpid, vlan)
		}
	}
	a.goTo("drop")
}

// ipv4 is the IPv4 test at offset l.
func (a *asm) ipv4(l uint32, ports []int) {
	a.label(fmt.Sprintf("ip4_%d", l))
	a.add(bpf.LoadAbsolute{Off: l + 9, Size: 1})
	a.far(bpf.JumpNotEqual, 6, "drop")
	a.add(bpf.LoadAbsolute{Off: l + 6, Size: 2})
	a.far(bpf.JumpBitsSet, 0x1fff, "accept") // a later fragment: no ports in it
	a.add(bpf.LoadMemShift{Off: l})          // X = IPv4 header length
	a.add(bpf.LoadIndirect{Off: l, Size: 2}) // source port
	a.ports(ports)
	a.add(bpf.LoadIndirect{Off: l + 2, Size: 2}) // destination port
	a.ports(ports)
	a.goTo("drop")
}

// ipv6 is the IPv6 test at offset l.
func (a *asm) ipv6(l uint32, ports []int) {
	tcp := fmt.Sprintf("tcp6_%d", l)
	a.label(fmt.Sprintf("ip6_%d", l))
	a.add(bpf.LoadAbsolute{Off: l + 6, Size: 1})
	a.jeq(6, tcp)
	for _, ext := range []uint32{0, 43, 44, 60, 51} {
		a.jeq(ext, "accept")
	}
	a.goTo("drop")
	a.label(tcp)
	a.add(bpf.LoadAbsolute{Off: l + 40, Size: 2})
	a.ports(ports)
	a.add(bpf.LoadAbsolute{Off: l + 42, Size: 2})
	a.ports(ports)
	a.goTo("drop")
}

// ports jumps to accept when A is one of ports; falls through otherwise.
// The accept is local (a RET right after the list), so no jump is longer
// than the list however far the program's end is.
func (a *asm) ports(ports []int) {
	n := len(a.ins)
	local := fmt.Sprintf("acc%d", n)
	next := fmt.Sprintf("next%d", n)
	for _, p := range ports {
		a.jump(bpf.JumpEqual, uint32(p), local, "")
	}
	a.goTo(next)
	a.label(local)
	a.add(bpf.RetConstant{Val: filterSnap})
	a.label(next)
}

// resolve turns the symbolic jumps into skips.
func (a *asm) resolve() ([]bpf.Instruction, error) {
	out := append([]bpf.Instruction(nil), a.ins...)
	skip := func(i int, l string) (int, error) {
		if l == "" {
			return 0, nil
		}
		to, ok := a.labels[l]
		if !ok {
			return 0, fmt.Errorf("capture: filter: no label %s", l)
		}
		if to <= i {
			return 0, fmt.Errorf("capture: filter: backward jump to %s", l)
		}
		return to - i - 1, nil
	}
	for i, j := range a.jumps {
		t, err := skip(i, j.t)
		if err != nil {
			return nil, err
		}
		f, err := skip(i, j.f)
		if err != nil {
			return nil, err
		}
		switch ins := out[i].(type) {
		case bpf.JumpIf:
			if t > 255 || f > 255 {
				return nil, fmt.Errorf("capture: filter: jump too long (%d, %d)", t, f)
			}
			ins.SkipTrue, ins.SkipFalse = uint8(t), uint8(f)
			out[i] = ins
		case bpf.Jump:
			out[i] = bpf.Jump{Skip: uint32(t)}
		}
	}
	return out, nil
}
