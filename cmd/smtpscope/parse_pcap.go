package main

import (
	"errors"

	"github.com/smtpscope/smtpscope/core"
)

func (c *ParseCmd) runPcap(an *core.Analyzer, emit func(*core.Email) error) error {
	return errors.New("--pcap: capture support has not landed yet")
}
