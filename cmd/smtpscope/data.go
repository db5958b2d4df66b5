package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/smtpscope/smtpscope/collector"
	"github.com/smtpscope/smtpscope/collector/api"
	"github.com/smtpscope/smtpscope/collector/service"
	"github.com/smtpscope/smtpscope/core"
	"github.com/smtpscope/smtpscope/index"
)

// dataSource is how the reading verbs (search, show, export) reach a data
// dir: in-process and read-only when no collector owns it, else through
// the running collector's (or UI's) socket (api.Remote). Both ways give
// the same records, bytes and sessions.
type dataSource struct {
	// page returns hits after `after` (nil: first page), the total, the
	// facets (first page, when asked) and the cursor of the next page.
	// nil for a source opened without the index (openStoreSource).
	page       func(ctx context.Context, after []string, size int, facets bool) ([]index.Hit, uint64, []facetBlock, []string, error)
	record     func(ctx context.Context, id string) (*core.Email, error)
	raw        func(ctx context.Context, id string) ([]byte, error)
	session    func(ctx context.Context, id string) (*core.Session, error)
	attachment func(ctx context.Context, emailID, sha1 string) ([]byte, error)
	review     func(ctx context.Context, name string) (*api.Review, error)
	// pcap writes an email's connection cut from its evidence pcaps
	// (service.EmailPcap, or GET /v1/pcap/{id} of a running collector).
	pcap   func(ctx context.Context, id string, w io.Writer) (int, error)
	close  func()
	remote bool // through a running collector's socket
}

// searchSource is the data source of `search`.
type searchSource = dataSource

// storeTimeout is how long a reading verb waits for the store's lock.
const storeTimeout = 500 * time.Millisecond

// lazyStore opens the store of dir read-only on first use.
type lazyStore struct {
	dir string
	st  *collector.Store
}

func (l *lazyStore) get() (*collector.Store, error) {
	if l.st == nil {
		st, err := collector.OpenStore(l.dir, collector.StoreOptions{ReadOnly: true, Timeout: storeTimeout})
		if err != nil {
			return nil, fmt.Errorf("%w: %w", errNoRecords, err)
		}
		l.st = st
	}
	return l.st, nil
}

func (l *lazyStore) close() {
	if l.st != nil {
		l.st.Close()
	}
}

// storeReaders fills the record, raw, session, attachment and review readers of
// src from a read-only store.
func storeReaders(src *dataSource, ls *lazyStore) {
	src.record = func(ctx context.Context, id string) (*core.Email, error) {
		st, err := ls.get()
		if err != nil {
			return nil, err
		}
		return st.Record(id)
	}
	src.raw = func(ctx context.Context, id string) ([]byte, error) {
		st, err := ls.get()
		if err != nil {
			return nil, err
		}
		return st.Raw(id)
	}
	src.session = func(ctx context.Context, id string) (*core.Session, error) {
		st, err := ls.get()
		if err != nil {
			return nil, err
		}
		return service.StoreSession(st, id)
	}
	src.attachment = func(ctx context.Context, emailID, sha1 string) ([]byte, error) {
		st, err := ls.get()
		if err != nil {
			return nil, err
		}
		return service.StoreAttachment(st, emailID, sha1)
	}
	src.review = func(ctx context.Context, name string) (*api.Review, error) {
		st, err := ls.get()
		if err != nil {
			return nil, err
		}
		return service.StoreReview(st, name)
	}
	src.pcap = func(ctx context.Context, id string, w io.Writer) (int, error) {
		rec, err := src.record(ctx, id)
		if err != nil {
			return 0, err
		}
		return service.EmailPcap(rec, w)
	}
}

// remoteReaders fills the readers of src from a running collector.
func remoteReaders(src *dataSource, r *api.Remote) {
	src.record, src.raw, src.session, src.attachment, src.review, src.pcap = r.Email, r.Raw, r.Session, r.Attachment, r.Review, r.Pcap
	src.close = func() { r.Close() }
	src.remote = true
}

// openStoreSource opens a data dir for reading records and bytes (no
// search): the store read-only, or, when a running collector or UI owns
// it, that process's socket.
func openStoreSource(ctx context.Context, dir string) (*dataSource, error) {
	if dir == "" {
		return nil, errors.New("no data dir (--data or SMTPSCOPE_DATA)")
	}
	if _, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	st, err := collector.OpenStore(dir, collector.StoreOptions{ReadOnly: true, Timeout: storeTimeout})
	if errors.Is(err, collector.ErrLocked) {
		r, rerr := api.DialRemote(ctx, dir)
		if rerr != nil {
			return nil, fmt.Errorf("%w; and its socket does not answer: %v", err, rerr)
		}
		src := &dataSource{}
		remoteReaders(src, r)
		return src, nil
	}
	if err != nil {
		return nil, err
	}
	ls := &lazyStore{dir: dir, st: st}
	src := &dataSource{close: ls.close}
	storeReaders(src, ls)
	return src, nil
}
