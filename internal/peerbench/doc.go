// Command peerbench is `make bench-peers`: smtpscope measured side by side
// with the tools a user would otherwise run, in one run, interleaved
// (A, B, A, B ... over several rounds; medians, ratios taken pair by pair),
// and printed as one markdown table with each row's target and PASS/FAIL.
//
// It is a benchmark harness, not part of the binary: it runs smtpscope and
// its peers as whole processes and reads the operating system's accounting
// of each finished child (wall clock, user+system CPU-seconds, peak RSS).
// Each child starts after a sync(2), untimed: no run pays for writing back
// what the run before it left dirty in the page cache.
// The peers and the corpus come from ../shared/tools/peers (mkcorpus.py,
// pybaseline.py, mailpit_ingest.sh, smtp_send.py); Mailpit is built by the
// Makefile from the Go module proxy into bin/peers/ and is never a
// dependency of smtpscope's module. Without ../shared it says so and exits 0.
//
// What it owns: the corpus steps (session files from mkcorpus.py, the same
// emails extracted as .eml files for Mailpit, a capture synthesised from
// the same sessions for `smtpscope pcap`), the runs (parse vs the Python
// pipeline; the collect daemon until every email is searchable vs Mailpit's
// SMTP ingest; reindex vs `mailpit reindex`; whole-process search vs
// Mailpit's API; pcap vs `cp -r` and `tcpdump -r F -w /dev/null`), and the
// table. Everything it starts listens on loopback (or a unix socket) only,
// is stopped by its PID, and its temporary directory is removed.
//
// Of this module it imports collector/api only, as a client of the
// daemon's socket (to see when every email is searchable); gopacket writes
// the synthesised capture.
package main
