package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/smtpscope/smtpscope/collector"
	"github.com/smtpscope/smtpscope/collector/api"
	"github.com/smtpscope/smtpscope/collector/capture"
	"github.com/smtpscope/smtpscope/collector/service"
	"github.com/smtpscope/smtpscope/ui/sanitize"
)

// CollectCmd runs the headless collector.
type CollectCmd struct {
	Spool         string        `help:"Spool directory watched for <name>.ready session files." env:"SMTPSCOPE_SPOOL" placeholder:"DIR"`
	Data          string        `help:"Data directory (store, queue, review/)." env:"SMTPSCOPE_DATA" placeholder:"DIR"`
	Sensor        string        `help:"Name of this sensor in every record and in the NATS subject (default: the host name's first label)." env:"SMTPSCOPE_SENSOR" placeholder:"NAME"`
	Config        string        `help:"Config file (TOML); flags and SMTPSCOPE_* variables override it." env:"SMTPSCOPE_CONFIG" placeholder:"FILE"`
	Ace           []string      `help:"ACE node URL (repeatable): one node group named 'default', coverage 100, full delivery." env:"SMTPSCOPE_ACE" placeholder:"URL" sep:","`
	NATS          []string      `name:"nats" help:"NATS JetStream server URL (repeatable or comma-separated): one group named 'nats' of kind nats, coverage 100, full delivery." env:"SMTPSCOPE_NATS" placeholder:"URL" sep:","`
	AceKeyFile    string        `name:"ace-key-file" help:"File holding the ACE API key (sent in x-ace-auth)." env:"SMTPSCOPE_ACE_KEY_FILE" placeholder:"FILE"`
	AceCA         string        `name:"ace-ca" help:"PEM CA bundle to verify ACE nodes' TLS certificates." env:"SMTPSCOPE_ACE_CA" placeholder:"FILE"`
	Once          bool          `help:"Process the spool, deliver until everything is sent or failed, then exit (non-zero if anything is left undelivered)."`
	OnceTimeout   time.Duration `name:"once-timeout" default:"60s" help:"Bound of --once."`
	MetricsListen string        `name:"metrics-listen" help:"Serve Prometheus metrics on this address (e.g. 127.0.0.1:9464)." env:"SMTPSCOPE_METRICS_LISTEN" placeholder:"ADDR"`
	LogFormat     string        `name:"log-format" help:"Log format: text or json." env:"SMTPSCOPE_LOG_FORMAT" enum:",text,json" default:""`
	LogLevel      string        `name:"log-level" help:"Log level: debug, info, warn, error." env:"SMTPSCOPE_LOG_LEVEL" enum:",debug,info,warn,error" default:""`
	Workers       int           `help:"Session files parsed and stored in parallel (default: the processors Go may use, at least 2)." env:"SMTPSCOPE_WORKERS"`
	Index         bool          `default:"true" negatable:"" help:"Keep the search index (DATA/index) up to date; --no-index runs without it (the socket DATA/run/smtpscope.sock still serves status, resubmit and pause)."`
	NoFsync       bool          `name:"no-fsync" hidden:"" help:"Skip fsync (tests only)."`
	eventFlags    `embed:""`

	// Live capture into the spool (smtpscope capture inside the collector).
	Interface        []string      `help:"Capture SMTP live on this network interface (repeatable), writing session files into the spool, as smtpscope capture does (needs CAP_NET_RAW)." env:"SMTPSCOPE_INTERFACE" placeholder:"IFACE" sep:","`
	CapturePorts     []int         `name:"capture-ports" help:"TCP ports the live capture treats as SMTP (default 25,587,2525)." placeholder:"PORTS" sep:","`
	CaptureDirection string        `name:"capture-direction" help:"Packets the live capture keeps on each interface: in or both (as smtpscope capture --direction; default in with several interfaces, both with one)." enum:",in,both" default:"" placeholder:"in|both"`
	PcapDir          string        `name:"pcap-dir" help:"Keep the live capture's SMTP packets as evidence pcaps in DIR (as smtpscope capture --pcap-dir)." type:"path" placeholder:"DIR"`
	PcapMaxMiB       int           `name:"pcap-max-mib" help:"Start a new evidence pcap once one reaches this many MiB (config capture_pcap_max_mib; default 100)." placeholder:"N"`
	PcapMaxAge       time.Duration `name:"pcap-max-age" help:"Start a new evidence pcap at the first packet this long after a file's first packet (config capture_pcap_max_age; default 1h)." placeholder:"D"`
	PcapKeep         *int          `name:"pcap-keep" help:"Evidence pcaps kept: when a new one starts, the oldest beyond this many are removed (config capture_pcap_keep; default 0: all kept)." placeholder:"N"`

	// Raw email input (stoQ's dirmon provider).
	Maildir   []string `help:"Maildir to watch (repeatable): new/ is processed, files move to cur/ (stoQ dirmon:source_dir)." env:"SMTPSCOPE_MAILDIR" placeholder:"DIR" sep:","`
	EMLDir    []string `name:"eml-dir" help:"Directory of .eml files to ingest (repeatable); ingested files are remembered, not moved." env:"SMTPSCOPE_EML_DIR" placeholder:"DIR" sep:","`
	Recursive bool     `help:"--eml-dir: include subdirectories."`

	// stoQ's smtp worker and filedir plugin options.
	OmitBody           bool          `name:"omit-body" help:"Leave body_text/body_html out of the records (smtp:omit_body)."`
	AlwaysDispatch     []string      `name:"always-dispatch" help:"Analyzers run on every attachment: hash, mimetype, unzip, yara (smtp:always_dispatch; default all)." placeholder:"LIST" sep:","`
	ArchiveAttachments *bool         `name:"archive-attachments" negatable:"" help:"Archive attachment bytes (smtp:archive_attachments; default on)."`
	ExtractIOCs        *bool         `name:"extract-iocs" negatable:"" help:"Extract IOCs (smtp:extract_iocs; default on)."`
	IOCKeys            []string      `name:"ioc-keys" help:"Where IOCs come from: header names, body, body_html (smtp:ioc_keys)." placeholder:"LIST" sep:","`
	ArchiveDir         string        `name:"archive-dir" help:"Also archive the email and its attachments here, stoQ filedir layout (filedir:archive_dir)." placeholder:"DIR"`
	ResultsDir         string        `name:"results-dir" help:"Write one results file per email here (filedir:results_dir)." placeholder:"DIR"`
	ResultsFormat      string        `name:"results-format" enum:",record,stoq" default:"" help:"Results file format: record (default) or stoq (the stoQ v3 envelope)."`
	YaraRules          []string      `name:"yara-rules" help:"YARA rule files or directories (repeatable; needs a binary built with -tags yara)." placeholder:"PATH" sep:","`
	YaraTimeout        time.Duration `name:"yara-timeout" help:"Per-scan YARA timeout (default 60s)."`
	ZipMaxDepth        int           `name:"zip-max-depth" help:"unzip: archive levels listed (default 4)."`
	ZipMaxMembers      int           `name:"zip-max-members" help:"unzip: members listed, all levels (default 1000)."`
	ZipMaxSize         string        `name:"zip-max-size" help:"unzip: bytes extracted per attachment, all levels (default 256MB)." placeholder:"SIZE"`
	ZipMaxRatio        float64       `name:"zip-max-ratio" help:"unzip: largest compression ratio of a member over 1 MiB before it counts as a zip bomb (default 100)."`
}

