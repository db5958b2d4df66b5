package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/smtpscope/smtpscope/collector"
	"github.com/smtpscope/smtpscope/collector/service"
	"github.com/smtpscope/smtpscope/index"
	"github.com/smtpscope/smtpscope/ui/sanitize"
)

// IndexCmd indexes what the store holds and the index does not.
type IndexCmd struct {
	Data string `help:"Data directory." env:"SMTPSCOPE_DATA" required:"" placeholder:"DIR"`
}

// Run adds every stored email, session without email and review/ entry
// that is missing from the index and brings the submission states of the
// indexed emails up to date (rebuilding the index when its mapping is
// old).
func (c *IndexCmd) Run() error {
	return withIndexAndStore(c.Data, "indexing", syncIndex)
}

// withIndexAndStore opens the index and the store of a data dir, runs fn
// with a progress bar, and closes both.
func withIndexAndStore(data, label string, fn func(*index.Index, *service.StoreSource, *indexProgress) error) error {
	ix, st, err := openIndexAndStore(data)
	if err != nil {
		return err
	}
	defer st.Close()
	defer ix.Close()
	if err := fn(ix, &service.StoreSource{Store: st}, newIndexProgress(label)); err != nil {
		return err
	}
	return ix.Close()
}

// syncIndex catches the index up with the store (service.CatchUp), and
// compacts the index after a bulk load.
func syncIndex(ix *index.Index, src *service.StoreSource, bar *indexProgress) error {
	start := time.Now()
	if ix.Stale() {
		if d := ix.Damaged(); d != nil {
			fmt.Fprintf(os.Stderr, "%s: rebuilding it\n", sanitize.Line(fmt.Sprint(d)))
		} else {
			fmt.Fprintln(os.Stderr, "the index was built by another version of smtpscope: rebuilding it")
		}
	}
	stale := ix.Stale()
	n, updated, err := service.CatchUp(context.Background(), ix, src, bar.update)
	bar.done()
	if err != nil || stale {
		return err
	}
	if n >= index.CompactAfter {
		if err := ix.Compact(context.Background()); err != nil {
			return err
		}
	}
	total, _ := ix.Count()
	fmt.Fprintf(os.Stderr, "indexed %d new documents and %d submission state changes in %v (%d in the index)\n", n, updated, time.Since(start).Round(time.Millisecond), total)
	return nil
}

// openIndex opens the index of a data dir with an error that says what to
// do when another process owns it.
func openIndex(data string) (*index.Index, error) {
	return openIndexWith(data, index.Open)
}

// openIndexReadOnly opens the index of a data dir to search it only (no
// merges, nothing written: see index.OpenReadOnly).
func openIndexReadOnly(data string) (*index.Index, error) {
	return openIndexWith(data, index.OpenReadOnly)
}

func openIndexWith(data string, open func(string) (*index.Index, error)) (*index.Index, error) {
	if data == "" {
		return nil, errors.New("no data dir (--data or SMTPSCOPE_DATA)")
	}
	if _, err := os.Stat(data); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	ix, err := open(service.IndexDir(data))
	if errors.Is(err, index.ErrLocked) {
		return nil, fmt.Errorf("%w (a running `smtpscope collect` or UI owns %s; search from its UI, or stop it)", err, data)
	}
	return ix, err
}

// openIndexAndStore opens the index and, read-only, the store of a data dir.
func openIndexAndStore(data string) (*index.Index, *collector.Store, error) {
	ix, err := openIndex(data)
	if err != nil {
		return nil, nil, err
	}
	st, err := collector.OpenStore(data, collector.StoreOptions{ReadOnly: true, Timeout: 500 * time.Millisecond})
	if err != nil {
		ix.Close()
		if errors.Is(err, collector.ErrLocked) {
			return nil, nil, fmt.Errorf("%w (a running collector owns %s)", err, data)
		}
		return nil, nil, err
	}
	return ix, st, nil
}

// indexProgress draws "label  42% [=====     ] 4200/10000  1234/s" on stderr
// when it is a terminal, and nothing otherwise.
type indexProgress struct {
	label string
	tty   bool
	start time.Time
	last  time.Time
	drawn bool
}

func newIndexProgress(label string) *indexProgress {
	return &indexProgress{label: label, tty: term.IsTerminal(int(os.Stderr.Fd())), start: time.Now()}
}

func (p *indexProgress) update(done, total int) {
	if !p.tty || time.Since(p.last) < 100*time.Millisecond && done < total {
		return
	}
	p.last = time.Now()
	const width = 30
	frac := 0.0
	if total > 0 {
		frac = float64(done) / float64(total)
	}
	fill := int(frac * width)
	rate := float64(done) / max(time.Since(p.start).Seconds(), 0.001)
	fmt.Fprintf(os.Stderr, "\r%s %3.0f%% [%s%s] %d/%d  %.0f/s ", p.label, frac*100,
		strings.Repeat("=", fill), strings.Repeat(" ", width-fill), done, total, rate)
	p.drawn = true
}

func (p *indexProgress) done() {
	if p.drawn {
		fmt.Fprintln(os.Stderr)
	}
}
