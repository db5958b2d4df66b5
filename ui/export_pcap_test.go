package ui

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/charmbracelet/x/exp/teatest/v2"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/smtpscope/smtpscope/collector/api"
	"github.com/smtpscope/smtpscope/collector/capture"
	"github.com/smtpscope/smtpscope/internal/backendtest"
)

// pcapPackets reads a pcap's packets (bytes and times) with pcapgo.
func pcapPackets(t *testing.T, b []byte) (data [][]byte, ts []time.Time) {
	t.Helper()
	r, err := pcapgo.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("not a pcap: %v", err)
	}
	for {
		d, ci, err := r.ReadPacketData()
		if err == io.EOF {
			return data, ts
		}
		if err != nil {
			t.Fatalf("reading the pcap: %v", err)
		}
		data, ts = append(data, d), append(ts, ci.Timestamp)
	}
}

// pressPcapChoice presses the number of the export dialog's "connection
// as pcap" choice.
func pressPcapChoice(t *testing.T, m *Model, tm *teatest.TestModel) {
	t.Helper()
	waitFor(t, m, "connection as pcap")
	d := m.dlg
	if d == nil {
		t.Fatal("no export dialog")
	}
	i := slices.IndexFunc(d.choices, func(c choice) bool { return c.value == "pcap" })
	if i < 0 {
		t.Fatalf("no pcap choice in %+v", d.choices)
	}
	tm.Send(keyMsg(strconv.Itoa(i + 1)))
}

// TestExportPcap: `e` in the detail of an email captured with evidence
// pcaps offers "connection as pcap"; it writes, under the proposed name
// in the export directory, a pcap holding exactly the packets
// capture.ExtractFlow cuts for the email's connection (read back with
// pcapgo), and the status bar says how many and where.
func TestExportPcap(t *testing.T) {
	b := memoryFixture(t)
	work := t.TempDir()
	spool := filepath.Join(work, "spool")
	backendtest.EvidenceSpool(t, work, spool)
	ready, _ := filepath.Glob(filepath.Join(spool, "*.ready"))
	var sessions []string
	for _, r := range ready {
		sessions = append(sessions, strings.TrimSuffix(r, ".ready"))
	}
	b.AddSessionFiles(sessions...)
	dir := t.TempDir()
	m, tm := newTestModelIn(t, b, false, dir)
	openEmailAt(t, m, tm, `subject:"message 2"`)
	row := m.list.Selected()
	rec, err := b.Email(t.Context(), row.ID)
	if err != nil || len(rec.Session.Pcap) != 2 {
		t.Fatalf("record %s: pcap %v, %v", row.ID, rec.Session.Pcap, err)
	}
	press(tm, "e")
	pressPcapChoice(t, m, tm)
	path := filepath.Join(dir, row.ID+".pcap")
	waitFor(t, m, "Export connection as pcap to", "path: "+path)
	press(tm, "enter")
	waitFor(t, m, "packets (", "bytes) to "+dir)
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var want bytes.Buffer
	si := rec.Session
	n, err := capture.ExtractFlow(si.Pcap, capture.Flow{ClientIP: si.SourceIP, ClientPort: si.SourcePort, ServerIP: si.DestIP, ServerPort: si.DestPort}, &want)
	if err != nil || n == 0 {
		t.Fatalf("ExtractFlow: %d, %v", n, err)
	}
	gd, gts := pcapPackets(t, got)
	wd, wts := pcapPackets(t, want.Bytes())
	if len(gd) != n || len(wd) != n {
		t.Fatalf("the file holds %d packets, ExtractFlow cut %d (%d read back)", len(gd), n, len(wd))
	}
	for i := range gd {
		if !bytes.Equal(gd[i], wd[i]) || !gts[i].Equal(wts[i]) {
			t.Fatalf("packet %d differs from the connection's", i)
		}
	}
	waitFor(t, m, "wrote "+strconv.Itoa(n)+" packets ("+strconv.Itoa(len(got))+" bytes) to "+dir)
	tm.Quit()
}

// openEmailAt searches query (one result) and opens it.
func openEmailAt(t *testing.T, m *Model, tm *teatest.TestModel, query string) {
	t.Helper()
	waitFor(t, m, "Weekly digest")
	tm.Send(keyMsg("/"))
	tm.Type(query)
	tm.Send(keyMsg("enter"))
	waitFor(t, m, "1 results")
	tm.Send(keyMsg("enter"))
	waitFor(t, m, "1 Summary", "MAIL FROM")
}

// TestExportPcapWithoutEvidence: for an email whose record names no
// evidence pcap the choice is drawn unavailable with the reason, and
// picking it only says so in the status bar (the dialog stays, nothing
// is written). From the list, where the record is not loaded, the
// choice is offered and the backend's error says why, leaving no file.
func TestExportPcapWithoutEvidence(t *testing.T) {
	b := fixtureBackend(t)
	dir := t.TempDir()
	m, tm := newTestModel(t, b, false)
	_ = dir
	openEmail(t, m, tm, "subject:invoice", "Invoice")
	press(tm, "e")
	pressPcapChoice(t, m, tm)
	waitFor(t, m, "connection as pcap (unavailable)", "connection as pcap: no evidence pcap: not captured with --pcap-dir",
		"export: no evidence pcap: not captured with --pcap-dir")
	if m.dlg == nil || m.dlg.step != stepWhat {
		t.Fatalf("the dialog left its choices: %+v", m.dlg)
	}
	fm, f := frame(t, m, tm)
	golden(t, "export_pcap_unavailable", f)
	if fm.dlg == nil {
		t.Fatal("no dialog in the final frame")
	}

	exports := t.TempDir()
	m, tm = newTestModelIn(t, b, false, exports)
	waitFor(t, m, "Weekly digest")
	row := m.list.Selected()
	if row == nil || row.Kind != api.KindEmail {
		t.Fatalf("selected %+v", row)
	}
	press(tm, "e")
	pressPcapChoice(t, m, tm)
	waitFor(t, m, "path: "+filepath.Join(exports, row.ID+".pcap"))
	press(tm, "enter")
	waitFor(t, m, "export: email "+row.ID+" names no evidence pcap")
	if ents, _ := os.ReadDir(exports); len(ents) != 0 {
		t.Errorf("files left in the export directory: %v", ents)
	}
	tm.Quit()
}
