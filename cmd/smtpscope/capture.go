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

	"github.com/smtpscope/smtpscope/collector/capture"
	"github.com/smtpscope/smtpscope/ui/sanitize"
)

// CaptureCmd captures SMTP live from network interfaces into session files.
type CaptureCmd struct {
	Interface []string      `help:"Network interface to capture on (repeatable: several are merged by packet time into one reassembly)." short:"i" required:"" placeholder:"IFACE"`
	Direction string        `help:"Packets kept on each interface: in (received only: a router's two legs, a tap's ports) or both (also those it sends: a host's own MTA). Default: in with several interfaces, both with one." enum:",in,both" default:"" placeholder:"in|both"`
	Out       string        `help:"Spool directory the session files (<uid> then <uid>.ready) are written to." required:"" type:"path" placeholder:"SPOOL"`
	Ports     []int         `help:"TCP ports carrying SMTP (either end of a connection); the kernel filter passes only these." default:"25,587,2525"`
	RingMiB   int           `help:"MiB of kernel ring (TPACKET_V3) per interface; a full ring drops packets (counted)." default:"64" name:"ring-mib"`
	Report    time.Duration `help:"Print the counters (kernel drops, gaps, limits hit) on stderr this often; 0: only at the end." default:"1m"`
	NoSync    bool          `help:"Do not fsync each session file before its .ready (output on tmpfs, tests)." name:"no-sync"`
	Quiet     bool          `help:"No counters on stderr (warnings and errors still)." short:"q"`
	Limits    pcapLimits    `embed:""`
	Evidence  evidenceFlags `embed:""`
}

// evidenceFlags are the evidence pcaps of a live capture.
type evidenceFlags struct {
	PcapDir    string        `help:"Also keep the SMTP packets (those the port filter passed) as pcap files in DIR, smtp-YYYYMMDDTHHMMSSZ.pcap (UTC time of the first packet); each session file names its file(s) (@pcap)." name:"pcap-dir" type:"path" placeholder:"DIR"`
	PcapMaxMiB int           `help:"Start a new evidence pcap once one reaches this many MiB." default:"100" name:"pcap-max-mib"`
	PcapMaxAge time.Duration `help:"Start a new evidence pcap at the first packet this long after a file's first packet." default:"1h" name:"pcap-max-age"`
	PcapKeep   int           `help:"Evidence pcaps kept: when a new one starts, the oldest beyond this many are removed; 0 keeps all." default:"0" name:"pcap-keep"`
}

func (f evidenceFlags) apply(o *capture.Options) error {
	if f.PcapDir == "" {
		return nil
	}
	if f.PcapMaxMiB <= 0 || f.PcapMaxAge <= 0 || f.PcapKeep < 0 {
		return usageErr("--pcap-max-mib and --pcap-max-age must be positive, --pcap-keep 0 or more")
	}
	o.Evidence = &capture.Evidence{Dir: f.PcapDir, MaxSize: int64(f.PcapMaxMiB) << 20, MaxAge: f.PcapMaxAge, Keep: f.PcapKeep}
	return nil
}

// Run captures until SIGINT or SIGTERM, then writes every session still
// open (partial) and exits 0.
func (c *CaptureCmd) Run() error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return c.run(ctx)
}

func (c *CaptureCmd) run(ctx context.Context) error {
	if !capture.LiveSupported {
		return errors.New("live capture needs Linux (AF_PACKET); capture with tcpdump and use smtpscope pcap")
	}
	opts := capture.Options{Ports: c.Ports, Direction: capture.Direction(c.Direction)}
	c.Limits.apply(&opts)
	if err := c.Evidence.apply(&opts); err != nil {
		return err
	}
	if err := os.MkdirAll(c.Out, 0o750); err != nil {
		return err
	}
	if c.NoSync {
		opts.Sync = capture.SyncNone
	}
	var last capture.LiveStats
	lastPrint, started := time.Now(), false
	report := func(ls capture.LiveStats) {
		last = ls
		if !started {
			started = true
			fmt.Fprintf(os.Stderr, "smtpscope capture: capturing on %s (TCP ports %s) into %s; SIGTERM or Ctrl-C stops, writing the open sessions\n",
				sanitize.Line(strings.Join(c.Interface, ", ")), portList(c.Ports), sanitize.Line(c.Out))
			return
		}
		if !c.Quiet && c.Report > 0 && time.Since(lastPrint) >= c.Report {
			lastPrint = time.Now()
			fmt.Fprintf(os.Stderr, "smtpscope capture: %s\n", liveSummary(&ls))
		}
	}
	n, err := capture.CaptureDir(ctx, c.Interface, c.RingMiB<<20, opts, c.Out, report)
	for _, w := range last.Warnings {
		fmt.Fprintf(os.Stderr, "smtpscope capture: warning: %s\n", sanitize.Line(w))
	}
	if err != nil {
		return err
	}
	if !c.Quiet {
		fmt.Fprintf(os.Stderr, "smtpscope capture: stopped; %d session(s) written to %s; %s\n", n, sanitize.Line(c.Out), liveSummary(&last))
		printLimits("capture", &last.Stats)
	}
	return nil
}

// liveSummary is one line of a live capture's counters.
func liveSummary(ls *capture.LiveStats) string {
	var ifs []string
	for _, i := range ls.Interfaces {
		ifs = append(ifs, fmt.Sprintf("%s: %d packets, %d dropped by the kernel", sanitize.Line(i.Name), i.KernelPackets, i.KernelDrops))
	}
	cuts := ls.FlowsEvicted + ls.FlowBytesCuts + ls.TotalBytesCuts + ls.HalfOpenEvicted
	if len(ls.Interfaces) > 1 {
		ifs = append(ifs, fmt.Sprintf("merged by time: %d packet(s) passed on early (window full), %d late", ls.Merge.Forced, ls.Merge.Late))
	}
	return fmt.Sprintf("%d session(s), %d message(s) (%d partial), %d gap bytes, %d limit hit(s), %d fragment datagram(s) discarded; %s",
		ls.Sessions, ls.Messages, ls.PartialMsgs, ls.GapBytes, cuts, ls.FragDiscarded, strings.Join(ifs, "; "))
}

func portList(ports []int) string {
	var s []string
	for _, p := range ports {
		s = append(s, fmt.Sprint(p))
	}
	return strings.Join(s, ",")
}
