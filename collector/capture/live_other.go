//go:build !linux

package capture

import (
	"context"
	"errors"
)

// LiveSupported says whether this build can capture live (Linux only).
const LiveSupported = false

// DefaultRingBytes is the ring size of each interface (Linux).
const DefaultRingBytes = 64 << 20

// ErrNoCapNetRaw is Linux's lack of privilege error.
var ErrNoCapNetRaw = errors.New("needs the CAP_NET_RAW capability")

// CaptureDir is Linux only (AF_PACKET).
func CaptureDir(ctx context.Context, ifaces []string, ringBytes int, opts Options, dir string, report func(LiveStats)) (int, error) {
	return 0, errors.New("capture: live capture needs Linux (AF_PACKET); capture with tcpdump and use smtpscope pcap")
}
