package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"

	"github.com/smtpscope/smtpscope/collector/capture"
	"github.com/smtpscope/smtpscope/core"
	"github.com/smtpscope/smtpscope/ui/sanitize"
)

// runPcap prints the records of every message in the captures. Each
// session goes pcap → session file → core's session parser, the same path
// as `smtpscope pcap` followed by `smtpscope parse`, so both give the same
// bytes.
func (c *ParseCmd) runPcap(an *core.Analyzer, emit func(*core.Email) error) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	var stats capture.Stats
	opts := capture.Options{Ports: c.Ports, Stats: &stats}
	c.Limits.apply(&opts)
	failed, sessions := 0, 0
	err := capture.Process(ctx, c.Paths, opts, func(sf *capture.SessionFile) error {
		sessions++
		s, err := core.ParseSession(bytes.NewReader(sf.Data), sf.UID, sf.Start)
		if err != nil {
			failed++
			fmt.Fprintf(os.Stderr, "smtpscope parse: session %s: %s\n", sanitize.Line(sf.UID), sanitize.Line(err.Error()))
			return nil
		}
		s.Info.TimeSource = "capture" // the time of the capture's first packet
		for _, e := range an.SessionEmails(s) {
			if err := emit(e); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, w := range stats.Warnings {
		fmt.Fprintf(os.Stderr, "smtpscope parse: warning: %s\n", sanitize.Line(w))
	}
	printLimits("parse", &stats)
	if sessions == 0 && ctx.Err() == nil {
		fmt.Fprintf(os.Stderr, "smtpscope parse: no SMTP session on TCP ports %s in %s; try --ports\n", joinInts(c.Ports), sanitize.Line(strings.Join(c.Paths, ", ")))
	}
	if failed > 0 {
		return exitError{code: 1, err: fmt.Errorf("%d sessions could not be parsed", failed)}
	}
	return nil
}

// joinInts writes ports as "25,587,2525".
func joinInts(ns []int) string {
	parts := make([]string, len(ns))
	for i, n := range ns {
		parts[i] = strconv.Itoa(n)
	}
	return strings.Join(parts, ",")
}
