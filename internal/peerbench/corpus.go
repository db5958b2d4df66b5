package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

// Mail is one message of a session file, as the peers see it.
type Mail struct {
	From  string   // MAIL FROM argument, as written
	Rcpts []string // RCPT TO arguments
	Data  []byte   // the message, CRLF line ends, ending in CRLF
}

// Session is one session file of the corpus.
type Session struct {
	Name   string
	Client string // "ip:port" of the header line, "" when absent
	Mails  []Mail
}

var sessionHead = regexp.MustCompile(`^([^:]+(?::[^:/]+)*):(\d+)`)

// splitSession reads the messages of one Zeek/ACE-format session file the
// way ../shared/tools/peers/pybaseline.py does (its sessions()), so that
// Mailpit, the Python pipeline and smtpscope get the same emails: the lines
// between `< DATA 354` and `> . .`, joined with CRLF. mkcorpus.py writes
// them undotted; a session that ends inside DATA yields what it has.
func splitSession(name string, b []byte) Session {
	s := Session{Name: name}
	lines := bytes.Split(b, []byte("\n"))
	i := 0
	if len(lines) > 0 {
		if m := sessionHead.FindSubmatch(lines[0]); m != nil {
			s.Client = string(m[0])
			i = 2
		}
	}
	inData := false
	var buf [][]byte
	var cur Mail
	flush := func() {
		data := append(bytes.Join(buf, []byte("\r\n")), '\r', '\n')
		cur.Data = data
		s.Mails = append(s.Mails, cur)
		cur, buf, inData = Mail{}, nil, false
	}
	for ; i < len(lines); i++ {
		line := lines[i]
		if !inData {
			u := bytes.ToUpper(line)
			switch {
			case bytes.HasPrefix(u, []byte("> MAIL FROM:")):
				cur.From, cur.Rcpts = string(bytes.TrimSpace(line[12:])), nil
			case bytes.HasPrefix(u, []byte("> RCPT TO:")):
				cur.Rcpts = append(cur.Rcpts, string(bytes.TrimSpace(line[10:])))
			case bytes.HasPrefix(u, []byte("< DATA 354")):
				inData, buf = true, nil
			case bytes.HasPrefix(u, []byte("> RSET")), bytes.HasPrefix(u, []byte("< RSET")):
				cur = Mail{}
			}
			continue
		}
		if string(bytes.TrimSpace(line)) == "> . ." {
			flush()
			continue
		}
		buf = append(buf, line)
	}
	if inData && len(buf) > 0 {
		flush()
	}
	return s
}

// sessionNames lists the session files of dir (not .ready, not dot
// files), in name order.
func sessionNames(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range ents {
		n := e.Name()
		if e.Type().IsRegular() && !strings.HasSuffix(n, ".ready") && !strings.HasPrefix(n, ".") {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return names, nil
}

// readSessions reads every session file of dir, in name order, and their
// total size.
func readSessions(dir string) ([]Session, int64, error) {
	var out []Session
	total, err := eachSession(dir, func(s Session) error {
		out = append(out, s)
		return nil
	})
	return out, total, err
}

// eachSession calls fn with each session file of dir in name order, one
// file in memory at a time, and returns their total size.
func eachSession(dir string, fn func(Session) error) (int64, error) {
	names, err := sessionNames(dir)
	if err != nil {
		return 0, err
	}
	var total int64
	for _, n := range names {
		b, err := os.ReadFile(filepath.Join(dir, n))
		if err != nil {
			return total, err
		}
		total += int64(len(b))
		if err := fn(splitSession(n, b)); err != nil {
			return total, err
		}
	}
	return total, nil
}

// emailCount is the number of messages of the sessions.
func emailCount(ss []Session) int {
	n := 0
	for _, s := range ss {
		n += len(s.Mails)
	}
	return n
}

// emlWriter writes messages as dir/NNNNNNN.eml, numbered in the order
// given.
type emlWriter struct {
	dir string
	n   int
}

func newEMLWriter(dir string) (*emlWriter, error) {
	return &emlWriter{dir: dir}, os.MkdirAll(dir, 0o755)
}

func (w *emlWriter) session(s Session) error {
	for _, m := range s.Mails {
		if err := os.WriteFile(filepath.Join(w.dir, fmt.Sprintf("%07d.eml", w.n)), m.Data, 0o644); err != nil {
			return err
		}
		w.n++
	}
	return nil
}

// writeEML writes every message of ss as dir/NNNNNNN.eml, in session
// order, and returns how many it wrote.
func writeEML(ss []Session, dir string) (int, error) {
	w, err := newEMLWriter(dir)
	if err != nil {
		return 0, err
	}
	for _, s := range ss {
		if err := w.session(s); err != nil {
			return w.n, err
		}
	}
	return w.n, nil
}
