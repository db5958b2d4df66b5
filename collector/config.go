package collector

import (
	"errors"
	"fmt"
	"math"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/smtpscope/smtpscope/collector/ace"
	"github.com/smtpscope/smtpscope/core"
)

// Duration is a time.Duration written as "90s", "5m", "720h" in config.
type Duration time.Duration

// UnmarshalText parses a Go duration string.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(strings.TrimSpace(string(b)))
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// MarshalText writes the duration as a Go duration string.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// D returns the time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// ByteSize is a size written as "500MB", "20GiB", "1048576" in config.
type ByteSize int64

// UnmarshalText parses a size with an optional K/M/G/T suffix (powers of
// 1024; "B", "iB" and lower case accepted).
func (s *ByteSize) UnmarshalText(b []byte) error {
	v, err := ParseByteSize(string(b))
	if err != nil {
		return err
	}
	*s = ByteSize(v)
	return nil
}

// ParseByteSize parses "500MB", "20GiB", "1048576".
func ParseByteSize(in string) (int64, error) {
	str := strings.ToUpper(strings.TrimSpace(in))
	str = strings.TrimSuffix(strings.TrimSuffix(str, "B"), "I")
	mult := int64(1)
	if n := len(str); n > 0 {
		switch str[n-1] {
		case 'K':
			mult = 1 << 10
		case 'M':
			mult = 1 << 20
		case 'G':
			mult = 1 << 30
		case 'T':
			mult = 1 << 40
		}
		if mult > 1 {
			str = strings.TrimSpace(str[:n-1])
		}
	}
	v, err := strconv.ParseFloat(str, 64)
	if err != nil || v < 0 || math.IsNaN(v) || math.IsInf(v, 0) || v*float64(mult) >= math.MaxInt64 {
		return 0, fmt.Errorf("invalid size %q (want e.g. 500MB, 20GB)", in)
	}
	return int64(v * float64(mult)), nil
}

// Config is the collector's configuration: the TOML file, then SMTPSCOPE_*
// environment and command-line flags on top (the cmd layer applies those).
type Config struct {
	// Spool is the directory of session files ("" for a collector that
	// only reads raw emails from Maildir or EMLDir).
	Spool string `toml:"spool"`
	Data  string `toml:"data"`
	// Sensor names this collector in every record, session and review
	// entry it stores and in the NATS subject it publishes to (default:
	// the host name's first label, see core.SensorFromHost).
	Sensor string `toml:"sensor"`
	// Maildir lists Maildirs whose new/ is watched for raw emails; each
	// processed file moves to cur/ with the ":2," info suffix (see
	// maildir.go).
	Maildir []string `toml:"maildir"`
	// EMLDir lists directories of .eml files; processed files are
	// remembered in the queue database (by path, size, mtime and SHA-256)
	// and left in place.
	EMLDir []string `toml:"eml_dir"`
	// Interface lists network interfaces the collector captures SMTP on
	// live (smtpscope capture inside the collector), writing session
	// files into Spool; CapturePorts are the TCP ports (default 25, 587,
	// 2525).
	Interface    []string `toml:"interface"`
	CapturePorts []int    `toml:"capture_ports"`
	// CaptureDirection is the packets kept on each interface: "in"
	// (received only), "both", or "" (in with several interfaces, both
	// with one); see capture.Direction.
	CaptureDirection string `toml:"capture_direction"`
	// CapturePcapDir, when set, keeps the live capture's SMTP packets as
	// evidence pcaps there (capture.Evidence), rotated as `capture
	// --pcap-max-mib --pcap-max-age --pcap-keep` do: a new file at
	// CapturePcapMaxMiB MiB (0: 100) or CapturePcapMaxAge after its first
	// packet (0: 1h), only the newest CapturePcapKeep kept (0: all).
	CapturePcapDir    string   `toml:"capture_pcap_dir"`
	CapturePcapMaxMiB int      `toml:"capture_pcap_max_mib"`
	CapturePcapMaxAge Duration `toml:"capture_pcap_max_age"`
	CapturePcapKeep   int      `toml:"capture_pcap_keep"`
	// EMLRecursive makes EMLDir include subdirectories.
	EMLRecursive bool `toml:"eml_recursive"`
	// MetricsListen is the address of the Prometheus /metrics endpoint
	// ("" = off), e.g. "127.0.0.1:9464".
	MetricsListen string `toml:"metrics_listen"`
	// UIGroup names a group whose members may use the UI socket
	// (DATA/run/smtpscope.sock) besides the data dir's owner and root.
	UIGroup string `toml:"ui_group"`
	// RescanInterval is how often the spool is listed in addition to
	// fsnotify events (default 5s).
	RescanInterval Duration `toml:"rescan_interval"`
	// Workers is the number of sessions (and raw emails) parsed,
	// analysed and written in parallel; their commits go to one group
	// committer (default: GOMAXPROCS, at least 2).
	Workers int `toml:"workers"`
	// Fsync makes every stored file and the queue durable before a spool
	// entry is released (default true; turn off only for tests).
	Fsync *bool `toml:"fsync"`
	// FsyncMode is how a commit group's files are made durable with
	// fsync on: FsyncModeSyncfs (default: one syncfs(2) of the data dir's
	// file system per group) or FsyncModeFiles (an fdatasync of each file
	// and directory, in parallel; bounded by the group's own bytes).
	FsyncMode string `toml:"fsync_mode"`

	Log        LogConfig        `toml:"log"`
	Analysis   AnalysisConfig   `toml:"analysis"`
	Retention  RetentionConfig  `toml:"retention"`
	Submission SubmissionConfig `toml:"submission"`
	Groups     []GroupConfig    `toml:"group"`
	// Hub is `smtpscope hub`'s connection to NATS (TLS, credentials);
	// not used by collect.
	Hub    NATSAuth     `toml:"hub"`
	Output OutputConfig `toml:"output"`
	// Hunts are saved queries evaluated on every new email after its
	// index commit (hunt.go).
	Hunts []HuntConfig `toml:"hunt"`

	// path is the file the config was loaded from (for SIGHUP reloads).
	path string
}

