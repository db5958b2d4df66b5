package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/smtpscope/smtpscope/collector/api"
)

// pinned runs argv on CPU 0 only (taskset), when taskset exists.
func pinned(argv ...string) []string {
	if _, err := exec.LookPath("taskset"); err != nil {
		return argv
	}
	return append([]string{"taskset", "-c", "0"}, argv...)
}

func (b *bench) logPath(name string) string { return filepath.Join(b.work, name+".log") }

// countLines counts the lines of a file.
func countLines(path string) (int, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	n := 0
	buf := make([]byte, 1<<20)
	for {
		k, err := f.Read(buf)
		n += bytes.Count(buf[:k], []byte("\n"))
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}

// parse: `smtpscope parse` on both cores and on one, against the Python
// pipeline on one core.
func (b *bench) parse() error {
	both := Proc{Argv: []string{b.smtpscope, "parse", b.corpus}, Log: b.logPath("parse")}
	one := Proc{Argv: pinned(b.smtpscope, "parse", b.corpus), Log: b.logPath("parse1")}
	py := Proc{Argv: pinned("python3", filepath.Join(b.peers, "pybaseline.py"), b.corpus), Log: b.logPath("pybaseline")}
	// Warm-up (not counted): fills the page cache and checks both see the
	// same emails.
	w := both
	w.Stdout = filepath.Join(b.work, "parse.jsonl")
	if _, err := Exec(w); err != nil {
		return err
	}
	ours, err := countLines(w.Stdout)
	os.Remove(w.Stdout)
	if err != nil {
		return err
	}
	if _, err := Exec(py); err != nil {
		return err
	}
	var pyN int
	if lb, err := os.ReadFile(py.Log); err == nil {
		for _, l := range strings.Split(string(lb), "\n") {
			fmt.Sscanf(l, "emails=%d", &pyN)
		}
	}
	if ours != b.emails || pyN != b.emails {
		b.notes = append(b.notes, fmt.Sprintf("parse: smtpscope printed %d records, the Python pipeline %d, the corpus has %d emails", ours, pyN, b.emails))
	}
	var rb, r1, rp []Run
	for i := 0; i < b.rounds; i++ {
		for _, x := range []struct {
			p   Proc
			out *[]Run
		}{{both, &rb}, {one, &r1}, {py, &rp}} {
			os.Truncate(x.p.Log, 0)
			r, err := Exec(x.p)
			if err != nil {
				return err
			}
			*x.out = append(*x.out, r)
			logf("parse round %d: %-60.60s wall %.2fs cpu %.2fs", i+1, x.p.String(), r.Wall.Seconds(), r.CPU.Seconds())
		}
	}
	mb := float64(b.bytes) / 1e6
	n := float64(b.emails)
	pyRate := rates(mb, rp)
	pyCell := fmt.Sprintf("Python pipeline, one core: %s MB/s, %s MB per CPU-s", spread(pyRate, num), num(median(cpuRates(mb, rp))))
	b.parseEm = median(rates(n, rb))
	both2 := pairRatios(rates(mb, rb), pyRate)
	b.rows = append(b.rows, Row{
		Measure: fmt.Sprintf("`parse`, %s MB / %s emails, both cores", num(mb), thousands(int64(n))),
		Ours: fmt.Sprintf("%s MB/s, %s emails/s, %s MB per CPU-s", spread(rates(mb, rb), num), num(b.parseEm),
			num(median(cpuRates(mb, rb)))),
		Peer: pyCell, Ratio: faster(median(both2)) + "; per CPU-s " + faster(median(pairRatios(cpuRates(mb, rb), cpuRates(mb, rp)))),
		Target: AtLeast("≥ 20× the Python pipeline", 20), Value: median(both2),
	})
	one1 := pairRatios(rates(mb, r1), pyRate)
	perCPU := median(cpuRates(mb, r1))
	b.rows = append(b.rows, Row{
		Measure: "`parse`, one core (taskset -c 0)",
		Ours:    fmt.Sprintf("%s MB/s, %s MB per CPU-s", spread(rates(mb, r1), num), num(perCPU)),
		Peer:    pyCell, Ratio: faster(median(one1)) + "; per CPU-s " + faster(median(pairRatios(cpuRates(mb, r1), cpuRates(mb, rp)))),
		Target: AtLeast("≥ 35 MB per CPU-second", 35), Value: perCPU,
	})
	return nil
}

// collectOnce runs the daemon (fsync on, index on) on an empty spool, moves
// the corpus in, and waits until the index finds every email.
func (b *bench) collectOnce(round int) (Run, error) {
	dir := filepath.Join(b.work, fmt.Sprintf("collect-%d", round))
	stage, spool, data := filepath.Join(dir, "stage"), filepath.Join(dir, "spool"), filepath.Join(dir, "data")
	for _, d := range []string{stage, spool} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return Run{}, err
		}
	}
	// The staged copy is on the spool's file system, so moving it in is a
	// rename per file.
	if _, err := Exec(Proc{Argv: []string{"cp", "-r", b.corpus + "/.", stage}}); err != nil {
		return Run{}, err
	}
	log := b.logPath(fmt.Sprintf("collect-%d", round))
	d, err := Start(Proc{Argv: []string{b.smtpscope, "collect", "--spool", spool, "--data", data, "--log-level", "warn"}, Log: log})
	if err != nil {
		return Run{}, err
	}
	stopped := false
	defer func() {
		if !stopped {
			d.Stop(time.Minute)
		}
	}()
	ctx := context.Background()
	var remote *api.Remote
	for deadline := time.Now().Add(time.Minute); ; {
		c, cancel := context.WithTimeout(ctx, 2*time.Second)
		remote, err = api.DialRemote(c, data)
		cancel()
		if err == nil {
			break
		}
		if ex, _ := d.Exited(); ex || time.Now().After(deadline) {
			return Run{}, fmt.Errorf("the collector's socket did not answer: %v%s", err, logTail(log))
		}
		time.Sleep(50 * time.Millisecond)
	}
	defer remote.Close()
	names, err := spoolOrder(stage)
	if err != nil {
		return Run{}, err
	}
	t0 := time.Now()
	for _, n := range names {
		if err := os.Rename(filepath.Join(stage, n), filepath.Join(spool, n)); err != nil {
			return Run{}, err
		}
	}
	var t1 time.Time
	last, lastChange := uint64(0), time.Now()
	for {
		c, cancel := context.WithTimeout(ctx, 30*time.Second)
		res, err := remote.Search(c, "", api.SearchOptions{Limit: 1, Kind: api.KindEmail, IDsOnly: true})
		cancel()
		now := time.Now()
		if err != nil {
			return Run{}, fmt.Errorf("search over the socket: %w", err)
		}
		if res.Total != last {
			last, lastChange = res.Total, now
		}
		if int(res.Total) >= b.emails {
			t1 = now
			break
		}
		if now.Sub(lastChange) > time.Minute {
			return Run{}, fmt.Errorf("stuck at %d of %d emails searchable for a minute%s", res.Total, b.emails, logTail(log))
		}
		if ex, err := d.Exited(); ex {
			return Run{}, fmt.Errorf("the collector exited: %v%s", err, logTail(log))
		}
		time.Sleep(100 * time.Millisecond) // as mailpit_ingest.sh polls Mailpit
	}
	remote.Close()
	r, err := d.Stop(time.Minute)
	stopped = true
	if err != nil {
		return Run{}, err
	}
	r.Wall = t1.Sub(t0)
	os.RemoveAll(stage)
	os.RemoveAll(spool)
	return r, nil
}

