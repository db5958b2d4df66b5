package ui

import (
	"strings"
	"testing"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/smtpscope/smtpscope/internal/backendtest"
)

// TestSensorColumnFollowsRows: rows from two sensors bring the SENSOR
// column, each row naming its sensor; a query down to one sensor's rows
// takes the column away (one sensor's user loses no room to it).
func TestSensorColumnFollowsRows(t *testing.T) {
	m, tm := newTestModel(t, sensorBackend(t), false)
	waitFor(t, m, "Quarterly report", "Weekly digest", "RSK SENSOR")
	for _, l := range frameLines(m) {
		if strings.Contains(l, "Quarterly report") && !strings.Contains(l, " branch-7 ") ||
			strings.Contains(l, "Weekly digest") && !strings.Contains(l, " memory ") {
			t.Errorf("row names the wrong sensor: %q", l)
		}
	}
	press(tm, "/")
	tm.Type("sensor:memory")
	press(tm, "enter")
	waitFor(t, m, "7 results")
	waitUntil(t, m, func(f string) bool { return !strings.Contains(f, "SENSOR") && strings.Contains(f, "Weekly digest") })
	press(tm, "/")
	tm.Send(tea.KeyPressMsg{Code: 'u', Mod: tea.ModCtrl}) // clear the bar
	tm.Type("sensor:branch-7")
	press(tm, "enter")
	waitFor(t, m, "2 results", "Quarterly report")
	if strings.Contains(listHeading(t, m), "SENSOR") {
		t.Errorf("one sensor's rows, still a SENSOR column: %q", listHeading(t, m))
	}
	tm.Quit()
}

// TestSummarySensor: the Summary names the sensor that stored the email
// in its Session block (the fixture's pinned name, not the host's), and
// for an email read from a file in its Source block.
func TestSummarySensor(t *testing.T) {
	m, tm := newTestModel(t, fixtureBackend(t), false)
	openEmail(t, m, tm, "subject:INV-2025-1187", "Invoice")
	waitFor(t, m, "Session file")
	f := strings.Join(frameLines(m), "\n")
	sess := strings.Index(f, "\nSession ")
	if sess < 0 || !strings.Contains(f[sess:], "Sensor          "+backendtest.Sensor) {
		t.Errorf("the Session block does not name sensor %s:\n%s", backendtest.Sensor, f)
	}
	tm.Quit()

	m, tm = newTestModel(t, screenBackend(t), false)
	openOne(t, m, tm, "subject:reset", "read from reset.eml, no SMTP session")
	f = strings.Join(frameLines(m), "\n")
	src := strings.Index(f, "\nSource ")
	if src < 0 || !strings.Contains(f[src:], "Sensor          memory") {
		t.Errorf("the Source block of a file email does not name its sensor:\n%s", f)
	}
	if strings.Contains(ansi.Strip(f), "Sensor          -") {
		t.Errorf("the sensor is drawn as unknown:\n%s", f)
	}
	tm.Quit()
}

// TestSessionAndReviewSensor: the Summary of a session without email and
// of a review entry names the sensor too.
func TestSessionAndReviewSensor(t *testing.T) {
	m, tm := newTestModel(t, fixtureBackend(t), false)
	waitFor(t, m, "Weekly digest")
	press(tm, "v")
	waitFor(t, m, "sessions without email · 2 results")
	press(tm, "enter")
	waitFor(t, m, "Session without email", "Sensor          "+backendtest.Sensor)
	press(tm, "esc", "v")
	waitFor(t, m, "review · 1 results", "demo-garbage.session")
	press(tm, "enter")
	waitFor(t, m, "Review entry (could not be parsed)", "Sensor          "+backendtest.Sensor)
	tm.Quit()
}
