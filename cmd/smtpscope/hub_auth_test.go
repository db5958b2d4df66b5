package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/smtpscope/smtpscope/collector"
	"github.com/smtpscope/smtpscope/internal/natstest"
)

// TestHubAuthFlags: the hub's --nats-* flags go over the config's [hub]
// table; a file that cannot be read stops the start naming the option
// and where to set it; a certificate without its key too.
func TestHubAuthFlags(t *testing.T) {
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "hub.toml")
	exists := filepath.Join(dir, "exists.pem")
	if err := os.WriteFile(exists, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfgFile, []byte("[hub]\nca_file = \"/from/config/ca.pem\"\ncreds_file = \""+exists+"\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	h := &HubCmd{Data: filepath.Join(dir, "d"), NATS: []string{"nats://127.0.0.1:1"}, Config: cfgFile, NATSCA: exists}
	cfg, err := h.loadConfig()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Hub.CAFile != exists || cfg.Hub.CredsFile != exists {
		t.Errorf("[hub] with the flags over it: %+v", cfg.Hub)
	}
	if _, err := natsOptions(cfg); err != nil {
		t.Errorf("readable files: %v", err)
	}
	for _, c := range []struct {
		h    HubCmd
		want string
	}{
		{HubCmd{NATSNKey: filepath.Join(dir, "missing.nk")}, "nkey_file: open "},
		{HubCmd{NATSCert: exists}, "cert_file and key_file go together"},
		{HubCmd{NATSCA: filepath.Join(dir, "missing.pem")}, "ca_file: open "},
	} {
		c.h.Data, c.h.NATS = filepath.Join(dir, "d"), []string{"nats://127.0.0.1:1"}
		cfg, err := c.h.loadConfig()
		if err == nil {
			_, err = natsOptions(cfg)
		}
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "--nats-nkey or config [hub]") {
			t.Errorf("%+v: %v, want %q and where to set it", c.h, err, c.want)
		}
	}
}

// TestHubBinaryNKey: `smtpscope hub --nats-nkey SEED` against a server
// that admits only that NKey user (in-process, 127.0.0.1) connects and
// makes its stream; stopped by SIGTERM it exits 0.
func TestHubBinaryNKey(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test (builds the binary)")
	}
	dir := t.TempDir()
	bin := testBinary(t)
	ns, seedFile := natstest.StartNKey(t, dir)
	url := ns.ClientURL()

	cmd := exec.Command(bin, "hub", "--data", filepath.Join(dir, "hub"), "--nats", url, "--nats-nkey", seedFile, "--no-fsync")
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	exited := false
	t.Cleanup(func() {
		if !exited {
			_ = cmd.Process.Kill()
			<-done
		}
	})
	nkOpt, err := nats.NkeyOptionFromSeed(seedFile)
	if err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(url, nkOpt)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	waitUntil(t, "the hub (with --nats-nkey) makes the stream", func() bool {
		_, err := js.Stream(context.Background(), collector.HubStream)
		return err == nil
	})
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-done:
		exited = true
		if err != nil {
			t.Errorf("hub after SIGTERM: %v", err)
		}
	case <-time.After(60 * time.Second):
		t.Error("hub did not stop within 60 s of SIGTERM")
	}
}