// spoolOrder lists a staged spool: each session file, then its .ready.
func spoolOrder(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	sort.Slice(names, func(i, j int) bool {
		a, b := strings.TrimSuffix(names[i], ".ready"), strings.TrimSuffix(names[j], ".ready")
		if a != b {
			return a < b
		}
		return !strings.HasSuffix(names[i], ".ready")
	})
	return names, nil
}

// collect: the daemon until every email is searchable against Mailpit's
// SMTP ingest of the same emails.
func (b *bench) collect() error {
	script := filepath.Join(b.peers, "mailpit_ingest.sh")
	var ours []Run
	var mp []Ingest
	for i := 0; i < b.rounds; i++ {
		r, err := b.collectOnce(i)
		if err != nil {
			return err
		}
		ours = append(ours, r)
		logf("collect round %d: smtpscope %d emails in %.2fs, cpu %.2fs, peak %s", i+1, b.emails, r.Wall.Seconds(), r.CPU.Seconds(), mib(r.MaxRSS))
		out := filepath.Join(b.work, "ingest.out")
		os.Remove(out)
		if _, err := Exec(Proc{Argv: []string{script, b.mailpit, b.emlDir}, Stdout: out, Log: b.logPath("mailpit-ingest")}); err != nil {
			return err
		}
		ob, _ := os.ReadFile(out)
		in, err := parseIngest(string(ob))
		if err != nil {
			return err
		}
		mp = append(mp, in)
		logf("collect round %d: mailpit %d emails (%d rejected) in %.2fs, cpu %.2fs", i+1, in.Emails, in.Rejected, in.Wall, in.CPU)
		// Each round's data dir stays until the work dir goes: deleting
		// thousands of files just before the next round's daemon creates
		// its own makes ext4 without a journal (this build VM's) skip the
		// recently freed inodes one by one, a cost Mailpit's one database
		// file never meets and no sensor pays between two sessions.
		b.dataDir = filepath.Join(b.work, fmt.Sprintf("collect-%d", i), "data")
	}
	n := float64(b.emails)
	our := rates(n, ours)
	var mpRate, mpCPU []float64
	var mpRSS int64
	var mpStored, mpRej int
	for _, in := range mp {
		mpRate = append(mpRate, float64(in.Emails)/in.Wall)
		mpCPU = append(mpCPU, in.CPU)
		mpRSS = max(mpRSS, in.PeakRSS)
		mpStored, mpRej = in.Emails, in.Rejected
	}
	rr := median(pairRatios(our, mpRate))
	var mpPerCPU []float64
	for _, in := range mp {
		mpPerCPU = append(mpPerCPU, float64(in.Emails)/in.CPU)
	}
	rc := median(pairRatios(cpuRates(n, ours), mpPerCPU))
	b.rows = append(b.rows, Row{
		Measure: fmt.Sprintf("ingest until searchable, %s emails, `collect` daemon, fsync on, index on", thousands(int64(n))),
		Ours:    fmt.Sprintf("%s emails/s, %s CPU-s", spread(our, num), num(median(cpus(ours)))),
		Peer: fmt.Sprintf("Mailpit over SMTP: %s emails/s, %s CPU-s (stored %s, refused %d)", spread(mpRate, num),
			num(median(mpCPU)), thousands(int64(mpStored)), mpRej),
		Ratio:  ratio(rr) + " Mailpit's rate; per CPU-s " + ratio(rc),
		Target: AtLeast("≥ 3× Mailpit", 3), Value: rr,
	})
	if b.parseEm > 0 {
		f := median(our) / b.parseEm
		b.rows = append(b.rows, Row{
			Measure: "ingest until searchable ÷ `parse` (both cores), emails/s",
			Ours:    fmt.Sprintf("%s emails/s", num(median(our))),
			Peer:    fmt.Sprintf("`smtpscope parse`: %s emails/s", num(b.parseEm)),
			Ratio:   fmt.Sprintf("%.0f %%", 100*f),
			Target:  AtLeast("≥ 70 % of parse", 0.70), Value: f,
		})
	}
	rss := maxRSS(ours)
	b.rows = append(b.rows, Row{
		Measure: fmt.Sprintf("daemon peak RSS, ingest of %s emails", thousands(int64(n))),
		Ours:    mib(rss),
		Peer:    "Mailpit " + mib(mpRSS),
		Ratio:   ratio(float64(rss) / float64(max(mpRSS, 1))),
		Target:  Below("< 1 GiB (issue: at 220,000 emails)", 1<<30), Value: float64(rss),
	})
	return nil
}