// LogConfig selects the log format and level.
type LogConfig struct {
	Format string `toml:"format"` // "text" (default) or "json"
	Level  string `toml:"level"`  // debug, info (default), warn, error
}

// AnalysisConfig carries the options handed to core's analyzer, under
// the names of stoQ's smtp worker and filedir plugins (README: "stoQ
// options").
type AnalysisConfig struct {
	// OmitBody leaves body_text/body_html out of the record (IOCs are
	// still extracted from them).
	OmitBody bool     `toml:"omit_body"`
	IOCKeys  []string `toml:"ioc_keys"`
	MaxDepth int      `toml:"max_depth"`
	// AlwaysDispatch names the analyzers run on every attachment: hash,
	// mimetype, unzip, yara (default: all four). hash and mimetype always
	// run (the record carries them); unzip and yara can be left out.
	AlwaysDispatch []string `toml:"always_dispatch"`
	// YaraRules lists rule files or directories (YARA support must be
	// compiled in; see the README).
	YaraRules   []string `toml:"yara_rules"`
	YaraTimeout Duration `toml:"yara_timeout"` // per scan (default 60s, stoQ's)
	// ExtractIOCs turns IOC extraction on or off (default on).
	ExtractIOCs *bool `toml:"extract_iocs"`
	// ArchiveAttachments stores attachment bytes in the content-addressed
	// archive (default true).
	ArchiveAttachments *bool `toml:"archive_attachments"`
	// ArchiveDir is a second archive in stoQ's filedir layout
	// (<c1>/<c2>/<c3>/<c4>/<c5>/<sha1>) outside the data dir: the email
	// itself, and its attachments when archive_attachments is on. ""
	// means the data dir's archive/ only.
	ArchiveDir string `toml:"archive_dir"`
	// ResultsDir receives one results file per email ("" = off).
	ResultsDir string `toml:"results_dir"`
	// ResultsFormat is "record" (default: the email record, <id>.json) or
	// "stoq" (the stoQ v3 envelope, named after its scan_id).
	ResultsFormat string `toml:"results_format"`
	// Zip limits of the unzip analyzer per zip attachment (0 = core's
	// defaults: depth 4, 1000 members, 256 MiB, ratio 100).
	ZipMaxDepth     int      `toml:"zip_max_depth"`
	ZipMaxMembers   int      `toml:"zip_max_members"`
	ZipMaxTotalSize ByteSize `toml:"zip_max_total_size"`
	ZipMaxRatio     float64  `toml:"zip_max_ratio"`
	// Zip limits per email, all its zip attachments together (0 = core's
	// defaults: 2000 members, 256 MiB).
	ZipMaxEmailMembers   int      `toml:"zip_max_email_members"`
	ZipMaxEmailTotalSize ByteSize `toml:"zip_max_email_total_size"`
	// ArchiveMaxEmailBytes caps the attachment bytes one email writes to
	// the archive (each of archive/ and archive_dir; 0 = 256 MiB).
	ArchiveMaxEmailBytes ByteSize `toml:"archive_max_email_bytes"`
	// Per-email limits (0 = core's defaults; README "Limits"): what the
	// record keeps of a header value, of the header fields and of each
	// body; the MIME parts and multipart nesting analysed; the analysis
	// time after which later steps are skipped.
	MaxHeaderValue  ByteSize `toml:"max_header_value"`
	MaxHeaderFields int      `toml:"max_header_fields"`
	MaxBodyBytes    ByteSize `toml:"max_body_bytes"`
	MaxParts        int      `toml:"max_parts"`
	MaxMIMEDepth    int      `toml:"max_mime_depth"`
	AnalysisTimeout Duration `toml:"analysis_timeout"`
}

