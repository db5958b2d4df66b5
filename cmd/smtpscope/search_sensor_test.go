package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/charmbracelet/x/ansi"

	"github.com/smtpscope/smtpscope/collector"
	"github.com/smtpscope/smtpscope/internal/backendtest"
)

// twoSensorDataDir is a data dir holding the demo samples stored by
// sensor "dmz-1" and one .eml stored by sensor "branch-7" (as after a
// rename, or at a hub).
func twoSensorDataDir(t *testing.T) string {
	t.Helper()
	tmp := t.TempDir()
	data, eml := filepath.Join(tmp, "data"), filepath.Join(tmp, "eml")
	spool1, spool2 := filepath.Join(tmp, "spool1"), filepath.Join(tmp, "spool2")
	backendtest.WriteSpool(t, spool1)
	for _, d := range []string{spool2, eml} {
		if err := os.MkdirAll(d, 0o750); err != nil {
			t.Fatal(err)
		}
	}
	msg := "From: ops@branch.example\r\nTo: hq@corp.example.com\r\nSubject: Quarterly report\r\nMessage-ID: <q1@branch.example>\r\n\r\nsee attached\r\n"
	if err := os.WriteFile(filepath.Join(eml, "q1.eml"), []byte(msg), 0o640); err != nil {
		t.Fatal(err)
	}
	noSync := false
	for _, cfg := range []*collector.Config{
		{Spool: spool1, Data: data, Fsync: &noSync, Sensor: "dmz-1"},
		{Spool: spool2, Data: data, Fsync: &noSync, Sensor: "branch-7", EMLDir: []string{eml}},
	} {
		storeOnce(t, cfg)
	}
	return data
}

// searchIn runs `smtpscope search --data data ARGS...` in process and
// returns stdout and stderr.
func searchIn(t *testing.T, data string, topt tableOptions, args ...string) (string, string) {
	t.Helper()
	var cli CLI
	var stderr bytes.Buffer
	if ctx, code := parseArgs(&cli, append([]string{"search", "--data", data, "--limit", "0"}, args...), &stderr); ctx == nil {
		t.Fatalf("%q: exit %d %s", args, code, stderr.String())
	}
	var out bytes.Buffer
	if err := cli.Search.run(&out, &stderr, topt); err != nil {
		t.Fatalf("search %q: %v\n%s", args, err, stderr.String())
	}
	return out.String(), stderr.String()
}

// TestSearchSensors: across two sensors the table ends with a SENSOR
// column naming each row's sensor and --facets lists the sensor facet;
// results of one sensor (a query, or a one-sensor store) have neither.
func TestSearchSensors(t *testing.T) {
	data := twoSensorDataDir(t)
	out, _ := searchIn(t, data, tableOptions{width: 200}, "--facets", "kind:email")
	lines := strings.Split(out, "\n")
	if h := strings.Fields(lines[0]); h[len(h)-1] != "SENSOR" {
		t.Fatalf("two sensors, no SENSOR column:\n%s", out)
	}
	rows := 0
	for _, l := range lines[1:] {
		if l == "" {
			break
		}
		rows++
		f := strings.Fields(l)
		want := "dmz-1"
		if strings.Contains(l, "Quarterly report") {
			want = "branch-7"
		}
		if f[len(f)-1] != want {
			t.Errorf("row of sensor %s ends with %q: %q", want, f[len(f)-1], l)
		}
		if ansi.StringWidth(l) > 200 {
			t.Errorf("line wider than 200: %q", l)
		}
	}
	if rows != backendtest.Emails+1 {
		t.Errorf("%d rows, want %d:\n%s", rows, backendtest.Emails+1, out)
	}
	if !strings.Contains(out, "\nsensor:\n") || !strings.Contains(out, "branch-7") {
		t.Errorf("--facets lacks the sensor facet:\n%s", out)
	}
	for i, l := range lines {
		if l == "sensor:" {
			if !strings.Contains(lines[i+1]+lines[i+2], "dmz-1") || !strings.Contains(lines[i+1]+lines[i+2], "branch-7") {
				t.Errorf("sensor facet:\n%s", strings.Join(lines[i:], "\n"))
			}
		}
	}

	// One sensor's rows: no SENSOR column, no sensor facet.
	out, _ = searchIn(t, data, tableOptions{}, "--facets", "sensor:dmz-1")
	if strings.Contains(out, "SENSOR") || strings.Contains(out, "sensor:") || strings.Contains(out, "Quarterly") {
		t.Errorf("one sensor's rows:\n%s", out)
	}
	out, _ = searchIn(t, storedDataDir(t), tableOptions{}, "--facets")
	if strings.Contains(out, "SENSOR") || strings.Contains(out, "sensor:") {
		t.Errorf("a one-sensor store shows sensors:\n%s", out)
	}
}

// withSensors adds the column only for two named sensors or more, the
// name made terminal-safe; writeTable heads it SENSOR and cuts it.
func TestWithSensors(t *testing.T) {
	rows := func() [][]string {
		return [][]string{rowCells(tableHit("a", "x@y", "s")), rowCells(tableHit("b", "x@y", "t"))}
	}
	if got := withSensors(rows(), []string{"dmz-1", ""}); len(got[0]) != len(tableHeader) {
		t.Fatal("one named sensor and an unnamed one made a SENSOR column")
	}
	long := strings.Repeat("s", 40) + "\x1b[2J"
	got := withSensors(rows(), []string{"dmz-1", long})
	if len(got[0]) != len(tableHeader)+1 || got[0][len(tableHeader)] != "dmz-1" {
		t.Fatalf("two sensors: %q", got[0])
	}
	var b bytes.Buffer
	if err := writeTable(&b, got, tableOptions{}); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(b.String(), "\n")
	if !strings.HasSuffix(strings.TrimSpace(lines[0]), "SENSOR") || strings.Contains(b.String(), "\x1b") {
		t.Fatalf("table:\n%q", b.String())
	}
	if !strings.HasSuffix(lines[2], strings.Repeat("s", sensorCap-1)+"…") {
		t.Errorf("long sensor name not cut at %d: %q", sensorCap, lines[2])
	}
}