// mailpitDB makes (once) a Mailpit database of the corpus's emails.
func (b *bench) mailpitDB() error {
	if b.mpDB != "" {
		return nil
	}
	dir := filepath.Join(b.work, "mailpit")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	db := filepath.Join(dir, "mp.db")
	n, err := fillMailpit(b.mailpit, filepath.Join(b.peers, "smtp_send.py"), b.emlDir, db, b.work)
	if err != nil {
		return err
	}
	b.mpDB, b.mpN = db, n
	return nil
}

// ensureDataDir makes (once) a data dir of the corpus when collect did not
// run: `collect --once`, index on.
func (b *bench) ensureDataDir() error {
	if b.dataDir != "" {
		return nil
	}
	if _, err := b.collectOnce(0); err != nil {
		return err
	}
	b.dataDir = filepath.Join(b.work, "collect-0", "data")
	return nil
}

// reindex: `smtpscope reindex` against `mailpit reindex`.
func (b *bench) reindex() error {
	if err := b.ensureDataDir(); err != nil {
		return err
	}
	if err := b.mailpitDB(); err != nil {
		return err
	}
	ours := Proc{Argv: []string{b.smtpscope, "reindex", "--data", b.dataDir}, Log: b.logPath("reindex")}
	peer := Proc{Argv: []string{b.mailpit, "reindex", b.mpDB}, Log: b.logPath("mailpit-reindex")}
	var ro, rp []Run
	for i := 0; i < b.rounds; i++ {
		a, err := Exec(ours)
		if err != nil {
			return err
		}
		p, err := Exec(peer)
		if err != nil {
			return err
		}
		ro, rp = append(ro, a), append(rp, p)
		logf("reindex round %d: smtpscope %.2fs cpu %.2fs; mailpit %.2fs cpu %.2fs", i+1, a.Wall.Seconds(), a.CPU.Seconds(), p.Wall.Seconds(), p.CPU.Seconds())
	}
	our, theirs := rates(float64(b.emails), ro), rates(float64(b.mpN), rp)
	rr := median(pairRatios(our, theirs))
	b.rows = append(b.rows, Row{
		Measure: fmt.Sprintf("`reindex`, %s emails", thousands(int64(b.emails))),
		Ours:    fmt.Sprintf("%s emails/s, %s CPU-s", spread(our, num), num(median(cpus(ro)))),
		Peer: fmt.Sprintf("`mailpit reindex` (%s stored): %s emails/s, %s CPU-s", thousands(int64(b.mpN)), spread(theirs, num),
			num(median(cpus(rp)))),
		Ratio:  faster(rr) + "; per CPU-s " + faster(median(pairRatios(cpuRates(float64(b.emails), ro), cpuRates(float64(b.mpN), rp)))),
		Target: ReportOnly, Value: rr,
	})
	return nil
}

