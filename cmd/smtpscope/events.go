package main

import (
	"bufio"
	"os"
	"time"

	"github.com/smtpscope/smtpscope/collector"
	"github.com/smtpscope/smtpscope/core"
)

// eventFlags are the event-log flags collect and hub share, over the
// config's [output] events and events_format.
type eventFlags struct {
	Events       string `name:"events" help:"Append one NDJSON event per stored email to this file, for SIEM shippers ([output] events; rotated by size and age)." env:"SMTPSCOPE_EVENTS" placeholder:"PATH"`
	EventsFormat string `name:"events-format" help:"Event log format: ecs (Elastic Common Schema) or zeek (smtp.log and files.log lines; files.log beside it as <name>.files<ext>)." env:"SMTPSCOPE_EVENTS_FORMAT" enum:",ecs,zeek" default:""`
}

func (f eventFlags) apply(cfg *collector.Config) {
	if f.Events != "" {
		cfg.Output.Events = f.Events
	}
	if f.EventsFormat != "" {
		cfg.Output.EventsFormat = f.EventsFormat
	}
}

// recordEncoder prints records as parse and search give them: the record
// itself (format "record"), or the event log's shapes (ecs, zeek) through
// the event log's own encoder (collector.EncodeEvent). For zeek the
// files.log lines follow their smtp.log line on out, or go to files.
type recordEncoder struct {
	format  string
	out     *bufio.Writer
	files   *bufio.Writer // nil: out
	created time.Time
	// internal: --internal-domains, for ECS's email.direction
	internal []string
}

func (r *recordEncoder) encode(e *core.Email) error {
	return collector.EncodeEvent(r.out, r.files, r.format, e, r.created, r.internal)
}

// openFilesLog opens --files-log (zeek format only); close flushes it.
func openFilesLog(path, format string) (w *bufio.Writer, closeFn func() error, err error) {
	if path == "" {
		return nil, func() error { return nil }, nil
	}
	if format != collector.EventsZeek {
		return nil, nil, usageErr("--files-log is for --format zeek (its files.log lines)")
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, nil, err
	}
	w = bufio.NewWriterSize(f, 64<<10)
	return w, func() error {
		err := w.Flush()
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		return err
	}, nil
}
