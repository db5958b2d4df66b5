package collector

import (
	"crypto/md5"  //nolint:gosec // record hashes, not security
	"crypto/sha1" //nolint:gosec
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"time"

	"github.com/smtpscope/smtpscope/core"
)

// analysis is core's analyzer plus the YARA rules it owns.
type analysis struct {
	an   *core.Analyzer
	yara *core.YaraRules
}

func (a *analysis) close() {
	if a != nil && a.yara != nil {
		a.yara.Close()
	}
}

// newAnalysis builds core's analyzer from the analysis section; archive,
// when not nil, receives every attachment's bytes.
func newAnalysis(a AnalysisConfig, archive func(*core.Attachment, []byte)) (*analysis, error) {
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
	res := &analysis{}
	if len(a.YaraRules) > 0 {
		rules, err := core.CompileYara(a.YaraRules)
		if err != nil {
			return nil, fmt.Errorf("analysis.yara_rules: %w", err)
		}
		res.yara = rules
		opts.Yara = rules
	}
	opts.OnAttachment = archive
	res.an = core.NewAnalyzer(opts)
	return res, nil
}

// archiveAttachment stores an attachment's bytes once, content-addressed.
// It runs inside the analysis, before the queue commit; the file writer
// fsyncs it with the rest of the session's files.
func (c *Collector) archiveAttachment(a *core.Attachment, data []byte) {
	if !c.cfg().ArchiveOn() || !validSHA1(a.SHA1) {
		return
	}
	p := c.store.Path(ArchiveRel(a.SHA1))
	if _, err := os.Stat(p); err == nil {
		return
	}
	if err := c.store.fw.write(p, data, time.Time{}); err != nil {
		c.fail("archiving attachment "+a.SHA1, err)
	}
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
