package main

import (
	"fmt"
	"os"
	"time"

	"github.com/smtpscope/smtpscope/collector/service"
	"github.com/smtpscope/smtpscope/index"
)

// ReindexCmd rebuilds the index of a data dir from its store.
type ReindexCmd struct {
	Data string `help:"Data directory." env:"SMTPSCOPE_DATA" required:"" placeholder:"DIR"`
}

// Run rebuilds DATA/index from the store (a progress bar on a terminal);
// the old index answers until the new one replaces it.
func (c *ReindexCmd) Run() error {
	return withIndexAndStore(c.Data, "reindexing", func(ix *index.Index, src *service.StoreSource, bar *indexProgress) error {
		start := time.Now()
		err := ix.Rebuild(src, bar.update)
		bar.done()
		if err != nil {
			return err
		}
		if id := src.Store.ID(); id != "" {
			// built from this store: a collector trusts it (and catches up
			// from the store's marks alone)
			if err := ix.SetStoreID(id); err != nil {
				return err
			}
		}
		n, _ := ix.Count()
		el := time.Since(start)
		fmt.Fprintf(os.Stderr, "reindexed %d documents in %v (%.0f/s)\n", n, el.Round(time.Millisecond), float64(n)/max(el.Seconds(), 0.001))
		return nil
	})
}
