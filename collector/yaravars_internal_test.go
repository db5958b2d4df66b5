package collector

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/smtpscope/smtpscope/core"
)

// TestYaraSetScanVars: the collector's rule set hands the analysis's
// per-object variables to libyara, and keeps them after a reload.
func TestYaraSetScanVars(t *testing.T) {
	if !core.YaraAvailable() {
		t.Skip("YARA support not compiled in (run with -tags yara; needs libyara-dev)")
	}
	var _ core.VarScanner = (*yaraSet)(nil)
	p := filepath.Join(t.TempDir(), "r.yar")
	if err := os.WriteFile(p, []byte(`rule exe_name { condition: extension == ".exe" and filepath startswith "msg/" }`), 0o600); err != nil {
		t.Fatal(err)
	}
	y := &yaraSet{}
	defer y.close()
	for round := range 2 { // the second after a reload
		if err := y.load([]string{p}); err != nil {
			t.Fatal(err)
		}
		m, err := y.ScanVars([]byte("x"), core.YaraVars{Filepath: "msg/a.exe", Extension: ".exe"}, 30*time.Second)
		if err != nil || len(m) != 1 || m[0].Rule != "exe_name" {
			t.Errorf("round %d: ScanVars = %v, %v", round, m, err)
		}
		if m, err := y.Scan([]byte("x"), 30*time.Second); err != nil || len(m) != 0 {
			t.Errorf("round %d: Scan without variables = %v, %v", round, m, err)
		}
	}
}
