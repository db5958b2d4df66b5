package main

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/charmbracelet/x/ansi"
	"github.com/smtpscope/smtpscope/collector/api"
	"github.com/smtpscope/smtpscope/index"
)

func tableHit(id, from, subject string) index.Hit {
	return index.Hit{Row: api.Row{ID: id, Kind: index.KindEmail, Time: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC),
		SourceIP: "192.0.2.1", MailFrom: from, Rcpt: 1, Subject: subject, Att: 2, IOC: 3, Status: map[string]string{"g": api.StateFailed}}}
}

// TestWriteTableFitsWidth: a table wider than the terminal narrows the
// subject first, then the sender; ids are never cut; without a width
// (not a terminal) cells keep their caps only.
func TestWriteTableFitsWidth(t *testing.T) {
	long := strings.Repeat("subject words ", 10)
	sender := "a-long-sender-address@some.example.org"
	rows := [][]string{rowCells(tableHit("session-with-a-long-uid-0123456789.0", sender, long))}
	draw := func(o tableOptions) []string {
		var b bytes.Buffer
		if err := writeTable(&b, rows, o); err != nil {
			t.Fatal(err)
		}
		return strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	}
	wide := draw(tableOptions{})
	if len(wide) != 2 || !strings.HasPrefix(wide[0], "ID  ") || !strings.Contains(wide[1], sender) || !strings.Contains(wide[1], strings.Repeat("subject words ", 4)) {
		t.Fatalf("unfitted table:\n%s", strings.Join(wide, "\n"))
	}
	// Subject only: the sender stays whole.
	w := ansi.StringWidth(wide[1]) - 30
	lines := draw(tableOptions{width: w})
	for _, l := range lines {
		if ansi.StringWidth(l) > w {
			t.Errorf("line wider than %d: %q", w, l)
		}
	}
	if !strings.Contains(lines[1], sender) || !strings.Contains(lines[1], "…") || !strings.Contains(lines[1], "session-with-a-long-uid-0123456789.0") {
		t.Errorf("width %d: subject should be cut, not the sender or id:\n%s", w, lines[1])
	}
	// Then the sender too.
	w = 128
	lines = draw(tableOptions{width: w})
	for _, l := range lines {
		if ansi.StringWidth(l) > w {
			t.Errorf("line wider than %d: %q", w, l)
		}
	}
	if strings.Contains(lines[1], sender) || !strings.Contains(lines[1], "a-long-send") || !strings.Contains(lines[1], "session-with-a-long-uid-0123456789.0") {
		t.Errorf("width %d: the sender should be cut too, the id kept:\n%s", w, lines[1])
	}
}

