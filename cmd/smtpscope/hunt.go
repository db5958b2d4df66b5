package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/smtpscope/smtpscope/collector"
	"github.com/smtpscope/smtpscope/index"
	"github.com/smtpscope/smtpscope/ui/sanitize"
)

// HuntCmd groups the hunt verbs: hunts are saved queries of the
// collector's config ([[hunt]]) run on every new email.
type HuntCmd struct {
	Test HuntTestCmd `cmd:"" help:"Show what a hunt with this query would have matched in the stored history (count and table, as search)."`
	List HuntListCmd `cmd:"" help:"List the config's hunts with how many stored emails each has matched."`
}

// HuntTestCmd runs a would-be hunt's query over the stored emails.
type HuntTestCmd struct {
	Data   string   `help:"Data directory." env:"SMTPSCOPE_DATA" required:"" placeholder:"DIR"`
	Format string   `default:"table" enum:"table,json,csv" help:"Output of the rows: an aligned table, JSON Lines of the rows, or CSV." placeholder:"table|json|csv"`
	Limit  int      `default:"50" help:"How many matches to print, newest first (0: all)."`
	Query  []string `arg:"" help:"The hunt's query (the search language); several words are joined with spaces."`
}

// Run prints the emails the query matches: what a hunt with it would
// have tagged had it existed when they arrived (hunts see emails only).
func (c *HuntTestCmd) Run() error {
	s := SearchCmd{Data: c.Data, Format: c.Format, Limit: c.Limit, Kind: []string{index.KindEmail}, Query: c.Query}
	return s.run(os.Stdout, os.Stderr, terminalTable())
}

// HuntListCmd lists the hunts of a config with their match counts.
type HuntListCmd struct {
	Config string `help:"Config file (TOML) whose [[hunt]] entries to list." env:"SMTPSCOPE_CONFIG" required:"" placeholder:"FILE"`
	Data   string `help:"Data directory (default: the config's data)." env:"SMTPSCOPE_DATA" placeholder:"DIR"`
}

// Run prints one line per hunt: name, emails matched so far (hunt:NAME
// in the index), the groups it delivers to, its query.
func (c *HuntListCmd) Run() error { return c.run(os.Stdout) }

func (c *HuntListCmd) run(stdout io.Writer) error {
	cfg, err := collector.LoadConfig(c.Config)
	if err != nil {
		return err
	}
	data := c.Data
	if data == "" {
		data = cfg.Data
	}
	if data == "" {
		return usageErr("no data directory: --data, SMTPSCOPE_DATA or data = in %s", c.Config)
	}
	out := bufio.NewWriter(stdout)
	defer out.Flush()
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "HUNT\tMATCHED\tDELIVER TO\tQUERY")
	ctx := context.Background()
	for _, h := range cfg.Hunts {
		n, err := countQuery(ctx, data, "hunt:"+h.Name)
		if err != nil {
			return err
		}
		to := strings.Join(h.DeliverTo, ",")
		if to == "" {
			to = "-"
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\n", sanitize.Text(h.Name), n, sanitize.Text(to), sanitize.Text(h.Query))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(cfg.Hunts) == 0 {
		fmt.Fprintf(out, "no [[hunt]] in %s\n", sanitize.Text(c.Config))
	}
	return out.Flush()
}

// countQuery is the number of emails q matches in the data dir's index
// (in-process, or through the running collector's socket).
func countQuery(ctx context.Context, data, q string) (uint64, error) {
	src, err := openSearchSource(ctx, data, q, []string{index.KindEmail})
	if err != nil {
		return 0, err
	}
	defer src.close()
	_, total, _, _, err := src.page(ctx, nil, 1, false)
	return total, err
}
