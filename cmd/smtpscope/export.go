package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/smtpscope/smtpscope/core"
	"github.com/smtpscope/smtpscope/index"
	"github.com/smtpscope/smtpscope/ui/sanitize"
)

// ExportCmd writes the emails a query finds.
type ExportCmd struct {
	Data   string   `help:"Data directory." env:"SMTPSCOPE_DATA" required:"" placeholder:"DIR"`
	Format string   `help:"eml: a directory of <id>.eml files (exact bytes); mbox: one mboxrd file; json: the records as JSON Lines; stix2: one STIX 2.1 bundle; misp: one MISP event." enum:"eml,mbox,json,stix2,misp" required:"" placeholder:"eml|mbox|json|stix2|misp"`
	Output string   `short:"o" help:"Where to write: the directory for eml (required; made when missing), the file for mbox, json, stix2 and misp (default: standard output)." placeholder:"PATH" type:"path"`
	Info   string   `help:"misp: the event's info (default: the query)." placeholder:"TEXT"`
	Limit  int      `default:"0" help:"Export at most this many emails, newest first (0: all)."`
	Force  bool     `help:"Write an mbox to a terminal; overwrite existing files."`
	Query  []string `arg:"" optional:"" help:"Query (see the query language in the README); several words are joined with spaces. Empty: every email."`
}

// exportCounts is what an export did, for its closing line.
type exportCounts struct {
	written, same, failed, lineEnd int
}

// Run exports the result set of the query (emails only: sessions without
// email and review entries have no message).
func (c *ExportCmd) Run() error {
	return c.run(context.Background(), os.Stdout, os.Stderr)
}

