package demo

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/smtpscope/smtpscope/core"
)

// TestFeed: every bundled session and every session of every bundled
// capture reaches the spool, each with its .ready marker, and the
// planted IOC is in the phish sample.
func TestFeed(t *testing.T) {
	d, err := Setup(Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		dir := d.Dir
		d.Close()
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			t.Errorf("temporary dir %s left behind", dir)
		}
	}()
	if err := d.Feed(context.Background(), time.Millisecond); err != nil {
		t.Fatal(err)
	}
	ready, _ := filepath.Glob(filepath.Join(d.Spool, "*.ready"))
	var fromPcap int
	for _, r := range ready {
		if _, err := os.Stat(strings.TrimSuffix(r, ".ready")); err != nil {
			t.Errorf("%s without its session file", r)
		}
		if strings.Contains(filepath.Base(r), ".pcap") || strings.Contains(filepath.Base(r), "swaks-") || strings.Contains(filepath.Base(r), "bdat-") || strings.Contains(filepath.Base(r), "multi-message-") {
			fromPcap++
		}
	}
	ss, _ := Samples()
	var sessions int
	for _, s := range ss {
		if strings.HasSuffix(s.Name, ".session") {
			sessions++
		}
	}
	if fromPcap == 0 || len(ready) < sessions+fromPcap {
		t.Fatalf("%d spooled (%d from captures), %d session samples", len(ready), fromPcap, sessions)
	}
	s, err := core.ParseSessionFile(filepath.Join(d.Spool, "demo-phish.session"))
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, e := range core.NewAnalyzer(core.DefaultOptions()).SessionEmails(s) {
		for _, i := range e.IOCs {
			found = found || i.Value == PlantedIOC
		}
	}
	if !found {
		t.Fatalf("the phish sample lacks the planted IOC %s", PlantedIOC)
	}
}
