package main

import (
	"encoding/csv"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/charmbracelet/x/ansi"
	"github.com/smtpscope/smtpscope/collector/api"
	"github.com/smtpscope/smtpscope/core"
	"github.com/smtpscope/smtpscope/index"
	"github.com/smtpscope/smtpscope/ui/sanitize"
	"golang.org/x/term"
)

// The search table: its columns, in order.
var tableHeader = []string{"ID", "TIME", "RISK", "SOURCE", "MAIL FROM", "RCPT", "SUBJECT", "ATT", "IOC", "YARA", "STATUS"}

// Columns the width fitting may narrow.
const (
	colRisk    = 2
	colSource  = 3
	colFrom    = 4
	colSubject = 6
	colStatus  = 10
)

// fitSteps is the order the width fitting narrows columns in, each step
// down to floor (never below the column's heading): subject, sender and
// status to 12, then subject, sender and source to their headings.
var fitSteps = []struct{ col, floor int }{
	{colSubject, 12}, {colFrom, 12}, {colStatus, 12}, {colSubject, 0}, {colFrom, 0}, {colSource, 0},
}

// cellCap is the widest a cell of a column is drawn (0: no cap); ids are
// never cut, `show` takes them.
var cellCap = []int{0, 0, 0, 40, 40, 0, 60, 0, 0, 0, 40}

// sensorHeading is the heading of the table's last column, drawn only
// when the rows come from more than one sensor (withSensors); its cells
// are cut at sensorCap.
const (
	sensorHeading = "SENSOR"
	sensorCap     = 24
)

// withSensors appends each row's sensor (sensors[i] for rows[i]) as a
// last cell when the rows come from two sensors or more, so a table of
// one sensor's store keeps its width; rows of no named sensor (stored
// before sensors were named) do not count as one.
func withSensors(rows [][]string, sensors []string) [][]string {
	first, many := "", false
	for _, s := range sensors {
		switch {
		case s == "":
		case first == "":
			first = s
		case s != first:
			many = true
		}
	}
	if !many {
		return rows
	}
	for i := range rows {
		rows[i] = append(rows[i], sanitize.Line(sensors[i]))
	}
	return rows
}

// rowCells returns the cells of one hit, every mail-derived string
// through the sanitizer (uncut); "" where the hit has no value (the table
// draws "-").
func rowCells(h index.Hit) []string {
	when := ""
	if !h.Time.IsZero() {
		when = h.Time.UTC().Format("2006-01-02 15:04:05")
	}
	src, from, subject := h.SourceIP, h.MailFrom, h.Subject
	if from == "" {
		from = core.NullSender
	}
	id := rowID(h)
	switch {
	case h.NoSession:
		src, from = "no SMTP session", "read from "+filepath.Base(h.Source)
	case h.Kind == index.KindSession:
		from = ""
		subject = "[session " + h.Reason + "] " + h.UID
	case h.Kind == index.KindReview:
		src, from = "", ""
		subject = "[review] " + h.Name + ": " + h.Reason
	}
	num := func(n int) string {
		if h.Kind != index.KindEmail {
			return ""
		}
		return strconv.Itoa(n)
	}
	status := h.StatusText()
	if h.Partial {
		subject = "[partial] " + subject
	}
	return []string{sanitize.Line(id), when, num(h.Risk), sanitize.Line(src), sanitize.Line(from), num(h.Rcpt), sanitize.Line(subject), num(h.Att), num(h.IOC), num(h.YARA), sanitize.Line(status)}
}

// rowID is the id of a hit as `show` takes it: the email id,
// session/<uid> or review/<name>.
func rowID(h index.Hit) string {
	switch {
	case h.ID != "":
		return h.ID
	case h.Kind == index.KindSession:
		return "session/" + h.UID
	case h.Kind == index.KindReview:
		return "review/" + h.Name
	}
	return ""
}

// tableOptions say how the table is drawn.
type tableOptions struct {
	width  int  // terminal columns (0: no fitting)
	colour bool // SGR colours
}

// terminalTable returns the options for standard output: fitted to the
// terminal's width and coloured when it is a terminal, never coloured when
// NO_COLOR is set to anything but "" (https://no-color.org).
func terminalTable() tableOptions {
	if !stdoutIsTerminal() {
		return tableOptions{}
	}
	o := tableOptions{colour: os.Getenv("NO_COLOR") == ""}
	if w, _, err := term.GetSize(int(os.Stdout.Fd())); err == nil && w > 0 {
		o.width = w
	}
	return o
}

