package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"golang.org/x/term"

	"github.com/smtpscope/smtpscope/collector/capture"
	"github.com/smtpscope/smtpscope/ui/sanitize"
)

// PcapCmd reassembles SMTP sessions from captures into session files.
type PcapCmd struct {
	Out    string     `help:"Directory the session files (<uid> then <uid>.ready) are written to." default:"." type:"path"`
	Ports  []int      `help:"TCP ports carrying SMTP (either end of a connection)." default:"25,587,2525"`
	Sync   string     `help:"How session files are made durable before their .ready: batch (one file-system sync per batch of files; the capture stays the truth), each (fsync every file: for captures deleted once read), none (no sync: tmpfs)." enum:"batch,each,none" default:"batch"`
	Quiet  bool       `help:"No progress bar and no summary." short:"q"`
	Limits pcapLimits `embed:""`
	Files  []string   `arg:"" help:"pcap or pcapng captures (gzip-compressed ones too), read in order as one capture when their times follow on." type:"existingfile"`
}

// Run writes one session file per SMTP TCP session found in the captures.
// SIGINT or SIGTERM stop it: what was written is complete and kept.
func (c *PcapCmd) Run() error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return c.run(ctx)
}

func (c *PcapCmd) run(ctx context.Context) error {
	var st capture.Stats
	opts := capture.Options{Ports: c.Ports, Stats: &st}
	c.Limits.apply(&opts)
	mode, err := capture.ParseSyncMode(c.Sync)
	if err != nil {
		return err
	}
	opts.Sync = mode
	bar := !c.Quiet && term.IsTerminal(int(os.Stderr.Fd()))
	if bar {
		start := time.Now()
		opts.ProgressFunc = func(read, total int64) { drawBar(read, total, time.Since(start)) }
	}
	n, err := capture.WriteDir(ctx, c.Files, opts, c.Out)
	if bar {
		fmt.Fprintln(os.Stderr)
	}
	for _, w := range st.Warnings {
		fmt.Fprintf(os.Stderr, "smtpscope pcap: warning: %s\n", sanitize.Line(w))
	}
	if ctx.Err() != nil && err != nil {
		return pcapInterrupted(n, &st, len(c.Files), c.Out, err)
	}
	if err != nil {
		return err
	}
	if !c.Quiet {
		fmt.Fprintf(os.Stderr, "smtpscope pcap: %d session(s), %d message(s) (%d partial) from %d packets (%d on SMTP ports) written to %s\n",
			n, st.Messages, st.PartialMsgs, st.Packets, st.TCPPackets, sanitize.Line(c.Out))
		if st.GapBytes > 0 {
			fmt.Fprintf(os.Stderr, "smtpscope pcap: %d bytes missing from the capture (gaps; messages with gaps are partial)\n", st.GapBytes)
		}
		printLimits("pcap", &st)
	}
	return nil
}

// pcapInterrupted is the error of a run stopped by a signal (exit status
// 130): what was written, and what was not. err is WriteDir's: the
// cancellation, joined with any other failure (reading, or writing the
// markers).
func pcapInterrupted(n int, st *capture.Stats, files int, out string, err error) error {
	msg := fmt.Sprintf("interrupted: %d session file(s) written to %s, each complete, with its .ready marker; %d of %d capture file(s) read in full; "+
		"sessions still open then (and the rest of the capture) were not written: run again on the same captures into an empty directory for all of them",
		n, out, st.Files, files)
	var rest []error
	for _, e := range unjoin(err) {
		if !errors.Is(e, context.Canceled) {
			rest = append(rest, e)
		}
	}
	if len(rest) > 0 {
		msg += fmt.Sprintf("; the run also failed (a session file without its .ready marker is not complete): %v", errors.Join(rest...))
	}
	return exitError{code: exitInterrupted, err: errors.New(msg)}
}

