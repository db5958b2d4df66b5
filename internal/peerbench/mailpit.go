package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Ingest is what mailpit_ingest.sh prints on its last line:
//
//	mailpit emails=N wall_s=S cpu_s=C peak_rss_kb=K rejected=R
type Ingest struct {
	Emails   int
	Wall     float64 // seconds from Mailpit listening to the last stored email
	CPU      float64 // Mailpit's user+system seconds
	PeakRSS  int64   // bytes
	Rejected int
}

// parseIngest reads the summary line of mailpit_ingest.sh (the last line of
// out that starts with "mailpit ").
func parseIngest(out string) (Ingest, error) {
	var line string
	for _, l := range strings.Split(out, "\n") {
		if l = strings.TrimSpace(l); strings.HasPrefix(l, "mailpit ") {
			line = l
		}
	}
	if line == "" {
		return Ingest{}, fmt.Errorf("no 'mailpit emails=...' line in the ingest script's output")
	}
	var in Ingest
	seen := map[string]bool{}
	for _, f := range strings.Fields(line)[1:] {
		k, v, ok := strings.Cut(f, "=")
		if !ok {
			return Ingest{}, fmt.Errorf("ingest output: field %q is not key=value", f)
		}
		var err error
		switch k {
		case "emails":
			in.Emails, err = strconv.Atoi(v)
		case "wall_s":
			in.Wall, err = strconv.ParseFloat(v, 64)
		case "cpu_s":
			in.CPU, err = strconv.ParseFloat(v, 64)
		case "peak_rss_kb":
			var kb int64
			kb, err = strconv.ParseInt(v, 10, 64)
			in.PeakRSS = kb * 1024
		case "rejected":
			in.Rejected, err = strconv.Atoi(v)
		default:
			continue // a field a later script may add
		}
		if err != nil {
			return Ingest{}, fmt.Errorf("ingest output: %s: %w", f, err)
		}
		seen[k] = true
	}
	for _, k := range []string{"emails", "wall_s", "cpu_s"} {
		if !seen[k] {
			return Ingest{}, fmt.Errorf("ingest output: no %s in %q", k, line)
		}
	}
	if in.Wall <= 0 {
		return Ingest{}, fmt.Errorf("ingest output: wall_s %v is not positive", in.Wall)
	}
	return in, nil
}

// parseSent reads smtp_send.py's "sent=N rejected=M" (its last stderr
// line) and the files it names as rejected.
func parseSent(out string) (sent, rejected int, files []string, err error) {
	found := false
	for _, l := range strings.Split(out, "\n") {
		l = strings.TrimSpace(l)
		if f, ok := strings.CutPrefix(l, "rejected "); ok {
			if name, _, ok := strings.Cut(f, " "); ok {
				files = append(files, name)
			}
			continue
		}
		if strings.HasPrefix(l, "sent=") {
			if _, err := fmt.Sscanf(l, "sent=%d rejected=%d", &sent, &rejected); err != nil {
				return 0, 0, nil, fmt.Errorf("smtp_send.py output %q: %w", l, err)
			}
			found = true
		}
	}
	if !found {
		return 0, 0, nil, fmt.Errorf("no 'sent=N rejected=M' line in smtp_send.py's output")
	}
	return sent, rejected, files, nil
}

// freePort is a TCP port free on 127.0.0.1 at the time of the call.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Mailpit is a Mailpit server on loopback with its own database.
type Mailpit struct {
	d         *Daemon
	SMTP, API int
	DB        string
}

// startMailpit starts bin on 127.0.0.1 (SMTP and HTTP on free ports) with
// database db, and waits until both answer.
func startMailpit(bin, db, log string) (*Mailpit, error) {
	sp, err := freePort()
	if err != nil {
		return nil, err
	}
	ap, err := freePort()
	if err != nil {
		return nil, err
	}
	d, err := Start(Proc{Argv: []string{bin, "--smtp", fmt.Sprintf("127.0.0.1:%d", sp), "--listen", fmt.Sprintf("127.0.0.1:%d", ap),
		"--database", db, "--max", "0", "--disable-version-check", "--smtp-disable-rdns",
		"--smtp-max-recipients", "1000", "-q"}, Log: log})
	if err != nil {
		return nil, err
	}
	m := &Mailpit{d: d, SMTP: sp, API: ap, DB: db}
	deadline := time.Now().Add(60 * time.Second)
	for {
		if _, err := m.Total(); err == nil {
			if c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", sp), time.Second); err == nil {
				c.Close()
				return m, nil
			}
		}
		if ex, err := d.Exited(); ex {
			d.Stop(time.Second)
			return nil, fmt.Errorf("mailpit exited at start: %v%s", err, logTail(log))
		}
		if time.Now().After(deadline) {
			d.Stop(5 * time.Second)
			return nil, fmt.Errorf("mailpit did not answer within 60 s%s", logTail(log))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

var httpc = &http.Client{Timeout: 5 * time.Minute}

// Total is the number of messages Mailpit's API reports stored.
func (m *Mailpit) Total() (int, error) {
	var v struct {
		Total int `json:"total"`
	}
	err := m.getJSON("/api/v1/messages?limit=1", &v)
	return v.Total, err
}

// Search runs one API search (the first page, 50 messages) and returns the
// number of matches.
func (m *Mailpit) Search(q string) (int, error) {
	var v struct {
		Total         int `json:"total"`
		MessagesCount int `json:"messages_count"`
	}
	err := m.getJSON("/api/v1/search?limit=50&query="+url.QueryEscape(q), &v)
	return v.MessagesCount, err
}

func (m *Mailpit) getJSON(p string, v any) error {
	resp, err := httpc.Get(fmt.Sprintf("http://127.0.0.1:%d%s", m.API, p))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("mailpit %s: %s", p, resp.Status)
	}
	return json.NewDecoder(bufio.NewReader(resp.Body)).Decode(v)
}

// Stop stops the server by its PID.
func (m *Mailpit) Stop() (Run, error) { return m.d.Stop(30 * time.Second) }

// waitStored polls Total until it reaches want or stops moving for still.
func (m *Mailpit) waitStored(want int, still time.Duration) (int, error) {
	last, lastChange := -1, time.Now()
	for {
		n, err := m.Total()
		if err != nil {
			return n, err
		}
		if n != last {
			last, lastChange = n, time.Now()
		}
		if n >= want || time.Since(lastChange) > still {
			return n, nil
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// fillMailpit makes a Mailpit database holding emlDir's messages (sent over
// SMTP with smtp_send.py) and returns the number stored. The server is
// stopped at the end; db stays.
func fillMailpit(bin, sendPy, emlDir, db, logDir string) (stored int, err error) {
	m, err := startMailpit(bin, db, filepath.Join(logDir, "mailpit-fill.log"))
	if err != nil {
		return 0, err
	}
	defer func() {
		if _, serr := m.Stop(); err == nil {
			err = serr
		}
	}()
	slog := filepath.Join(logDir, "smtp_send.log")
	if _, err := Exec(Proc{Argv: []string{"python3", sendPy, strconv.Itoa(m.SMTP), emlDir, "100"}, Log: slog}); err != nil {
		return 0, err
	}
	out, _ := os.ReadFile(slog)
	sent, _, _, err := parseSent(string(out))
	if err != nil {
		return 0, err
	}
	return m.waitStored(sent, 10*time.Second)
}
