package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/smtpscope/smtpscope/collector/capture"
	"github.com/smtpscope/smtpscope/core"
	"github.com/smtpscope/smtpscope/ui/sanitize"
)

// ParseCmd prints email records as JSON Lines (or as ECS or Zeek events).
type ParseCmd struct {
	Format          string     `default:"record" enum:"record,ecs,zeek" help:"Output: the email records, ECS documents, or Zeek smtp.log lines each followed by its files.log lines (the event log's shapes)." placeholder:"record|ecs|zeek"`
	FilesLog        string     `name:"files-log" help:"With --format zeek: write the files.log lines to FILE instead of after their smtp.log line." placeholder:"FILE"`
	InternalDomains []string   `name:"internal-domains" sep:"," help:"With --format ecs: your mail domains (repeatable or comma-separated; subdomains count), to set email.direction as the event log does with [output] internal_domains." placeholder:"DOMAIN"`
	OmitBody        bool       `help:"Leave body_text and body_html out of the records (IOCs are still extracted)." name:"omit-body"`
	Eml             bool       `help:"Inputs are raw RFC 822 messages (.eml), not session files." xor:"kind"`
	Pcap            bool       `help:"Inputs are pcap/pcapng captures." xor:"kind"`
	Mbox            bool       `help:"Inputs are mbox files (mboxrd/mboxo): one record per message, source FILE#n." xor:"kind"`
	Ports           []int      `help:"With --pcap: TCP ports carrying SMTP." default:"25,587,2525"`
	Limits          pcapLimits `embed:"" group:"With --pcap"`
	NoIOCs          bool       `help:"Do not extract IOCs." name:"no-iocs"`
	IOCKeys         []string   `help:"Where IOCs come from: header names and body, body_html (default: stoQ's list)." name:"ioc-keys"`
	MaxDepth        int        `help:"How deep attached messages are followed." default:"10" name:"max-depth"`
	YaraRules       []string   `help:"YARA rule files or directories (needs a build with YARA)." name:"yara-rules" type:"path"`
	Jobs            int        `help:"Files analysed in parallel (default: number of CPUs)." default:"0"`
	Paths           []string   `arg:"" help:"Session files, directories of them, .eml files (--eml) or captures (--pcap)." type:"path"`
}

// analyzerOptions turns the flags into core options.
func (c *ParseCmd) analyzerOptions() (core.Options, func(), error) {
	opts := core.DefaultOptions()
	opts.OmitBody = c.OmitBody
	opts.ExtractIOCs = !c.NoIOCs
	if len(c.IOCKeys) > 0 {
		opts.IOCKeys = c.IOCKeys
	}
	opts.MaxDepth = c.MaxDepth
	closer := func() {}
	if len(c.YaraRules) > 0 {
		rules, err := core.CompileYara(c.YaraRules)
		if err != nil {
			return opts, closer, err
		}
		opts.Yara = rules
		closer = rules.Close
	}
	return opts, closer, nil
}

// Run parses every input and prints one JSON object per email. Files that
// cannot be parsed at all are reported on stderr, named, and make the exit
// status 1; the other files are still printed.
func (c *ParseCmd) Run() (rerr error) {
	opts, closeRules, err := c.analyzerOptions()
	if err != nil {
		return err
	}
	defer closeRules()
	an := core.NewAnalyzer(opts)
	out := bufio.NewWriterSize(os.Stdout, 256<<10)
	defer out.Flush()
	if len(c.InternalDomains) > 0 && c.Format != "ecs" {
		return usageErr("--internal-domains is for --format ecs (its email.direction)")
	}
	filesLog, closeFiles, err := openFilesLog(c.FilesLog, c.Format)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := closeFiles(); cerr != nil && rerr == nil {
			rerr = cerr
		}
	}()
	enc := &recordEncoder{format: c.Format, out: out, files: filesLog, created: time.Now(), internal: c.InternalDomains}
	emit := enc.encode

	if c.Pcap {
		return c.runPcap(an, emit)
	}
	files, err := expandInputs(c.Paths, c.Eml || c.Mbox)
	if err != nil {
		return err
	}
	paceGC(files, c.Jobs)
	failed := 0
	err = forEachOrdered(files, c.Jobs, fileSize, func(path string) (encoded, error) {
		emails, err := c.analyzePath(an, path)
		return enc.encodeAll(emails), err
	}, func(path string, en encoded, err error) error {
		if werr := en.writeTo(out, filesLog); werr != nil { // what was read before an error too
			return werr
		}
		if err != nil {
			failed++
			fmt.Fprintf(os.Stderr, "smtpscope parse: %s\n", sanitize.Line(err.Error()))
		}
		return nil
	})
	if err != nil {
		return err
	}
	if failed > 0 {
		out.Flush()
		return exitError{code: 1, err: fmt.Errorf("%d of %d files could not be parsed", failed, len(files))}
	}
	return nil
}