// collectExit is an error with an exit status.
type collectExit struct {
	code int
	err  error
}

func (e collectExit) Error() string { return e.err.Error() }
func (e collectExit) ExitCode() int { return e.code }

// loadConfig builds the configuration: file, then flags/env on top.
func (c *CollectCmd) loadConfig() (*collector.Config, error) {
	cfg := &collector.Config{}
	if c.Config != "" {
		var err error
		if cfg, err = collector.LoadConfig(c.Config); err != nil {
			return nil, err
		}
	}
	if c.Spool != "" {
		cfg.Spool = c.Spool
	}
	if c.Data != "" {
		cfg.Data = c.Data
	}
	if c.Sensor != "" {
		cfg.Sensor = c.Sensor
	}
	if c.MetricsListen != "" {
		cfg.MetricsListen = c.MetricsListen
	}
	applyRunFlags(cfg, c.LogFormat, c.LogLevel, c.Workers, c.NoFsync)
	if len(c.Interface) > 0 {
		cfg.Interface = c.Interface
	}
	c.applyPcapFlags(cfg)
	if len(c.CapturePorts) > 0 {
		cfg.CapturePorts = c.CapturePorts
	}
	if c.CaptureDirection != "" {
		cfg.CaptureDirection = c.CaptureDirection
	}
	c.eventFlags.apply(cfg)
	if len(c.Maildir) > 0 {
		cfg.Maildir = c.Maildir
	}
	if len(c.EMLDir) > 0 {
		cfg.EMLDir = c.EMLDir
	}
	if c.Recursive {
		cfg.EMLRecursive = true
	}
	if err := c.applyAnalysisFlags(&cfg.Analysis); err != nil {
		return nil, err
	}
	if c.AceCA != "" {
		cfg.Submission.CAFile = c.AceCA
	}
	if c.AceKeyFile != "" {
		cfg.Submission.APIKeyFile = c.AceKeyFile
	}
	applyAceFlag(cfg, c.Ace)
	if len(c.NATS) > 0 {
		cfg.Groups = quickGroup(cfg.Groups, "nats", collector.KindNATS, c.NATS)
	}
	cfg.ApplyDefaults()
	return cfg, cfg.Validate()
}

