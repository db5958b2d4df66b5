package ace

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// DefaultAPIKeyHeader is the header ACE reads the API key from.
const DefaultAPIKeyHeader = "x-ace-auth"

// ClientOptions configure a Client.
type ClientOptions struct {
	APIKey       string        // sent in APIKeyHeader when not empty; never logged
	APIKeyHeader string        // default "x-ace-auth"
	CAFile       string        // PEM bundle added to the system roots
	Insecure     bool          // skip TLS verification (off by default; for labs only)
	Timeout      time.Duration // per request; default 60s
}

// Client talks to ACE nodes.
type Client struct {
	http      *http.Client
	key       string
	keyHeader string
}

// NewClient makes a client. TLS verification is on unless o.Insecure.
func NewClient(o ClientOptions) (*Client, error) {
	if o.APIKeyHeader == "" {
		o.APIKeyHeader = DefaultAPIKeyHeader
	}
	hc, err := NewHTTPClient(o)
	if err != nil {
		return nil, err
	}
	return &Client{http: hc, key: o.APIKey, keyHeader: o.APIKeyHeader}, nil
}

// NewHTTPClient is the HTTP client of NewClient, shared by the other
// HTTP delivery kinds (TheHive, webhooks): o's TLS options and timeout
// (o.APIKey is not used), redirects never followed.
func NewHTTPClient(o ClientOptions) (*http.Client, error) {
	if o.Timeout <= 0 {
		o.Timeout = 60 * time.Second
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: o.Insecure} //nolint:gosec // opt-in only
	if o.CAFile != "" {
		pem, err := os.ReadFile(o.CAFile)
		if err != nil {
			return nil, fmt.Errorf("ace: CA bundle: %w", err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ace: CA bundle %s: no PEM certificate found", o.CAFile)
		}
		tc.RootCAs = pool
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tc
	tr.MaxIdleConnsPerHost = 16
	// Redirects are never followed: the API key and the email go to
	// the configured node only, never to another host or scheme.
	return &http.Client{Transport: tr, Timeout: o.Timeout, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}, nil
}

// Error is a failed submission or ping. Permanent errors (HTTP 400, or a
// request that cannot be built) must not be retried; others may. Node is
// the node's URL without credentials (RedactURL); Message never holds
// them either.
type Error struct {
	Node      string
	Status    int // HTTP status; 0 for transport errors
	Message   string
	Permanent bool
	// RetryAfter is the delay the Retry-After header of a 429 or 503
	// answer asked for (0: none).
	RetryAfter time.Duration
	// Local: the request failed on this side (its body's files could
	// not be read), which says nothing about the node.
	Local bool
}

func (e *Error) Error() string {
	if e.Status == 0 {
		return fmt.Sprintf("%s: %s", e.Node, e.Message)
	}
	return fmt.Sprintf("%s: HTTP %d: %s", e.Node, e.Status, e.Message)
}

// IsPermanent reports whether err is a permanent submission failure.
func IsPermanent(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Permanent
}

// NodeFailure reports whether err says the node itself is unavailable
// rather than that it refused this one request: a connection error or
// timeout, a redirect (refused), HTTP 429 or any 5xx.
func NodeFailure(err error) bool {
	var e *Error
	if !errors.As(err, &e) || e.Permanent || e.Local {
		return false
	}
	return e.Status == 0 || e.Status == http.StatusTooManyRequests || e.Status >= 300 && e.Status < 400 || e.Status >= 500
}

// RetryAfter is the delay err's answer asked for (0: none).
func RetryAfter(err error) time.Duration {
	var e *Error
	if errors.As(err, &e) {
		return e.RetryAfter
	}
	return 0
}

// NodeError makes the Error of a request to node, credentials removed
// from the node and the message; Snippet makes an answer's body fit
// for it.
func NodeError(node string, status int, msg string) *Error { return nodeError(node, status, msg) }

// Snippet is the start of an answer's body, printable, for an Error.
func Snippet(b []byte) string { return snippet(b) }

// nodeError makes the Error of a request to node, credentials removed
// from the node and the message.
func nodeError(node string, status int, msg string) *Error {
	return &Error{Node: RedactURL(node), Status: status, Message: scrub(msg, node)}
}

func (c *Client) newRequest(ctx context.Context, method, url string, body io.Reader) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, method, url, body)
	if err != nil {
		return nil, err
	}
	if c.key != "" {
		req.Header.Set(c.keyHeader, c.key)
	}
	req.Header.Set("User-Agent", "smtpscope")
	return req, nil
}

// Ping checks a node: GET /api/common/ping must answer {"result":"pong"}.
func (c *Client) Ping(ctx context.Context, node string) error {
	req, err := c.newRequest(ctx, http.MethodGet, strings.TrimRight(node, "/")+"/api/common/ping", nil)
	if err != nil {
		return permanent(node, err)
	}
	status, body, err := c.do(req, node, 64<<10)
	if err != nil {
		return err
	}
	if status != http.StatusOK {
		return nodeError(node, status, snippet(body))
	}
	var r struct {
		Result string `json:"result"`
	}
	if err := json.Unmarshal(body, &r); err != nil || r.Result != "pong" {
		return nodeError(node, status, "ping: unexpected answer "+snippet(body))
	}
	return nil
}