// Analyzer names accepted in always_dispatch.
const (
	DispatchHash     = "hash"
	DispatchMimetype = "mimetype"
	DispatchUnzip    = "unzip"
	DispatchYara     = "yara"
)

// Results formats.
const (
	ResultsRecord = "record"
	ResultsStoq   = "stoq"
)

// dispatches reports whether always_dispatch includes name (an unset
// list includes everything).
func (a AnalysisConfig) dispatches(name string) bool {
	if a.AlwaysDispatch == nil {
		return true
	}
	for _, d := range a.AlwaysDispatch {
		if strings.EqualFold(strings.TrimSpace(d), name) {
			return true
		}
	}
	return false
}

// validate reports errors of the analysis section.
func (a AnalysisConfig) validate() []error {
	var errs []error
	for _, d := range a.AlwaysDispatch {
		switch strings.ToLower(strings.TrimSpace(d)) {
		case DispatchHash, DispatchMimetype, DispatchUnzip, DispatchYara:
		default:
			errs = append(errs, fmt.Errorf("analysis.always_dispatch: unknown analyzer %q (want hash, mimetype, unzip, yara)", d))
		}
	}
	if len(a.YaraRules) > 0 && !a.dispatches(DispatchYara) {
		errs = append(errs, errors.New("analysis.yara_rules is set but analysis.always_dispatch leaves out yara (add yara or remove the rules)"))
	}
	switch a.ResultsFormat {
	case "", ResultsRecord, ResultsStoq:
	default:
		errs = append(errs, fmt.Errorf("analysis.results_format %q: want record or stoq", a.ResultsFormat))
	}
	if a.ResultsFormat != "" && a.ResultsDir == "" {
		errs = append(errs, errors.New("analysis.results_format is set but analysis.results_dir is not"))
	}
	if a.ZipMaxDepth < 0 || a.ZipMaxMembers < 0 || a.ZipMaxTotalSize < 0 || a.ZipMaxRatio < 0 || math.IsNaN(a.ZipMaxRatio) ||
		a.ZipMaxEmailMembers < 0 || a.ZipMaxEmailTotalSize < 0 {
		errs = append(errs, errors.New("analysis.zip_max_*: limits must be 0 (default) or positive"))
	}
	if a.ArchiveMaxEmailBytes < 0 {
		errs = append(errs, errors.New("analysis.archive_max_email_bytes: must be 0 (default) or positive"))
	}
	if a.MaxHeaderValue < 0 || a.MaxHeaderFields < 0 || a.MaxBodyBytes < 0 || a.MaxParts < 0 || a.MaxMIMEDepth < 0 || a.AnalysisTimeout < 0 {
		errs = append(errs, errors.New("analysis.max_header_value, max_header_fields, max_body_bytes, max_parts, max_mime_depth, analysis_timeout: limits must be 0 (default) or positive"))
	}
	if a.MaxHeaderValue > math.MaxInt32 || a.MaxBodyBytes > math.MaxInt32 {
		errs = append(errs, errors.New("analysis.max_header_value, max_body_bytes: at most 2GB"))
	}
	return errs
}

