package service

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"strconv"
	"strings"

	"github.com/smtpscope/smtpscope/collector/api"
	"github.com/smtpscope/smtpscope/collector/capture"
	"github.com/smtpscope/smtpscope/core"
)

// Pcap implements api.Backend: the email's connection cut from its
// evidence pcaps (EmailPcap).
func (l *Service) Pcap(ctx context.Context, id string, w io.Writer) (int, error) {
	rec, err := l.store.Record(id)
	if err != nil {
		return 0, notFound(err)
	}
	return EmailPcap(rec, ctxWriter{ctx: ctx, w: w})
}

// EmailPcap writes to w, as one pcap, the packets of rec's TCP connection
// cut from the evidence pcaps its session names (capture.ExtractFlow):
// what `show ID --pcap` writes and GET /v1/pcap/{id} sends. An email
// without evidence is an error wrapping api.ErrNoEvidence; files that
// are gone, or hold no packet of the connection, api.ErrEvidenceGone.
func EmailPcap(rec *core.Email, w io.Writer) (int, error) {
	si := rec.Session
	if len(si.Pcap) == 0 {
		why := "its session was not captured live with --pcap-dir (smtpscope capture, collect --interface)"
		if !rec.HasSession() {
			why = "it was read from a file, not captured from an SMTP connection"
		}
		return 0, evidenceErr(api.ErrNoEvidence, "email %s names no evidence pcap: %s", rec.ID, why)
	}
	if si.SourceIP == "" || si.DestIP == "" || si.DestPort == 0 || si.SourcePort == 0 {
		return 0, evidenceErr(api.ErrNoEvidence, "email %s: its session does not name both ends of the connection", rec.ID)
	}
	var gone []string
	for _, p := range si.Pcap {
		if _, err := os.Stat(p); errors.Is(err, fs.ErrNotExist) {
			gone = append(gone, p)
		}
	}
	if len(gone) > 0 {
		return 0, evidenceErr(api.ErrEvidenceGone, "email %s: its evidence pcap %s is gone (removed by --pcap-keep or a retention of yours; at a hub the files are on the sensor)", rec.ID, strings.Join(gone, ", "))
	}
	flow := capture.Flow{ClientIP: si.SourceIP, ClientPort: si.SourcePort, ServerIP: si.DestIP, ServerPort: si.DestPort}
	n, err := capture.ExtractFlow(si.Pcap, flow, w)
	if err != nil {
		return n, fmt.Errorf("email %s: its evidence pcaps: %w", rec.ID, err)
	}
	if n == 0 {
		return 0, evidenceErr(api.ErrEvidenceGone, "email %s: no packet of its connection in %s (removed by --pcap-keep, or replaced?)", rec.ID, strings.Join(si.Pcap, ", "))
	}
	return n, nil
}

func evidenceErr(kind error, format string, args ...any) error {
	return &api.KindError{Kind: kind, Msg: fmt.Sprintf(format, args...)}
}

// ctxWriter stops a write once ctx ends (the client went away).
type ctxWriter struct {
	ctx context.Context
	w   io.Writer
}

func (c ctxWriter) Write(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.w.Write(p)
}

// pcapHold is how much of a pcap reply is held before its status is
// sent: an error found within it (no packet of the connection: only the
// file header was written) still gets its status code.
const pcapHold = 64 << 10

// servePcap serves GET /v1/pcap/{id}: the pcap streamed, its packet
// count in the trailer; an error past the first pcapHold bytes aborts
// the reply, so the client never takes a cut pcap for a whole one.
func servePcap(w http.ResponseWriter, r *http.Request, b api.Backend) {
	id := r.PathValue("id")
	hw := &holdWriter{w: w, name: id}
	n, err := b.Pcap(r.Context(), id, hw)
	if err != nil {
		if !hw.committed {
			reply(w, nil, err)
			return
		}
		panic(http.ErrAbortHandler)
	}
	if err := hw.commit(); err != nil {
		panic(http.ErrAbortHandler)
	}
	w.Header().Set(api.PcapPacketsTrailer, strconv.Itoa(n))
}

// holdWriter holds what is written until pcapHold bytes, then sends the
// reply's header and streams.
type holdWriter struct {
	w         http.ResponseWriter
	name      string
	buf       []byte
	committed bool
}

func (h *holdWriter) Write(p []byte) (int, error) {
	if h.committed {
		return h.w.Write(p)
	}
	h.buf = append(h.buf, p...)
	if len(h.buf) >= pcapHold {
		if err := h.commit(); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

// commit sends the status, the headers and what is held.
func (h *holdWriter) commit() error {
	if h.committed {
		return nil
	}
	h.committed = true
	hd := h.w.Header()
	hd.Set("Content-Type", "application/vnd.tcpdump.pcap")
	hd.Set("Content-Disposition", `attachment; filename="`+pcapFileName(h.name)+`"`)
	hd.Set("Trailer", api.PcapPacketsTrailer)
	h.w.WriteHeader(http.StatusOK)
	_, err := h.w.Write(h.buf)
	h.buf = nil
	return err
}

// pcapFileName is a file name for an email's pcap: its id with anything
// but letters, digits, '.', '-' and '_' replaced.
func pcapFileName(id string) string {
	b := []byte(id)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '_') {
			b[i] = '_'
		}
	}
	return string(b) + ".pcap"
}
