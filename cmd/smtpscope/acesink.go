package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/smtpscope/smtpscope/collector/ace"
)

// AceSinkCmd runs a small ACE-API-compatible receiver.
type AceSinkCmd struct {
	Listen       string        `default:"127.0.0.1:8443" help:"Address to listen on (port 0 picks a free port; the address is printed)."`
	Dir          string        `required:"" help:"Directory where accepted submissions are stored." placeholder:"DIR"`
	APIKey       string        `name:"api-key" help:"Require this API key." env:"SMTPSCOPE_SINK_API_KEY"`
	APIKeyFile   string        `name:"api-key-file" help:"Require the API key held in this file." placeholder:"FILE"`
	APIKeyHeader string        `name:"api-key-header" default:"x-ace-auth" help:"Header carrying the API key."`
	FailNext     int           `name:"fail-next" help:"Answer the next N submissions with HTTP 500."`
	DropNext     int           `name:"drop-next" help:"Close the connection of the next N submissions without answering."`
	Delay        time.Duration `help:"Wait this long before answering each submission."`
	TLSCert      string        `name:"tls-cert" help:"Serve HTTPS with this certificate (PEM)." placeholder:"FILE"`
	TLSKey       string        `name:"tls-key" help:"Private key of --tls-cert (PEM)." placeholder:"FILE"`
	LogFormat    string        `name:"log-format" enum:"text,json" default:"text" help:"Log format."`
}

// Run serves until SIGTERM/SIGINT.
func (c *AceSinkCmd) Run() error {
	log := collectorLogger(os.Stderr, c.LogFormat, "info")
	key := c.APIKey
	if c.APIKeyFile != "" {
		b, err := os.ReadFile(c.APIKeyFile)
		if err != nil {
			return fmt.Errorf("api key file: %w", err)
		}
		key = strings.TrimSpace(string(b))
	}
	sink, err := ace.NewSink(c.Dir, ace.SinkOptions{APIKey: key, APIKeyHeader: c.APIKeyHeader,
		FailNext: c.FailNext, DropNext: c.DropNext, Delay: c.Delay, Logger: log})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", c.Listen)
	if err != nil {
		return err
	}
	scheme := "http"
	if c.TLSCert != "" {
		scheme = "https"
	}
	// tests and scripts read this line to learn the port
	fmt.Printf("ace-sink listening on %s://%s\n", scheme, ln.Addr())
	srv := &http.Server{Handler: sink, ReadHeaderTimeout: 30 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	errc := make(chan error, 1)
	go func() {
		if c.TLSCert != "" {
			errc <- srv.ServeTLS(ln, c.TLSCert, c.TLSKey)
		} else {
			errc <- srv.Serve(ln)
		}
	}()
	select {
	case err := <-errc:
		if !errors.Is(err, http.ErrServerClosed) {
			return err
		}
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return srv.Shutdown(sctx)
}
