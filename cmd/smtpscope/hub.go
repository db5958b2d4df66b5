package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/smtpscope/smtpscope/collector"
)

// HubCmd runs the hub: a service front end (the same store, index and
// socket API as `collect`) whose emails come from the sensors through
// NATS JetStream instead of a spool.
type HubCmd struct {
	Data          string             `required:"" help:"The hub's data directory (same layout as a sensor's)." env:"SMTPSCOPE_DATA" placeholder:"DIR"`
	NATS          []string           `name:"nats" required:"" help:"NATS JetStream server URLs (repeatable or comma-separated; nats:// or tls://)." env:"SMTPSCOPE_NATS" placeholder:"URL" sep:","`
	Stream        string             `default:"SMTPSCOPE" help:"Stream the sensors publish to (created when missing, checked otherwise)."`
	Consumer      string             `default:"smtpscope-hub" help:"Durable consumer name (one per hub data dir)."`
	AckWait       time.Duration      `name:"ack-wait" default:"60s" help:"How long the server waits for the hub's ack before it delivers a message again."`
	NATSCA        string             `name:"nats-ca" help:"CA bundle verifying the NATS servers' TLS certificates (config [hub] ca_file; default the system's)." placeholder:"FILE"`
	NATSCert      string             `name:"nats-cert" help:"TLS client certificate for NATS (with --nats-key; config [hub] cert_file)." placeholder:"FILE"`
	NATSKey       string             `name:"nats-key" help:"Key of the TLS client certificate (config [hub] key_file)." placeholder:"FILE"`
	NATSCreds     string             `name:"nats-creds" help:"NATS credentials file: JWT and NKey seed (config [hub] creds_file)." placeholder:"FILE"`
	NATSNKey      string             `name:"nats-nkey" help:"NATS NKey seed file (config [hub] nkey_file)." placeholder:"FILE"`
	Config        string             `help:"Config file (TOML): [[group]]s to resubmit to, [[hunt]]s, ui_group, log, workers, [output], [retention], [hub]; its spool and inputs are not used." env:"SMTPSCOPE_CONFIG" placeholder:"FILE"`
	LogFormat     string             `name:"log-format" help:"Log format: text or json." env:"SMTPSCOPE_LOG_FORMAT" enum:",text,json" default:""`
	LogLevel      string             `name:"log-level" help:"Log level: debug, info, warn, error." env:"SMTPSCOPE_LOG_LEVEL" enum:",debug,info,warn,error" default:""`
	Workers       int                `help:"Messages stored in parallel (default: the processors Go may use, at least 2)." env:"SMTPSCOPE_WORKERS"`
	NoFsync       bool               `name:"no-fsync" hidden:"" help:"Skip fsync (tests only)."`
	MaxAge        time.Duration      `name:"max-age" help:"Drop each month of emails once it ended longer ago than this (e.g. 2160h); overrides [retention] max_age." placeholder:"DURATION"`
	MaxSize       collector.ByteSize `name:"max-size" help:"Drop the oldest months while the store is larger than this (e.g. 500GB); overrides [retention] max_size." placeholder:"SIZE"`
	MetricsListen string             `name:"metrics-listen" help:"Serve Prometheus metrics, /healthz and /readyz on this address (e.g. 127.0.0.1:9464; config metrics_listen)." env:"SMTPSCOPE_METRICS_LISTEN" placeholder:"ADDR"`
	eventFlags    `embed:""`
}

// loadConfig is the config file (if any) with the flags over it; the
// hub watches no spool and reads no Maildir.
func (h *HubCmd) loadConfig() (*collector.Config, error) {
	cfg := &collector.Config{}
	if h.Config != "" {
		var err error
		if cfg, err = collector.LoadConfig(h.Config); err != nil {
			return nil, err
		}
	}
	cfg.Data, cfg.Spool, cfg.Maildir, cfg.EMLDir = h.Data, "-", nil, nil
	applyRunFlags(cfg, h.LogFormat, h.LogLevel, h.Workers, h.NoFsync)
	if h.MetricsListen != "" {
		cfg.MetricsListen = h.MetricsListen
	}
	h.eventFlags.apply(cfg)
	// the hub keeps months: retention drops them whole
	cfg.Retention.ByMonth = true
	if h.MaxAge > 0 {
		cfg.Retention.MaxAge = collector.Duration(h.MaxAge)
	}
	if h.MaxSize > 0 {
		cfg.Retention.MaxSize = h.MaxSize
	}
	for _, g := range cfg.Groups {
		if g.Kind == collector.KindNATS {
			return nil, errors.New("group " + g.Name + ": a hub does not publish to NATS (kind nats); its groups are ACE node groups to resubmit to")
		}
	}
	for _, f := range []struct {
		flag string
		to   *string
	}{{h.NATSCA, &cfg.Hub.CAFile}, {h.NATSCert, &cfg.Hub.CertFile}, {h.NATSKey, &cfg.Hub.KeyFile},
		{h.NATSCreds, &cfg.Hub.CredsFile}, {h.NATSNKey, &cfg.Hub.NKeyFile}} {
		if f.flag != "" {
			*f.to = f.flag
		}
	}
	cfg.ApplyDefaults()
	return cfg, cfg.Validate()
}

// natsOptions are the hub's TLS and authentication options (config
// [hub], flags over it); a file that cannot be read is named.
func natsOptions(cfg *collector.Config) ([]nats.Option, error) {
	o, err := cfg.Hub.Options()
	if err != nil {
		return nil, fmt.Errorf("hub NATS connection: %w (--nats-ca, --nats-cert, --nats-key, --nats-creds, --nats-nkey or config [hub])", err)
	}
	return o, nil
}

// Run serves the hub until SIGTERM/SIGINT: the socket API (search, show,
// ui, status, submit go through it), the index, the queue of its ACE
// groups, and the consumer. A misconfigured stream ends it at once with
// what is wrong.
func (h *HubCmd) Run() error {
	cfg, err := h.loadConfig()
	if err != nil {
		return err
	}
	opts, err := natsOptions(cfg)
	if err != nil {
		return err
	}
	var servers []string
	for _, u := range h.NATS {
		if u = strings.TrimSpace(u); u != "" {
			servers = append(servers, u)
		}
	}
	log := collectorLogger(os.Stderr, cfg.Log.Format, cfg.Log.Level)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	svc, err := openServiceWaiting(ctx, cfg, serviceOpts{log: log, noSpool: true, index: true, indexOptional: true})
	if err != nil {
		return err
	}
	// the service runs until the consumer has stopped: every message
	// it took is committed (and acked) before the store closes
	svcCtx, svcStop := context.WithCancel(context.Background())
	defer svcStop()
	serveSocket(svcCtx, cfg, svc, log)
	svc.Start(svcCtx)
	err = collector.RunHub(ctx, svc.Collector(), collector.HubConfig{Servers: servers, Stream: h.Stream, Consumer: h.Consumer,
		AckWait: h.AckWait, Workers: cfg.Workers, Options: opts, Log: log})
	svcStop()
	if cerr := svc.Close(); err == nil {
		err = cerr
	}
	return err
}
