// Package demo is `smtpscope demo` (what `make run` runs): a self-contained
// setup that needs nothing configured. It makes a temporary data dir and
// spool, starts an ACE sink (collector/ace) on 127.0.0.1 as the one node
// group, and feeds the bundled sample session files (samples/, embedded)
// into the spool a few at a time, so the analyst sees sessions arrive,
// submissions go to "sent", and can search and resubmit at once.
//
// The samples are the demo's own (written by gen_samples.go: a phish with
// the planted IOC login.evil-payload.example.com, an invoice with a zipped
// executable, a two-message batch, a hostile message full of terminal
// escape sequences, sessions without email, a file for review/) plus
// copies of the repository's testdata/sessions/*.session and
// testdata/pcap/*.pcap (captures are turned into session files the way
// `smtpscope pcap` does, then spooled).
package demo

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/smtpscope/smtpscope/collector"
	"github.com/smtpscope/smtpscope/collector/ace"
	"github.com/smtpscope/smtpscope/collector/capture"
	"github.com/smtpscope/smtpscope/ui/sanitize"
)

//go:generate go run gen_samples.go

//go:embed samples/*.session samples/*.pcap
var samples embed.FS

// PlantedIOC is an IOC only the phish sample carries (tests search it).
const PlantedIOC = "login.evil-payload.example.com"

// Sample is one bundled session file.
type Sample struct {
	Name string
	Data []byte
}

// Samples returns the bundled session files and captures (.pcap),
// sorted by name.
func Samples() ([]Sample, error) {
	names, err := fs.Glob(samples, "samples/*.session")
	if err != nil {
		return nil, err
	}
	pcaps, err := fs.Glob(samples, "samples/*.pcap")
	if err != nil {
		return nil, err
	}
	names = append(names, pcaps...)
	sort.Strings(names)
	out := make([]Sample, 0, len(names))
	for _, n := range names {
		b, err := samples.ReadFile(n)
		if err != nil {
			return nil, err
		}
		out = append(out, Sample{Name: path.Base(n), Data: b})
	}
	return out, nil
}

// Options configure Setup.
type Options struct {
	// Dir is the demo's directory; empty makes a temporary one (removed
	// by Close unless Keep).
	Dir  string
	Keep bool
	// Logger receives the sink's log (default: discard).
	Logger *slog.Logger
}

// Demo is a running demo environment.
type Demo struct {
	Dir, Spool, Data, SinkDir string
	SinkURL                   string
	Sink                      *ace.Sink
	// Config is the collector configuration: spool, data dir, one node
	// group "default" pointing at the sink.
	Config *collector.Config

	srv  *http.Server
	temp bool
	keep bool
}

// Setup creates the directories and starts the sink.
func Setup(o Options) (*Demo, error) {
	d := &Demo{Dir: o.Dir, keep: o.Keep}
	if d.Dir == "" {
		dir, err := os.MkdirTemp("", "smtpscope-demo-")
		if err != nil {
			return nil, err
		}
		d.Dir, d.temp = dir, true
	}
	d.Spool, d.Data, d.SinkDir = filepath.Join(d.Dir, "spool"), filepath.Join(d.Dir, "data"), filepath.Join(d.Dir, "ace-sink")
	for _, p := range []string{d.Spool, d.Data, d.SinkDir} {
		if err := os.MkdirAll(p, 0o700); err != nil {
			d.Close()
			return nil, err
		}
	}
	lg := o.Logger
	if lg == nil {
		lg = slog.New(slog.DiscardHandler)
	}
	sink, err := ace.NewSink(d.SinkDir, ace.SinkOptions{Logger: lg})
	if err != nil {
		d.Close()
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		d.Close()
		return nil, fmt.Errorf("ace sink: %w", err)
	}
	d.Sink, d.SinkURL = sink, "http://"+ln.Addr().String()
	d.srv = &http.Server{Handler: sink, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = d.srv.Serve(ln) }()
	fsync := false // a throw-away demo dir: no need to wait on the disk
	d.Config = &collector.Config{
		Spool: d.Spool, Data: d.Data, Fsync: &fsync,
		RescanInterval: collector.Duration(time.Second),
		Groups:         []collector.GroupConfig{{Name: "default", Coverage: 100, FullDelivery: true, Nodes: []string{d.SinkURL}}},
	}
	d.Config.Submission.BackoffMin = collector.Duration(200 * time.Millisecond)
	d.Config.Submission.BackoffMax = collector.Duration(5 * time.Second)
	d.Config.Submission.PingInterval = collector.Duration(5 * time.Second)
	return d, nil
}

