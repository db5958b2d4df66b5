package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/signal"

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
	failed := 0
	err := capture.Process(ctx, c.Paths, opts, func(sf *capture.SessionFile) error {
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
	if failed > 0 {
		return exitError{code: 1, err: fmt.Errorf("%d sessions could not be parsed", failed)}
	}
	return nil
}
