package service

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/smtpscope/smtpscope/collector"
	"github.com/smtpscope/smtpscope/index"
)

// huntTimeout bounds the searches of one batch's hunt evaluation.
const huntTimeout = 5 * time.Minute

// huntChunk bounds the ids of one hunt search (a page holds them all).
const huntChunk = 5000

// CheckHunts reports hunts whose query does not parse, naming them.
func CheckHunts(hunts []collector.HuntConfig) error {
	var errs []error
	for i, h := range hunts {
		if _, err := index.ParseQuery(h.Query); err != nil {
			errs = append(errs, fmt.Errorf("hunt %d (%q): query %q: %w", i+1, h.Name, h.Query, err))
		}
	}
	return errors.Join(errs...)
}

// evalHunts runs every hunt on the emails of a batch that is now in the
// index: each hunt's query restricted to the batch's ids (the index is
// the query engine; nothing is scanned), the matches recorded by
// collector.TagHunts (tag, queue once, index again).
func (l *Service) evalHunts(ids []string) error {
	hunts := l.col.Hunts()
	if len(hunts) == 0 || len(ids) == 0 {
		return nil
	}
	if huntFault != nil {
		if err := huntFault(); err != nil {
			return err
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), huntTimeout)
	defer cancel()
	matches := map[string][]string{}
	for _, h := range hunts {
		for chunk := range slices.Chunk(ids, huntChunk) {
			res, err := l.ix.Search(ctx, h.Query, index.SearchOptions{IDs: chunk, Kinds: []string{index.KindEmail}, Limit: len(chunk)})
			if _, bad := errors.AsType[*index.ParseError](err); bad {
				// a query a reload brought in (Open checked the first
				// ones): the hunt is skipped, the others run
				l.log.Error("hunt skipped: its query does not parse", "hunt", h.Name, "err", err)
				break
			}
			if err != nil {
				return fmt.Errorf("hunt %s: %w", h.Name, err)
			}
			for _, hit := range res.Hits {
				matches[hit.ID] = append(matches[hit.ID], h.Name)
			}
		}
	}
	_, err := l.col.TagHunts(matches)
	return err
}

// huntFault, when set (tests), fails a hunt evaluation before it
// searches: what a crash between a batch's index commit and its hunts
// leaves.
var huntFault func() error