// searchQueries are asked of both; each reads the same in both languages.
var searchQueries = []string{"invoice", "has:attachment", "from:example.com", "subject:test", "password reset"}

// search: whole-process `smtpscope search` against Mailpit's API.
func (b *bench) search() error {
	if err := b.ensureDataDir(); err != nil {
		return err
	}
	if err := b.mailpitDB(); err != nil {
		return err
	}
	if err := b.searchAt(b.dataDir, b.mpDB, b.emails, b.mpN); err != nil {
		return err
	}
	if b.searchN > b.emails {
		return b.searchLarge()
	}
	return nil
}

func (b *bench) searchAt(dataDir, db string, n, mpN int) error {
	m, err := startMailpit(b.mailpit, db, b.logPath("mailpit-search"))
	if err != nil {
		return err
	}
	defer m.Stop()
	var ours, theirs []float64
	for i := 0; i < b.searchReps; i++ {
		for _, q := range searchQueries {
			r, err := Exec(Proc{Argv: []string{b.smtpscope, "search", "--data", dataDir, "--limit", "50", q}, Log: b.logPath("search")})
			if err != nil {
				return err
			}
			ours = append(ours, r.Wall.Seconds())
			t := time.Now()
			if _, err := m.Search(q); err != nil {
				return err
			}
			theirs = append(theirs, time.Since(t).Seconds())
		}
	}
	p50, p99 := percentile(ours, 50), percentile(ours, 99)
	mp50, mp99 := percentile(theirs, 50), percentile(theirs, 99)
	logf("search at %d: smtpscope p50 %s p99 %s; mailpit p50 %s p99 %s", n, ms(p50), ms(p99), ms(mp50), ms(mp99))
	b.rows = append(b.rows, Row{
		Measure: fmt.Sprintf("`search`, whole process, %s emails (%d queries × %d)", thousands(int64(n)), len(searchQueries), b.searchReps),
		Ours:    fmt.Sprintf("p50 %s, p99 %s", ms(p50), ms(p99)),
		Peer:    fmt.Sprintf("Mailpit API (%s stored, in-process HTTP): p50 %s, p99 %s", thousands(int64(mpN)), ms(mp50), ms(mp99)),
		Ratio:   faster(mp50/p50) + " (p50)",
		Target:  Below("p50 < 50 ms (issue: at 220,000)", 0.050), Value: p50,
	})
	return nil
}

