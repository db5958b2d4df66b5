package service_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket/pcapgo"

	"github.com/smtpscope/smtpscope/collector"
	"github.com/smtpscope/smtpscope/collector/api"
	"github.com/smtpscope/smtpscope/collector/capture"
	"github.com/smtpscope/smtpscope/collector/service"
	"github.com/smtpscope/smtpscope/core"
	"github.com/smtpscope/smtpscope/internal/backendtest"
	"github.com/smtpscope/smtpscope/internal/fakebackend"
)

// evidenceService stores the sessions of backendtest.EvidenceSpool (each
// naming two evidence pcaps) and serves the service on a socket; it
// returns the client, the socket's data dir, the emails' ids and the
// evidence files.
func evidenceService(t testing.TB) (*api.Remote, string, []string, []string) {
	t.Helper()
	dir := t.TempDir()
	spool, data := filepath.Join(dir, "spool"), filepath.Join(dir, "data")
	pcaps := backendtest.EvidenceSpool(t, dir, spool)
	noSync := false
	s, err := service.Open(&collector.Config{Spool: spool, Data: data, Fsync: &noSync}, service.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.Start(ctx)
	t.Cleanup(func() {
		cancel()
		s.Close()
	})
	var ids []string
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if ready, _ := filepath.Glob(filepath.Join(spool, "*.ready")); len(ready) == 0 && len(ids) >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d emails stored after 60 s", len(ids))
		}
		ids = ids[:0]
		_ = s.Collector().Store().ListEmails(func(m *collector.EmailMeta) bool { ids = append(ids, m.ID); return true })
	}
	return serve(t, s, data), data, ids, pcaps
}

// serve serves b on the socket of data until the test ends.
func serve(t testing.TB, b api.Backend, data string) *api.Remote {
	t.Helper()
	l, err := service.Listen(data, service.ListenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- service.Serve(ctx, l, b) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	r, err := api.DialRemote(ctx, data)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// flowOf is the connection of a record.
func flowOf(e *core.Email) capture.Flow {
	si := e.Session
	return capture.Flow{ClientIP: si.SourceIP, ClientPort: si.SourcePort, ServerIP: si.DestIP, ServerPort: si.DestPort}
}

// packets reads a pcap: its packets' bytes.
func packets(t *testing.T, b []byte) [][]byte {
	t.Helper()
	r, err := pcapgo.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("not a pcap: %v", err)
	}
	var out [][]byte
	for {
		data, _, err := r.ReadPacketData()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("reading the pcap back: %v", err)
		}
		out = append(out, data)
	}
}

