package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/smtpscope/smtpscope/collector"
	"github.com/smtpscope/smtpscope/ui/sanitize"
)

// SubmitCmd queues emails again for submission.
type SubmitCmd struct {
	Data   string   `help:"Data directory." env:"SMTPSCOPE_DATA" required:"" placeholder:"DIR"`
	Config string   `help:"Config file (to know the node groups)." env:"SMTPSCOPE_CONFIG" placeholder:"FILE"`
	Group  string   `help:"Node group to submit to (default: every enabled group)." placeholder:"NAME"`
	From   string   `name:"from" help:"Read email ids from this file, one per line ('-': stdin), e.g. a search result set." placeholder:"FILE"`
	IDs    []string `arg:"" optional:"" name:"id" help:"Email ids."`
}

// Run queues the emails. With a collector running on the data dir, the
// request is handed to it (DATA/requests/); otherwise the queue is
// updated directly and the next `collect` delivers.
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
	return err
}

func (c *SubmitCmd) groups(s *collector.Store) ([]string, error) {
	known := map[string]bool{}
	var enabled []string
	if c.Config != "" {
		cfg, err := collector.LoadConfig(c.Config)
		if err != nil {
			return nil, err
		}
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
		return nil, errors.New("no node group known: give --config or --group")
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