// Feed copies the samples into the spool, one every interval (session
// file first, then its .ready marker), until done or ctx ends.
func (d *Demo) Feed(ctx context.Context, interval time.Duration) error {
	ss, err := Samples()
	if err != nil {
		return err
	}
	// The hostile and the planted-IOC samples first, so they are there
	// from the start; the rest trickles in.
	sort.SliceStable(ss, func(i, j int) bool { return rank(ss[i].Name) < rank(ss[j].Name) })
	for i, s := range ss {
		if i > 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(interval):
			}
		}
		if strings.HasSuffix(s.Name, ".pcap") {
			if err := d.feedCapture(ctx, s); err != nil {
				return err
			}
			continue
		}
		if err := d.spool(s.Name, s.Data); err != nil {
			return err
		}
	}
	return nil
}

// spool writes a session file and then its .ready marker.
func (d *Demo) spool(name string, data []byte) error {
	p := filepath.Join(d.Spool, name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		return err
	}
	return os.WriteFile(p+".ready", nil, 0o600)
}

// feedCapture turns a capture into session files (as `smtpscope pcap`
// does) and spools them.
func (d *Demo) feedCapture(ctx context.Context, s Sample) error {
	dir := filepath.Join(d.Dir, "captures")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	p := filepath.Join(dir, s.Name)
	if err := os.WriteFile(p, s.Data, 0o600); err != nil {
		return err
	}
	base := strings.TrimSuffix(s.Name, ".pcap")
	opts := capture.Options{}
	// The bundled captures were made against a server on a free port:
	// add the port the first connection went to.
	if port := firstSYNPort(s.Data); port > 0 {
		opts.Ports = append(append([]int(nil), capture.DefaultPorts...), port)
	}
	return capture.Process(ctx, []string{p}, opts, func(sf *capture.SessionFile) error {
		return d.spool(sanitize.Filename(base+"-"+sf.UID, "capture")+".session", sf.Data)
	})
}

func rank(name string) int {
	switch name {
	case "demo-phish.session":
		return 0
	case "demo-hostile.session":
		return 1
	}
	return 2
}

// Close stops the sink and removes a temporary directory (unless Keep).
func (d *Demo) Close() error {
	var err error
	if d.srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		err = d.srv.Shutdown(ctx)
		cancel()
	}
	if d.temp && !d.keep {
		if e := os.RemoveAll(d.Dir); e != nil && !errors.Is(e, os.ErrNotExist) && err == nil {
			err = e
		}
	}
	return err
}

// firstSYNPort returns the destination port of the first TCP SYN of a
// pcap capture (0 when there is none or the capture cannot be read).
func firstSYNPort(data []byte) int {
	r, err := pcapgo.NewReader(bytes.NewReader(data))
	if err != nil {
		return 0
	}
	for i := 0; i < 10000; i++ {
		pkt, _, err := r.ReadPacketData()
		if err != nil {
			return 0
		}
		p := gopacket.NewPacket(pkt, r.LinkType(), gopacket.DecodeOptions{Lazy: true, NoCopy: true})
		if t, ok := p.Layer(layers.LayerTypeTCP).(*layers.TCP); ok && t.SYN && !t.ACK {
			return int(t.DstPort)
		}
	}
	return 0
}
