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

// FuzzDataLines checks readData's one-pass fast path (dataLines: find the
// terminator and the stuffed dots, write the lines) against the two passes
// it replaced (oldFindData, then oldWriteLinesStuffed), and those against
// the checks before them (canLines on the stuffed payload, then the
// stuffed lines' own checks, then the writing): same payload, stuffed
// dots and length, same verdict, same bytes; nothing written without a
// terminator.
func FuzzDataLines(f *testing.F) {
	for _, s := range []string{
		"a\r\n.\r\n", "..x\r\n.\r\n", "@raw 5\r\n.\r\n", "x\r\n.@raw 5\r\n.\r\n", ".@x\r\n.\r\n",
		"<a\r\n.\r\n", ">b\r\n.\r\n", "x\r\n> . .\r\n.\r\n", "a\r\r\n.\r\n", "a\nb\r\n.\r\n",
		"\r\n\r\n.\r\n", "..\r\r\n.\r\n", ".\r\n", "x\r\n..@gap 1\r\n.\r\n", "a\r\nb.\r\n",
		"a\r\n.\n", "a\r\nb\r\n", "a\r\n..\r\n", "a\r\n.", "\n.\r\nQUIT\r\n",
	} {
		f.Add([]byte(s), false)
		f.Add([]byte(s), true)
	}
	f.Fuzz(func(t *testing.T, p []byte, no354 bool) {
		cv := &conv{no354: no354}
		cv.w.WriteString("head\n")
		raw, stuffed, n, lines, ok := cv.dataLines(p)
		got := cv.w.Bytes()
		wantRaw, wantStuffed, wantN, wantOK := oldFindData(p)
		if ok != wantOK || n != wantN || !bytes.Equal(raw, wantRaw) || fmt.Sprint(stuffed) != fmt.Sprint(wantStuffed) {
			t.Fatalf("%q: dataLines %q %v %d %v, want %q %v %d %v", p, raw, stuffed, n, ok, wantRaw, wantStuffed, wantN, wantOK)
		}
		if !ok {
			if string(got) != "head\n" {
				t.Fatalf("%q: no terminator, yet wrote %q", p, got)
			}
			return
		}
		var want []byte
		wantLines := oldCanLinesStuffed(raw, stuffed, no354)
		if wantLines {
			msg := unstuffed(raw, stuffed)
			for len(msg) > 0 {
				i := bytes.IndexByte(msg, '\n')
				want = append(want, msg[:i-1]...)
				want = append(want, '\n')
				msg = msg[i+1:]
			}
		}
		old := &conv{no354: no354}
		old.w.WriteString("head\n")
		if oldLines := oldWriteLinesStuffed(old, raw, stuffed); oldLines != wantLines || !bytes.Equal(old.w.Bytes(), append([]byte("head\n"), want...)) {
			t.Fatalf("%q: the two-pass writer: %v %q, want %v %q", raw, oldLines, old.w.Bytes(), wantLines, want)
		}
		if lines != wantLines {
			t.Fatalf("%q (no354 %v): lines %v, want %v", raw, no354, lines, wantLines)
		}
		if !bytes.Equal(got, append([]byte("head\n"), want...)) {
			t.Fatalf("%q: wrote %q, want %q", raw, got, want)
		}
	})
}

// oldFindData (readData's first pass before dataLines) finds the end of a DATA payload in p (the line "."): it returns
// the payload as sent (still dot-stuffed), the offsets in it of the dots
// that stuffing added, and the bytes consumed including the terminator;
// ok is false when p holds no terminator.
func oldFindData(p []byte) (raw []byte, stuffed []int, n int, ok bool) {
	term := -1
	isTerm := func(i int) bool {
		r := p[i:]
		return bytes.HasPrefix(r, []byte(".\r\n")) || bytes.HasPrefix(r, []byte(".\n"))
	}
	if len(p) > 0 && p[0] == '.' {
		if isTerm(0) {
			term = 0
		} else {
			stuffed = append(stuffed, 0)
		}
	}
	for off := 0; term < 0; {
		i := bytes.Index(p[off:], crlfDotCRLF)
		if i < 0 {
			return nil, nil, 0, false
		}
		ls := off + i + 1 // line start, at the dot
		if isTerm(ls) {
			term = ls
			break
		}
		stuffed = append(stuffed, ls)
		off = ls
	}
	n = term + 2
	if p[term+1] == '\r' {
		n = term + 3
	}
	return p[:term], stuffed, n, true
}

// oldWriteLinesStuffed (readData's second pass before dataLines) writes a gap-free DATA payload as data lines straight
// from the dot-stuffed bytes (dropping the stuffed dots) when lines carry
// the unstuffed message exactly; it reports whether it did (when not, it
// wrote nothing). It makes the checks of canLines on the unstuffed lines
// in the same pass as the writing: one pass over the message.
func oldWriteLinesStuffed(cv *conv, raw []byte, stuffed []int) bool {
	cv.w.Grow(len(raw)) // the lines are never longer than raw
	out := cv.w.b
	k := 0
	for off := 0; off < len(raw); {
		i := bytes.IndexByte(raw[off:], '\n')
		if i < 1 || raw[off+i-1] != '\r' {
			return false // a bare LF, or no CRLF at the end
		}
		cr := off + i - 1
		if cr > off && raw[cr-1] == '\r' {
			return false // a line ending in CR would lose it
		}
		start := off
		if k < len(stuffed) && stuffed[k] == off {
			start++ // the stuffed dot (never a line's only byte: that is the end)
			k++
		}
		switch raw[start] {
		case '>', '@', '<':
			line := raw[start : cr+2]
			if off == 0 && cv.no354 {
				// With no 354 the parser enters data mode at the first
				// line that is not an SMTP line.
				return false
			}
			if bytes.HasPrefix(line, []byte("> . .\r\n")) || bytes.HasPrefix(line, []byte("@raw ")) || bytes.HasPrefix(line, []byte("@gap ")) {
				return false
			}
		}
		out = append(out, raw[start:cr]...)
		out = append(out, '\n')
		off += i + 1
	}
	cv.w.b = out
	return true
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
