package collector

import (
	"errors"
	"fmt"
	"time"

	"github.com/smtpscope/smtpscope/core"
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
	if len(raw) == 0 {
		return nil, errors.New("empty email")
	}
	if len(raw) > maxRawEmail {
		return nil, fmt.Errorf("email of %d bytes is larger than the %d byte limit", len(raw), maxRawEmail)
	}
	rec := c.analyzeRaw(raw)
	rec.Source = source
	now := time.Now().UTC()
	em, err := c.storeEmail(rec, raw, "", now)
	if err != nil {
		return nil, err
	}
	if err := c.store.fw.sync(); err != nil {
		return nil, err
	}
	ing := &ingested{emails: []*EmailMeta{em}, records: []*core.Email{rec}, queued: map[string][]string{}}
	if err := c.commit(ing, nil); err != nil {
		return nil, err
	}
	c.afterCommit(ing)
	return em, nil
}

func (c *Collector) analyzeRaw(raw []byte) (rec *core.Email) {
	defer func() {
		if r := recover(); r != nil {
			s := &core.Session{Messages: []*core.Message{{Data: raw}}}
			rec = c.analyze(s)[0]
			rec.ID = ""
			rec.Errors = append(rec.Errors, fmt.Sprintf("analysis panic: %v", r))
			if len(rec.SHA256) >= 24 {
				rec.ID = "eml-" + rec.SHA256[:24]
			}
		}
	}()
	return c.analysis().an.AnalyzeBytes(raw)
}