// analyzePath reads one input file (by the kind of input the flags name)
// and analyses its emails; the emails read before an error are returned
// with it.
func (c *ParseCmd) analyzePath(an *core.Analyzer, path string) ([]*core.Email, error) {
	if c.Mbox {
		return analyzeMbox(an, path)
	}
	if c.Eml {
		e, err := an.AnalyzeFile(path)
		if err != nil {
			return nil, err
		}
		return []*core.Email{e}, nil
	}
	s, err := core.ParseSessionFile(path)
	if err != nil {
		if kind := captureFormat(path); kind != "" {
			return nil, fmt.Errorf("%s is a packet capture (%s), not a session file: use `smtpscope parse --pcap` (or `smtpscope pcap` for session files)", path, kind)
		}
		return nil, err
	}
	return an.SessionEmails(s), nil
}

// paceGC sets the garbage collector for a batch run: it collects when the
// heap has grown 4x (GOGC=400) instead of 2x, which about halves the
// collections of a run over many small files (their heap is a few MB), and
// a soft memory limit of 256 MiB plus 3x the largest input per job keeps
// the peak of large messages where the default leaves it. GOGC or
// GOMEMLIMIT in the environment are left as the user set them.
func paceGC(files []string, jobs int) {
	if userPacesGC() {
		return
	}
	if jobs <= 0 {
		jobs = runtime.GOMAXPROCS(0)
	}
	var largest int64
	for _, f := range files {
		if st, err := os.Stat(f); err == nil && st.Size() > largest {
			largest = st.Size()
		}
	}
	debug.SetMemoryLimit(256<<20 + int64(jobs)*3*largest)
	debug.SetGCPercent(400)
}

// userPacesGC reports whether GOGC or GOMEMLIMIT is set: the verbs that
// pace the garbage collector themselves (parse, search) then leave it as
// the user set it.
func userPacesGC() bool {
	return os.Getenv("GOGC") != "" || os.Getenv("GOMEMLIMIT") != ""
}

type exitError struct {
	code int
	err  error
}

func (e exitError) Error() string { return e.err.Error() }
func (e exitError) ExitCode() int { return e.code }

// expandInputs turns files and directories into a sorted file list. In
// directories of session files, ".ready" markers, dot files and temp files
// are skipped.
func expandInputs(paths []string, eml bool) ([]string, error) {
	var files []string
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		if !st.IsDir() {
			files = append(files, p)
			continue
		}
		var found []string
		err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			name := d.Name()
			if d.IsDir() {
				if path != p && strings.HasPrefix(name, ".") {
					return filepath.SkipDir
				}
				return nil
			}
			if strings.HasPrefix(name, ".") || strings.HasSuffix(name, ".ready") || strings.HasSuffix(name, ".tmp") || strings.HasSuffix(name, ".error") {
				return nil
			}
			if !d.Type().IsRegular() {
				return nil
			}
			found = append(found, path)
			return nil
		})
		if err != nil {
			return nil, err
		}
		sort.Strings(found)
		files = append(files, found...)
	}
	return files, nil
}

