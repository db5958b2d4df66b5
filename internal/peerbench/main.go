package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"
)

// config is the command line.
type config struct {
	shared     string
	smtpscope  string
	mailpit    string
	mpVersion  string
	mb         int
	rounds     int
	only       map[string]bool
	searchN    int
	searchReps int
	keep       bool
	strict     bool
}

var sections = []string{"parse", "collect", "reindex", "search", "pcap"}

func main() {
	var c config
	var only string
	flag.StringVar(&c.shared, "shared", "../shared", "the shared material (corpus/eml, tools/peers)")
	flag.StringVar(&c.smtpscope, "smtpscope", "bin/smtpscope", "the smtpscope binary under test")
	flag.StringVar(&c.mailpit, "mailpit", "bin/peers/mailpit-v1.33.1", "the Mailpit binary (the peer of collect, reindex and search)")
	flag.StringVar(&c.mpVersion, "mailpit-version", "", "the version the Mailpit binary was built from, for the report (a binary built with go install calls itself dev)")
	flag.IntVar(&c.mb, "mb", envInt("PEERS_MB", 60), "corpus size in MiB given to mkcorpus.py ($PEERS_MB)")
	flag.IntVar(&c.rounds, "rounds", envInt("PEERS_ROUNDS", 3), "interleaved rounds (A, B, A, B ...); medians are printed ($PEERS_ROUNDS)")
	flag.StringVar(&only, "only", "", "comma-separated sections to run: "+strings.Join(sections, ","))
	flag.IntVar(&c.searchN, "search-n", envInt("PEERS_SEARCH_N", 0), "also measure search on a store of this many emails (a larger corpus is made and ingested by both: takes long; the issue asks 220000) ($PEERS_SEARCH_N)")
	flag.IntVar(&c.searchReps, "search-reps", 10, "runs of each search query per side")
	flag.BoolVar(&c.keep, "keep", false, "keep the work directory (its path is printed)")
	flag.BoolVar(&c.strict, "strict", false, "exit 1 when a target is not met")
	flag.Parse()
	if c.rounds < 1 || c.mb < 1 {
		fmt.Fprintln(os.Stderr, "peerbench: --rounds and --mb must be at least 1")
		os.Exit(2)
	}
	c.only = map[string]bool{}
	for _, s := range strings.Split(only, ",") {
		if s = strings.TrimSpace(s); s != "" {
			ok := false
			for _, k := range sections {
				ok = ok || k == s
			}
			if !ok {
				fmt.Fprintf(os.Stderr, "peerbench: --only: unknown section %q (have %s)\n", s, strings.Join(sections, ","))
				os.Exit(2)
			}
			c.only[s] = true
		}
	}
	os.Exit(run(c))
}

func envInt(k string, def int) int {
	var v int
	if s := os.Getenv(k); s != "" {
		if _, err := fmt.Sscan(s, &v); err == nil {
			return v
		}
	}
	return def
}

func (c config) want(s string) bool { return len(c.only) == 0 || c.only[s] }

// bench is one run of the harness: paths and what the sections found.
type bench struct {
	config
	peers   string // shared/tools/peers
	work    string // temporary directory on the disk
	shm     string // temporary directory on tmpfs ("" when none)
	corpus  string // session files
	emlDir  string // the same emails as .eml
	bytes   int64
	emails  int
	ss      []Session
	rows    []Row
	notes   []string
	parseEm float64 // smtpscope parse, both cores, emails/s (median)
	dataDir string  // a data dir collect filled (for reindex, search)
	mpDB    string  // a Mailpit database of the same emails
	mpN     int
}

func logf(f string, a ...any) {
	fmt.Fprintf(os.Stderr, "peerbench: "+f+"\n", a...)
}

