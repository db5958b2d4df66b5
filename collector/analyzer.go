package collector

import (
	"crypto/md5"  //nolint:gosec // record hashes, not security
	"crypto/sha1" //nolint:gosec
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/smtpscope/smtpscope/core"
)

// analysis is core's analyzer built from one analysis section.
type analysis struct {
	an *core.Analyzer
}

// analysisOptions maps the analysis section (stoQ's option names) onto
// core.Options. yara is the collector's reloadable rule set (nil: no
// rules configured); archive, when not nil and archive_attachments is
// on, receives every attachment's bytes, up to archive_max_email_bytes
// per email.
func analysisOptions(a AnalysisConfig, yara core.Scanner, archive func(*core.Attachment, []byte)) core.Options {
	opts := core.DefaultOptions()
	opts.OmitBody = a.OmitBody
	if a.ExtractIOCs != nil {
		opts.ExtractIOCs = *a.ExtractIOCs
	}
	if len(a.IOCKeys) > 0 {
		opts.IOCKeys = a.IOCKeys
	}
	if a.MaxDepth > 0 {
		opts.MaxDepth = a.MaxDepth
	}
	if a.YaraTimeout > 0 {
		opts.YaraTimeout = a.YaraTimeout.D()
	}
	opts.Unzip = a.dispatches(DispatchUnzip)
	lim := core.DefaultZipLimits()
	if a.ZipMaxDepth > 0 {
		lim.MaxDepth = a.ZipMaxDepth
	}
	if a.ZipMaxMembers > 0 {
		lim.MaxMembers = a.ZipMaxMembers
	}
	if a.ZipMaxTotalSize > 0 {
		lim.MaxTotalSize = int64(a.ZipMaxTotalSize)
	}
	if a.ZipMaxRatio > 0 {
		lim.MaxRatio = a.ZipMaxRatio
	}
	if a.ZipMaxEmailMembers > 0 {
		lim.MaxEmailMembers = a.ZipMaxEmailMembers
	}
	if a.ZipMaxEmailTotalSize > 0 {
		lim.MaxEmailTotalSize = int64(a.ZipMaxEmailTotalSize)
	}
	opts.ZipLimits = lim
	if a.ArchiveMaxEmailBytes > 0 {
		opts.OnAttachmentMaxBytes = int64(a.ArchiveMaxEmailBytes)
	}
	opts.MaxHeaderValue = int(a.MaxHeaderValue)
	opts.MaxHeaderFields = a.MaxHeaderFields
	opts.MaxBodyBytes = int(a.MaxBodyBytes)
	opts.MaxParts = a.MaxParts
	opts.MaxMIMEDepth = a.MaxMIMEDepth
	opts.AnalysisTimeout = a.AnalysisTimeout.D()
	if yara != nil && len(a.YaraRules) > 0 && a.dispatches(DispatchYara) {
		opts.Yara = yara
	}
	if a.ArchiveAttachments == nil || *a.ArchiveAttachments {
		opts.OnAttachment = archive
	}
	return opts
}

// newAnalysis builds core's analyzer from the analysis section.
func newAnalysis(a AnalysisConfig, yara core.Scanner, archive func(*core.Attachment, []byte)) *analysis {
	return &analysis{an: core.NewAnalyzer(analysisOptions(a, yara, archive))}
}

// archiveAttachment stores an attachment's bytes once, content-addressed,
// in the data dir's archive and, when analysis.archive_dir is set, in that
// filedir archive too. It runs inside the analysis, before the queue
// commit; the file writer fsyncs it with the rest of the email's files.
func (c *Collector) archiveAttachment(a *core.Attachment, data []byte) {
	if !c.cfg().ArchiveOn() || !validSHA1(a.SHA1) {
		return
	}
	c.archiveTo(c.store.Path(ArchiveDir), a.SHA1, data)
	if d := c.cfg().Analysis.ArchiveDir; d != "" {
		c.archiveTo(d, a.SHA1, data)
	}
}

// archiveTo writes data under root in stoQ's filedir layout unless a file
// of that sha1 is there already (content-addressed: written once). It
// returns the path ("" when it could not be written).
func (c *Collector) archiveTo(root, sha1 string, data []byte) string {
	p := filepath.Join(root, filepath.FromSlash(FiledirRel(sha1)))
	if st, err := os.Stat(p); err == nil && st.Size() == int64(len(data)) {
		// another claim wrote it, maybe not durably yet: the next
		// sync covers it too
		c.store.fw.touch(p)
		return p
	}
	if err := c.store.fw.write(p, data, time.Time{}); err != nil {
		c.fail("archiving "+sha1, err)
		return ""
	}
	return p
}

// archived lists the attachments of rec present in the archive.
func (c *Collector) archived(rec *core.Email) []string {
	seen := map[string]bool{}
	var out []string
	for _, a := range rec.Attachments {
		if !validSHA1(a.SHA1) || seen[a.SHA1] {
			continue
		}
		seen[a.SHA1] = true
		if _, err := os.Stat(c.store.Path(ArchiveRel(a.SHA1))); err == nil {
			out = append(out, a.SHA1)
		}
	}
	return out
}

// analyze turns a parsed session into one record per message, never
// dropping one: should analysis panic or skip a message, a minimal record
// with the error stands in for it.
func (c *Collector) analyze(s *core.Session) []*core.Email {
	an := c.analysis().an
	out, err := func() (out []*core.Email, err error) {
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("analysis panic: %v", r)
			}
		}()
		return an.SessionEmails(s), nil
	}()
	if err == nil && len(out) == len(s.Messages) {
		return out
	}
	byIndex := map[int]*core.Email{}
	for _, e := range out {
		byIndex[e.Index] = e
	}
	res := make([]*core.Email, 0, len(s.Messages))
	for _, m := range s.Messages {
		if e := byIndex[m.Index]; e != nil {
			res = append(res, e)
			continue
		}
		e := &core.Email{
			ID: fmt.Sprintf("%s.%d", s.Info.UID, m.Index), Session: s.Info, Index: m.Index,
			Partial: m.Partial, Envelope: m.Envelope, ServerReply: m.Reply, Size: int64(len(m.Data)),
			Flags: m.Flags, Errors: []string{}, To: []string{}, Cc: []string{}, Parts: []core.Part{},
			Attachments: []core.Attachment{}, IOCs: []core.IOC{}, Headers: map[string][]string{},
		}
		m5 := md5.Sum(m.Data)  //nolint:gosec
		s1 := sha1.Sum(m.Data) //nolint:gosec
		s2 := sha256.Sum256(m.Data)
		e.MD5, e.SHA1, e.SHA256 = hex.EncodeToString(m5[:]), hex.EncodeToString(s1[:]), hex.EncodeToString(s2[:])
		if err != nil {
			e.Errors = append(e.Errors, err.Error())
		} else {
			e.Errors = append(e.Errors, "analysis returned no record for this message")
		}
		res = append(res, e)
	}
	return res
}
