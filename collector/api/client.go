package api

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/smtpscope/smtpscope/core"
)

// Remote is a Backend over the unix-socket API of a running service.
type Remote struct {
	path string
	hc   *http.Client // requests (bounded)
	sc   *http.Client // event stream (no timeout)
}

// DialRemote connects to the API served on DATA/run/smtpscope.sock and checks
// that it answers.
func DialRemote(ctx context.Context, dataDir string) (*Remote, error) {
	path := SocketPath(dataDir)
	dial := func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", path)
	}
	r := &Remote{
		path: path,
		hc:   &http.Client{Transport: &http.Transport{DialContext: dial, MaxIdleConns: 4}, Timeout: 2 * time.Minute},
		sc:   &http.Client{Transport: &http.Transport{DialContext: dial}},
	}
	if _, err := r.Status(ctx); err != nil {
		return nil, fmt.Errorf("attaching to %s: %w", path, err)
	}
	return r, nil
}

// Close releases idle connections.
func (r *Remote) Close() error {
	r.hc.CloseIdleConnections()
	r.sc.CloseIdleConnections()
	return nil
}

func (r *Remote) do(ctx context.Context, method, p string, body any) (*http.Response, error) {
	return r.doWith(ctx, r.hc, method, p, body)
}

// doWith sends a request through hc (r.hc, bounded; r.sc for a stream
// bounded by ctx only) and turns an error reply into the API's errors.
func (r *Remote) doWith(ctx context.Context, hc *http.Client, method, p string, body any) (*http.Response, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://smtpscope"+p, rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, r.unavailable(err)
	}
	if resp.StatusCode/100 != 2 {
		defer resp.Body.Close()
		var e ErrorBody
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		if json.Unmarshal(data, &e) != nil || e.Error == "" {
			return nil, fmt.Errorf("%s %s: HTTP %d", method, p, resp.StatusCode)
		}
		switch {
		case e.Query:
			return nil, &QueryError{Col: e.Col, Msg: e.Error}
		case e.NotFound:
			return nil, fmt.Errorf("%w (%s)", ErrNotFound, e.Error)
		case e.Sort:
			return nil, fmt.Errorf("%w (%s)", ErrSortUnsupported, e.Error)
		case e.NoEvidence:
			return nil, &KindError{Kind: ErrNoEvidence, Msg: e.Error}
		case e.EvidenceGone:
			return nil, &KindError{Kind: ErrEvidenceGone, Msg: e.Error}
		}
		return nil, errors.New(e.Error)
	}
	return resp, nil
}

func (r *Remote) getJSON(ctx context.Context, p string, v any) error {
	resp, err := r.do(ctx, http.MethodGet, p, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return r.bodyErr(ctx, json.NewDecoder(resp.Body).Decode(v))
}

func (r *Remote) getBytes(ctx context.Context, p string) ([]byte, error) {
	resp, err := r.do(ctx, http.MethodGet, p, nil)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return b, r.bodyErr(ctx, err)
}

// bodyErr is the error of reading a reply: a reply cut short means the
// collector went away in the middle of it.
func (r *Remote) bodyErr(ctx context.Context, err error) error {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case err == nil || ctx.Err() != nil || errors.As(err, &se) || errors.As(err, &te):
		return err
	}
	return r.unavailable(err)
}

// unavailable turns a transport error into a sentence an analyst can act
// on (wrapping ErrUnavailable), not Go's "Get \"http://...\": dial unix".
func (r *Remote) unavailable(err error) error {
	why := "it does not answer"
	switch {
	case errors.Is(err, syscall.ENOENT):
		why = "its socket is gone (it quit)"
	case errors.Is(err, syscall.ECONNREFUSED):
		why = "nobody listens on its socket (it quit)"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		why = "it closed the connection (it is quitting or restarting)"
	case errors.Is(err, os.ErrDeadlineExceeded):
		why = "it did not answer in time"
	}
	return fmt.Errorf("%w: %s (%s)", ErrUnavailable, why, r.path)
}

func esc(s string) string { return url.PathEscape(s) }

// Search implements Backend.
func (r *Remote) Search(ctx context.Context, q string, o SearchOptions) (*SearchResult, error) {
	v := url.Values{"q": {q}, "limit": {strconv.Itoa(o.Limit)}, "sort": {o.Sort}, "kind": {o.Kind}}
	if o.Facets {
		v.Set("facets", "1")
	}
	if o.IDsOnly {
		v.Set("ids", "1")
	}
	if o.AsYouType {
		v.Set("typing", "1")
	}
	if o.Histogram {
		v.Set("histogram", "1")
	}
	v["after"] = o.After
	var res SearchResult
	err := r.getJSON(ctx, "/v1/search?"+v.Encode(), &res)
	return &res, err
}

// Email implements Backend.
func (r *Remote) Email(ctx context.Context, id string) (*core.Email, error) {
	var e core.Email
	if err := r.getJSON(ctx, "/v1/email/"+esc(id), &e); err != nil {
		return nil, err
	}
	return &e, nil
}