// TestWriteTableColour: colours only when asked (a terminal without
// NO_COLOR), and never break the alignment or let mail text through raw.
func TestWriteTableColour(t *testing.T) {
	rows := [][]string{rowCells(tableHit("x.0", "a@x", "Hostile "+hostile))}
	var plain, coloured bytes.Buffer
	if err := writeTable(&plain, rows, tableOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := writeTable(&coloured, rows, tableOptions{colour: true}); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(plain.String(), "\x1b") {
		t.Errorf("uncoloured table holds an escape: %q", plain.String())
	}
	assertTerminalSafe(t, "table", plain.String())
	if !strings.Contains(coloured.String(), "\x1b[1;4mID\x1b[0m") || !strings.Contains(coloured.String(), "\x1b[1;31mfailed\x1b[0m") {
		t.Errorf("coloured table: %q", coloured.String())
	}
	if got := ansi.Strip(coloured.String()); got != plain.String() {
		t.Errorf("colours change the text:\n%s\n---\n%s", got, plain.String())
	}

	old := stdoutIsTerminal
	defer func() { stdoutIsTerminal = old }()
	for _, c := range []struct {
		tty     bool
		noColor string
		set     bool
		colour  bool
	}{{true, "", false, true}, {true, "1", true, false}, {true, "", true, true}, {false, "", false, false}} {
		stdoutIsTerminal = func() bool { return c.tty }
		if c.set {
			t.Setenv("NO_COLOR", c.noColor)
		} else {
			t.Setenv("NO_COLOR", "")
		}
		if got := terminalTable(); got.colour != c.colour {
			t.Errorf("tty %v NO_COLOR=%q: colour %v, want %v", c.tty, c.noColor, got.colour, c.colour)
		}
	}
}

// TestCSVCells: RFC 4180 output (CRLF, quotes) with a header line, mail
// text sanitized, and cells a spreadsheet would run as formulas defused.
func TestCSVCells(t *testing.T) {
	var b bytes.Buffer
	cw, err := newCSVWriter(&b)
	if err != nil {
		t.Fatal(err)
	}
	subjects := []string{`=HYPERLINK("http://evil.example","x")`, "+1", "-2+3", "@SUM(A1)", "\tTab", "a, \"quoted\" one\nline" + hostile, "plain"}
	for _, s := range subjects {
		if err := cw.write(rowCells(tableHit("x.0", "a@x", s))); err != nil {
			t.Fatal(err)
		}
	}
	if err := cw.flush(); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	if !strings.HasPrefix(out, "ID,TIME,RISK,SOURCE,MAIL FROM,RCPT,SUBJECT,ATT,IOC,YARA,STATUS\r\n") || strings.Count(out, "\r\n") != len(subjects)+1 {
		t.Errorf("csv:\n%q", out)
	}
	assertTerminalSafe(t, "csv", strings.ReplaceAll(out, "\r\n", "\n"))
	recs, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil || len(recs) != len(subjects)+1 {
		t.Fatalf("read back: %v, %d records", err, len(recs))
	}
	for i, r := range recs[1:] {
		subj := r[colSubject]
		switch i {
		case 0, 1, 2, 3:
			if subj != "'"+subjects[i] {
				t.Errorf("formula cell %q not defused: %q", subjects[i], subj)
			}
		case 4:
			if !strings.HasPrefix(subj, `\tTab`) {
				t.Errorf("tab cell: %q", subj)
			}
		case 5:
			if !strings.HasPrefix(subj, `a, "quoted" one\nline\x1b]0;`) {
				t.Errorf("quoted cell: %q", subj)
			}
		case 6:
			if subj != "plain" {
				t.Errorf("plain cell: %q", subj)
			}
		}
		if r[0] != "x.0" || r[colFrom+1] != "1" || r[colStatus] != "failed" {
			t.Errorf("row %d: %q", i, r)
		}
	}
}

// TestSearchFormats: search --format table|json|csv over a stored data
// dir: ids show takes, the same rows in each format, and --json with
// --format json is a usage error.
func TestSearchFormats(t *testing.T) {
	data := storedDataDir(t)
	search := func(topt tableOptions, args ...string) (string, string, error) {
		t.Helper()
		var cli CLI
		var stderr bytes.Buffer
		if ctx, code := parseArgs(&cli, append([]string{"search", "--data", data, "--limit", "0"}, args...), &stderr); ctx == nil {
			t.Fatalf("%q: exit %d %s", args, code, stderr.String())
		}
		var out bytes.Buffer
		err := cli.Search.run(&out, &stderr, topt)
		return out.String(), stderr.String(), err
	}
	table, errs, err := search(tableOptions{width: 116})
	lines := strings.Split(strings.TrimSpace(table), "\n")
	if err != nil || !strings.HasPrefix(lines[0], "ID ") || !strings.Contains(errs, "10 of 10 matches") {
		t.Fatalf("table: %v\n%s%s", err, table, errs)
	}
	for _, l := range lines {
		if ansi.StringWidth(l) > 116 {
			t.Errorf("table line wider than 116: %q", l)
		}
	}
	var tableIDs []string
	for _, l := range lines[1:] {
		tableIDs = append(tableIDs, strings.Fields(l)[0])
	}
	for _, want := range []string{"demo-invoice.0", "session/demo-rejected", "review/demo-garbage.session"} {
		if !slices.Contains(tableIDs, want) {
			t.Errorf("table ids %v lack %s", tableIDs, want)
		}
	}

	out, _, err := search(tableOptions{}, "--format", "json")
	var jsonIDs []string
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		var r api.Row
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatalf("json row %q: %v", l, err)
		}
		jsonIDs = append(jsonIDs, r.ID)
	}
	if err != nil || !slices.Equal(jsonIDs, tableIDs) {
		t.Errorf("json ids %v, table ids %v (%v)", jsonIDs, tableIDs, err)
	}

	out, _, err = search(tableOptions{}, "--format", "csv", "--facets")
	recs, cerr := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil || cerr != nil || len(recs) != len(tableIDs)+1 || recs[0][0] != "ID" {
		t.Fatalf("csv (%v, %v):\n%s", err, cerr, out)
	}
	for i, r := range recs[1:] {
		if r[0] != tableIDs[i] {
			t.Errorf("csv row %d id %q, table %q", i, r[0], tableIDs[i])
		}
	}

	for _, id := range tableIDs {
		if _, err := show(t, false, "--data", data, id); err != nil {
			t.Errorf("show %s (an id search printed): %v", id, err)
		}
	}

	var cli CLI
	var stderr bytes.Buffer
	parseArgs(&cli, []string{"search", "--data", data, "--json", "--format", "json"}, &stderr)
	err = cli.Search.run(&bytes.Buffer{}, &stderr, tableOptions{})
	wantErr(t, "--json --format json", err, exitUsage, "--json prints the email records, --format json the rows")
}

// An email read from a file has no envelope: its row says so instead of
// showing a null sender (which would make it look like a bounce); a
// bounce's null sender is shown as <>.
func TestRowCellsNoSession(t *testing.T) {
	h := index.Hit{Row: api.Row{ID: "eml-1", Kind: index.KindEmail, From: "IT <it@x.example>", Subject: "reset",
		NoSession: true, Source: "/cases/reset.eml"}}
	c := rowCells(h)
	if c[colSource] != "no SMTP session" || c[colFrom] != "read from reset.eml" {
		t.Errorf("file email: source %q, sender %q", c[colSource], c[colFrom])
	}
	h = index.Hit{Row: api.Row{ID: "C1.0", Kind: index.KindEmail, SourceIP: "192.0.2.1", From: "MAILER-DAEMON <m@x.example>"}}
	if c := rowCells(h); c[colSource] != "192.0.2.1" || c[colFrom] != "<>" {
		t.Errorf("bounce: source %q, sender %q", c[colSource], c[colFrom])
	}
}
