package main

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/smtpscope/smtpscope/collector"
)

// RepairCmd rebuilds a data dir's queue database from its store.
type RepairCmd struct {
	Data   string   `help:"Data directory." env:"SMTPSCOPE_DATA" required:"" placeholder:"DIR"`
	Config string   `help:"Collector config file (TOML): its enabled node groups are queued to." env:"SMTPSCOPE_CONFIG" placeholder:"FILE"`
	Ace    []string `help:"ACE node URL (as for collect): queue to the group 'default'." placeholder:"URL" sep:","`
}

// Run rebuilds DATA/queue.db: every stored email not known as sent is
// queued again; the old file is kept as queue.db.damaged-<time>.
func (c *RepairCmd) Run() error {
	var groups []collector.GroupConfig
	if c.Config != "" || len(c.Ace) > 0 {
		cc := &CollectCmd{Data: c.Data, Config: c.Config, Ace: c.Ace, Spool: "-"}
		cfg, err := cc.loadConfig()
		if err != nil {
			return err
		}
		groups = cfg.Groups
	}
	rep, err := collector.Repair(c.Data, groups, time.Now())
	if errors.Is(err, collector.ErrLocked) {
		return fmt.Errorf("%w (stop the collector or UI on %s first)", err, c.Data)
	}
	if err != nil {
		return err
	}
	for _, s := range rep.Skipped {
		fmt.Fprintln(os.Stderr, "skipped:", s)
	}
	if rep.Damaged != "" {
		fmt.Printf("old queue database kept as %s\n", rep.Damaged)
	}
	fmt.Printf("rebuilt %s/queue.db: %d emails, %d sessions; groups %v: %d entries queued, %d kept as sent; %d records skipped\n",
		c.Data, rep.Emails, rep.Sessions, rep.Groups, rep.Queued, rep.Sent, len(rep.Skipped))
	fmt.Println("the search index is unchanged; run `smtpscope index` if it misses emails")
	return nil
}
