package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/smtpscope/smtpscope/collector"
)

// TestSubmitAceFlag: without a config, submit knows the node groups of
// the queue only (none here: a clear error); --ace URL makes the group
// "default" as collect --ace does, alone or beside the config's groups.
func TestSubmitAceFlag(t *testing.T) {
	data := storedDataDir(t)
	submit := func(args ...string) error {
		t.Helper()
		var cli CLI
		var stderr bytes.Buffer
		if ctx, code := parseArgs(&cli, append([]string{"submit", "--data", data}, args...), &stderr); ctx == nil {
			t.Fatalf("%q: exit %d %s", args, code, stderr.String())
		}
		var err error
		captureOutput(t, &os.Stdout, func() { err = cli.Submit.Run() })
		return err
	}
	groupsOf := func(id string) map[string]string {
		t.Helper()
		st, err := collector.OpenStore(data, collector.StoreOptions{ReadOnly: true, Timeout: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		subs, err := st.Submissions(id)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]string{}
		for _, s := range subs {
			out[s.Group] = s.State
		}
		return out
	}
	if err := submit("demo-invoice.0"); err == nil || !strings.Contains(err.Error(), "no node group known: give --config, --ace URL or --group") {
		t.Errorf("no groups: %v", err)
	}
	if err := submit("--ace", "http://127.0.0.1:9", "demo-invoice.0"); err != nil {
		t.Fatal(err)
	}
	if g := groupsOf("demo-invoice.0"); len(g) != 1 || g["default"] != "queued" {
		t.Errorf("after --ace: %v", g)
	}
	if err := submit("--ace", "http://127.0.0.1:9", "--group", "other", "demo-phish.0"); err == nil || !strings.Contains(err.Error(), `unknown node group "other" (known: default)`) {
		t.Errorf("--group beside --ace: %v", err)
	}
	cfg := filepath.Join(t.TempDir(), "c.toml")
	if err := os.WriteFile(cfg, []byte("[[group]]\nname = \"prod\"\nnodes = [\"http://127.0.0.1:9\"]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := submit("--config", cfg, "--ace", "http://127.0.0.1:9", "demo-phish.0"); err != nil {
		t.Fatal(err)
	}
	if g := groupsOf("demo-phish.0"); len(g) != 2 || g["default"] != "queued" || g["prod"] != "queued" {
		t.Errorf("--config and --ace: %v", g)
	}
}