// writeTable draws rows (cells from rowCells) as an aligned table: each
// column as wide as its widest cell (within cellCap); when that is wider
// than o.width, columns narrow as fitSteps says (subject first, then
// sender). Cut cells end with "…". A terminal narrower than what is left
// wraps the lines. Rows one cell longer than tableHeader (withSensors)
// get a last SENSOR column.
func writeTable(w io.Writer, rows [][]string, o tableOptions) error {
	header, caps := tableHeader, cellCap
	if len(rows) > 0 && len(rows[0]) == len(tableHeader)+1 {
		header = append(slices.Clone(tableHeader), sensorHeading)
		caps = append(slices.Clone(cellCap), sensorCap)
	}
	n := len(header)
	widths := make([]int, n)
	for i, h := range header {
		widths[i] = len(h)
	}
	for _, r := range rows {
		for i, c := range r {
			cw := ansi.StringWidth(orDash(c))
			if caps[i] > 0 {
				cw = min(cw, caps[i])
			}
			widths[i] = max(widths[i], cw)
		}
	}
	if o.width > 0 {
		total := 2 * (n - 1)
		for _, x := range widths {
			total += x
		}
		for _, f := range fitSteps {
			if total <= o.width {
				break
			}
			if cut := min(total-o.width, widths[f.col]-max(f.floor, len(header[f.col]))); cut > 0 {
				widths[f.col] -= cut
				total -= cut
			}
		}
	}
	var b strings.Builder
	draw := func(cells []string, header bool) {
		b.Reset()
		for i, c := range cells {
			c = orDash(c)
			if ansi.StringWidth(c) > widths[i] {
				c = ansi.Truncate(c, widths[i], "…")
			}
			pad := widths[i] - ansi.StringWidth(c)
			if o.colour {
				c = colourCell(i, c, header)
			}
			b.WriteString(c)
			if i < n-1 {
				b.WriteString(strings.Repeat(" ", pad+2))
			}
		}
		b.WriteByte('\n')
	}
	draw(header, true)
	if _, err := io.WriteString(w, b.String()); err != nil {
		return err
	}
	for _, r := range rows {
		draw(r, false)
		if _, err := io.WriteString(w, b.String()); err != nil {
			return err
		}
	}
	return nil
}

// colourCell colours a (sanitized, cut) cell with the meaning ui/styles
// gives the TUI's list — headings bold and underlined, ids in the accent
// colour, the submission status by state (failed bold red, retrying
// yellow, sent green, queued dim) — in the terminal's own 16 colours
// (SGR), which follow its light or dark theme: the CLI cannot ask the
// terminal for its background as the TUI does.
func colourCell(col int, c string, header bool) string {
	const reset = "\x1b[0m"
	switch {
	case header:
		return "\x1b[1;4m" + c + reset
	case col == 0:
		return "\x1b[34m" + c + reset
	case col == colRisk && c != "" && c != "0":
		return "\x1b[1;31m" + c + reset
	case col == colStatus:
		switch {
		case strings.Contains(c, api.StateFailed):
			return "\x1b[1;31m" + c + reset
		case strings.Contains(c, api.StateRetrying):
			return "\x1b[33m" + c + reset
		case strings.Contains(c, api.StateQueued):
			return "\x1b[2m" + c + reset
		case strings.Contains(c, api.StateSent):
			return "\x1b[32m" + c + reset
		}
	}
	return c
}

// csvWriter writes the rows as CSV (RFC 4180: CRLF, quoting by
// encoding/csv) with the header line; a cell that a spreadsheet would run
// as a formula (first character = + - @, or tab or CR) gets a leading '.
type csvWriter struct{ w *csv.Writer }

func newCSVWriter(w io.Writer) (*csvWriter, error) {
	cw := csv.NewWriter(w)
	cw.UseCRLF = true
	return &csvWriter{w: cw}, cw.Write(tableHeader)
}

func (c *csvWriter) write(cells []string) error {
	out := make([]string, len(cells))
	for i, s := range cells {
		out[i] = csvCell(s)
	}
	return c.w.Write(out)
}

func (c *csvWriter) flush() error {
	c.w.Flush()
	return c.w.Error()
}

// csvCell defuses formula injection (OWASP "CSV injection").
func csvCell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}