// applyPcapFlags puts the evidence pcap flags over the config.
func (c *CollectCmd) applyPcapFlags(cfg *collector.Config) {
	if c.PcapDir != "" {
		cfg.CapturePcapDir = c.PcapDir
	}
	if c.PcapMaxMiB != 0 {
		cfg.CapturePcapMaxMiB = c.PcapMaxMiB
	}
	if c.PcapMaxAge != 0 {
		cfg.CapturePcapMaxAge = collector.Duration(c.PcapMaxAge)
	}
	if c.PcapKeep != nil {
		cfg.CapturePcapKeep = *c.PcapKeep
	}
}

// applyRunFlags puts the flags collect and hub share over the config:
// log format and level, workers, and fsync off (tests).
func applyRunFlags(cfg *collector.Config, logFormat, logLevel string, workers int, noFsync bool) {
	if logFormat != "" {
		cfg.Log.Format = logFormat
	}
	if logLevel != "" {
		cfg.Log.Level = logLevel
	}
	if workers > 0 {
		cfg.Workers = workers
	}
	if noFsync {
		f := false
		cfg.Fsync = &f
	}
}

// aceGroup is the node group --ace makes.
const aceGroup = "default"

// applyAceFlag makes the node URLs of --ace (when any) the nodes of the
// group "default" (coverage 100, full delivery), replacing the nodes of a
// configured "default" group.
func applyAceFlag(cfg *collector.Config, urls []string) {
	cfg.Groups = quickGroup(cfg.Groups, aceGroup, collector.KindACE, urls)
}

// quickGroup sets the nodes of the group named name (kind kind), adding
// it (coverage 100, full delivery) when the config has none.
func quickGroup(groups []collector.GroupConfig, name, kind string, urls []string) []collector.GroupConfig {
	var nodes []string
	for _, u := range urls {
		if u = strings.TrimSpace(u); u != "" {
			nodes = append(nodes, u)
		}
	}
	if len(nodes) == 0 {
		return groups
	}
	for i := range groups {
		if groups[i].Name == name {
			groups[i].Nodes, groups[i].Kind = nodes, kind
			return groups
		}
	}
	return append(groups, collector.GroupConfig{Name: name, Kind: kind, Coverage: 100, FullDelivery: true, Nodes: nodes})
}

