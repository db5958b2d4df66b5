package api

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/smtpscope/smtpscope/core"
)

// NoEmailReason says why a session carried no email.
func NoEmailReason(s *core.Session) string {
	var rejected, accepted, data bool
	for _, ev := range s.Events {
		if ev.Kind == core.EventServer && ev.Cmd == "RCPT" {
			if ev.Code >= 200 && ev.Code < 300 {
				accepted = true
			} else if ev.Code >= 400 {
				rejected = true
			}
		}
		if ev.Kind == core.EventClient && (ev.Cmd == "DATA" || ev.Cmd == "BDAT") {
			data = true
		}
	}
	switch {
	case s.Info.StartTLS:
		return "STARTTLS: the rest of the session is encrypted"
	case rejected && !accepted:
		return "every recipient was refused"
	case len(s.Events) == 0:
		return "empty session"
	case !data:
		return "no DATA: the client sent no message"
	}
	return "no message"
}

// TranscriptText renders a session as plain text: "C:" client lines,
// "S:" server lines and, with data, the message bytes as received. It is
// for files and the index, never for the terminal (it is not sanitized).
func TranscriptText(s *core.Session, data bool) string {
	var b strings.Builder
	si := s.Info
	fmt.Fprintf(&b, "# session %s  %s:%d -> %s:%d  %s\n", si.UID, si.SourceIP, si.SourcePort, si.DestIP, si.DestPort, si.Time.UTC().Format("2006-01-02T15:04:05Z"))
	for _, ev := range s.Events {
		switch ev.Kind {
		case core.EventClient:
			b.WriteString("C: " + ev.Cmd)
			if ev.Arg != "" {
				b.WriteString(" " + ev.Arg)
			}
			b.WriteByte('\n')
		case core.EventServer:
			fmt.Fprintf(&b, "S: %d %s\n", ev.Code, ev.Text)
		case core.EventData:
			fmt.Fprintf(&b, "-- message %d: %d bytes --\n", ev.Msg, ev.Bytes)
			if data && ev.Msg >= 0 && ev.Msg < len(s.Messages) {
				d := s.Messages[ev.Msg].Data
				b.Write(d)
				if len(d) > 0 && !bytes.HasSuffix(d, []byte("\n")) {
					b.WriteByte('\n')
				}
				b.WriteString("-- end of message --\n")
			}
		case core.EventAnomaly:
			b.WriteString("! " + ev.Text + "\n")
		}
	}
	return b.String()
}