// searchLarge builds a store of about searchN emails on both sides (a
// larger corpus from mkcorpus.py; ingest not timed) and measures search on
// it.
func (b *bench) searchLarge() error {
	// mkcorpus.py stops past its target: size from the bytes it wrote.
	perMiB := float64(b.emails) / (float64(b.bytes) / (1 << 20))
	mb := int(float64(b.searchN)/perMiB*1.03) + 1
	dir := filepath.Join(b.work, "large")
	defer os.RemoveAll(dir)
	spool, data := filepath.Join(dir, "spool"), filepath.Join(dir, "data")
	logf("search: a corpus of %d MiB for about %d emails (this takes long)", mb, b.searchN)
	if err := b.mkcorpus(spool, mb); err != nil {
		return err
	}
	emlDir := filepath.Join(dir, "eml")
	w, err := newEMLWriter(emlDir)
	if err != nil {
		return err
	}
	if _, err := eachSession(spool, w.session); err != nil {
		return err
	}
	n := w.n
	if n < b.searchN {
		b.notes = append(b.notes, fmt.Sprintf("search: the large corpus came out at %d emails, not %d (the size is estimated from the small one's)", n, b.searchN))
	}
	logf("search: %d emails; smtpscope collect --once --no-index, then index", n)
	if _, err := Exec(Proc{Argv: []string{b.smtpscope, "collect", "--spool", spool, "--data", data, "--no-index", "--once", "--once-timeout", "24h"},
		Log: b.logPath("large-collect")}); err != nil {
		return err
	}
	if _, err := Exec(Proc{Argv: []string{b.smtpscope, "index", "--data", data}, Log: b.logPath("large-index")}); err != nil {
		return err
	}
	os.RemoveAll(spool)
	logf("search: Mailpit ingest of %d emails over SMTP", n)
	db := filepath.Join(dir, "mp.db")
	mpN, err := fillMailpit(b.mailpit, filepath.Join(b.peers, "smtp_send.py"), emlDir, db, b.work)
	if err != nil {
		return err
	}
	os.RemoveAll(emlDir)
	return b.searchAt(data, db, n, mpN)
}

