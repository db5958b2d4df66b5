// Command smtpscope is the one binary of smtpscope: a forensic inspector for
// SMTP traffic. Each verb lives in its own file of this package. The
// reading verbs (search, show, export) reach a data dir one way (data.go):
// read-only in-process when no collector owns it, else through the running
// collector's socket; table.go draws search's rows (table, CSV).
//
// Every string from mail, the wire or the file system that a verb prints
// as text or in a table (names, ids, reasons, errors) goes through
// ui/sanitize first; JSON output is left to its encoder.
package main

import (
	"errors"
	"fmt"
	"github.com/smtpscope/smtpscope/collector"
	"os"
	"strings"

	"github.com/alecthomas/kong"
	"github.com/smtpscope/smtpscope/ui/sanitize"
)

// version is set by the Makefile (-ldflags "-X main.version=...").
var version = "dev"

// CLI lists every verb. The default verb (no arguments) opens the UI.
type CLI struct {
	Version kong.VersionFlag `help:"Print the version and exit."`

	UI      UICmd      `cmd:"" default:"withargs" help:"Open the terminal UI on a data dir (runs the collector in-process, or attaches to a running one)."`
	Demo    DemoCmd    `cmd:"" help:"Self-contained demo: temp data dir, bundled samples, in-process ace-sink, collector and UI."`
	Parse   ParseCmd   `cmd:"" help:"Print email records (JSON Lines) from session files, pcaps or raw .eml files."`
	Pcap    PcapCmd    `cmd:"" help:"Reassemble SMTP sessions from pcap/pcapng into session files (+ .ready)."`
	Capture CaptureCmd `cmd:"" help:"Capture SMTP live from network interfaces (AF_PACKET) into session files (+ .ready)."`
	Collect CollectCmd `cmd:"" help:"Headless collector: watch the spool, store, queue and submit to ACE, index."`
	Hub     HubCmd     `cmd:"" help:"Gather the sensors' emails from NATS JetStream into one data dir: store, index, serve search/show/ui, resubmit to ACE."`
	Status  StatusCmd  `cmd:"" help:"Print queue depth per group and state, review/ entries and last errors."`
	Submit  SubmitCmd  `cmd:"" help:"Queue emails again for submission to a node group."`
	AceSink AceSinkCmd `cmd:"" name:"ace-sink" help:"Run a small ACE-API-compatible receiver (demos and tests)."`
	Search  SearchCmd  `cmd:"" help:"Search the index of a data dir."`
	Show    ShowCmd    `cmd:"" help:"Show one email (or session/<uid>) of a data dir: summary, record, raw bytes, transcript, headers or an attachment."`
	Export  ExportCmd  `cmd:"" help:"Write the emails a query finds as .eml files, one mbox or JSON Lines."`
	Hunt    HuntCmd    `cmd:"" help:"Hunts, the config's saved queries run on every new email: test a query against the stored history, list them with their matches."`
	Index   IndexCmd   `cmd:"" help:"Index every stored email of a data dir that is not indexed yet."`
	Reindex ReindexCmd `cmd:"" help:"Rebuild the index of a data dir from the store."`
	Repair  RepairCmd  `cmd:"" help:"Rebuild a damaged queue database from the stored emails (queues again what is not known as sent)."`
}

func main() {
	var cli CLI
	restoreGC := holdGCForStart()
	ctx, code := parseArgs(&cli, os.Args[1:], os.Stderr)
	if ctx == nil {
		os.Exit(code)
	}
	if !strings.HasPrefix(ctx.Command(), "search") {
		restoreGC() // search keeps its own pacing (paceSearchGC)
	}
	collector.BuildVersion = version // smtpscope_build_info
	stopProfile := startProfile()
	err := ctx.Run()
	stopProfile()
	if err != nil {
		// Errors name files and ids from the input: shown escaped.
		fmt.Fprintf(os.Stderr, "smtpscope %s: %s\n", ctx.Command(), sanitize.Text(err.Error()))
		os.Exit(exitCode(err))
	}
}

// exitCoder lets a verb choose its exit status.
type exitCoder interface{ ExitCode() int }

// exitCode finds the verb's choice through any wrapping (kong joins the
// errors a Run returns).
func exitCode(err error) int {
	var ec exitCoder
	if errors.As(err, &ec) {
		return ec.ExitCode()
	}
	return 1
}