// get sends GET path over the socket of data.
func get(t *testing.T, data, path string) (*http.Response, []byte) {
	t.Helper()
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", api.SocketPath(data))
	}}}
	defer hc.CloseIdleConnections()
	resp, err := hc.Get("http://smtpscope" + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

// TestPcapEndpoint: GET /v1/pcap/{id} streams the email's connection cut
// from the evidence pcaps its session names — byte for byte what
// capture.ExtractFlow writes, a pcap holding exactly the connection's
// packets, their count in the trailer — and Remote.Pcap writes the
// same; errors have their status: 404 for an unknown email, 410 with the
// file named when a file is gone or holds no packet of the connection,
// 500 naming a damaged file.
func TestPcapEndpoint(t *testing.T) {
	r, data, ids, pcaps := evidenceService(t)
	ctx := context.Background()
	for _, id := range ids {
		e, err := r.Email(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		var want bytes.Buffer
		wantN, err := capture.ExtractFlow(e.Session.Pcap, flowOf(e), &want)
		if err != nil || wantN == 0 {
			t.Fatalf("%s: ExtractFlow: %d packets, %v", id, wantN, err)
		}
		var got bytes.Buffer
		n, err := r.Pcap(ctx, id, &got)
		if err != nil || n != wantN || !bytes.Equal(got.Bytes(), want.Bytes()) {
			t.Fatalf("%s: Remote.Pcap: %d packets, %v; %d bytes, want %d packets, %d bytes", id, n, err, got.Len(), wantN, want.Len())
		}
		if ps := packets(t, got.Bytes()); len(ps) != wantN {
			t.Fatalf("%s: the pcap holds %d packets, want %d", id, len(ps), wantN)
		}
		resp, body := get(t, data, "/v1/pcap/"+id)
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/vnd.tcpdump.pcap" ||
			!bytes.Equal(body, want.Bytes()) || resp.Trailer.Get(api.PcapPacketsTrailer) != strconv.Itoa(wantN) {
			t.Fatalf("%s: HTTP %d %q, %d bytes, trailer %q", id, resp.StatusCode, resp.Header.Get("Content-Type"), len(body), resp.Trailer)
		}
		if cd := resp.Header.Get("Content-Disposition"); cd != `attachment; filename="`+id+`.pcap"` {
			t.Errorf("Content-Disposition %q", cd)
		}
	}
	// The cut holds the connection's packets only: each capture holds
	// one connection, so the cut of an email of the first has no packet
	// of the second.
	var one bytes.Buffer
	if _, err := r.Pcap(ctx, ids[0], &one); err != nil {
		t.Fatal(err)
	}
	all := 0
	for _, p := range pcaps {
		b, _ := os.ReadFile(p)
		all += len(packets(t, b))
	}
	if n := len(packets(t, one.Bytes())); n >= all {
		t.Errorf("the cut holds %d packets, the evidence files %d: nothing was left out", n, all)
	}

	errBody := func(path string) (int, api.ErrorBody) {
		resp, body := get(t, data, path)
		var eb api.ErrorBody
		if err := json.Unmarshal(body, &eb); err != nil {
			t.Fatalf("%s: HTTP %d, body %q", path, resp.StatusCode, body)
		}
		return resp.StatusCode, eb
	}
	if code, eb := errBody("/v1/pcap/nope.0"); code != http.StatusNotFound || !eb.NotFound {
		t.Errorf("unknown email: HTTP %d %+v", code, eb)
	}
	if _, err := r.Pcap(ctx, "nope.0", io.Discard); !errors.Is(err, api.ErrNotFound) {
		t.Errorf("unknown email: %v", err)
	}

	// A file that holds no packet of the connections: 410.
	if err := os.WriteFile(pcaps[1], pcapHeaderOnly(t), 0o600); err != nil {
		t.Fatal(err)
	}
	first, _ := os.ReadFile(pcaps[0])
	if err := os.WriteFile(pcaps[0], pcapHeaderOnly(t), 0o600); err != nil {
		t.Fatal(err)
	}
	code, eb := errBody("/v1/pcap/" + ids[0])
	if code != http.StatusGone || !eb.EvidenceGone || !strings.Contains(eb.Error, "no packet of its connection") {
		t.Errorf("files without the connection: HTTP %d %+v", code, eb)
	}
	_ = os.WriteFile(pcaps[0], first, 0o600)

	// A damaged file: 500 naming it.
	if err := os.WriteFile(pcaps[1], []byte("not a pcap at all"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, eb := errBody("/v1/pcap/" + ids[0]); code != http.StatusInternalServerError || !strings.Contains(eb.Error, pcaps[1]) {
		t.Errorf("damaged file: HTTP %d %+v", code, eb)
	}

	// A file removed (--pcap-keep): 410 naming it, ErrEvidenceGone
	// through the client, nothing written.
	if err := os.Remove(pcaps[1]); err != nil {
		t.Fatal(err)
	}
	code, eb = errBody("/v1/pcap/" + ids[0])
	if code != http.StatusGone || !eb.EvidenceGone || !strings.Contains(eb.Error, pcaps[1]) || !strings.Contains(eb.Error, "is gone") {
		t.Errorf("file removed: HTTP %d %+v", code, eb)
	}
	var buf bytes.Buffer
	if _, err := r.Pcap(ctx, ids[0], &buf); !errors.Is(err, api.ErrEvidenceGone) || !strings.Contains(err.Error(), pcaps[1]) || buf.Len() != 0 {
		t.Errorf("file removed: %v, %d bytes written", err, buf.Len())
	}
}

// pcapHeaderOnly is a pcap file without packets.
func pcapHeaderOnly(t *testing.T) []byte {
	var b bytes.Buffer
	if err := pcapgo.NewWriterNanos(&b).WriteFileHeader(65536, 1); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestPcapCutShort: an error met past the first 64 KiB of the pcap (a
// damaged file after a large one) cuts the reply short; the client
// reports it instead of taking the bytes it got for a whole pcap.
func TestPcapCutShort(t *testing.T) {
	r, _, ids, pcaps := evidenceService(t)
	e, err := r.Email(context.Background(), ids[0])
	if err != nil {
		t.Fatal(err)
	}
	// A large evidence file: the first capture's packets 40 times over
	// (more than 64 KiB of the connection), then a truncated one.
	dir := t.TempDir()
	big, cut := filepath.Join(dir, "smtp-big.pcap"), filepath.Join(dir, "smtp-cut.pcap")
	src, err := os.ReadFile(pcaps[0])
	if err != nil {
		t.Fatal(err)
	}
	rd, err := pcapgo.NewReader(bytes.NewReader(src))
	if err != nil {
		t.Fatal(err)
	}
	var bb bytes.Buffer
	w := pcapgo.NewWriterNanos(&bb)
	if err := w.WriteFileHeader(65536, rd.LinkType()); err != nil {
		t.Fatal(err)
	}
	for {
		data, ci, err := rd.ReadPacketData()
		if err == io.EOF {
			break
		}
		for range 40 {
			if err := w.WritePacket(ci, data); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := os.WriteFile(big, bb.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cut, bb.Bytes()[:24+30], 0o600); err != nil {
		t.Fatal(err)
	}
	m := fakebackend.NewMemory(t)
	e.Session.Pcap = []string{big, cut}
	m.AddEmail(e, nil, nil, nil)
	mr := serve(t, m, t.TempDir())
	var got bytes.Buffer
	n, err := mr.Pcap(context.Background(), e.ID, &got)
	if err == nil || !strings.Contains(err.Error(), "cut short") {
		t.Fatalf("a pcap cut short: %d packets, %d bytes, err %v", n, got.Len(), err)
	}
	if got.Len() < 64<<10 {
		t.Errorf("only %d bytes came before the cut: the error was found before the reply started", got.Len())
	}
	// Without the damaged file the whole comes through.
	e.Session.Pcap = []string{big}
	m.AddEmail(e, nil, nil, nil)
	got.Reset()
	if n, err := mr.Pcap(context.Background(), e.ID, &got); err != nil || len(packets(t, got.Bytes())) != n || got.Len() < 64<<10 {
		t.Fatalf("the large pcap: %d packets, %d bytes, %v", n, got.Len(), err)
	}
}

// TestPcapAttached: a second client (service.Attached, as a UI attached
// to a running collector) gets the same pcap and the same errors.
func TestPcapAttached(t *testing.T) {
	r, data, ids, _ := evidenceService(t)
	ctx := context.Background()
	a, err := service.Attach(ctx, data, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	var want, got bytes.Buffer
	wn, werr := r.Pcap(ctx, ids[0], &want)
	n, err := a.Pcap(ctx, ids[0], &got)
	if werr != nil || err != nil || n != wn || !bytes.Equal(got.Bytes(), want.Bytes()) {
		t.Fatalf("attached: %d packets, %v; remote: %d, %v", n, err, wn, werr)
	}
	if _, err := a.Pcap(ctx, "nope.0", io.Discard); !errors.Is(err, api.ErrNotFound) {
		t.Errorf("unknown email through Attached: %v", err)
	}
}

// BenchmarkPcap: one email's cut in-process (EmailPcap over its record)
// and through the socket (Remote.Pcap: the held first 64 KiB, the
// chunked stream, the trailer): allocations per cut.
func BenchmarkPcap(b *testing.B) {
	r, _, ids, _ := evidenceService(b)
	ctx := context.Background()
	e, err := r.Email(ctx, ids[0])
	if err != nil {
		b.Fatal(err)
	}
	b.Run("local", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := service.EmailPcap(e, io.Discard); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("socket", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := r.Pcap(ctx, ids[0], io.Discard); err != nil {
				b.Fatal(err)
			}
		}
	})
}
