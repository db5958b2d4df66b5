package list

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/smtpscope/smtpscope/collector/api"
	"github.com/smtpscope/smtpscope/ui/common"
	"github.com/smtpscope/smtpscope/ui/keys"
	"github.com/smtpscope/smtpscope/ui/styles"
)

func testList(n int) *Model {
	ctx := &common.Context{Styles: styles.NewPlain(), Keys: keys.Default(), Loc: time.UTC, Now: time.Now}
	m := New(ctx)
	rows := make([]api.Row, n)
	t0 := time.Date(2025, 11, 22, 12, 0, 0, 0, time.UTC)
	for i := range rows {
		rows[i] = api.Row{ID: fmt.Sprintf("id%d", i), Kind: api.KindEmail, Time: t0.Add(-time.Duration(i) * time.Minute),
			SourceIP: "192.0.2.1", MailFrom: "a@example.org", Rcpt: 1, Subject: fmt.Sprintf("subject %03d", i)}
	}
	m.SetResult(&api.SearchResult{Rows: rows, Total: uint64(n)}, "")
	return m
}

// shown is the subjects of the rows on screen, top to bottom.
func shown(m *Model) []string {
	var out []string
	for _, l := range strings.Split(ansi.Strip(m.View()), "\n") {
		if i := strings.Index(l, "subject "); i >= 0 {
			out = append(out, l[i:i+len("subject 000")])
		}
	}
	return out
}

// TestResizeKeepsRowsInView: with the cursor on the last row, shrinking
// the window scrolls the list; enlarging it again must bring the rows
// above back rather than leave them hidden above an empty screen.
func TestResizeKeepsRowsInView(t *testing.T) {
	m := testList(30)
	m.SetSize(160, 44)
	m.Move(29)
	if got := shown(m); len(got) != 30 || got[0] != "subject 000" {
		t.Fatalf("at 44 lines: %d rows shown, first %q", len(got), got)
	}
	m.SetSize(80, 20)
	if got := shown(m); len(got) != 19 || got[len(got)-1] != "subject 029" {
		t.Fatalf("at 20 lines: rows %q, want the last 19 with the cursor's", got)
	}
	m.SetSize(160, 44)
	got := shown(m)
	if len(got) != 30 || got[0] != "subject 000" {
		t.Fatalf("back at 44 lines: %d rows shown (first %q), want all 30 from the first", len(got), got)
	}
	if m.Selected().ID != "id29" {
		t.Fatalf("cursor moved to %s", m.Selected().ID)
	}
	// Taller than before: still no blank screen under a scrolled list.
	m.SetSize(160, 20)
	m.Move(-5) // cursor on row 24, scrolled
	m.SetSize(160, 28)
	if got := shown(m); len(got) != 27 || got[len(got)-1] != "subject 029" {
		t.Fatalf("at 28 lines: rows %q, want 27 ending with the last", got)
	}
}

func TestWheelAndKeys(t *testing.T) {
	m := testList(30)
	m.SetSize(120, 10)
	m.Update(tea.MouseWheelMsg{Button: tea.MouseWheelDown})
	if m.Cursor() != 3 {
		t.Fatalf("wheel down: cursor %d", m.Cursor())
	}
}

// TestCountsNeverCut: big counters are shown as 1.5k, 23k, 1.2M in their
// columns, never cut ("14…").
func TestCountsNeverCut(t *testing.T) {
	m := testList(1)
	m.rows[0].Att, m.rows[0].IOC, m.rows[0].YARA, m.rows[0].Rcpt = 23456, 1500, 1234567, 1400
	m.SetSize(FullWidth(), 5)
	v := ansi.Strip(m.View())
	for _, want := range []string{" 1.4k ", " 23k ", " 1.5k ", " 1.2M "} {
		if !strings.Contains(v, want) {
			t.Errorf("row lacks %q:\n%s", want, v)
		}
	}
	if regexp.MustCompile(`[0-9.kM]…`).MatchString(v) {
		t.Errorf("a count is cut:\n%s", v)
	}
}

