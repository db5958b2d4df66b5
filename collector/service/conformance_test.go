package service_test

import (
	"context"
	"testing"

	"github.com/smtpscope/smtpscope/collector/api"
	"github.com/smtpscope/smtpscope/collector/service"
	"github.com/smtpscope/smtpscope/internal/backendtest"
)

// The conformance suite on the service in-process and on its socket
// client: the same behaviours through both.
func TestConformanceLocal(t *testing.T) {
	backendtest.Run(t, backendtest.NewFixture(t))
}

func TestConformanceRemote(t *testing.T) {
	f := backendtest.NewFixture(t)
	dir := t.TempDir()
	l, err := service.Listen(dir, service.ListenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- service.Serve(ctx, l, f) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	r, err := api.DialRemote(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	backendtest.Run(t, r)
}
