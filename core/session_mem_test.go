package core

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"
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
