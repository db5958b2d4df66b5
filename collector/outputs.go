package collector

// The filedir-style outputs of stoQ's `-A filedir -C filedir`, beside the
// data dir: analysis.archive_dir (the email and, with archive_attachments,
// its attachments, in the filedir sha1 layout, written once) and
// analysis.results_dir (one results file per email, as our record or as
// the stoQ v3 envelope). Both are written with the store's atomic file
// writer (whole files only: unnamed then linked, or temp then rename) before the email's queue commit and made
// durable with the rest of its files. Retention does not touch them:
// like stoQ's, they belong to whoever consumes them.

import (
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/smtpscope/smtpscope/core"
)

// writeOutputs writes the email's archive_dir and results_dir outputs.
func (c *Collector) writeOutputs(rec *core.Email, raw []byte, now time.Time) error {
	cfg := c.cfg()
	a := cfg.Analysis
	if a.ArchiveDir == "" && a.ResultsDir == "" {
		return nil
	}
	var paths map[string]string
	if a.ArchiveDir != "" {
		paths = map[string]string{}
		if raw != nil && validSHA1(rec.SHA1) {
			if p := c.archiveTo(a.ArchiveDir, rec.SHA1, raw); p != "" {
				paths[rec.SHA1] = p
			}
		}
		if cfg.ArchiveOn() {
			// the attachments were archived during the analysis
			for _, at := range rec.Attachments {
				if !validSHA1(at.SHA1) {
					continue
				}
				p := filepath.Join(a.ArchiveDir, filepath.FromSlash(FiledirRel(at.SHA1)))
				if _, err := os.Stat(p); err == nil {
					paths[at.SHA1] = p
				}
			}
		}
	}
	if a.ResultsDir == "" {
		return nil
	}
	if a.ResultsFormat == ResultsStoq {
		id := StoqScanID(rec)
		b, err := core.StoqResults(rec, paths, id, now)
		if err != nil {
			return err
		}
		return c.store.fw.write(filepath.Join(a.ResultsDir, id), b, time.Time{})
	}
	var n byteCounter
	return c.store.fw.writeWith(filepath.Join(a.ResultsDir, fileName(rec.ID)+".json"), recordWriter(rec, &n), time.Time{})
}

// StoqScanID is the scan_id of an email's stoQ results (and the name of
// its file in results_dir): a UUID derived from the email id and
// content, so the same email always gets the same one.
func StoqScanID(rec *core.Email) string {
	h := sha256.Sum256([]byte("smtpscope-scan\x00" + rec.ID + "\x00" + rec.SHA256))
	h[6] = h[6]&0x0f | 0x50 // version 5 (name-based, SHA hash)
	h[8] = h[8]&0x3f | 0x80 // RFC 4122 variant
	return fmt.Sprintf("%x-%x-%x-%x-%x", h[0:4], h[4:6], h[6:8], h[8:10], h[10:16])
}
