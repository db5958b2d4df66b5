package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/smtpscope/smtpscope/cmd/smtpscope/internal/demo"
	"github.com/smtpscope/smtpscope/ui"
)

// DemoCmd is the self-contained demo (`make run`): a temporary data dir,
// the bundled sample sessions fed into a spool over a few seconds, an
// in-process ACE sink on 127.0.0.1 as the one node group, the collector
// running, and the TUI open.
type DemoCmd struct {
	Dir      string        `help:"Use (and keep) this directory instead of a temporary one." placeholder:"DIR"`
	Keep     bool          `help:"Keep the temporary directory at exit (its path is printed)."`
	Interval time.Duration `default:"700ms" help:"Delay between two sample sessions arriving in the spool."`
	Light    bool          `help:"Light colours (default: ask the terminal)."`
	Dark     bool          `help:"Dark colours (default: ask the terminal)."`
}

// Run runs the demo until the UI is closed.
func (c *DemoCmd) Run() error {
	d, err := demo.Setup(demo.Options{Dir: c.Dir, Keep: c.Keep || c.Dir != ""})
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	defer d.Close()
	logf, err := os.OpenFile(filepath.Join(d.Dir, "demo.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()
	log := collectorLogger(logf, "text", "info")

	l, err := openService(d.Config, serviceOpts{log: log, index: true})
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	l.Start(ctx)
	serveSocket(ctx, d.Config, l, log)
	go func() {
		if err := d.Feed(ctx, c.Interval); err != nil && ctx.Err() == nil {
			log.Error("demo feed", "err", err)
		}
	}()
	o := uiOptions(c.Light, c.Dark)
	o.Backend, o.Title, o.ExportDir = l, "demo "+d.Dir, filepath.Join(d.Dir, "exports")
	uiErr := ui.Run(ctx, o)
	stop()
	if err := l.Close(); err != nil && uiErr == nil {
		uiErr = err
	}
	if c.Keep || c.Dir != "" {
		fmt.Printf("demo data kept in %s (data dir %s; try: smtpscope ui --data %s)\n", d.Dir, d.Data, d.Data)
	}
	return uiErr
}