// unjoin returns the errors errors.Join joined (err itself otherwise).
func unjoin(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// pcapLimits are the memory limits of `pcap` and `parse --pcap` (see
// capture.Options and the README).
type pcapLimits struct {
	MaxFlows       int           `help:"TCP connections open at once; beyond it the least recently active are written early (partial)." default:"100000" name:"max-flows"`
	MaxHalfOpen    int           `help:"Connections that carried no payload yet (SYN, handshake); beyond it the oldest are dropped." default:"10000" name:"max-half-open"`
	MaxFlowMiB     int           `help:"MiB buffered for one session; when reached it is written (partial) and the rest of the connection is only counted." default:"256" name:"max-flow-mib"`
	MaxBufferedMiB int           `help:"MiB buffered for all open sessions; when reached the largest are cut as at --max-flow-mib." default:"1024" name:"max-buffered-mib"`
	IdleTimeout    time.Duration `help:"A connection idle this long in capture time is closed and written." default:"5m" name:"idle-timeout" aliases:"idle"`
	FragTimeout    time.Duration `help:"An IP datagram whose fragments are not all there this long (capture time) after its first one is discarded." default:"30s" name:"frag-timeout"`
	MaxFragMiB     int           `help:"MiB of IP fragments held for datagrams not yet whole; beyond it the oldest datagrams are discarded." default:"64" name:"max-frag-mib"`
}

func (l pcapLimits) apply(o *capture.Options) {
	o.MaxFlows, o.MaxHalfOpen, o.IdleTimeout = l.MaxFlows, l.MaxHalfOpen, l.IdleTimeout
	o.MaxFlowBytes = l.MaxFlowMiB << 20
	o.MaxBufferedBytes = int64(l.MaxBufferedMiB) << 20
	o.FragTimeout, o.MaxFragBytes = l.FragTimeout, int64(l.MaxFragMiB)<<20
}

// printLimits reports on stderr the limits a run hit.
func printLimits(verb string, st *capture.Stats) {
	for _, x := range []struct {
		n    int64
		what string
	}{
		{st.HalfOpenEvicted, "half-open connection(s) dropped at --max-half-open"},
		{st.FlowsEvicted, "session(s) written early at --max-flows (partial)"},
		{st.FlowBytesCuts, "session(s) cut at --max-flow-mib (partial)"},
		{st.TotalBytesCuts, "session(s) cut at --max-buffered-mib (partial)"},
		{st.CutBytes, "byte(s) of cut sessions not kept"},
		{st.IdleClosed, "session(s) closed by --idle-timeout"},
		{st.BadTimestamps, "packet(s) with an implausible time (the previous packet's used)"},
		{st.FragDiscarded, "IP datagram(s) discarded unfinished at --frag-timeout or --max-frag-mib (their bytes are gaps)"},
		{st.FragInvalid, "IP datagram(s) whose fragments contradicted each other, dropped"},
	} {
		if x.n > 0 {
			fmt.Fprintf(os.Stderr, "smtpscope %s: %d %s\n", verb, x.n, x.what)
		}
	}
}

// drawBar draws "[=====>     ]  45%  123.4/274.0 MB  56.7 MB/s" on stderr.
func drawBar(read, total int64, elapsed time.Duration) {
	const width = 30
	frac := 0.0
	if total > 0 {
		frac = float64(read) / float64(total)
	}
	if frac > 1 {
		frac = 1
	}
	full := int(frac * width)
	bar := strings.Repeat("=", full)
	if full < width {
		bar += ">" + strings.Repeat(" ", width-full-1)
	}
	rate := 0.0
	if s := elapsed.Seconds(); s > 0 {
		rate = float64(read) / s / 1e6
	}
	fmt.Fprintf(os.Stderr, "\r[%s] %3.0f%%  %.1f/%.1f MB  %.1f MB/s ", bar, frac*100, float64(read)/1e6, float64(total)/1e6, rate)
}
