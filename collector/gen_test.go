package collector_test

import (
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/smtpscope/smtpscope/collector/ace"
)

// genMsg is one transaction of a generated session.
type genMsg struct {
	From    string
	Rcpts   []string
	Reject  map[string]bool // recipients answered 550
	Subject string
	Body    string
	EndCode int // reply to end of data (default 250)
}

// genSession writes a session file in the ACE/Zeek format (core/doc.go):
// "ip:port/tcp", epoch, then the transcript.
func genSession(src string, port int, epoch string, msgs []genMsg) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "%s:%d/tcp\n%s\n", src, port, epoch)
	b.WriteString("< > 220 mx.corp.example ESMTP\n> EHLO sender.example\n< EHLO 250 mx.corp.example\n")
	for i, m := range msgs {
		fmt.Fprintf(&b, "> MAIL FROM:<%s>\n< MAIL 250 ok\n", m.From)
		for _, r := range m.Rcpts {
			code := 250
			if m.Reject[r] {
				code = 550
			}
			fmt.Fprintf(&b, "> RCPT TO:<%s>\n< RCPT %d rcpt\n", r, code)
		}
		b.WriteString("> DATA\n< DATA 354 go ahead\n")
		fmt.Fprintf(&b, "From: %s\nTo: %s\nSubject: %s\nMessage-ID: <m%d@sender.example>\n\n%s\n", m.From, strings.Join(m.Rcpts, ", "), m.Subject, i, m.Body)
		code := m.EndCode
		if code == 0 {
			code = 250
		}
		fmt.Fprintf(&b, "> . .\n< . %d done\n", code)
	}
	b.WriteString("> QUIT\n< QUIT 221 bye\n")
	return []byte(b.String())
}

// spoolWrite writes a session file then its .ready marker, as Zeek does.
func spoolWrite(t testing.TB, spool, name string, data []byte, mtime time.Time) {
	t.Helper()
	p := filepath.Join(spool, name)
	if err := os.MkdirAll(spool, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if !mtime.IsZero() {
		if err := os.Chtimes(p, mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(p+".ready", nil, 0o644); err != nil {
		t.Fatal(err)
	}
}

// simpleSession is a one- or two-message session for bulk tests.
func simpleSession(n int, msgs int) []byte {
	var ms []genMsg
	for i := 0; i < msgs; i++ {
		ms = append(ms, genMsg{From: fmt.Sprintf("s%d@sender.example", n), Rcpts: []string{fmt.Sprintf("u%d@corp.example", n)},
			Subject: fmt.Sprintf("msg %d/%d", n, i), Body: fmt.Sprintf("see http://evil%d.example/p%d", n, i)})
	}
	return genSession(fmt.Sprintf("192.0.2.%d", n%250+1), 40000+n%20000, fmt.Sprintf("%d.25", 1700000000+n), ms)
}

func regexpMust(s string) *regexp.Regexp { return regexp.MustCompile(s) }

// sinkServer serves an in-process ACE sink storing under dir on a loopback
// httptest server, closed when the test ends.
func sinkServer(t testing.TB, dir string) (*ace.Sink, *httptest.Server) {
	t.Helper()
	sink, err := ace.NewSink(dir, ace.SinkOptions{})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sink)
	t.Cleanup(srv.Close)
	return sink, srv
}
