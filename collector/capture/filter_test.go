package capture

import (
	"fmt"
	"testing"

	"github.com/gopacket/gopacket/layers"
	"golang.org/x/net/bpf"
)

// TestPortFilter runs the live capture's kernel filter in bpf.VM on
// crafted packets: SMTP segments (IPv4, IPv6, 0-2 VLAN tags, raw IP) pass
// whole, other ports and protocols do not, and IP fragments and IPv6
// extension headers pass for the decoder to judge.
func TestPortFilter(t *testing.T) {
	ports := []int{25, 587, 2525}
	vm := func(ethernet bool) *bpf.VM {
		prog, err := portProgram(ports, ethernet, false)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := bpf.Assemble(prog); err != nil {
			t.Fatal(err)
		}
		v, err := bpf.NewVM(prog)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	eth, raw := vm(true), vm(false)
	run := func(v *bpf.VM, frame []byte) bool {
		n, err := v.Run(frame)
		if err != nil {
			t.Fatal(err)
		}
		if n != 0 && n != filterSnap {
			t.Fatalf("filter returned %d", n)
		}
		return n == filterSnap
	}
	payload := seg{true, []byte("EHLO x\r\n")}
	for _, v6 := range []bool{false, true} {
		for vlans := 0; vlans <= 2; vlans++ {
			for _, c := range []struct {
				sport, cport uint16
				want         bool
			}{{25, 40000, true}, {587, 40000, true}, {2525, 40000, true}, {80, 40000, false}, {80, 25, true}, {26, 24, false}} {
				o := synthOpts{v6: v6, vlans: vlans, sport: c.sport, cport: c.cport}
				for _, p := range synthSession(o, []seg{payload}) {
					if got := run(eth, p.data); got != c.want {
						t.Errorf("v6=%v vlans=%d ports %d/%d: accepted %v, want %v", v6, vlans, c.cport, c.sport, got, c.want)
					}
				}
				if vlans == 0 {
					o.link = layers.LinkTypeRaw
					p := synthSession(o, []seg{payload})[3]
					if got := run(raw, p.data); got != c.want {
						t.Errorf("raw v6=%v ports %d/%d: accepted %v, want %v", v6, c.cport, c.sport, got, c.want)
					}
				}
			}
			// Fragments: the first carries the ports; later IPv4 ones
			// always pass; IPv6 fragments (an extension header) pass.
			for _, sport := range []uint16{25, 80} {
				o := synthOpts{v6: v6, vlans: vlans, sport: sport, mss: 1400}
				big := seg{true, make([]byte, 1200)}
				p := synthSession(o, []seg{big})[3]
				fr := fragmentFrame(o, p.data, fragOpts{size: 512, id: 9})
				if len(fr) != 3 {
					t.Fatalf("%d fragments", len(fr))
				}
				for i, f := range fr {
					want := sport == 25 || i > 0 || v6
					if got := run(eth, f); got != want {
						t.Errorf("fragment %d of port %d (v6=%v vlans=%d): accepted %v, want %v", i, sport, v6, vlans, got, want)
					}
				}
			}
		}
	}
	// Not IP, not TCP, truncated.
	arp := append([]byte{2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x06}, make([]byte, 28)...)
	udp := synthSession(synthOpts{}, []seg{payload})[3].data
	udp = append([]byte(nil), udp...)
	udp[14+9] = 17
	for name, f := range map[string][]byte{"arp": arp, "udp": udp, "short": {1, 2, 3}, "empty": {}} {
		if run(eth, f) {
			t.Errorf("%s accepted", name)
		}
	}
}

// TestPortFilterLimits: the program assembles for the largest port list
// allowed (no conditional jump beyond 255), and bad lists are refused.
func TestPortFilterLimits(t *testing.T) {
	var many []int
	for p := 1; p <= maxFilterPorts; p++ {
		many = append(many, p)
	}
	for _, ethernet := range []bool{true, false} {
		if _, err := portFilter(many, ethernet, true); err != nil {
			t.Errorf("%d ports (ethernet %v): %v", len(many), ethernet, err)
		}
	}
	prog, _ := portProgram(many, true, false)
	v, err := bpf.NewVM(prog)
	if err != nil {
		t.Fatal(err)
	}
	p := synthSession(synthOpts{sport: maxFilterPorts, cport: 60000}, []seg{{true, []byte("x")}})[3]
	if n, _ := v.Run(p.data); n != filterSnap {
		t.Errorf("the last port of %d is not accepted", len(many))
	}
	for _, bad := range [][]int{nil, {0}, {70000}, append(many, 201)} {
		if _, err := portFilter(bad, true, false); err == nil {
			t.Errorf("ports %v accepted", fmt.Sprint(len(bad)))
		}
	}
}
