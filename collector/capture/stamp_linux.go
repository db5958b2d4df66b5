package capture

import (
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// awaitStamping waits, up to limit, until Linux stamps packets as they
// enter the stack. Asking for receive timestamps (stampOnce) turns the
// stamping on from a work queue: the first net_enable_timestamp defers
// the switch, so packets of the first moments would still be stamped by
// each packet socket on its own. fd is stampOnce's UDP socket: it sends
// itself a datagram over the loopback and reads the datagram's receive
// stamp. While stamping is off, the stamp is taken when the datagram is
// read, after the send returned; once it is on, the stamp is taken as
// the datagram enters the stack, within the send. It reports whether the
// stamping was seen on (false: no IPv4 loopback to probe with, or still
// off at limit; the capture runs anyway).
func awaitStamping(fd int, limit time.Duration) bool {
	sa, err := unix.Getsockname(fd)
	if a, ok := sa.(*unix.SockaddrInet4); err == nil && ok && a.Port == 0 { // not bound yet
		if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
			return false
		}
		sa, err = unix.Getsockname(fd)
	}
	if err != nil {
		return false
	}
	_ = unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Usec: 100_000})
	buf, oob := make([]byte, 16), make([]byte, 128)
	for deadline := time.Now().Add(limit); ; time.Sleep(time.Millisecond) {
		if err := unix.Sendto(fd, []byte("stamp"), 0, sa); err != nil {
			return false
		}
		sent := time.Now()
		_, oobn, _, _, err := unix.Recvmsg(fd, buf, oob, 0)
		if err != nil {
			return false
		}
		if ts, ok := stampOf(oob[:oobn]); ok && ts.Before(sent) {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
	}
}

// stampOf returns the SCM_TIMESTAMPNS of a control message buffer.
func stampOf(oob []byte) (time.Time, bool) {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return time.Time{}, false
	}
	for _, m := range msgs {
		if m.Header.Level == unix.SOL_SOCKET && m.Header.Type == unix.SCM_TIMESTAMPNS && len(m.Data) >= 16 {
			ts := *(*unix.Timespec)(unsafe.Pointer(&m.Data[0]))
			return time.Unix(ts.Unix()), true
		}
	}
	return time.Time{}, false
}