func (c *ExportCmd) run(ctx context.Context, stdout, stderr io.Writer) error {
	q := strings.Join(c.Query, " ")
	if _, err := index.ParseQuery(q); err != nil {
		return queryError(q, err)
	}
	if c.Info != "" && c.Format != "misp" {
		return usageErr("--info is the MISP event's info: only with --format misp")
	}
	if c.Format == "eml" && c.Output == "" {
		return usageErr("--format eml writes one file per email: give the directory with -o DIR")
	}
	if c.Format == "mbox" && c.Output == "" && stdoutIsTerminal() && !c.Force {
		return usageErr("refusing to write an mbox (raw message bytes) to a terminal: give -o FILE, pipe it, or add --force")
	}
	src, err := openSearchSource(ctx, c.Data, q, []string{index.KindEmail})
	if err != nil {
		return err
	}
	defer src.close()

	var out io.Writer = stdout
	var file *os.File
	where := "standard output"
	switch {
	case c.Format == "eml":
		if err := os.MkdirAll(c.Output, 0o750); err != nil {
			return err
		}
		where = c.Output
	case c.Output != "":
		flags := os.O_WRONLY | os.O_CREATE | os.O_EXCL
		if c.Force {
			flags = os.O_WRONLY | os.O_CREATE | os.O_TRUNC
		}
		file, err = os.OpenFile(c.Output, flags, 0o600)
		if errors.Is(err, os.ErrExist) {
			return fmt.Errorf("%s exists; choose another -o FILE or add --force to overwrite it", c.Output)
		}
		if err != nil {
			return err
		}
		defer file.Close()
		out, where = file, c.Output
	}
	bw := bufio.NewWriterSize(out, 256<<10)
	mbox := core.NewMboxWriter(bw)
	enc := core.NewJSONEncoder(bw)
	now := time.Now()
	var stix *core.STIXWriter
	var misp *core.MISPWriter
	switch c.Format {
	case "stix2":
		stix = core.NewSTIXWriter(bw, now)
	case "misp":
		misp = core.NewMISPWriter(bw, now)
	}

	var n exportCounts
	warn := func(id string, err error) {
		n.failed++
		fmt.Fprintf(stderr, "warning: email %s: %s\n", sanitize.Clip(id, 200), sanitize.Line(err.Error()))
	}
	var after []string
	seen := 0
	for c.Limit <= 0 || seen < c.Limit {
		size := searchPage
		if c.Limit > 0 {
			size = min(size, c.Limit-seen)
		}
		hits, _, _, next, err := src.page(ctx, after, size, false)
		if err != nil {
			return queryError(q, err)
		}
		for _, h := range hits {
			seen++
			switch c.Format {
			case "json", "stix2", "misp":
				rec, err := src.record(ctx, h.ID)
				if err != nil {
					if errors.Is(err, errNoRecords) {
						return err
					}
					warn(h.ID, err)
					continue
				}
				switch {
				case stix != nil:
					err = stix.Add(rec)
				case misp != nil:
					err = misp.Add(rec)
				default:
					err = enc.Encode(rec)
				}
				if err != nil {
					return fmt.Errorf("%s: %w", where, err)
				}
				n.written++
			case "mbox", "eml":
				raw, err := src.raw(ctx, h.ID)
				if err != nil {
					if errors.Is(err, errNoRecords) {
						return err
					}
					warn(h.ID, err)
					continue
				}
				if c.Format == "eml" {
					if err := c.writeEML(h.ID, raw, &n); err != nil {
						return err
					}
					continue
				}
				exact, err := mbox.Write(h.MailFrom, h.Time, raw)
				if err != nil {
					return fmt.Errorf("%s: %w", where, err)
				}
				if !exact {
					n.lineEnd++
				}
				n.written++
			}
		}
		if len(hits) < size || next == nil {
			break
		}
		after = next
	}
	switch {
	case stix != nil:
		err = stix.Close()
	case misp != nil:
		info := c.Info
		if info == "" {
			info = "smtpscope export: " + q
			if q == "" {
				info = "smtpscope export: every email"
			}
		}
		err = misp.Close(info)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", where, err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("%s: %w", where, err)
	}
	if file != nil {
		if err := file.Close(); err != nil {
			return fmt.Errorf("%s: %w", where, err)
		}
	}
	msg := fmt.Sprintf("exported %d emails (%s) to %s", n.written, c.Format, sanitize.Line(where))
	if n.same > 0 {
		msg += fmt.Sprintf("; %d already there with the same bytes", n.same)
	}
	if n.failed > 0 {
		msg += fmt.Sprintf("; %d could not be read (see the warnings above)", n.failed)
	}
	fmt.Fprintln(stderr, msg)
	if n.lineEnd > 0 {
		fmt.Fprintf(stderr, "note: %d messages do not end with a line end; the mbox adds one to each (--format eml keeps the exact bytes)\n", n.lineEnd)
	}
	if n.failed > 0 {
		return fmt.Errorf("%d of %d emails not exported", n.failed, seen)
	}
	return nil
}

// writeEML writes one message as DIR/<id>.eml (a hub's <sensor>/<id> as
// <sensor>.<id>.eml: a sensor name holds no '.', so two sensors' emails
// never share a file): a new file; an existing one with the same bytes
// is left as it is, one with other bytes is an error (unless --force).
func (c *ExportCmd) writeEML(id string, raw []byte, n *exportCounts) error {
	base := id
	if sensor, local := core.SplitGlobalID(id); sensor != "" {
		base = sensor + "." + local
	}
	name := filepath.Join(c.Output, sanitize.Filename(base+".eml", "email.eml"))
	flags := os.O_WRONLY | os.O_CREATE | os.O_EXCL
	if c.Force {
		flags = os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	}
	f, err := os.OpenFile(name, flags, 0o600)
	if errors.Is(err, os.ErrExist) {
		if old, rerr := os.ReadFile(name); rerr == nil && bytes.Equal(old, raw) {
			n.same++
			return nil
		}
		return fmt.Errorf("%s exists with other bytes; export into another directory or add --force to overwrite", name)
	}
	if err != nil {
		return err
	}
	if _, err := f.Write(raw); err != nil {
		f.Close()
		return fmt.Errorf("%s: %w", name, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	n.written++
	return nil
}
