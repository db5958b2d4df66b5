package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/smtpscope/smtpscope/collector"
	"github.com/smtpscope/smtpscope/collector/api"
	"github.com/smtpscope/smtpscope/collector/service"
	"github.com/smtpscope/smtpscope/ui/sanitize"
)

// SubmitCmd queues emails again for submission.
type SubmitCmd struct {
	Data   string   `help:"Data directory." env:"SMTPSCOPE_DATA" required:"" placeholder:"DIR"`
	Config string   `help:"Config file (to know the node groups)." env:"SMTPSCOPE_CONFIG" placeholder:"FILE"`
	Ace    []string `help:"ACE node URL (repeatable), as collect --ace: the node group 'default' (added to --config's groups). Without --config and --ace, the groups are those the queue knows." placeholder:"URL" sep:","`
	Group  string   `help:"Node group to submit to (default: every enabled group)." placeholder:"NAME"`
	From   string   `name:"from" help:"Read email ids from this file, one per line ('-': stdin), e.g. a search result set." placeholder:"FILE"`
	IDs    []string `arg:"" optional:"" name:"id" help:"Email ids."`
}

// Run queues the emails. With a collector (or UI) running on the data
// dir, the request goes to it over its socket (DATA/run/smtpscope.sock),
// or, when that does not answer, is handed to it in DATA/requests/;
// otherwise the queue is updated directly, the index (when there is one)
// gets the new submission states through the service's index hook, and
// the next `collect` delivers.
func (c *SubmitCmd) Run() error {
	ids := append([]string(nil), c.IDs...)
	if c.From != "" {
		more, err := readIDs(c.From)
		if err != nil {
			return err
		}
		ids = append(ids, more...)
	}
	if len(ids) == 0 {
		return errors.New("no email ids given")
	}
	if done, err := c.viaSocket(ids); done || err != nil {
		return err
	}
	s, err := collector.OpenStore(c.Data, collector.StoreOptions{Timeout: 500 * time.Millisecond})
	if errors.Is(err, collector.ErrLocked) {
		p, werr := collector.WriteResubmitRequest(c.Data, collector.ResubmitRequest{IDs: ids, Group: c.Group})
		if werr != nil {
			return werr
		}
		fmt.Printf("a collector is running on %s: handed %d ids to it (%s); see `smtpscope status`\n", sanitize.Line(c.Data), len(ids), sanitize.Line(p))
		return nil
	}
	if err != nil {
		return err
	}
	defer s.Close()
	groups, err := c.groups(s)
	if err != nil {
		return err
	}
	n, err := s.Resubmit(ids, groups)
	fmt.Printf("queued %d submissions (%d ids x groups %s); the next `smtpscope collect` delivers them\n", n, len(ids), sanitize.Line(strings.Join(groups, ",")))
	if err != nil {
		return err
	}
	return indexSubmissions(c.Data, s, ids)
}

// viaSocket hands the resubmission to the service serving the data dir's
// socket; done is false when none answers.
func (c *SubmitCmd) viaSocket(ids []string) (done bool, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dctx, dcancel := context.WithTimeout(ctx, 2*time.Second)
	r, err := api.DialRemote(dctx, c.Data)
	dcancel()
	if err != nil {
		return false, nil
	}
	defer r.Close()
	n, err := r.Resubmit(ctx, ids, c.Group)
	if err != nil {
		return true, err
	}
	fmt.Printf("a collector is running on %s: queued %d submissions (%d ids); see `smtpscope status`\n", sanitize.Line(c.Data), n, len(ids))
	return true, nil
}

// indexSubmissions gives the index of the data dir the new submission
// states of ids, through the same hook the collector uses. The index is
// derived data: when it cannot be opened, a warning says how to catch up.
func indexSubmissions(data string, s *collector.Store, ids []string) error {
	ix, err := service.OpenIndex(data)
	if err != nil {
		fmt.Fprintf(os.Stderr, "warning: search index not updated (%s); run `smtpscope index`\n", sanitize.Line(err.Error()))
		return nil
	}
	defer ix.Close()
	hook := service.NewIndexer(ix, s)
	for _, id := range ids {
		subs, err := s.Submissions(id)
		if err != nil || len(subs) == 0 {
			continue // unknown id: Resubmit reported it
		}
		if err := hook.UpdateSubmissions(id, subs); err != nil {
			return fmt.Errorf("indexing the submission states of %s: %w", id, err)
		}
	}
	return ix.Close()
}

func (c *SubmitCmd) groups(s *collector.Store) ([]string, error) {
	known := map[string]bool{}
	var enabled []string
	if c.Config != "" || len(c.Ace) > 0 {
		cfg := &collector.Config{}
		if c.Config != "" {
			var err error
			if cfg, err = collector.LoadConfig(c.Config); err != nil {
				return nil, err
			}
		}
		applyAceFlag(cfg, c.Ace)
		cfg.ApplyDefaults()
		for _, g := range cfg.Groups {
			known[g.Name] = true
			if g.IsEnabled() {
				enabled = append(enabled, g.Name)
			}
		}
	} else {
		counts, err := s.Counts()
		if err != nil {
			return nil, err
		}
		for g := range counts {
			known[g] = true
			enabled = append(enabled, g)
		}
		sort.Strings(enabled)
	}
	if c.Group != "" {
		if !known[c.Group] {
			return nil, fmt.Errorf("unknown node group %q (known: %s)", c.Group, strings.Join(enabled, ", "))
		}
		return []string{c.Group}, nil
	}
	if len(enabled) == 0 {
		return nil, errors.New("no node group known: give --config, --ace URL or --group")
	}
	return enabled, nil
}

func readIDs(path string) ([]string, error) {
	var r io.Reader
	if path == "-" {
		r = os.Stdin
	} else {
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
	}
	var ids []string
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if id := strings.TrimSpace(sc.Text()); id != "" && !strings.HasPrefix(id, "#") {
			ids = append(ids, id)
		}
	}
	return ids, sc.Err()
}