// RetentionConfig bounds the store. Zero values mean "keep forever".
type RetentionConfig struct {
	MaxAge   Duration `toml:"max_age"`  // e.g. "720h"
	MaxSize  ByteSize `toml:"max_size"` // e.g. "50GB" (sessions + emails + results + archive)
	Interval Duration `toml:"interval"` // how often to check (default 10m)
	// ByMonth drops whole months of the index and their records instead
	// of single sessions (the hub: see ApplyRetention). `smtpscope hub`
	// always sets it.
	ByMonth bool `toml:"by_month"`
}

// SubmissionConfig is shared by every node group.
type SubmissionConfig struct {
	Tool         string `toml:"tool"`
	ToolInstance string `toml:"tool_instance"` // default: host name
	Type         string `toml:"type"`          // default "bro - smtp"
	// Description template: {uid}, {id}, {mail_from}, {subject}, {source_ip}, {index}.
	Description  string   `toml:"description"`
	Queue        string   `toml:"queue"`
	Instructions string   `toml:"instructions"`
	Timeout      Duration `toml:"timeout"` // per request (default 60s)
	APIKeyFile   string   `toml:"api_key_file"`
	APIKeyHeader string   `toml:"api_key_header"` // default "x-ace-auth"
	CAFile       string   `toml:"ca_file"`
	// InsecureSkipVerify turns TLS verification off (labs only).
	InsecureSkipVerify bool `toml:"insecure_skip_verify"`
	// MaxAttempts bounds retries of groups without full_delivery (default 10).
	MaxAttempts  int      `toml:"max_attempts"`
	BackoffMin   Duration `toml:"backoff_min"`   // default 1s
	BackoffMax   Duration `toml:"backoff_max"`   // default 5m
	PingInterval Duration `toml:"ping_interval"` // node health checks (default 30s)
	// A node that fails (connection, timeout, redirect, HTTP 429 or 5xx)
	// is down for a capped exponential backoff between these (defaults
	// 1s, 1m), or for its Retry-After when longer, capped at
	// RetryAfterMax (default 1h); then a ping must succeed before
	// submissions resume.
	NodeBackoffMin Duration `toml:"node_backoff_min"`
	NodeBackoffMax Duration `toml:"node_backoff_max"`
	RetryAfterMax  Duration `toml:"retry_after_max"`
}

