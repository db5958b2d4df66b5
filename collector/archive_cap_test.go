package collector_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/smtpscope/smtpscope/collector"
	"github.com/smtpscope/smtpscope/core"
)

// TestArchiveEmailCap runs a real collector on a temp data dir over two
// emails whose zip attachments hold 2 MiB of distinct members each: the
// data dir's archive/ receives at most archive_max_email_bytes per email,
// and both emails are stored, flagged archive_limit. With
// archive_attachments off, nothing is archived and nothing flagged.
func TestArchiveEmailCap(t *testing.T) {
	tmp := t.TempDir()
	dir := filepath.Join(tmp, "eml")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-time.Minute)
	for i := 0; i < 2; i++ {
		files := map[string][]byte{}
		for j := 0; j < 8; j++ {
			b := make([]byte, 256<<10)
			rand.Read(b)
			files[fmt.Sprintf("m%d.bin", j)] = b
		}
		p := filepath.Join(dir, fmt.Sprintf("e%d.eml", i))
		if err := os.WriteFile(p, rawEmail(fmt.Sprint("cap ", i), "see zip", "big.zip", zipOf(t, files)), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, old, old); err != nil {
			t.Fatal(err)
		}
	}
	const emailCap = 1 << 20
	data := filepath.Join(tmp, "data")
	collectEMLDir(t, dir, data, collector.AnalysisConfig{ArchiveMaxEmailBytes: emailCap})
	total, files := treeSize(filepath.Join(data, collector.ArchiveDir))
	if total > 2*emailCap || files == 0 {
		t.Errorf("archive/ holds %d bytes in %d files; want some, at most %d (two emails, %d each)", total, files, 2*emailCap, emailCap)
	}
	n := 0
	eachRecord(t, data, func(m *collector.EmailMeta, rec *core.Email) {
		n++
		if !contains(rec.Flags, "archive_limit") {
			t.Errorf("email %s: flags %v, want archive_limit", m.ID, rec.Flags)
		}
		if len(m.Archive) == 0 || len(m.Archive) >= len(rec.Attachments) {
			t.Errorf("email %s: %d of %d attachments archived; want some, not all", m.ID, len(m.Archive), len(rec.Attachments))
		}
	})
	if n != 2 {
		t.Errorf("%d emails stored, want 2", n)
	}

	off := false
	data = filepath.Join(tmp, "data-off")
	collectEMLDir(t, dir, data, collector.AnalysisConfig{ArchiveMaxEmailBytes: emailCap, ArchiveAttachments: &off})
	if total, _ := treeSize(filepath.Join(data, collector.ArchiveDir)); total != 0 {
		t.Errorf("archive_attachments off: archive/ holds %d bytes", total)
	}
	eachRecord(t, data, func(m *collector.EmailMeta, rec *core.Email) {
		if contains(rec.Flags, "archive_limit") {
			t.Errorf("archive_attachments off: email %s flagged %v", m.ID, rec.Flags)
		}
	})
}

// collectEMLDir runs a collector once over the .eml files of dir.
func collectEMLDir(t *testing.T, dir, data string, a collector.AnalysisConfig) {
	t.Helper()
	cfg := &collector.Config{Data: data, EMLDir: []string{dir}, Fsync: noFsync(), Analysis: a}
	col, err := collector.New(cfg, collector.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := col.RunOnce(context.Background(), 30*time.Second); err != nil {
		t.Fatal(err)
	}
}

// treeSize sums the sizes of the files under root.
func treeSize(root string) (total int64, files int) {
	_ = filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if fi, err := d.Info(); err == nil {
				total += fi.Size()
				files++
			}
		}
		return nil
	})
	return total, files
}

// eachRecord calls fn with every email stored in data and its record.
func eachRecord(t *testing.T, data string, fn func(*collector.EmailMeta, *core.Email)) {
	t.Helper()
	st, err := collector.OpenStore(data, collector.StoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	_ = st.ListEmails(func(m *collector.EmailMeta) bool {
		rec, err := st.Record(m.ID)
		if err != nil {
			t.Error(err)
		} else {
			fn(m, rec)
		}
		return true
	})
}

// TestEmailLimitsValidate: the per-email limits must not be negative.
func TestEmailLimitsValidate(t *testing.T) {
	for _, tc := range []struct {
		key string
		a   collector.AnalysisConfig
	}{
		{"zip_max_", collector.AnalysisConfig{ZipMaxEmailMembers: -1}},
		{"zip_max_", collector.AnalysisConfig{ZipMaxEmailTotalSize: -1}},
		{"archive_max_email_bytes", collector.AnalysisConfig{ArchiveMaxEmailBytes: -5}},
	} {
		key, a := tc.key, tc.a
		c := &collector.Config{Data: "d", EMLDir: []string{"x"}, Analysis: a}
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "analysis."+key) {
			t.Errorf("%+v: Validate = %v, want an error naming analysis.%s", a, err, key)
		}
	}
	c := &collector.Config{Data: "d", EMLDir: []string{"x"}, Analysis: collector.AnalysisConfig{
		ZipMaxEmailMembers: 10, ZipMaxEmailTotalSize: 1 << 20, ArchiveMaxEmailBytes: 1 << 20}}
	if err := c.Validate(); err != nil {
		t.Errorf("positive limits: %v", err)
	}
	ex, err := collector.LoadConfig(filepath.Join("..", "testdata", "config", "example.toml"))
	if err != nil {
		t.Fatal(err)
	}
	if a := ex.Analysis; a.ZipMaxEmailMembers != 2000 || a.ZipMaxEmailTotalSize != 256<<20 || a.ArchiveMaxEmailBytes != 256<<20 {
		t.Errorf("example.toml: per-email limits decoded as %d, %d, %d", a.ZipMaxEmailMembers, a.ZipMaxEmailTotalSize, a.ArchiveMaxEmailBytes)
	}
}
