package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/smtpscope/smtpscope/collector"
	"github.com/smtpscope/smtpscope/collector/ace"
	"github.com/smtpscope/smtpscope/collector/api"
	"github.com/smtpscope/smtpscope/ui/sanitize"
)

// StatusCmd prints the queue of a data dir.
type StatusCmd struct {
	Data   string   `help:"Data directory." env:"SMTPSCOPE_DATA" required:"" placeholder:"DIR"`
	Config string   `help:"Config file (adds configured groups with nothing queued yet)." env:"SMTPSCOPE_CONFIG" placeholder:"FILE"`
	JSON   bool     `help:"Print the status as JSON."`
	Errors int      `default:"10" help:"How many recent errors to show."`
	Email  []string `help:"Show the submission state of these email ids per group (needs the collector stopped)." placeholder:"ID"`
}

// Run prints the status: from the database when no collector runs, else
// from the running collector over its socket, or (when the socket refuses
// this user) from the snapshot it keeps in DATA/status.json.
func (c *StatusCmd) Run() error {
	var cfg *collector.Config
	if c.Config != "" {
		var err error
		if cfg, err = collector.LoadConfig(c.Config); err != nil {
			return err
		}
		cfg.ApplyDefaults()
	}
	if len(c.Email) > 0 {
		return c.emailStatus()
	}
	st, note, err := readStatus(c.Data, cfg)
	if err != nil {
		return err
	}
	if c.JSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(st)
	}
	printStatus(os.Stdout, st, note, c.Errors)
	return nil
}

// emailStatus prints each email's submission state per group.
func (c *StatusCmd) emailStatus() error {
	s, err := collector.OpenStore(c.Data, collector.StoreOptions{ReadOnly: true, Timeout: 500 * time.Millisecond})
	if errors.Is(err, collector.ErrLocked) {
		return fmt.Errorf("%w: per-email states are shown by the UI while it runs, or here once it stops", err)
	}
	if err != nil {
		return err
	}
	defer s.Close()
	type row struct {
		Email       *collector.EmailMeta         `json:"email"`
		Submissions []collector.SubmissionStatus `json:"submissions"`
	}
	var rows []row
	for _, id := range c.Email {
		m, err := s.Email(id)
		if err != nil {
			return err
		}
		subs, err := s.Submissions(id)
		if err != nil {
			return err
		}
		rows = append(rows, row{Email: m, Submissions: subs})
	}
	if c.JSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rows)
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "EMAIL\tGROUP\tSTATE\tATTEMPTS\tUUID\tUPDATED\tLAST ERROR")
	for _, r := range rows {
		if len(r.Submissions) == 0 {
			fmt.Fprintf(tw, "%s\t-\t(not queued to any group)\t\t\t\t\n", cell(r.Email.ID))
		}
		for _, st := range r.Submissions {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%s\n", cell(st.EmailID), cell(st.Group), cell(st.State), st.Attempts,
				cell(st.UUID), st.Updated.Format(time.RFC3339), cell(st.LastError))
		}
	}
	return tw.Flush()
}

func readStatus(dir string, cfg *collector.Config) (*collector.Status, string, error) {
	s, err := collector.OpenStore(dir, collector.StoreOptions{ReadOnly: true, Timeout: 500 * time.Millisecond})
	if err == nil {
		defer s.Close()
		st, err := collector.StoreStatus(s, cfg)
		return st, "no collector running", err
	}
	if !errors.Is(err, collector.ErrLocked) {
		return nil, "", err
	}
	// A collector runs: ask it over its socket (live); its snapshot
	// DATA/status.json is the fallback for a user the socket refuses.
	if st, serr := socketStatus(dir); serr == nil {
		return st, fmt.Sprintf("collector running (pid %d); live from its socket", st.PID), nil
	}
	b, rerr := os.ReadFile(filepath.Join(dir, collector.StatusFile))
	if rerr != nil {
		return nil, "", fmt.Errorf("%w, and it has not written %s yet (%v)", err, collector.StatusFile, rerr)
	}
	var st collector.Status
	if jerr := json.Unmarshal(b, &st); jerr != nil {
		return nil, "", fmt.Errorf("%s: %w", filepath.Join(dir, collector.StatusFile), jerr)
	}
	note := fmt.Sprintf("collector running (pid %d); snapshot from %s ago", st.PID, time.Since(st.Time).Round(time.Second))
	return &st, note, nil
}

// socketStatus asks the service that owns dir for its status.
func socketStatus(dir string) (*collector.Status, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	r, err := api.DialRemote(ctx, dir)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	st, err := r.Status(ctx)
	if err != nil {
		return nil, err
	}
	return &st.CollectorStatus, nil
}