// GroupConfig is one delivery group: an ACE node group (as ACE's
// collection groups), with kind = "nats" NATS JetStream servers, with
// kind = "thehive" a TheHive 5 instance (thehive.go), with kind =
// "webhook" an HTTP endpoint (webhook.go).
type GroupConfig struct {
	Name string `toml:"name"`
	// Kind is "ace" (default), "nats", "thehive" or "webhook"; for nats,
	// Nodes are the servers' nats:// or tls:// URLs; thehive and webhook
	// take URL instead of Nodes.
	Kind    string `toml:"kind"`
	Enabled *bool  `toml:"enabled"` // default true
	// HuntsOnly: the group receives only the emails a hunt delivers to
	// it ([[hunt]] deliver_to), none by coverage.
	HuntsOnly bool `toml:"hunts_only"`
	// Coverage is the share (1-100 %) of emails this group receives,
	// chosen deterministically from a hash of the email id.
	Coverage int `toml:"coverage"`
	// FullDelivery keeps retrying forever; without it a submission is
	// marked failed after submission.max_attempts attempts.
	FullDelivery bool     `toml:"full_delivery"`
	CompanyID    int      `toml:"company_id"`
	Nodes        []string `toml:"nodes"`
	Concurrency  int      `toml:"concurrency"` // default 2
	// Per-group overrides of the submission settings.
	APIKeyFile string `toml:"api_key_file"`
	CAFile     string `toml:"ca_file"`
	// NATS only: TLS client certificate and key, a credentials file
	// (JWT and NKey seed) or an NKey seed file.
	CertFile  string `toml:"cert_file"`
	KeyFile   string `toml:"key_file"`
	CredsFile string `toml:"creds_file"`
	NKeyFile  string `toml:"nkey_file"`
	// NATS only: reconciliation with the hub (reconcile.go). Reconcile
	// (default true) compares this sensor's per-hour counts with the
	// hub's every ReconcileInterval (default 10m; also at start) and
	// re-publishes at most ReconcileMax (default 10000) emails a round.
	Reconcile         *bool    `toml:"reconcile"`
	ReconcileInterval Duration `toml:"reconcile_interval"`
	ReconcileMax      int      `toml:"reconcile_max"`

	// thehive and webhook: the endpoint (TheHive's base URL; the
	// webhook's full URL).
	URL string `toml:"url"`
	// thehive: the API key from APIKeyFile or from this environment
	// variable (sent as "Authorization: Bearer"; never logged).
	APIKeyEnv string `toml:"api_key_env"`
	// thehive: the organisation (X-Organisation header; "" = the key's
	// default), the alert's type and source (default "smtpscope"), its
	// TLP (0-4, default 2) and PAP (0-3, default 2), extra tags, and the
	// largest attachment sent as a file observable (default 10MB; larger
	// ones are sent as hashes only).
	Organisation string   `toml:"organisation"`
	AlertType    string   `toml:"alert_type"`
	AlertSource  string   `toml:"alert_source"`
	TLP          *int     `toml:"tlp"`
	PAP          *int     `toml:"pap"`
	Tags         []string `toml:"tags"`
	MaxFileSize  ByteSize `toml:"max_file_size"`
	// webhook: extra request headers (a value "env:NAME" is read from
	// the environment, "file:/path" from a file), the HMAC secret (from
	// SecretFile or SecretEnv; required), and the largest message whose
	// raw bytes go in the body as raw_base64 (0 = never).
	Headers    map[string]string `toml:"headers"`
	SecretFile string            `toml:"secret_file"`
	SecretEnv  string            `toml:"secret_env"`
	RawMax     ByteSize          `toml:"raw_max"`
}

// Reconciles reports whether the group reconciles with a hub (a NATS
// group with reconcile not turned off).
func (g GroupConfig) Reconciles() bool {
	return g.Kind == KindNATS && (g.Reconcile == nil || *g.Reconcile)
}

// httpKind reports whether the group's kind is an HTTP endpoint given
// by URL (thehive, webhook).
func (g GroupConfig) httpKind() bool { return g.Kind == KindTheHive || g.Kind == KindWebhook }