// TestFullWidth: at FullWidth the list keeps its triage columns; one
// column less and it drops them (which is why the root hides the facet
// panel first).
func TestFullWidth(t *testing.T) {
	m := testList(1)
	m.SetSize(FullWidth(), 5)
	head := strings.Fields(strings.Split(ansi.Strip(m.View()), "\n")[0])
	for _, want := range []string{"SOURCE", "ATT", "IOC", "YARA"} {
		if !contains(head, want) {
			t.Errorf("at %d columns the heading %q lacks %s", FullWidth(), head, want)
		}
	}
	m.SetSize(FullWidth()-1, 5)
	head = strings.Fields(strings.Split(ansi.Strip(m.View()), "\n")[0])
	if contains(head, "SOURCE") || contains(head, "YARA") {
		t.Errorf("at %d columns the heading still has the triage columns: %q", FullWidth()-1, head)
	}
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// TestClick: a click on a row selects it, a second click on it asks to
// open it; the heading and the blank lines below the rows do nothing.
func TestClick(t *testing.T) {
	m := testList(30)
	m.SetSize(120, 10)
	m.Move(12) // scrolled: row 4 on top
	if m.Click(2) || m.Selected().ID != "id5" {
		t.Fatalf("click on line 2: selected %s", m.Selected().ID)
	}
	if !m.Click(2) {
		t.Fatal("a second click on the selected row does not open it")
	}
	if m.Click(0) || m.Selected().ID != "id5" {
		t.Fatal("a click on the heading changed the selection")
	}
	short := testList(3)
	short.SetSize(120, 10)
	if short.Click(6) || short.Cursor() != 0 {
		t.Fatal("a click under the last row changed the selection")
	}
}

// TestSensorColumn: the SENSOR column shows only while the rows loaded
// come from more than one sensor; it names each row's sensor (cut to
// its width, hostile bytes sanitized) at every width down to a narrow
// list, and NeedWidth grows by it.
func TestSensorColumn(t *testing.T) {
	m := testList(3)
	for i := range 3 {
		m.rows[i].Sensor = "dmz-1"
	}
	m.SetSize(160, 10)
	if v := ansi.Strip(m.View()); strings.Contains(v, "SENSOR") || m.MultiSensor() || m.NeedWidth() != FullWidth() {
		t.Fatalf("one sensor: column shown (multi %v, need %d):\n%s", m.MultiSensor(), m.NeedWidth(), v)
	}
	// A page loaded later from a second sensor brings the column.
	m.Append(&api.SearchResult{Rows: []api.Row{{ID: "x", Kind: api.KindEmail, Sensor: "branch-office-sensor-7\x1b[31m", Subject: "subject 100"}}, Total: 4})
	if !m.MultiSensor() || m.NeedWidth() != FullWidth()+maxSensor+1 {
		t.Fatalf("two sensors: multi %v, need %d", m.MultiSensor(), m.NeedWidth())
	}
	for _, w := range []int{160, 120, 80, 64} {
		m.SetSize(w, 10)
		lines := strings.Split(ansi.Strip(m.View()), "\n")
		if !strings.Contains(lines[0], "RSK SENSOR") {
			t.Fatalf("at %d: heading %q", w, lines[0])
		}
		if !strings.Contains(lines[1], " dmz-1 ") || !strings.Contains(lines[4], "branch-offi…") {
			t.Errorf("at %d: sensor cells:\n%s", w, strings.Join(lines[:5], "\n"))
		}
		if strings.Contains(m.View(), "\x1b[31m") {
			t.Errorf("at %d: a raw escape from the sensor name reached the frame", w)
		}
		for i, l := range lines {
			if ansi.StringWidth(l) > w {
				t.Errorf("at %d: line %d is %d cells", w, i, ansi.StringWidth(l))
			}
		}
	}
	// Rows without a sensor (stored before sensors were named) beside
	// one named sensor: one sensor, no column.
	m.SetResult(&api.SearchResult{Rows: []api.Row{{ID: "a", Sensor: "dmz-1"}, {ID: "b"}}, Total: 2}, "")
	if m.MultiSensor() {
		t.Fatal("an unnamed sensor counted as a second one")
	}
}
