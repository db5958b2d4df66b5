package capture

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

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

// FuzzCaptureFile feeds arbitrary bytes as a capture file: errors are
// fine, panics are not.
func FuzzCaptureFile(f *testing.F) {
	for _, ng := range []bool{false, true} {
		var buf bytes.Buffer
		o := synthOpts{mss: 40}
		if err := writePcap(&buf, o, synthSession(o, smtpSession(fuzzMsgs[:2])), ng); err != nil {
			f.Fatal(err)
		}
		f.Add(buf.Bytes())
	}
	f.Add([]byte{0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0})
	f.Add([]byte{0x1f, 0x8b, 8, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		in := input{name: "fuzz.pcap", size: int64(len(data)), open: func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil }}
		opts := Options{MessageData: true}
		opts.defaults()
		// fn runs on the engine's emitter goroutine: it must not call
		// t.Fatal (Goexit there would leave the reader blocked forever,
		// a "hang" that stalls the fuzzer); it stops the run instead.
		var bad error
		_ = process(context.Background(), []input{in}, int64(len(data)), &opts, &Stats{}, func(sf *SessionFile) error {
			if _, err := core.ParseSession(bytes.NewReader(sf.Data), sf.UID, sf.Start); err != nil {
				bad = fmt.Errorf("session file does not parse: %v\n%q", err, sf.Data)
				return bad
			}
			return nil
		})
		if bad != nil {
			t.Fatal(bad)
		}
	})
}

// FuzzSMTPStreams replays arbitrary client and server byte streams (with
// an optional gap) through the SMTP model: no panic, and the session file
// parses.
func FuzzSMTPStreams(f *testing.F) {
	segs := smtpSession(fuzzMsgs)
	var c, s []byte
	for _, x := range segs {
		if x.client {
			c = append(c, x.data...)
		} else {
			s = append(s, x.data...)
		}
	}
	f.Add(c, s, uint16(0), uint16(0))
	f.Add(c, []byte{}, uint16(30), uint16(5))
	f.Add([]byte("EHLO x\r\nAUTH LOGIN\r\ndXNlcg==\r\ncGFzcw==\r\nMAIL FROM:<a@b>\r\nDATA\r\n.x\r\n\r\n.\r\nBDAT 3 LAST\r\nabcQUIT\r\n"),
		[]byte("220 x\r\n250 x\r\n334 VXNlcm5hbWU6\r\n334 UGFzc3dvcmQ6\r\n235 ok\r\n250 ok\r\n354 go\r\n250 ok\r\n250 ok\r\n221 bye\r\n"), uint16(0), uint16(0))
	f.Add([]byte("STARTTLS\r\n\x16\x03\x01junk"), []byte("220 x\r\n220 go\r\n\x16\x03\x03"), uint16(0), uint16(0))
	f.Fuzz(func(t *testing.T, client, server []byte, gapAt, gapLen uint16) {
		e := newEngine(&Options{Ports: DefaultPorts}, &Stats{}, nil)
		st := &stream{e: e, start: time.Unix(1700000000, 0), synFrom: 0, synAckBy: 1,
			netFlow: gopacket.NewFlow(layers.EndpointIPv4, []byte{10, 0, 0, 1}, []byte{10, 0, 0, 2}),
			tcpFlow: gopacket.NewFlow(layers.EndpointTCPPort, []byte{0x9c, 0x40}, []byte{0, 25})}
		// convert recycles the stream buffers: give it copies.
		client, server = bytes.Clone(client), bytes.Clone(server)
		st.half[0] = halfBuf{data: client, marks: []mark{{0, 1}, {len(client) / 2, 3}}}
		st.half[1] = halfBuf{data: server, marks: []mark{{0, 0}, {len(server) / 2, 2}}}
		if gapLen > 0 && int(gapAt) <= len(client) {
			st.half[0].gaps = []gapMark{{off: int(gapAt), n: int64(gapLen)}}
		}
		sf := st.convert("Sfuzz", true)
		if _, err := core.ParseSession(bytes.NewReader(sf.Data), sf.UID, sf.Start); err != nil {
			t.Fatalf("session file does not parse: %v\n%q", err, sf.Data)
		}
	})
}

// FuzzWriteLinesStuffed checks the one-pass writeLinesStuffed against the
// checks it replaced (canLines on the stuffed payload, then the stuffed
// lines' own checks, then the writing): same verdict, same bytes.
func FuzzWriteLinesStuffed(f *testing.F) {
	for _, s := range []string{
		"a\r\n.\r\n", "..x\r\n.\r\n", "@raw 5\r\n.\r\n", "x\r\n.@raw 5\r\n.\r\n", ".@x\r\n.\r\n",
		"<a\r\n.\r\n", ">b\r\n.\r\n", "x\r\n> . .\r\n.\r\n", "a\r\r\n.\r\n", "a\nb\r\n.\r\n",
		"\r\n\r\n.\r\n", "..\r\r\n.\r\n", ".\r\n", "x\r\n..@gap 1\r\n.\r\n", "a\r\nb.\r\n",
	} {
		f.Add([]byte(s), false)
		f.Add([]byte(s), true)
	}
	f.Fuzz(func(t *testing.T, p []byte, no354 bool) {
		raw, stuffed, _, ok := findData(p)
		if !ok {
			return
		}
		var want []byte
		wantOK := oldCanLinesStuffed(raw, stuffed, no354)
		if wantOK {
			msg := unstuffed(raw, stuffed)
			for len(msg) > 0 {
				i := bytes.IndexByte(msg, '\n')
				want = append(want, msg[:i-1]...)
				want = append(want, '\n')
				msg = msg[i+1:]
			}
		}
		cv := &conv{no354: no354}
		cv.w.WriteString("head\n")
		gotOK := cv.writeLinesStuffed(raw, stuffed)
		if gotOK != wantOK {
			t.Fatalf("%q (no354 %v): lines %v, want %v", raw, no354, gotOK, wantOK)
		}
		got := cv.w.Bytes()
		if !gotOK {
			want = nil
		}
		if !bytes.Equal(got, append([]byte("head\n"), want...)) {
			t.Fatalf("%q: wrote %q, want %q", raw, got, want)
		}
	})
}

// oldCanLinesStuffed is the check writeLinesStuffed made before it became
// one pass.
func oldCanLinesStuffed(raw []byte, stuffed []int, no354 bool) bool {
	if !canLines(raw, no354) {
		return false
	}
	for _, d := range stuffed {
		l := raw[d+1:]
		for _, p := range [][]byte{[]byte("> . .\r\n"), []byte("@raw "), []byte("@gap ")} {
			if bytes.HasPrefix(l, p) {
				return false
			}
		}
		if d == 0 && no354 && len(l) > 0 && (l[0] == '@' || l[0] == '>' || l[0] == '<') {
			return false
		}
	}
	return true
}
