package ui

import (
	"github.com/smtpscope/smtpscope/internal/fakebackend"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/smtpscope/smtpscope/collector/api"
	"github.com/smtpscope/smtpscope/core"
)

// fixedNow is the clock of every UI test.
var fixedNow = time.Date(2025, 11, 22, 12, 0, 0, 0, time.UTC)

// fixtureBackend runs core over the demo's sample sessions and loads the
// records into a Memory backend with one node group, "default". The
// session files are parsed by relative path so records are stable.
func fixtureBackend(t testing.TB) *fakebackend.Memory {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join("..", "cmd", "smtpscope", "internal", "demo", "samples", "*.session"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no sample sessions under demo/samples: %v", err)
	}
	sort.Strings(paths)
	m := fakebackend.NewMemory("default")
	m.Now = func() time.Time { return fixedNow }
	an := core.NewAnalyzer(core.DefaultOptions())
	for _, p := range paths {
		s, err := core.ParseSessionFile(p)
		if err != nil {
			st, _ := os.Stat(p)
			m.AddReview(api.ReviewEntry{Name: filepath.Base(p), Reason: err.Error(), Time: fixedNow.Add(-time.Hour), Size: st.Size()}, mustRead(t, p))
			continue
		}
		// the path the goldens show, wherever the samples live
		s.Info.File = filepath.Join("demo", "samples", filepath.Base(p))
		emails := an.SessionEmails(s)
		if len(emails) == 0 {
			m.AddSession(s, api.NoEmailReason(s))
			continue
		}
		for i, e := range emails {
			var raw []byte
			if i < len(s.Messages) {
				raw = s.Messages[e.Index].Data
			}
			m.AddEmail(e, raw, s, nil)
		}
	}
	return m
}

func mustRead(t testing.TB, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