// validateKind checks the nodes and options against the group's kind.
func (g GroupConfig) validateKind(where string) []error {
	var errs []error
	schemes, want := []string{"http://", "https://"}, "an http:// or https:// URL"
	natsOnly := g.CertFile != "" || g.KeyFile != "" || g.CredsFile != "" || g.NKeyFile != ""
	theHiveOnly := g.APIKeyEnv != "" || g.Organisation != "" || g.AlertType != "" || g.AlertSource != "" || g.TLP != nil ||
		g.PAP != nil || len(g.Tags) > 0 || g.MaxFileSize != 0
	webhookOnly := len(g.Headers) > 0 || g.SecretFile != "" || g.SecretEnv != "" || g.RawMax != 0
	switch g.Kind {
	case "", KindACE, KindNATS:
		if g.URL != "" {
			errs = append(errs, fmt.Errorf("%s: url is for kind = \"thehive\" and \"webhook\" (this kind takes nodes)", where))
		}
	case KindTheHive, KindWebhook:
		if len(g.Nodes) > 0 {
			errs = append(errs, fmt.Errorf("%s: kind %q takes url, not nodes", where, g.Kind))
		}
		if g.IsEnabled() && g.URL == "" {
			errs = append(errs, fmt.Errorf("%s: no url", where))
		}
		if g.URL != "" && !strings.HasPrefix(g.URL, "http://") && !strings.HasPrefix(g.URL, "https://") {
			errs = append(errs, fmt.Errorf("%s: url %q: want %s", where, ace.RedactURL(g.URL), want))
		}
		if g.CompanyID != 0 {
			errs = append(errs, fmt.Errorf("%s: company_id is for kind = \"ace\"", where))
		}
	default:
		return []error{fmt.Errorf("%s: kind %q: want ace, nats, thehive or webhook", where, g.Kind)}
	}
	if g.Kind != KindNATS && natsOnly {
		errs = append(errs, fmt.Errorf("%s: cert_file, key_file, creds_file and nkey_file are for kind = \"nats\"", where))
	}
	if g.Kind != KindTheHive && theHiveOnly {
		errs = append(errs, fmt.Errorf("%s: api_key_env, organisation, alert_type, alert_source, tlp, pap, tags and max_file_size are for kind = \"thehive\"", where))
	}
	if g.Kind != KindNATS && (g.Reconcile != nil || g.ReconcileInterval != 0 || g.ReconcileMax != 0) {
		errs = append(errs, fmt.Errorf("%s: reconcile, reconcile_interval and reconcile_max are for kind = \"nats\"", where))
	}
	if g.Kind != KindWebhook && webhookOnly {
		errs = append(errs, fmt.Errorf("%s: headers, secret_file, secret_env and raw_max are for kind = \"webhook\"", where))
	}
	switch g.Kind {
	case KindNATS:
		schemes, want = []string{"nats://", "tls://"}, "a nats:// or tls:// URL"
		if (g.CertFile == "") != (g.KeyFile == "") {
			errs = append(errs, fmt.Errorf("%s: cert_file and key_file go together", where))
		}
		if g.ReconcileInterval < 0 || g.ReconcileMax < 0 {
			errs = append(errs, fmt.Errorf("%s: reconcile_interval and reconcile_max must not be negative", where))
		}
	case KindTheHive:
		errs = append(errs, g.validateTheHive(where)...)
	case KindWebhook:
		errs = append(errs, g.validateWebhook(where)...)
	}
	for _, n := range g.Nodes {
		if !slices.ContainsFunc(schemes, func(p string) bool { return strings.HasPrefix(n, p) }) {
			errs = append(errs, fmt.Errorf("%s: node %q: want %s", where, ace.RedactURL(n), want))
		}
	}
	return errs
}

// OutputConfig is [output]: the event log for SIEM shippers
// (eventlog.go).
type OutputConfig struct {
	// Events is the event log's path ("": none): one NDJSON line per
	// stored email. For the zeek format it is the smtp.log; the
	// files.log is EventFilesPath(Events).
	Events string `toml:"events"`
	// EventsFormat is "ecs" (default) or "zeek".
	EventsFormat string `toml:"events_format"`
	// EventsMaxSize and EventsMaxAge rotate the log (defaults 100MB,
	// 24h when 0); the newest EventsKeep rotated files are kept
	// (default 7).
	EventsMaxSize ByteSize `toml:"events_max_size"`
	EventsMaxAge  Duration `toml:"events_max_age"`
	EventsKeep    int      `toml:"events_keep"`
	// InternalDomains are the organisation's own mail domains (a
	// subdomain of one counts too): with them each ECS event has
	// email.direction (inbound, outbound, internal, external, unknown);
	// without them it is left out.
	InternalDomains []string `toml:"internal_domains"`
}

// IsEnabled reports whether the group is enabled (default true).
func (g GroupConfig) IsEnabled() bool { return g.Enabled == nil || *g.Enabled }

// LoadConfig reads a TOML config file. Unknown keys are an error (they are
// usually typos).
func LoadConfig(path string) (*Config, error) {
	c := &Config{}
	md, err := toml.DecodeFile(path, c)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		keys := make([]string, len(und))
		for i, k := range und {
			keys[i] = k.String()
		}
		return nil, fmt.Errorf("config %s: unknown keys: %s", path, strings.Join(keys, ", "))
	}
	c.path = path
	return c, nil
}

// Path is the file the config was loaded from ("" if none).
func (c *Config) Path() string { return c.path }

// SetPath records the file the config comes from (used for reloads).
func (c *Config) SetPath(p string) { c.path = p }

