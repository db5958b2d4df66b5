// Package capture turns packet captures (pcap and pcapng, read with
// gopacket's pure-Go pcapgo) into SMTP session files in the Zeek/ACE format
// that core parses (see core/doc.go), without Zeek.
//
// Pipeline: packets are decoded (Ethernet, 802.1Q and QinQ VLAN tags, Linux
// cooked captures SLL and SLL2, raw IP, BSD loopback/null; IPv4 and IPv6,
// IPv6 extension headers — hop-by-hop, routing, destination options,
// authentication — skipped; decode.go), IP fragments of TCP are
// reassembled (gopacket's ip4defrag and ip6defrag, the held bytes bounded
// by Options.FragTimeout and MaxFragBytes, discards counted; frag.go),
// TCP segments on the configured ports are reassembled with gopacket's
// reassembly package (out of order, retransmissions, overlaps; missing
// bytes become gaps), and each TCP session's two byte streams are replayed
// through an SMTP client/server model that writes the session file:
// commands, replies (matched in order, pipelining included), DATA payloads
// (dot-unstuffed), BDAT chunks (exact byte counts, as @raw blocks),
// STARTTLS (plaintext before the TLS handshake is kept), AUTH (credentials
// never written), one-sided captures and gaps (never invented bytes).
//
// The session file extensions this package writes beyond ACE's format are
// @resp, @uid, @ts, @cut (written before the connection ended, and why:
// SessionFile.Cut), @pcap (the evidence pcaps holding the session, live
// capture with Options.Evidence), @raw and @gap; see the README section in
// collector/zeek/README.md and core/doc.go.
//
// Sessions are buffered in memory until their TCP connection ends (FIN in
// both directions, or a RST from either side: the other half is then
// closed by feeding it a RST at its next sequence number), then converted
// (by worker goroutines, beside the reader) and handed to the caller from
// one goroutine. Memory is bounded by the limits of Options (limits.go):
// idle timeout in capture time, half-open connections (dropped, oldest
// first), open connections (least recently active closed with the
// reassembly's age flush and written early), bytes per session and in all
// (the session so far written, the rest counted); SessionFile.Cut says
// why a session was written early, Stats counts each limit. Sessions are
// emitted in completion order; those completed together by a flush (idle,
// limit, end of input) in start order, so the output is deterministic for
// a given input. The two
// directions of a session are interleaved by capture order (the index of
// the packet that carried each byte), not by timestamps, which some
// captures have equal or skewed per direction.
//
// Live capture (live.go, live_linux.go; Linux only): CaptureDir reads one
// or more interfaces through gopacket's afpacket (TPACKET_V3, no cgo) with
// a kernel BPF filter on the ports (filter.go, assembled with
// golang.org/x/net/bpf: TCP on the ports over IPv4/IPv6 with up to two
// VLAN tags, plus IPv4 fragments and IPv6 extension headers for the
// decoder; with Options.Direction DirectionIn — the default with several
// interfaces — also dropping the packets an interface sends, type
// PACKET_OUTGOING, as it always does on lo). Reader goroutines copy
// packets out of each ring in batches; one goroutine runs the very engine
// Process runs, so a live capture and a pcap of the same packets give the
// same session files (TestLiveSameAsPcap). With several interfaces their
// packets are merged by timestamp first (merge.go): a packet waits until
// every other interface has delivered one at least as late or reported
// its ring empty for the poll timeout, which vouches for the packets
// stamped idleMargin before that read began (readers hand over their
// batch once it spans mergeSpan of capture time), at most
// MergeMaxPackets packets and MergeMaxBytes of buffers (beyond, the
// oldest goes on: MergeStats.Forced; one older than a packet already
// passed on still goes on: MergeStats.Late), so a breakout tap (one port
// per direction) or a router's two legs give a connection's packets in
// time order (TestLiveMergeBreakoutTap). Every second the engine's clock
// is advanced to the wall clock (idle timeouts on a quiet link) and the
// counters are reported (LiveStats: Stats plus each interface's kernel
// packets and drops, and the merge's counters). A UDP socket holding SO_TIMESTAMPNS stays open while an
// interface is captured (stampOnce): Linux then stamps each received
// packet once, so a tcpdump beside us reads the same times (except TCP
// the host sends over lo, which carries its departure time instead).
// With Options.Evidence every packet the filter passed is also written
// to pcap files rotated by size and age (evidence.go, pcapgo, nanosecond
// stamps; fsynced when closed); a stream notes the files of its first
// and last packets, and its session file names them (@pcap).
// ExtractFlow (extract.go) cuts one connection (both ends, either way,
// and IP fragments between its addresses) out of such files as one pcap:
// `smtpscope show ID --pcap`.
// When the context ends every open session is written, Cut
// CutShutdown. Session files are fsynced one by one (SyncEach): a live
// capture cannot be read again.
//
// Entry points: Process (a callback per session file) and WriteDir
// (<uid> then <uid>.ready into a directory, never replacing a file: a
// taken name becomes <uid>-2, <uid>-3, …; a .ready only once its file is
// durable, synced per batch with syncfs or per file, see SyncMode;
// writer.go, fs_*.go), used by `smtpscope pcap` and `smtpscope parse
// --pcap`. WriteDir's files are written by the conversion workers as soon
// as each is converted (Options.place), on every core and in no
// particular order; each is an unnamed O_TMPFILE file linked to its name
// (Linux; elsewhere a .tmp-* name, linked then removed). The .ready
// markers are hard links of one empty unnamed file (a new one every
// markerLinks markers or markerAge), not an inode each (mknod elsewhere);
// those of SyncBatch are queued in emission order.
package capture
