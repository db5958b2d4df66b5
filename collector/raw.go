package collector

import (
	"errors"
	"fmt"
	"time"

	"github.com/smtpscope/smtpscope/core"
	bolt "go.etcd.io/bbolt"
)

// maxRawEmail bounds one raw email handed to IngestRaw.
const maxRawEmail = 512 << 20

// IngestRaw stores and queues one raw RFC 822 email that did not come from
// an SMTP session (Maildir, .eml directories): analysis, .eml, record,
// attachments, one queue entry per covering group, then the same side
// effects (index, events) as spool input. source is recorded in the
// record (e.g. the Maildir path). When IngestRaw returns nil the email is
// committed: the caller may then move or delete its input file. The same
// bytes ingested twice are stored and queued once.
func (c *Collector) IngestRaw(raw []byte, source string) (*EmailMeta, error) {
	ing, job, err := c.storeRaw(raw, source, nil)
	if err != nil {
		return nil, err
	}
	ch := make(chan error, 1)
	job.done = func(err error, _ *afterGroup) {
		if err == nil {
			c.afterCommit(ing)
		}
		ch <- err
	}
	c.commits.submit(job)
	if err := <-ch; err != nil {
		return nil, err
	}
	return ing.emails[0], nil
}

// storeRaw analyses one raw email and writes its files; the job commits
// it (with extra, when not nil, in the same transaction) and its done,
// the caller's, runs the side effects (afterCommit).
func (c *Collector) storeRaw(raw []byte, source string, extra func(*bolt.Tx) error) (*ingested, *commitJob, error) {
	if len(raw) == 0 {
		return nil, nil, errors.New("empty email")
	}
	if len(raw) > maxRawEmail {
		return nil, nil, fmt.Errorf("email of %d bytes is larger than the %d byte limit", len(raw), maxRawEmail)
	}
	t0 := time.Now()
	rec := c.analyzeRaw(raw)
	c.metrics.analyse.Observe(time.Since(t0).Seconds())
	rec.Source = source
	now := time.Now().UTC()
	// The same bytes stored already (from another file): its files, and
	// the source it was first seen at, stay as committed; the commit
	// counts a duplicate.
	em, err := c.store.Email(rec.ID)
	if err != nil || em.SHA256 != rec.SHA256 {
		em, err = c.storeEmail(rec, raw, "", now)
	}
	if err != nil {
		return nil, nil, err
	}
	ing := &ingested{emails: []*EmailMeta{em}, records: []*core.Email{rec}, queued: map[string][]string{}}
	groups := c.groupConfigs()
	job := &commitJob{size: em.Bytes, tx: func(tx *bolt.Tx) error {
		if err := c.commitTx(tx, ing, nil, groups, now); err != nil {
			return err
		}
		if extra != nil {
			return extra(tx)
		}
		return nil
	}}
	return ing, job, nil
}

func (c *Collector) analyzeRaw(raw []byte) (rec *core.Email) {
	defer func() {
		if r := recover(); r != nil {
			s := &core.Session{Messages: []*core.Message{{Data: raw}}}
			rec = c.analyze(s)[0]
			rec.ID, rec.NoSession = "", true
			rec.Errors = append(rec.Errors, fmt.Sprintf("analysis panic: %v", r))
			if len(rec.SHA256) >= 24 {
				rec.ID = "eml-" + rec.SHA256[:24]
			}
		}
	}()
	return c.analysis().an.AnalyzeBytes(raw)
}