// defaultWorkers is one worker per processor Go may use, at least two
// (a worker also waits on file writes).
func defaultWorkers() int { return max(2, runtime.GOMAXPROCS(0)) }

// ApplyDefaults fills unset values.
func (c *Config) ApplyDefaults() {
	if c.Sensor == "" {
		h, _ := os.Hostname()
		c.Sensor = core.SensorFromHost(h)
	}
	if c.RescanInterval <= 0 {
		c.RescanInterval = Duration(5 * time.Second)
	}
	if c.Workers <= 0 {
		c.Workers = defaultWorkers()
	}
	if c.Fsync == nil {
		t := true
		c.Fsync = &t
	}
	if c.FsyncMode == "" {
		c.FsyncMode = FsyncModeSyncfs
	}
	if o := &c.Output; o.Events != "" {
		if o.EventsFormat == "" {
			o.EventsFormat = EventsECS
		}
		if o.EventsMaxSize == 0 {
			o.EventsMaxSize = 100 << 20
		}
		if o.EventsMaxAge == 0 {
			o.EventsMaxAge = Duration(24 * time.Hour)
		}
		if o.EventsKeep == 0 {
			o.EventsKeep = 7
		}
	}
	if c.Retention.Interval <= 0 {
		c.Retention.Interval = Duration(10 * time.Minute)
	}
	s := &c.Submission
	if s.Timeout <= 0 {
		s.Timeout = Duration(60 * time.Second)
	}
	if s.MaxAttempts <= 0 {
		s.MaxAttempts = 10
	}
	if s.BackoffMin <= 0 {
		s.BackoffMin = Duration(time.Second)
	}
	if s.BackoffMax <= 0 {
		s.BackoffMax = Duration(5 * time.Minute)
	}
	if s.PingInterval <= 0 {
		s.PingInterval = Duration(30 * time.Second)
	}
	if s.NodeBackoffMin <= 0 {
		s.NodeBackoffMin = Duration(time.Second)
	}
	if s.NodeBackoffMax <= 0 {
		s.NodeBackoffMax = Duration(time.Minute)
	}
	if s.RetryAfterMax <= 0 {
		s.RetryAfterMax = Duration(time.Hour)
	}
	if s.ToolInstance == "" {
		if h, err := os.Hostname(); err == nil {
			s.ToolInstance = h
		}
	}
	for i := range c.Groups {
		g := &c.Groups[i]
		if g.Coverage == 0 {
			g.Coverage = 100
		}
		if g.Concurrency <= 0 {
			g.Concurrency = 2
		}
		if g.Kind == KindNATS {
			if g.ReconcileInterval == 0 {
				g.ReconcileInterval = Duration(defaultReconcileInterval)
			}
			if g.ReconcileMax == 0 {
				g.ReconcileMax = defaultReconcileMax
			}
		}
	}
}

// validatePcapRotation checks the evidence pcaps' rotation settings.
func (c *Config) validatePcapRotation() []error {
	var errs []error
	if c.CapturePcapMaxMiB < 0 || c.CapturePcapMaxAge < 0 || c.CapturePcapKeep < 0 {
		errs = append(errs, fmt.Errorf("capture_pcap_max_mib (%d), capture_pcap_max_age (%s) and capture_pcap_keep (%d) cannot be negative (0: 100 MiB, 1h, all kept)",
			c.CapturePcapMaxMiB, c.CapturePcapMaxAge.D(), c.CapturePcapKeep))
	}
	if c.CapturePcapDir == "" && (c.CapturePcapMaxMiB != 0 || c.CapturePcapMaxAge != 0 || c.CapturePcapKeep != 0) {
		errs = append(errs, errors.New("capture_pcap_max_mib, capture_pcap_max_age, capture_pcap_keep: they rotate the evidence pcaps, and no capture_pcap_dir is set (--pcap-dir or capture_pcap_dir =)"))
	}
	return errs
}

