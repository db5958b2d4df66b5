package main

import (
	"strings"
	"testing"

	"github.com/smtpscope/smtpscope/collector"
)

// --nats makes one group "nats" of kind nats; --sensor names the sensor.
func TestCollectNATSFlag(t *testing.T) {
	c := &CollectCmd{Spool: "s", Data: "d", Sensor: "edge-2", NATS: []string{"nats://h1:4222", " nats://h2:4222 "}}
	cfg, err := c.loadConfig()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Sensor != "edge-2" || len(cfg.Groups) != 1 {
		t.Fatalf("config %+v", cfg)
	}
	g := cfg.Groups[0]
	if g.Name != "nats" || g.Kind != collector.KindNATS || !g.FullDelivery || g.Coverage != 100 ||
		strings.Join(g.Nodes, ",") != "nats://h1:4222,nats://h2:4222" {
		t.Errorf("group %+v", g)
	}
	c = &CollectCmd{Spool: "s", Data: "d", NATS: []string{"http://h1"}}
	if _, err := c.loadConfig(); err == nil || !strings.Contains(err.Error(), "nats:// or tls://") {
		t.Errorf("--nats http://h1: %v", err)
	}
	c = &CollectCmd{Spool: "s", Data: "d", Sensor: "a.b"}
	if _, err := c.loadConfig(); err == nil || !strings.Contains(err.Error(), "sensor name") {
		t.Errorf("--sensor a.b: %v", err)
	}
}