// applyAnalysisFlags puts the stoQ-named flags over the [analysis] section.
func (c *CollectCmd) applyAnalysisFlags(a *collector.AnalysisConfig) error {
	if c.OmitBody {
		a.OmitBody = true
	}
	if len(c.AlwaysDispatch) > 0 {
		a.AlwaysDispatch = c.AlwaysDispatch
	}
	if c.ArchiveAttachments != nil {
		a.ArchiveAttachments = c.ArchiveAttachments
	}
	if c.ExtractIOCs != nil {
		a.ExtractIOCs = c.ExtractIOCs
	}
	if len(c.IOCKeys) > 0 {
		a.IOCKeys = c.IOCKeys
	}
	if c.ArchiveDir != "" {
		a.ArchiveDir = c.ArchiveDir
	}
	if c.ResultsDir != "" {
		a.ResultsDir = c.ResultsDir
	}
	if c.ResultsFormat != "" {
		a.ResultsFormat = c.ResultsFormat
	}
	if len(c.YaraRules) > 0 {
		a.YaraRules = c.YaraRules
	}
	if c.YaraTimeout > 0 {
		a.YaraTimeout = collector.Duration(c.YaraTimeout)
	}
	if c.ZipMaxDepth > 0 {
		a.ZipMaxDepth = c.ZipMaxDepth
	}
	if c.ZipMaxMembers > 0 {
		a.ZipMaxMembers = c.ZipMaxMembers
	}
	if c.ZipMaxSize != "" {
		n, err := collector.ParseByteSize(c.ZipMaxSize)
		if err != nil {
			return fmt.Errorf("--zip-max-size: %w", err)
		}
		a.ZipMaxTotalSize = collector.ByteSize(n)
	}
	if c.ZipMaxRatio > 0 {
		a.ZipMaxRatio = c.ZipMaxRatio
	}
	return nil
}

// collectorLogger makes the slog logger the config asks for.
func collectorLogger(w io.Writer, format, level string) *slog.Logger {
	var lv slog.Level
	switch strings.ToLower(level) {
	case "debug":
		lv = slog.LevelDebug
	case "warn":
		lv = slog.LevelWarn
	case "error":
		lv = slog.LevelError
	default:
		lv = slog.LevelInfo
	}
	o := &slog.HandlerOptions{Level: lv}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, o))
	}
	o.ReplaceAttr = terminalSafeAttr
	return slog.New(slog.NewTextHandler(w, o))
}

// terminalSafeAttr escapes the strings and errors of text log lines (they
// carry file names, ids and messages from mail and the wire, and are read
// in terminals): the text handler's own quoting lets zero-width and other
// invisible characters through.
func terminalSafeAttr(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() == slog.KindString {
		return slog.String(a.Key, sanitize.Line(a.Value.String()))
	}
	if err, ok := a.Value.Any().(error); ok {
		return slog.String(a.Key, sanitize.Line(err.Error()))
	}
	return a
}