func printStatus(w io.Writer, st *collector.Status, note string, nerr int) {
	fmt.Fprintf(w, "data dir   %s (%s)\n", sanitize.Line(st.Data), note)
	if st.Spool != "" && st.Spool != "-" {
		fmt.Fprintf(w, "spool      %s\n", sanitize.Line(st.Spool))
	}
	for _, d := range st.Maildirs {
		fmt.Fprintf(w, "maildir    %s\n", sanitize.Line(d))
	}
	for _, d := range st.EMLDirs {
		fmt.Fprintf(w, "eml dir    %s\n", sanitize.Line(d))
	}
	fmt.Fprintf(w, "stored     %d sessions, %d emails, %s\n", st.Stats.Sessions, st.Stats.Emails, humanBytes(st.Stats.Bytes))
	fmt.Fprintf(w, "duplicates %d spool entries claimed again, %d emails already stored\n", st.Stats.DuplicateClaims, st.Stats.DuplicateEmails)
	if st.Stats.Removed > 0 {
		fmt.Fprintf(w, "retention  %d emails removed\n", st.Stats.Removed)
	}
	fmt.Fprintf(w, "queue      %d undelivered\n", st.QueueDepth)
	if st.EventLog != "" || st.EventsUnlogged > 0 {
		to := ""
		if st.EventLog != "" {
			to = " to " + sanitize.Line(st.EventLog)
		}
		fmt.Fprintf(w, "events     %d waiting to be logged%s\n", st.EventsUnlogged, to)
	}
	if cs := st.Capture; cs != nil {
		printCaptureStatus(w, cs)
	}
	fmt.Fprintln(w)

	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "GROUP\tENABLED\tCOVERAGE\tQUEUED\tRETRYING\tSENT\tFAILED\tNODES")
	for _, g := range st.Groups {
		enabled := "no"
		if g.Enabled {
			enabled = "yes"
		}
		if !g.Configured {
			enabled = "(not configured)"
		}
		var nodes []string
		for _, n := range g.Nodes {
			nodes = append(nodes, nodeHealth(n))
		}
		cov := "-"
		if g.Coverage > 0 {
			cov = fmt.Sprintf("%d%%", g.Coverage)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\t%d\t%s\n", cell(g.Name), enabled, cov,
			g.Counts[collector.StateQueued], g.Counts[collector.StateRetrying], g.Counts[collector.StateSent],
			g.Counts[collector.StateFailed], strings.Join(nodes, ", "))
	}
	if len(st.Groups) == 0 {
		fmt.Fprintln(tw, "(no node groups)")
	}
	tw.Flush()
	for _, g := range st.Groups {
		if g.Reconcile != nil {
			fmt.Fprintf(w, "reconcile  %s\n", reconcileLine(g.Name, g.Reconcile))
		}
	}

	fmt.Fprintf(w, "\nreview/    %d entries\n", len(st.Review))
	for _, r := range st.Review {
		fmt.Fprintf(w, "  %s  %s  %s\n", r.Time.Format(time.RFC3339), cell(r.Name), cell(r.Reason))
	}
	errs := st.LastErrors
	if len(errs) > nerr {
		errs = errs[len(errs)-nerr:]
	}
	fmt.Fprintf(w, "\nlast errors (%d)\n", len(errs))
	for _, e := range errs {
		fmt.Fprintf(w, "  %s  %s: %s\n", e.Time.Format(time.RFC3339), cell(e.Where), cell(e.Msg))
	}
}

// reconcileLine is a NATS group's last reconciliation with the hub:
// when, hours compared, hours the hub was short of, emails re-published
// (in that round and since start), or why it compared nothing, and its
// error.
func reconcileLine(group string, r *collector.ReconcileStatus) string {
	s := cell(group) + ": last " + r.Last.Local().Format(time.RFC3339) + ", "
	if r.Skipped != "" {
		s += "compared nothing (" + cell(r.Skipped) + ")"
	} else {
		s += fmt.Sprintf("%d hours compared, %d short, %d emails re-published", r.HoursChecked, r.HoursShort, r.Republished)
	}
	s += fmt.Sprintf("; %d re-published since start", r.Total)
	if r.LastError != "" {
		s += "; error: " + cell(r.LastError)
	}
	return s
}

// nodeHealth is a node's URL (credentials redacted, also in a snapshot
// an older version wrote) with up, or down and until when.
func nodeHealth(n collector.NodeStatus) string {
	u := cell(ace.RedactURL(n.URL))
	switch {
	case n.Healthy:
		return u + " up"
	case n.DownUntil.IsZero():
		return u + " down"
	}
	return fmt.Sprintf("%s down (%d failures; next probe %s)", u, n.Failures, n.DownUntil.Local().Format(time.TimeOnly))
}

// cell makes text from mail, the wire or the file system (ids, names,
// reasons, errors) safe and short for one terminal line.
func cell(s string) string { return sanitize.Clip(s, 200) }

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// printCaptureStatus prints the live capture's loss accounting.
func printCaptureStatus(w io.Writer, cs *collector.CaptureStatus) {
	for _, i := range cs.Interfaces {
		fmt.Fprintf(w, "capture    %s: %d packets, %d dropped by the kernel (ring full)\n", sanitize.Line(i.Name), i.Packets, i.Drops)
	}
	fmt.Fprintf(w, "capture    %d sessions written, %d messages (%d partial), %d bytes missing (gaps)\n",
		cs.Sessions, cs.Messages, cs.PartialMessages, cs.GapBytes)
	fmt.Fprintf(w, "capture    limits hit: %d half-open dropped, %d flows evicted, %d flow-bytes cuts, %d total-bytes cuts, %d fragment datagrams discarded; %d idle closed\n",
		cs.HalfOpenEvicted, cs.FlowsEvicted, cs.FlowBytesCuts, cs.TotalBytesCuts, cs.FragDiscarded, cs.IdleClosed)
	if len(cs.Interfaces) > 1 {
		fmt.Fprintf(w, "capture    merged by time: %d packets passed on early (window full), %d late\n", cs.MergeForced, cs.MergeLate)
	}
}
