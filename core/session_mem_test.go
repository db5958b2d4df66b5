package core

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestSessionRawMessageOneCopy: a large message carried in one @raw
// block of a session file of known size is read into one buffer of its
// exact size: the parser allocates about the message once, never
// collecting it in chunks first nor assembling it at the end. A block
// whose count is larger than the file allocates nothing ahead.
func TestSessionRawMessageOneCopy(t *testing.T) {
	msg := bytes.Repeat([]byte("0123456789abcdef"), 1<<20) // 16 MB
	for _, tc := range []struct {
		name  string
		count int // the @raw count written
		max   float64
	}{
		{"exact", len(msg), 1.1},
		{"lying count", 1 << 30, 2.5}, // chunks, then assembled: the message twice at most
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			fmt.Fprintf(&b, "1.2.3.4:1/tcp\n1700000000\n> MAIL FROM:<a@b>\n< MAIL 250 ok\n> DATA\n< DATA 354 go\n@raw %d\n", tc.count)
			b.Write(msg)
			b.WriteString("\n> . .\n< . 250 ok\n")
			path := filepath.Join(t.TempDir(), "C1")
			if err := os.WriteFile(path, b.Bytes(), 0o600); err != nil {
				t.Fatal(err)
			}
			b = bytes.Buffer{}
			runtime.GC()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			s, err := ParseSessionFile(path)
			runtime.ReadMemStats(&after)
			if err != nil {
				t.Fatal(err)
			}
			if len(s.Messages) != 1 {
				t.Fatalf("%d messages", len(s.Messages))
			}
			if tc.count == len(msg) && !bytes.Equal(s.Messages[0].Data, msg) {
				t.Fatalf("message bytes differ (%d bytes)", len(s.Messages[0].Data))
			}
			alloc := float64(after.TotalAlloc - before.TotalAlloc)
			t.Logf("allocated %.1f MB for a %.1f MB message", alloc/(1<<20), float64(len(msg))/(1<<20))
			if alloc > tc.max*float64(len(msg)) {
				t.Errorf("parsing allocated %.2fx the message (max %.1fx)", alloc/float64(len(msg)), tc.max)
			}
		})
	}
}

// TestChunkBufferBlocks: a message of a small file is collected in one
// block sized by what is left of the file (no assembly copy); without a
// hint blocks start at 4 KiB and double, so a small message never gets a
// 256 KiB block; the bytes are always the ones written.
func TestChunkBufferBlocks(t *testing.T) {
	line := []byte("some text of a mail body, forty bytes..")
	var want []byte
	c := chunkBuffer{hint: 20_000}
	for len(want) < 18_000 {
		c.Write(line)
		c.Write(crlf)
		want = append(append(want, line...), crlf...)
	}
	if len(c.blocks) != 1 || cap(c.blocks[0]) > 20_000+20_000/8+64 {
		t.Fatalf("hinted: %d blocks, first of %d bytes", len(c.blocks), cap(c.blocks[0]))
	}
	if got := c.Bytes(); !bytes.Equal(got, want) {
		t.Fatal("hinted: bytes differ")
	}
	c = chunkBuffer{}
	want = want[:0]
	for len(want) < 10_000 {
		c.Write(line)
		want = append(want, line...)
	}
	var caps []int
	for _, b := range c.blocks {
		caps = append(caps, cap(b))
	}
	if !slices.Equal(caps, []int{4096, 8192}) {
		t.Fatalf("unhinted: block sizes %v", caps)
	}
	if got := c.Bytes(); !bytes.Equal(got, want) {
		t.Fatal("unhinted: bytes differ")
	}
}

// TestSessionEnvelopeKeepsNoMessage: ParseSessionEnvelope reads a session
// whose 16 MB message comes in an @raw block and in data lines without
// keeping it: it allocates a small part of the message (the read buffers),
// and the events still count the message's bytes.
func TestSessionEnvelopeKeepsNoMessage(t *testing.T) {
	msg := bytes.Repeat([]byte("0123456789abcdef"), 1<<20) // 16 MB
	lines := bytes.Repeat([]byte("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n"), 1<<18)
	for _, tc := range []struct {
		name, body string
		n          int // bytes the data event counts
	}{
		{"raw", fmt.Sprintf("@raw %d\n%s\n", len(msg), msg), len(msg)},
		{"lines", string(lines), len(lines) + 1<<18}, // LF -> CRLF
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := "1.2.3.4:1/tcp\n1700000000\n> MAIL FROM:<a@b.example>\n< MAIL 250 ok\n> DATA\n< DATA 354 go\n" + tc.body + "> . .\n< . 250 ok\n"
			r := strings.NewReader(src)
			runtime.GC()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			s, err := ParseSessionEnvelope(r, "C1", time.Unix(0, 0))
			runtime.ReadMemStats(&after)
			if err != nil {
				t.Fatal(err)
			}
			if len(s.Messages) != 1 || s.Messages[0].Data != nil || s.Messages[0].Envelope.MailFrom != "a@b.example" {
				t.Fatalf("messages: %+v", s.Messages)
			}
			var counted int64
			for _, ev := range s.Events {
				counted += ev.Bytes
			}
			if counted != int64(tc.n) {
				t.Errorf("events count %d message bytes, want %d", counted, tc.n)
			}
			alloc := after.TotalAlloc - before.TotalAlloc
			t.Logf("allocated %.2f MB for a %.1f MB message", float64(alloc)/(1<<20), float64(tc.n)/(1<<20))
			if alloc > 1<<20 {
				t.Errorf("ParseSessionEnvelope allocated %.2f MB for a %.1f MB message: it keeps the message", float64(alloc)/(1<<20), float64(tc.n)/(1<<20))
			}
		})
	}
}

// TestParseSessionReusesReader: parsing one small session file after
// another does not allocate a 64 KiB reader for each (they are reused).
func TestParseSessionReusesReader(t *testing.T) {
	in := []byte("10.0.0.1:25/tcp\n1700000000\n> MAIL FROM:<a@b.example>\n< MAIL 250 ok\n> RCPT TO:<c@d.example>\n< RCPT 250 ok\n> DATA \n< DATA 354 go\nSubject: x\n\nbody\n> . .\n< . 250 ok\n")
	ParseSession(bytes.NewReader(in), "C1", time.Unix(0, 0)) // fills the pool
	var before, after runtime.MemStats
	const n = 200
	runtime.ReadMemStats(&before)
	for range n {
		if _, err := ParseSession(bytes.NewReader(in), "C1", time.Unix(0, 0)); err != nil {
			t.Fatal(err)
		}
	}
	runtime.ReadMemStats(&after)
	if per := (after.TotalAlloc - before.TotalAlloc) / n; per > 32<<10 {
		t.Errorf("%d bytes allocated per parse of a %d-byte session file", per, len(in))
	}
}