// Run runs the collector until SIGTERM/SIGINT (drains, then exits) and
// reloads the config file on SIGHUP. It serves the API on the unix socket,
// so `smtpscope ui`, `search`, `status` and `submit` go through it, and by
// default keeps the search index current; the index is derived data, so
// when it cannot be opened the collector runs without it (rebuild later
// with `smtpscope index`).
func (c *CollectCmd) Run() error {
	cfg, err := c.loadConfig()
	if err != nil {
		return err
	}
	log := collectorLogger(os.Stderr, cfg.Log.Format, cfg.Log.Level)
	if len(cfg.Groups) == 0 {
		log.Warn("no node group configured: emails are stored but not submitted (use --ace URL or [[group]])")
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	svc, err := openServiceWaiting(ctx, cfg, serviceOpts{log: log, index: c.Index, indexOptional: true})
	if err != nil {
		return err
	}
	if c.Once {
		return runOnce(ctx, svc, c.OnceTimeout)
	}
	paceCollectGC()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go c.reloadOnHUP(ctx, hup, svc.Collector(), log)
	serveSocket(ctx, cfg, svc, log)
	svc.Start(ctx)
	if len(cfg.Interface) == 0 {
		<-ctx.Done()
		return svc.Close()
	}
	// The live capture writes into the spool the collector watches; it
	// stops with the collector, writing its open sessions first (they
	// are stored at the next start if the collector is gone by then).
	capCtx, stopCapture := context.WithCancel(ctx)
	defer stopCapture()
	capDone := make(chan error, 1)
	go func() { capDone <- runCollectCapture(capCtx, cfg, svc.Collector(), log) }()
	select {
	case <-ctx.Done():
		stopCapture()
		if err := <-capDone; err != nil {
			log.Error("live capture", "err", err)
		}
		return svc.Close()
	case err := <-capDone:
		cerr := svc.Close()
		if err == nil {
			err = errors.New("the live capture stopped")
		}
		return errors.Join(fmt.Errorf("live capture: %w", err), cerr)
	}
}

// The daemon's garbage collector: it collects when the heap has grown
// 4x (GOGC=400) instead of 2x, under a soft memory limit of 384 MiB. It
// allocates about 1 GB for the 2,843 emails of the peers corpus while its
// live heap climbs from a few tens of MB to 250-300 MB during a backlog
// (the records held for the index, up to GOMAXPROCS batches of IndexBatch
// documents being built), so the default pacing ran a collection every
// ~27 MB, and a 256 MiB limit (this code's until the batches grew) made it
// collect back to back once the live heap neared it: 15 collections, a
// fifth of the daemon's CPU. The limit bounds what that costs in memory:
// the budget is 1 GiB of RSS, and the index's mapped segments add to the
// heap (456 MB of file pages at 225,230 emails, when a 512 MiB limit
// peaked at 962 MiB). --once keeps Go's default: its peak per message is
// what TestHostileShapes bounds. GOGC or GOMEMLIMIT in the environment
// are used as given instead.
const (
	collectGCPercent   = 400
	collectMemoryLimit = 384 << 20
)

func paceCollectGC() {
	if userPacesGC() {
		return
	}
	debug.SetMemoryLimit(collectMemoryLimit)
	debug.SetGCPercent(collectGCPercent)
}

// runCollectCapture runs the live capture of collect --interface into
// the spool, its counters going to the collector (status, metrics).
func runCollectCapture(ctx context.Context, cfg *collector.Config, col *collector.Collector, log *slog.Logger) error {
	opts := collectCaptureOptions(cfg)
	ports := opts.Ports
	started := false
	_, err := capture.CaptureDir(ctx, cfg.Interface, 0, opts, cfg.Spool, func(ls capture.LiveStats) {
		if !started {
			started = true
			log.Info("live capture running", "interfaces", strings.Join(cfg.Interface, ","), "spool", cfg.Spool)
		}
		col.SetCapture(captureStatus(&ls, ports))
	})
	return err
}

// collectEvidence is the capture.Evidence of the config's evidence pcaps
// (nil without capture_pcap_dir): what `capture --pcap-dir` runs, with
// capture's defaults for the settings left at 0.
func collectEvidence(cfg *collector.Config) *capture.Evidence {
	if cfg.CapturePcapDir == "" {
		return nil
	}
	return &capture.Evidence{Dir: cfg.CapturePcapDir, MaxSize: int64(cfg.CapturePcapMaxMiB) << 20,
		MaxAge: cfg.CapturePcapMaxAge.D(), Keep: cfg.CapturePcapKeep}
}

// collectCaptureOptions are the live capture's options from the
// collector's configuration.
func collectCaptureOptions(cfg *collector.Config) capture.Options {
	ports := cfg.CapturePorts
	if len(ports) == 0 {
		ports = capture.DefaultPorts
	}
	opts := capture.Options{Ports: ports, Direction: capture.Direction(cfg.CaptureDirection)}
	opts.Evidence = collectEvidence(cfg)
	if cfg.Fsync != nil && !*cfg.Fsync {
		opts.Sync = capture.SyncNone
	}
	return opts
}

// captureStatus is the collector's view of a live capture's counters.
func captureStatus(ls *capture.LiveStats, ports []int) collector.CaptureStatus {
	cs := collector.CaptureStatus{Ports: ports, Sessions: ls.Sessions, Messages: ls.Messages, PartialMessages: ls.PartialMsgs,
		GapBytes: ls.GapBytes, HalfOpenEvicted: ls.HalfOpenEvicted, FlowsEvicted: ls.FlowsEvicted, FlowBytesCuts: ls.FlowBytesCuts,
		TotalBytesCuts: ls.TotalBytesCuts, IdleClosed: ls.IdleClosed, FragDiscarded: ls.FragDiscarded,
		MergeForced: ls.Merge.Forced, MergeLate: ls.Merge.Late}
	for _, i := range ls.Interfaces {
		cs.Interfaces = append(cs.Interfaces, collector.CaptureInterface{Name: i.Name, Packets: i.KernelPackets, Drops: i.KernelDrops})
	}
	return cs
}

// runOnce is --once: catch the index up, process the spool, deliver,
// exit with everything indexed (status 3 when something is left
// undelivered).
func runOnce(ctx context.Context, svc *service.Service, timeout time.Duration) error {
	start := time.Now()
	err := svc.RunOnce(ctx, timeout)
	if cerr := svc.Close(); err == nil && cerr != nil {
		err = cerr
	}
	fmt.Fprintln(os.Stderr, onceSummary(svc.Collector().Summary(), time.Since(start)))
	if ctx.Err() != nil {
		return collectExit{code: exitInterrupted, err: errors.New("interrupted: what was stored is committed; the rest stays in the spool for the next run")}
	}
	if err != nil {
		return collectExit{code: 3, err: err}
	}
	return nil
}

// exitInterrupted is the exit status of a --once run stopped by SIGINT
// or SIGTERM (128 + SIGINT, as shells report it).
const exitInterrupted = 130

// onceSummary is the line --once ends with.
func onceSummary(s collector.RunSummary, took time.Duration) string {
	return fmt.Sprintf("smtpscope collect --once: %d sessions, %d new emails stored, %d to review/, %d submissions sent, %d failed, in %.1fs",
		s.Sessions, s.Emails, s.Reviewed, s.Sent, s.Failed, took.Seconds())
}

// serveSocket serves the API of svc on DATA/run/smtpscope.sock until ctx
// ends (a warning when it cannot).
func serveSocket(ctx context.Context, cfg *collector.Config, svc *service.Service, log *slog.Logger) {
	ln, err := service.Listen(cfg.Data, service.ListenOptions{Group: cfg.UIGroup, Log: log})
	if err != nil {
		log.Warn("UI socket not served", "err", err)
		return
	}
	go func() {
		if err := service.Serve(ctx, ln, svc); err != nil {
			log.Error("UI socket", "err", err)
		}
	}()
	log.Info("UI socket listening", "path", api.SocketPath(cfg.Data))
}

// reloadOnHUP reloads the configuration on SIGHUP: the config file (if
// any) with the flags over it. Without a config file it still recompiles
// the YARA rules (--yara-rules) and re-reads the key files.
func (c *CollectCmd) reloadOnHUP(ctx context.Context, hup <-chan os.Signal, col *collector.Collector, log *slog.Logger) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
		}
		ncfg, err := c.loadConfig()
		if err == nil {
			err = col.Reload(ncfg)
		}
		if err != nil {
			log.Error("SIGHUP: config not reloaded", "err", err)
		}
	}
}