func run(c config) int {
	b := &bench{config: c, peers: filepath.Join(c.shared, "tools", "peers")}
	if _, err := os.Stat(filepath.Join(b.peers, "mkcorpus.py")); err != nil {
		logf("%s not found (the shared peers and corpus live beside the repository): skipped", filepath.Join(b.peers, "mkcorpus.py"))
		return 0
	}
	for _, p := range []*string{&b.smtpscope, &b.mailpit} {
		if abs, err := filepath.Abs(*p); err == nil {
			*p = abs
		}
	}
	if _, err := os.Stat(b.smtpscope); err != nil {
		logf("smtpscope binary: %v (make build)", err)
		return 1
	}
	if b.want("collect") || b.want("reindex") || b.want("search") {
		if _, err := os.Stat(b.mailpit); err != nil {
			logf("Mailpit binary: %v (make bench-peers builds it; --only parse,pcap runs without it)", err)
			return 1
		}
	}
	for _, tool := range []string{"python3", "cp"} {
		if _, err := exec.LookPath(tool); err != nil {
			logf("%s not found: %v", tool, err)
			return 1
		}
	}
	var err error
	if b.work, err = os.MkdirTemp("", "peerbench-"); err != nil {
		logf("%v", err)
		return 1
	}
	if fsType(filepath.Dir(b.work)) == "tmpfs" {
		logf("note: %s is on tmpfs; the 'output on disk' pcap row is then not on a disk", filepath.Dir(b.work))
	}
	if fsType("/dev/shm") == "tmpfs" {
		if b.shm, err = os.MkdirTemp("/dev/shm", "peerbench-"); err != nil {
			b.shm = ""
		}
	}
	cleanup := func() {
		killChildren()
		if b.keep {
			logf("work directory kept: %s", b.work)
		} else {
			os.RemoveAll(b.work)
		}
		if b.shm != "" {
			os.RemoveAll(b.shm)
		}
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() {
		s := <-sig
		logf("%v: stopping what was started", s)
		cleanup()
		os.Exit(130)
	}()
	defer cleanup()

	if err := b.makeCorpus(); err != nil {
		logf("corpus: %v", err)
		return 1
	}
	steps := []struct {
		name string
		fn   func() error
	}{
		{"parse", b.parse}, {"collect", b.collect}, {"reindex", b.reindex}, {"search", b.search}, {"pcap", b.pcap},
	}
	failed := false
	for _, s := range steps {
		if !b.want(s.name) {
			continue
		}
		logf("== %s", s.name)
		if err := s.fn(); err != nil {
			logf("%s: %v", s.name, err)
			b.notes = append(b.notes, fmt.Sprintf("%s: not measured: %v", s.name, firstLine(err.Error())))
			failed = true
		}
	}
	fmt.Print(b.report())
	if failed || (b.strict && Failed(b.rows) > 0) {
		return 1
	}
	return 0
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}

// makeCorpus writes the session files with mkcorpus.py and the same emails
// as .eml files.
func (b *bench) makeCorpus() error {
	b.corpus = filepath.Join(b.work, "sessions")
	logf("corpus: mkcorpus.py %d MiB", b.mb)
	if err := b.mkcorpus(b.corpus, b.mb); err != nil {
		return err
	}
	var err error
	if b.ss, b.bytes, err = readSessions(b.corpus); err != nil {
		return err
	}
	b.emlDir = filepath.Join(b.work, "eml")
	if b.emails, err = writeEML(b.ss, b.emlDir); err != nil {
		return err
	}
	logf("corpus: %d sessions, %d emails, %.1f MB", len(b.ss), b.emails, float64(b.bytes)/1e6)
	return nil
}

func (b *bench) mkcorpus(dir string, mb int) error {
	_, err := Exec(Proc{Argv: []string{"python3", filepath.Join(b.peers, "mkcorpus.py"), filepath.Join(b.shared, "corpus", "eml"), dir, fmt.Sprint(mb)},
		Log: filepath.Join(b.work, "mkcorpus.log")})
	return err
}

// report is the table and what it was measured on.
func (b *bench) report() string {
	var s strings.Builder
	fmt.Fprintf(&s, "\n## smtpscope vs peers (%s)\n\n", time.Now().UTC().Format("2006-01-02 15:04 UTC"))
	fmt.Fprintf(&s, "Corpus: mkcorpus.py %d MiB → %s MB, %d sessions, %s emails. %d interleaved rounds, medians (min–max).\n",
		b.mb, num(float64(b.bytes)/1e6), len(b.ss), thousands(int64(b.emails)), b.rounds)
	fmt.Fprintf(&s, "Machine: %s.\n", machine())
	fmt.Fprintf(&s, "smtpscope: %s. Mailpit: %s.\n\n", version(b.smtpscope, "--version"), b.mailpitVersion())
	s.WriteString(Table(b.rows))
	if len(b.notes) > 0 {
		s.WriteString("\n")
		for _, n := range b.notes {
			fmt.Fprintf(&s, "- %s\n", n)
		}
	}
	if n := Failed(b.rows); n > 0 {
		fmt.Fprintf(&s, "\n%d of %d targets not met.\n", n, countTargets(b.rows))
	} else if len(b.rows) > 0 {
		fmt.Fprintf(&s, "\nEvery target met (%d).\n", countTargets(b.rows))
	}
	return s.String()
}

func countTargets(rows []Row) int {
	n := 0
	for _, r := range rows {
		if r.Target.Check != nil {
			n++
		}
	}
	return n
}

// machine describes the machine: CPU model, cores, memory.
func machine() string {
	model := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	mem := ""
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb int64
		if _, err := fmt.Sscanf(string(b), "MemTotal: %d kB", &kb); err == nil {
			mem = fmt.Sprintf(", %.0f GiB", float64(kb)/(1<<20))
		}
	}
	return fmt.Sprintf("%s, %d cores%s, %s/%s", model, runtime.NumCPU(), mem, runtime.GOOS, runtime.GOARCH)
}

func (b *bench) mailpitVersion() string {
	v := version(b.mailpit, "version")
	_, v, _ = strings.Cut(v, " ") // "PATH dev compiled with go1.26 on linux/amd64"
	if b.mpVersion != "" {
		return b.mpVersion + " (" + v + ")"
	}
	return v
}

func version(bin string, arg string) string {
	// Mailpit's version check fails without network after printing its
	// version: the first line counts whatever the exit status.
	out, _ := exec.Command(bin, arg).Output()
	if v := strings.TrimSpace(firstLine(string(out))); v != "" {
		return v
	}
	return "unknown"
}

// fsType names the file system holding path.
func fsType(path string) string {
	var st syscall.Statfs_t
	if err := syscall.Statfs(path, &st); err != nil {
		return "unknown"
	}
	switch uint32(st.Type) {
	case 0x01021994:
		return "tmpfs"
	case 0xEF53:
		return "ext4"
	case 0x58465342:
		return "xfs"
	case 0x9123683E:
		return "btrfs"
	case 0x794c7630:
		return "overlayfs"
	}
	return fmt.Sprintf("fs 0x%x", uint32(st.Type))
}
