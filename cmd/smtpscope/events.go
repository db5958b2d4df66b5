package main

import "github.com/smtpscope/smtpscope/collector"

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