// Raw implements Backend.
func (r *Remote) Raw(ctx context.Context, id string) ([]byte, error) {
	return r.getBytes(ctx, "/v1/raw/"+esc(id))
}

// Session implements Backend.
func (r *Remote) Session(ctx context.Context, id string) (*core.Session, error) {
	var s core.Session
	p := "/v1/session/" + esc(id)
	if uid, ok := strings.CutPrefix(id, "session/"); ok {
		p = "/v1/session/session/" + esc(uid)
	}
	if err := r.getJSON(ctx, p, &s); err != nil {
		return nil, err
	}
	return &s, nil
}

// Attachment implements Backend.
func (r *Remote) Attachment(ctx context.Context, emailID, sha1 string) ([]byte, error) {
	return r.getBytes(ctx, "/v1/attachment/"+esc(emailID)+"/"+esc(sha1))
}

// Pcap implements Backend: the pcap streamed by GET /v1/pcap/{id}, with
// no time bound but ctx's (a long connection is a large file). A reply
// cut short (the service found an error past the start, or quit) is an
// error: w then holds no whole pcap.
func (r *Remote) Pcap(ctx context.Context, id string, w io.Writer) (int, error) {
	resp, err := r.doWith(ctx, r.sc, http.MethodGet, "/v1/pcap/"+esc(id), nil)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	ew := &errWriter{w: w}
	if _, err := io.Copy(ew, resp.Body); err != nil {
		if ew.err != nil {
			return 0, ew.err
		}
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		return 0, fmt.Errorf("email %s: the pcap was cut short (the collector met an error past its start, see its log, or quit): %v", id, err)
	}
	n, _ := strconv.Atoi(resp.Trailer.Get(PcapPacketsTrailer))
	return n, nil
}

// errWriter keeps the error of its writer, to tell it from the reply's.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	n, err := e.w.Write(p)
	if err != nil {
		e.err = err
	}
	return n, err
}

// PcapPacketsTrailer is the HTTP trailer of GET /v1/pcap/{id} that counts
// the packets sent.
const PcapPacketsTrailer = "Smtpscope-Packets"

// Submissions implements Backend.
func (r *Remote) Submissions(ctx context.Context, id string) ([]SubmissionStatus, error) {
	var s []SubmissionStatus
	err := r.getJSON(ctx, "/v1/submissions/"+esc(id), &s)
	return s, err
}

// Review implements Backend.
func (r *Remote) Review(ctx context.Context, name string) (*Review, error) {
	var rv Review
	if err := r.getJSON(ctx, "/v1/review/"+esc(strings.TrimPrefix(name, "review/")), &rv); err != nil {
		return nil, err
	}
	return &rv, nil
}

// Status implements Backend.
func (r *Remote) Status(ctx context.Context) (*Status, error) {
	var st Status
	if err := r.getJSON(ctx, "/v1/status", &st); err != nil {
		return nil, err
	}
	st.Mode = "remote"
	return &st, nil
}

// Resubmit implements Backend.
func (r *Remote) Resubmit(ctx context.Context, ids []string, group string) (int, error) {
	resp, err := r.do(ctx, http.MethodPost, "/v1/resubmit", map[string]any{"ids": ids, "group": group})
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var out struct {
		Queued int `json:"queued"`
	}
	err = json.NewDecoder(resp.Body).Decode(&out)
	return out.Queued, r.bodyErr(ctx, err)
}

// SetPaused implements Backend.
func (r *Remote) SetPaused(ctx context.Context, p bool) error {
	resp, err := r.do(ctx, http.MethodPost, "/v1/pause", map[string]bool{"paused": p})
	if err != nil {
		return err
	}
	return resp.Body.Close()
}

// Events implements Backend: a server-sent event stream, reconnected
// (with a short backoff) when the collector restarts.
func (r *Remote) Events(ctx context.Context) (<-chan Event, error) {
	out := make(chan Event, 256)
	go func() {
		defer close(out)
		backoff := 200 * time.Millisecond
		for ctx.Err() == nil {
			if err := r.stream(ctx, out); err == nil {
				backoff = 200 * time.Millisecond
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(backoff*2, 5*time.Second)
		}
	}()
	return out, nil
}

func (r *Remote) stream(ctx context.Context, out chan<- Event) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://smtpscope/v1/events", nil)
	if err != nil {
		return err
	}
	resp, err := r.sc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("events: HTTP %d", resp.StatusCode)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		line := sc.Text()
		data, ok := strings.CutPrefix(line, "data: ")
		if !ok {
			continue
		}
		var ev Event
		if json.Unmarshal([]byte(data), &ev) != nil {
			continue
		}
		select {
		case out <- ev:
		case <-ctx.Done():
			return ctx.Err()
		default: // a slow reader loses events, as with Local
		}
	}
	return sc.Err()
}
