package capture

import (
	"bytes"
	"testing"

	"github.com/smtpscope/smtpscope/core"
)

var fuzzMsgs = [][]byte{
	[]byte("From: a@example.test\r\nSubject: fuzz\r\n\r\n.dot line\r\nbody body body body body body body body body\r\n"),
	[]byte("Subject: bdat\r\n\r\nchunked message with a bare LF\nand more text to span several segments........\r\n"),
	[]byte("Subject: third\r\n\r\n.\r\n..\r\nend\r\n"),
}

// FuzzReassembly replays a synthetic SMTP session whose packets the fuzzer
// reorders, duplicates (retransmissions) and drops. The pipeline must never
// panic, the session file must parse, and when no packet is lost the
// messages must be exactly the original ones.
func FuzzReassembly(f *testing.F) {
	o := synthOpts{mss: 24}
	base := synthSession(o, smtpSession(fuzzMsgs))
	f.Add([]byte{})
	f.Add([]byte{0, 5, 0, 9, 1, 3}) // swaps, a duplicate
	f.Add([]byte{2, 20})            // one loss
	f.Add([]byte{0, 1, 0, 2, 0, 3, 0, 4, 1, 1, 1, 7, 0, 30, 0, 31})
	f.Add(bytes.Repeat([]byte{0, 7, 1, 3}, 40)) // heavy reordering and duplication
	f.Fuzz(func(t *testing.T, ops []byte) {
		pk := append([]pkt(nil), base...)
		lost := false
		const head, tail = 3, 3 // handshake and FINs stay in place
		for i := 0; i+1 < len(ops) && i < 400; i += 2 {
			n := len(pk) - head - tail
			if n <= 1 {
				break
			}
			a := head + int(ops[i+1])%n
			switch ops[i] % 3 {
			case 0: // reorder: move a packet a few places later
				b := a + 1 + int(ops[i]/3)%8
				if b >= len(pk)-tail {
					b = len(pk) - tail - 1
				}
				p := pk[a]
				copy(pk[a:b], pk[a+1:b+1])
				pk[b] = p
			case 1: // duplicate (retransmission), a few places later
				b := a + 1 + int(ops[i]/3)%8
				if b > len(pk)-tail {
					b = len(pk) - tail
				}
				pk = append(pk[:b], append([]pkt{pk[a]}, pk[b:]...)...)
			case 2: // loss
				if len(pk[a].data) > 54 { // Ethernet+IPv4+TCP headers are 54 bytes: a payload is lost
					lost = true
				}
				pk = append(pk[:a], pk[a+1:]...)
			}
		}
		var buf bytes.Buffer
		if err := writePcap(&buf, o, pk, false); err != nil {
			t.Fatal(err)
		}
		sfs := runBytes(t, buf.Bytes(), Options{})
		for _, sf := range sfs {
			if _, err := core.ParseSession(bytes.NewReader(sf.Data), sf.UID, sf.Start); err != nil {
				t.Fatalf("session file does not parse: %v\n%s", err, sf.Data)
			}
		}
		if lost {
			return
		}
		if len(sfs) != 1 {
			t.Fatalf("%d sessions, want 1", len(sfs))
		}
		got := sfs[0].Messages
		if len(got) != len(fuzzMsgs) {
			t.Fatalf("%d messages, want %d\n%s", len(got), len(fuzzMsgs), sfs[0].Data)
		}
		for i, m := range fuzzMsgs {
			if !bytes.Equal(got[i].Data, m) || got[i].Partial {
				t.Fatalf("message %d = %q (partial %v), want %q\n%s", i, got[i].Data, got[i].Partial, m, sfs[0].Data)
			}
		}
	})
}