// forEachOrdered runs work on every item with up to jobs goroutines and
// hands the results to done in input order. Items started and not yet
// handed to done are bounded by count (orderedWindow per job) and, when
// size gives the items' sizes, by their bytes (orderedBytes; beyond it an
// item still starts while fewer than jobs are pending), so that one large
// file, analysed while the later small ones finish and wait for it, does
// not leave the other cores idle, and memory stays bounded.
//
// With 4 items per job and no byte bound (before), a simulation of the
// 60 MiB peers' corpus in file order (1,624 sessions up to 2.1 MB, cost
// proportional to size) finished in 1.51x the time of two fully used
// cores; with 64 per job, 1.01x, for any byte bound from 8 MiB.
func forEachOrdered[T any](items []string, jobs int, size func(string) int64, work func(string) (T, error), done func(string, T, error) error) error {
	if jobs <= 0 {
		jobs = runtime.GOMAXPROCS(0)
	}
	type result struct {
		v   T
		err error
	}
	results := make([]chan result, len(items))
	for i := range results {
		results[i] = make(chan result, 1)
	}
	sizes := make([]int64, len(items))
	if size != nil {
		for i, it := range items {
			sizes[i] = max(size(it), 0)
		}
	}
	window := make(chan struct{}, orderedWindow*jobs) // items started and not yet done
	var mu sync.Mutex
	var pendingBytes int64             // sizes of the items started and not yet done
	pendingItems := 0                  // their number
	released := make(chan struct{}, 1) // done released bytes
	var wg sync.WaitGroup
	stop := make(chan struct{})
	// jobs long-lived workers take the items: a goroutine per item would
	// grow a new stack for every file (runtime.copystack was 2.6 % of
	// the CPU of parse on the peers' corpus).
	type task struct {
		i  int
		it string
	}
	tasks := make(chan task)
	for range min(jobs, len(items)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for t := range tasks {
				v, err := work(t.it)
				results[t.i] <- result{v, err}
				// On one processor the worker would go on with the
				// next item and done would run only when preempted:
				// results piled up in the window (peak RSS 140 MiB
				// against 105 on the peers' corpus with taskset -c 0).
				runtime.Gosched()
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(tasks)
		for i, it := range items {
			select {
			case window <- struct{}{}:
			case <-stop:
				return
			}
			for {
				mu.Lock()
				ok := pendingItems < jobs || pendingBytes+sizes[i] <= orderedBytes
				if ok {
					pendingBytes += sizes[i]
					pendingItems++
				}
				mu.Unlock()
				if ok {
					break
				}
				select {
				case <-released:
				case <-stop:
					return
				}
			}
			select {
			case tasks <- task{i, it}:
			case <-stop:
				return
			}
		}
	}()
	defer func() { close(stop); wg.Wait() }()
	for i, it := range items {
		r := <-results[i]
		err := done(it, r.v, r.err)
		mu.Lock()
		pendingBytes -= sizes[i]
		pendingItems--
		mu.Unlock()
		select {
		case released <- struct{}{}:
		default:
		}
		<-window
		if err != nil {
			return err
		}
	}
	return nil
}

// Bounds of forEachOrdered's window: items (per job) and bytes started
// and not yet handed on in order.
const (
	orderedWindow = 64
	orderedBytes  = 32 << 20
)

// fileSize is the size of the file at path (0 when it cannot be read:
// the work on it reports why).
func fileSize(path string) int64 {
	st, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return st.Size()
}

// analyzeMbox analyses every message of an mbox file; source is
// "FILE#n" (n from 0). The messages read before an error are returned
// with it.
func analyzeMbox(an *core.Analyzer, path string) ([]*core.Email, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r := core.NewMboxReader(f, 0)
	var out []*core.Email
	for n := 0; ; n++ {
		msg, err := r.Next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, fmt.Errorf("%s: %w", path, err)
		}
		e := an.AnalyzeBytes(msg)
		e.Source = fmt.Sprintf("%s#%d", path, n)
		out = append(out, e)
	}
}

// captureFormat names the capture format path begins with ("pcap",
// "pcapng": capture.Format), or "" for anything else (or an unreadable
// file).
func captureFormat(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	var m [4]byte
	if _, err := io.ReadFull(f, m[:]); err != nil {
		return ""
	}
	return capture.Format(m[:])
}

// encoded is the output of one input file, encoded by the job that
// analysed it so that the JSON encoding runs on every core, not only on
// the goroutine that prints in input order.
type encoded struct {
	out, files *bytes.Buffer // files: --files-log lines (nil without it)
	err        error         // the encoding failed after out's records
}

// encodeAll encodes emails as r would print them, into buffers.
func (r *recordEncoder) encodeAll(emails []*core.Email) encoded {
	en := encoded{out: getEncodeBuf()}
	local := *r
	local.out = bufio.NewWriterSize(en.out, 16) // records are written whole: no copy
	if r.files != nil {
		en.files = getEncodeBuf()
		local.files = bufio.NewWriterSize(en.files, 16)
	}
	for _, e := range emails {
		if en.err = local.encode(e); en.err != nil {
			break
		}
	}
	if err := local.out.Flush(); en.err == nil {
		en.err = err
	}
	if local.files != nil {
		if err := local.files.Flush(); en.err == nil {
			en.err = err
		}
	}
	return en
}

// writeTo prints what encodeAll encoded (files to files), gives the
// buffers back, and returns the encoding's error after what it wrote.
func (en encoded) writeTo(out, files *bufio.Writer) error {
	if _, err := out.Write(en.out.Bytes()); err != nil {
		return err
	}
	putEncodeBuf(en.out)
	if en.files != nil {
		if _, err := files.Write(en.files.Bytes()); err != nil {
			return err
		}
		putEncodeBuf(en.files)
	}
	return en.err
}

// encodeBufs recycles encodeAll's buffers (a buffer that grew past
// maxPooledEncodeBuf for one large file is let go).
var encodeBufs = sync.Pool{New: func() any { return new(bytes.Buffer) }}

const maxPooledEncodeBuf = 4 << 20

func getEncodeBuf() *bytes.Buffer {
	b := encodeBufs.Get().(*bytes.Buffer)
	b.Reset()
	return b
}

func putEncodeBuf(b *bytes.Buffer) {
	if b.Cap() <= maxPooledEncodeBuf {
		encodeBufs.Put(b)
	}
}