// Validate reports configuration errors, all at once.
func (c *Config) Validate() error {
	var errs []error
	if c.Spool == "" && len(c.Maildir) == 0 && len(c.EMLDir) == 0 {
		errs = append(errs, errors.New("spool directory not set (--spool, SMTPSCOPE_SPOOL or spool =) and no raw email input (--maildir, --eml-dir)"))
	}
	if c.CapturePcapDir != "" && len(c.Interface) == 0 {
		errs = append(errs, errors.New("capture_pcap_dir: evidence pcaps come from a live capture, and no interface is set (--interface or interface =)"))
	}
	errs = append(errs, c.validatePcapRotation()...)
	if len(c.Interface) > 0 && c.Spool == "" {
		errs = append(errs, errors.New("interface: the live capture writes into the spool, and no spool directory is set (--spool, SMTPSCOPE_SPOOL or spool =)"))
	}
	for _, i := range c.Interface {
		if strings.TrimSpace(i) == "" {
			errs = append(errs, errors.New("interface: empty interface name"))
		}
	}
	if d := c.CaptureDirection; d != "" && d != "in" && d != "both" {
		errs = append(errs, fmt.Errorf("capture_direction: %q is neither in nor both", d))
	}
	for _, p := range c.CapturePorts {
		if p <= 0 || p > 65535 {
			errs = append(errs, fmt.Errorf("capture_ports: %d is not a TCP port", p))
		}
	}
	for _, d := range append(append([]string(nil), c.Maildir...), c.EMLDir...) {
		if strings.TrimSpace(d) == "" {
			errs = append(errs, errors.New("maildir/eml_dir: empty directory name"))
		}
	}
	if c.Sensor != "" { // "" is the default (ApplyDefaults)
		if err := core.ValidSensor(c.Sensor); err != nil {
			errs = append(errs, err)
		}
	}
	errs = append(errs, c.Analysis.validate()...)
	if c.Data == "" {
		errs = append(errs, errors.New("data directory not set (--data, SMTPSCOPE_DATA or data =)"))
	}
	if m := c.FsyncMode; m != "" && m != FsyncModeSyncfs && m != FsyncModeFiles {
		errs = append(errs, fmt.Errorf("fsync_mode %q: want syncfs or files", m))
	}
	if f := c.Output.EventsFormat; f != "" && f != EventsECS && f != EventsZeek {
		errs = append(errs, fmt.Errorf("output.events_format %q: want ecs or zeek", f))
	}
	if c.Output.EventsKeep < 0 {
		errs = append(errs, fmt.Errorf("output.events_keep %d: want 0 (default 7) or more", c.Output.EventsKeep))
	}
	if c.Log.Format != "" && c.Log.Format != "text" && c.Log.Format != "json" {
		errs = append(errs, fmt.Errorf("log.format %q: want text or json", c.Log.Format))
	}
	seen := map[string]bool{}
	for i, g := range c.Groups {
		where := fmt.Sprintf("group %d (%q)", i+1, g.Name)
		if g.Name == "" {
			errs = append(errs, fmt.Errorf("group %d: name is empty", i+1))
		}
		if strings.ContainsRune(g.Name, 0) {
			errs = append(errs, fmt.Errorf("%s: name contains NUL", where))
		}
		if seen[g.Name] {
			errs = append(errs, fmt.Errorf("%s: duplicate group name", where))
		}
		seen[g.Name] = true
		if g.Coverage < 1 || g.Coverage > 100 {
			errs = append(errs, fmt.Errorf("%s: coverage %d: want 1-100", where, g.Coverage))
		}
		if g.IsEnabled() && len(g.Nodes) == 0 && !g.httpKind() {
			errs = append(errs, fmt.Errorf("%s: no nodes", where))
		}
		errs = append(errs, g.validateKind(where)...)
	}
	errs = append(errs, validateHunts(c.Hunts, seen)...)
	return errors.Join(errs...)
}

// The values of Config.FsyncMode.
const (
	FsyncModeSyncfs = "syncfs"
	FsyncModeFiles  = "files"
)

// FsyncOn reports whether fsync is on.
func (c *Config) FsyncOn() bool { return c.Fsync == nil || *c.Fsync }

// ArchiveOn reports whether attachments are archived.
func (c *Config) ArchiveOn() bool {
	return c.Analysis.ArchiveAttachments == nil || *c.Analysis.ArchiveAttachments
}

func readSecret(path string) (string, error) {
	if path == "" {
		return "", nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("api key file: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}
