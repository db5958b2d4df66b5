package collector

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
)

// HuntConfig is one hunt: a saved query of the search language
// evaluated on every new email once it is in the index (by the service
// that owns the index: collector/service), never by scanning the store.
// A match tags the email with the hunt's name (EmailMeta.Hunts,
// searchable as hunt:NAME) and queues it once to each group of
// DeliverTo.
type HuntConfig struct {
	Name      string   `toml:"name"`
	Query     string   `toml:"query"`
	DeliverTo []string `toml:"deliver_to"`
}

// huntName is what a hunt may be called: it is a keyword of the index
// (hunt:NAME) and a tag, so lower case, digits, '.', '_', '-'.
// Compiled on first use: its repetition compiles to some 130 instructions,
// which every process paid for at start.
var huntName = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`) })

// validateHunts checks the hunts against the groups (groups: the group
// names). The queries are checked by the service, which has the parser.
func validateHunts(hunts []HuntConfig, groups map[string]bool) []error {
	var errs []error
	seen := map[string]bool{}
	for i, h := range hunts {
		where := fmt.Sprintf("hunt %d (%q)", i+1, h.Name)
		if !huntName().MatchString(h.Name) {
			errs = append(errs, fmt.Errorf("%s: name: want 1-64 of a-z, 0-9, '.', '_', '-' (it is searched as hunt:NAME)", where))
		}
		if seen[h.Name] {
			errs = append(errs, fmt.Errorf("%s: duplicate hunt name", where))
		}
		seen[h.Name] = true
		if strings.TrimSpace(h.Query) == "" {
			errs = append(errs, fmt.Errorf("%s: query is empty", where))
		}
		for _, g := range h.DeliverTo {
			if !groups[g] {
				errs = append(errs, fmt.Errorf("%s: deliver_to: no group named %q", where, g))
			}
		}
	}
	return errs
}

// Hunts returns the configured hunts.
func (c *Collector) Hunts() []HuntConfig { return c.cfg().Hunts }

// TagHunts records hunt matches (email id -> names of the hunts that
// matched it) in one transaction: each new match is added to the
// email's EmailMeta.Hunts and queues the email to the hunt's enabled
// deliver_to groups where it is not queued or delivered already; a
// match recorded before changes nothing (so evaluating a batch again,
// after a crash, neither tags nor queues twice). Changed emails are
// marked for the index and handed to the Indexer. It returns how many
// matches were new. Ids no longer stored are skipped.
func (c *Collector) TagHunts(matches map[string][]string) (int, error) {
	if len(matches) == 0 {
		return 0, nil
	}
	cfg := c.cfg()
	groups := map[string]GroupConfig{}
	for _, g := range cfg.Groups {
		groups[g.Name] = g
	}
	targets := map[string][]string{}
	for _, h := range cfg.Hunts {
		targets[h.Name] = h.DeliverTo
	}
	ids := make([]string, 0, len(matches))
	for id := range matches {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	var queued []*SubmissionStatus
	var changed []string
	n := 0
	now := time.Now().UTC()
	err := c.store.db.b.Update(func(tx *bolt.Tx) error {
		queued, changed, n = nil, nil, 0
		eb := bucket(tx, bEmails)
		for _, id := range ids {
			var m EmailMeta
			ok, err := getJSON(eb, []byte(id), &m)
			if err != nil {
				return err
			}
			if !ok {
				continue
			}
			var added []string
			for _, h := range matches[id] {
				if !slices.Contains(m.Hunts, h) {
					m.Hunts = append(m.Hunts, h)
					added = append(added, h)
				}
			}
			if len(added) == 0 {
				continue
			}
			slices.Sort(m.Hunts)
			n += len(added)
			if err := putJSON(eb, []byte(id), &m); err != nil {
				return err
			}
			if err := markEmail(tx, id); err != nil {
				return err
			}
			changed = append(changed, id)
			for _, h := range added {
				for _, gn := range targets[h] {
					g, ok := groups[gn]
					if !ok || !g.IsEnabled() {
						continue
					}
					old, err := getSub(tx, id, gn)
					if err != nil {
						return err
					}
					if old != nil {
						continue // queued or delivered already (by coverage or another hunt)
					}
					st := &SubmissionStatus{EmailID: id, Group: gn, State: StateQueued, Queued: now, Updated: now, NextAttempt: now}
					if err := setSub(tx, nil, st); err != nil {
						return err
					}
					queued = append(queued, st)
				}
			}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	for _, id := range changed {
		c.log.Info("hunt matched", "email", id, "hunts", strings.Join(matches[id], ","))
	}
	done := map[string]bool{}
	for _, st := range queued {
		c.submissionChanged(st) // indexes the email again (with its hunts) and tells the runners' watchers
		done[st.EmailID] = true
	}
	for _, id := range changed {
		if !done[id] && c.indexer != nil {
			subs, err := c.store.Submissions(id)
			if err == nil {
				err = c.indexer.UpdateSubmissions(id, subs)
			}
			if err != nil {
				c.fail("indexing hunt tags of "+id, err)
			}
		}
	}
	c.mu.Lock()
	for _, r := range c.groups {
		r.poke()
	}
	c.mu.Unlock()
	return n, nil
}