// busyWait is how long collect waits for a data dir held by another
// process: short-lived readers (`smtpscope search`, `status`) open the
// index and store for a moment, and a daemon starting beside them must not
// fail for that. A UI or another collector holds it longer: then the
// error says who.
const busyWait = 10 * time.Second

// serviceOpts say how to open a data dir's service.
type serviceOpts struct {
	log     *slog.Logger
	noSpool bool
	// index keeps the search index; indexOptional runs without it (an
	// error logged) when it cannot be opened for another reason than
	// another process holding it.
	index, indexOptional bool
}

// openService opens the service of a data dir: its index (when asked)
// injected into its collector.
func openService(cfg *collector.Config, o serviceOpts) (*service.Service, error) {
	so := service.Options{Logger: o.log, NoSpool: o.noSpool}
	if o.index {
		ix, err := service.OpenIndex(cfg.Data)
		switch {
		case err == nil:
			so.Index = ix
		case errors.Is(err, service.ErrBusy) || !o.indexOptional:
			return nil, err
		default:
			o.log.Error("search index unavailable; collecting without it (rebuild later with `smtpscope index`)", "err", err)
		}
	}
	return service.Open(cfg, so)
}

// openServiceWaiting opens the service, retrying while the data dir is
// busy.
func openServiceWaiting(ctx context.Context, cfg *collector.Config, o serviceOpts) (*service.Service, error) {
	deadline := time.Now().Add(busyWait)
	for {
		svc, err := openService(cfg, o)
		switch {
		case err == nil:
			return svc, nil
		case !errors.Is(err, service.ErrBusy) || time.Now().After(deadline):
			if errors.Is(err, service.ErrBusy) {
				err = fmt.Errorf("%w (%s is in use by a running collector or UI)", err, cfg.Data)
			}
			return nil, err
		}
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(200 * time.Millisecond):
		}
	}
}