func permanent(node string, err error) *Error {
	e := nodeError(node, 0, cleanErr(err))
	e.Permanent = true
	return e
}

// do sends req to node and reads at most limit bytes of the answer. A
// transport error, a redirect (never followed) and a 429 or 503 answer
// (with its Retry-After) are returned as *Error; other statuses are the
// caller's to judge.
func (c *Client) do(req *http.Request, node string, limit int64) (int, []byte, error) {
	return Do(c.http, req, node, limit)
}

// Do sends req to node with hc and reads at most limit bytes of the
// answer. Errors are *Error without credentials: a transport error
// (Status 0), a redirect (refused, never followed), 429 and 503 with
// their Retry-After; other statuses are returned with the body for the
// caller to judge. A request body that fails to read (a stored file
// gone) is a Local error.
func Do(hc *http.Client, req *http.Request, node string, limit int64) (int, []byte, error) {
	resp, err := hc.Do(req)
	if be, ok := errors.AsType[*bodyError](err); ok {
		e := nodeError(node, 0, "reading the submission: "+be.Error())
		e.Local, e.Permanent = true, errors.Is(be, os.ErrNotExist)
		return 0, nil, e
	}
	if err != nil {
		return 0, nil, nodeError(node, 0, cleanErr(err))
	}
	defer resp.Body.Close()
	body, rerr := io.ReadAll(io.LimitReader(resp.Body, limit))
	switch code := resp.StatusCode; {
	case code >= 300 && code < 400:
		return 0, nil, nodeError(node, code, "redirect to "+location(resp)+" refused (redirects are never followed: "+
			"configure the node URL the API answers on)")
	case code == http.StatusTooManyRequests || code == http.StatusServiceUnavailable:
		e := nodeError(node, code, snippet(body))
		e.RetryAfter = ParseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
		return 0, nil, e
	case rerr != nil:
		return 0, nil, nodeError(node, code, "reading answer: "+cleanErr(rerr))
	}
	return resp.StatusCode, body, nil
}

// location is a redirect's Location, credentials removed, made printable.
func location(resp *http.Response) string {
	loc := resp.Header.Get("Location")
	if loc == "" {
		return "(no Location)"
	}
	return snippet([]byte(RedactURL(loc)))
}

// maxRetryAfter bounds what ParseRetryAfter returns.
const maxRetryAfter = 7 * 24 * time.Hour

// ParseRetryAfter reads a Retry-After header: delay-seconds or an HTTP
// date (relative to now). It returns 0 for an empty, invalid or past
// value, and at most a week.
func ParseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if v[0] >= '0' && v[0] <= '9' {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			if errors.Is(err, strconv.ErrRange) {
				return maxRetryAfter
			}
			return 0
		}
		return min(time.Duration(min(n, uint64(maxRetryAfter/time.Second)))*time.Second, maxRetryAfter)
	}
	t, err := http.ParseTime(v)
	if err != nil || !t.After(now) {
		return 0
	}
	return min(t.Sub(now), maxRetryAfter)
}

// Submit posts s to node's /api/analysis/submit and returns the uuid ACE
// gave the analysis. Failures are *Error; HTTP 400 is permanent.
func (c *Client) Submit(ctx context.Context, node string, s *Submission) (string, error) {
	body, err := Encode(s)
	if err != nil {
		return "", &Error{Node: RedactURL(node), Message: "encode: " + err.Error(), Permanent: true}
	}
	return c.SubmitEncoded(ctx, node, body)
}

// SubmitEncoded posts an already encoded body (see Encode) with its exact
// Content-Length; the body is read from its files as it is sent, and
// again (GetBody) when net/http retries the request.
func (c *Client) SubmitEncoded(ctx context.Context, node string, body *Body) (string, error) {
	req, err := c.newRequest(ctx, http.MethodPost, strings.TrimRight(node, "/")+"/api/analysis/submit", nil)
	if err != nil {
		return "", permanent(node, err)
	}
	req.Body, req.ContentLength = body.Open(), body.Length
	req.GetBody = func() (io.ReadCloser, error) { return body.Open(), nil }
	req.Header.Set("Content-Type", body.ContentType)
	status, rb, err := c.do(req, node, 1<<20)
	switch {
	case err != nil:
		return "", err
	case status == http.StatusOK:
		var r struct {
			Result struct {
				UUID string `json:"uuid"`
			} `json:"result"`
		}
		if err := json.Unmarshal(rb, &r); err != nil || r.Result.UUID == "" {
			return "", nodeError(node, status, "answer without result.uuid: "+snippet(rb))
		}
		return r.Result.UUID, nil
	case status == http.StatusBadRequest:
		e := nodeError(node, status, snippet(rb))
		e.Permanent = true
		return "", e
	default:
		return "", nodeError(node, status, snippet(rb))
	}
}

// cleanErr keeps transport errors short and free of the request URL,
// which may hold credentials: the *url.Error net/http wraps them in is
// dropped (the Error names the node already).
func cleanErr(err error) string {
	msg := err.Error()
	if ue, ok := errors.AsType[*url.Error](err); ok {
		msg = ue.Op + ": " + ue.Err.Error()
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "timeout: " + msg
	}
	return msg
}

func snippet(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 500 {
		s = s[:500] + "..."
	}
	return strings.ToValidUTF8(s, "?")
}