// pcap: `smtpscope pcap` on a capture of the corpus's sessions, output on
// disk against `cp -r` of the files it wrote, and output on tmpfs against
// `tcpdump -r F -w /dev/null`.
func (b *bench) pcap() error {
	dir := filepath.Join(b.work, "pcap")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	capf := filepath.Join(dir, "corpus.pcap")
	size, err := writePcapFile(capf, b.ss)
	if err != nil {
		return err
	}
	mb := float64(size) / 1e6
	logf("pcap: %s: %.1f MB, %d sessions", capf, mb, len(b.ss))
	td, tdErr := exec.LookPath("tcpdump")
	if tdErr != nil {
		b.notes = append(b.notes, "pcap: tcpdump not installed (make deps): no tmpfs row")
	}
	if b.shm == "" {
		b.notes = append(b.notes, "pcap: /dev/shm is not tmpfs: no tmpfs row")
	}
	var disk, cp, shm, tdr []Run
	for i := 0; i < b.rounds; i++ {
		// Fresh names each round, all removed with dir at the end: no
		// mass deletion just before either side creates its files (see
		// collect).
		out, cpOut := filepath.Join(dir, fmt.Sprintf("out-%d", i)), filepath.Join(dir, fmt.Sprintf("cp-%d", i))
		os.MkdirAll(out, 0o755)
		a, err := Exec(Proc{Argv: []string{b.smtpscope, "pcap", "-q", "--out", out, capf}, Log: b.logPath("pcap")})
		if err != nil {
			return err
		}
		if i == 0 {
			if k, _ := countReady(out); k != len(b.ss) {
				b.notes = append(b.notes, fmt.Sprintf("pcap: wrote %d sessions of the capture's %d", k, len(b.ss)))
			}
		}
		c, err := Exec(Proc{Argv: []string{"cp", "-r", out, cpOut}, Log: b.logPath("cp")})
		if err != nil {
			return err
		}
		disk, cp = append(disk, a), append(cp, c)
		logf("pcap round %d: disk %.2fs cpu %.2fs; cp -r %.2fs cpu %.2fs", i+1, a.Wall.Seconds(), a.CPU.Seconds(), c.Wall.Seconds(), c.CPU.Seconds())
		if b.shm == "" || tdErr != nil {
			continue
		}
		so := filepath.Join(b.shm, "out")
		os.MkdirAll(so, 0o755)
		s, err := Exec(Proc{Argv: []string{b.smtpscope, "pcap", "-q", "--out", so, capf}, Log: b.logPath("pcap-shm")})
		if err != nil {
			return err
		}
		os.RemoveAll(so)
		t, err := Exec(Proc{Argv: []string{td, "-r", capf, "-w", "/dev/null"}, Log: b.logPath("tcpdump")})
		if err != nil {
			return err
		}
		shm, tdr = append(shm, s), append(tdr, t)
		logf("pcap round %d: tmpfs %.2fs cpu %.2fs; tcpdump %.2fs cpu %.2fs", i+1, s.Wall.Seconds(), s.CPU.Seconds(), t.Wall.Seconds(), t.CPU.Seconds())
	}
	fs := fsType(dir)
	rd := median(pairRatios(walls(disk), walls(cp)))
	b.rows = append(b.rows, Row{
		Measure: fmt.Sprintf("`pcap`, %s MB / %s sessions, output on %s", num(mb), thousands(int64(len(b.ss))), fs),
		Ours: fmt.Sprintf("%s s (%s MB/s), %s CPU-s", spread(walls(disk), num), num(median(rates(mb, disk))),
			num(median(cpus(disk)))),
		Peer:  fmt.Sprintf("`cp -r` of the files it wrote: %s s, %s CPU-s", spread(walls(cp), num), num(median(cpus(cp)))),
		Ratio: ratio(rd) + " the floor's time; CPU-s " + ratio(median(pairRatios(cpus(disk), cpus(cp)))), Target: AtMost("≤ 1.3× `cp -r`", 1.3), Value: rd,
	})
	if len(shm) > 0 {
		rt := median(pairRatios(rates(mb, shm), rates(mb, tdr)))
		b.rows = append(b.rows, Row{
			Measure: "`pcap`, same capture, output on tmpfs",
			Ours:    fmt.Sprintf("%s MB/s, %s CPU-s", spread(rates(mb, shm), num), num(median(cpus(shm)))),
			Peer:    fmt.Sprintf("`tcpdump -r F -w /dev/null`: %s MB/s, %s CPU-s", spread(rates(mb, tdr), num), num(median(cpus(tdr)))),
			Ratio:   ratio(rt) + " its rate; per CPU-s " + ratio(median(pairRatios(cpuRates(mb, shm), cpuRates(mb, tdr)))), Target: AtLeast("≥ 0.25× tcpdump's read rate", 0.25), Value: rt,
		})
	}
	return nil
}

// countReady counts the .ready markers of dir.
func countReady(dir string) (int, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".ready") {
			n++
		}
	}
	return n, nil
}
