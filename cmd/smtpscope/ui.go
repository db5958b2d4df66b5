package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/smtpscope/smtpscope/collector/api"
	"github.com/smtpscope/smtpscope/collector/service"
	"github.com/smtpscope/smtpscope/ui"
	"github.com/smtpscope/smtpscope/ui/sanitize"
	"github.com/smtpscope/smtpscope/ui/saved"
)

// UICmd opens the terminal UI on a data dir. It runs the collector
// in-process (spool watching, ACE submission, indexing); when a headless
// `smtpscope collect` already owns the data dir, it attaches to it over
// DATA/run/smtpscope.sock instead.
type UICmd struct {
	Data       string   `help:"Data directory (store, queue, index)." env:"SMTPSCOPE_DATA" placeholder:"DIR"`
	Spool      string   `help:"Spool directory to watch (without it, the in-process collector only delivers the queue)." env:"SMTPSCOPE_SPOOL" placeholder:"DIR"`
	Config     string   `help:"Collector config file (TOML)." env:"SMTPSCOPE_CONFIG" placeholder:"FILE"`
	Ace        []string `help:"ACE node URL (repeatable): one node group named 'default'." env:"SMTPSCOPE_ACE" placeholder:"URL" sep:","`
	AceKeyFile string   `name:"ace-key-file" help:"File holding the ACE API key." env:"SMTPSCOPE_ACE_KEY_FILE" placeholder:"FILE"`
	AceCA      string   `name:"ace-ca" help:"PEM CA bundle for ACE nodes' TLS." env:"SMTPSCOPE_ACE_CA" placeholder:"FILE"`
	Query      string   `help:"Initial search query." placeholder:"QUERY"`
	Light      bool     `help:"Light colours (default: ask the terminal)."`
	Dark       bool     `help:"Dark colours (default: ask the terminal)."`
	ExportDir  string   `name:"export-dir" help:"Directory export proposes (default: the current directory)." placeholder:"DIR"`
	Log        string   `help:"Log file of the in-process collector (default DATA/smtpscope-ui.log)." placeholder:"FILE"`
	Create     bool     `help:"Make the data dir when it does not exist (without it a missing one is an error: a mistyped --data must not open an empty store)."`
}

// Run opens the UI.
func (c *UICmd) Run() error {
	cc := &CollectCmd{Spool: c.Spool, Data: c.Data, Config: c.Config, Ace: c.Ace, AceKeyFile: c.AceKeyFile, AceCA: c.AceCA}
	noSpool := false
	if c.Spool == "" && c.Config == "" && os.Getenv("SMTPSCOPE_SPOOL") == "" {
		noSpool = true
		cc.Spool = "-"
	}
	cfg, err := cc.loadConfig()
	if cfg != nil && cfg.Data == "" {
		return errors.New("no data dir: give --data DIR (or SMTPSCOPE_DATA), or try `smtpscope demo`")
	}
	if err != nil {
		return err
	}
	if err := dataDirExists(cfg.Data, c.Create); err != nil {
		return err
	}
	noSpool = noSpool || cfg.Spool == "-"
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	o := uiOptions(c.Light, c.Dark)
	o.ExportDir, o.Query = c.ExportDir, c.Query

	logPath := c.Log
	if logPath == "" {
		logPath = filepath.Join(cfg.Data, "smtpscope-ui.log")
	}
	if err := os.MkdirAll(cfg.Data, 0o750); err != nil {
		return err
	}
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("log file: %w", err)
	}
	defer logf.Close()
	log := collectorLogger(logf, cfg.Log.Format, cfg.Log.Level)

	l, err := openService(cfg, serviceOpts{log: log, noSpool: noSpool, index: true})
	switch {
	case err == nil:
		l.Start(ctx)
		defer func() {
			if err := l.Close(); err != nil {
				fmt.Fprintln(os.Stderr, "smtpscope ui: closing the collector:", sanitize.Line(err.Error()))
			}
		}()
		// Other processes (smtpscope search/status/submit) go through us.
		serveSocket(ctx, cfg, l, log)
		o.Backend, o.Title = l, cfg.Data
		o.SearchesFile, _ = saved.Path(cfg.Data, true)
	case errors.Is(err, service.ErrBusy):
		// When the owner quits, reattach to the next one or become it.
		takeOver := func(tctx context.Context) (api.Backend, func() error, error) {
			l, err := openService(cfg, serviceOpts{log: log, noSpool: noSpool, index: true})
			if err != nil {
				return nil, nil, err
			}
			l.Start(ctx)
			serveSocket(ctx, cfg, l, log)
			return l, l.Close, nil
		}
		dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		r, derr := service.Attach(dctx, cfg.Data, takeOver)
		cancel()
		if derr != nil {
			return fmt.Errorf("%v; and attaching to the running collector failed: %w", err, derr)
		}
		defer func() {
			if err := r.Close(); err != nil {
				fmt.Fprintln(os.Stderr, "smtpscope ui: closing the collector:", sanitize.Line(err.Error()))
			}
		}()
		o.Backend, o.Title = r, cfg.Data+" (attached)"
		// Attached, the data dir may not be ours to write: then the
		// user's config dir keeps the searches ("" when neither can).
		o.SearchesFile, _ = saved.Path(cfg.Data, false)
	default:
		return err
	}
	return ui.Run(ctx, o)
}

func uiOptions(light, dark bool) ui.Options {
	var o ui.Options
	switch {
	case light:
		f := false
		o.Dark = &f
	case dark:
		t := true
		o.Dark = &t
	}
	return o
}

// dataDirExists fails (exit status 2) when dir does not exist and create
// is false: the UI opens a store, it does not make one by accident.
func dataDirExists(dir string, create bool) error {
	if create {
		return nil
	}
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		return exitError{code: exitUsage, err: fmt.Errorf("data dir %s does not exist; check the path, or add --create to make a new one", sanitize.Line(dir))}
	}
	return nil
}
