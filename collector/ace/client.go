package ace

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"os"
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
	if o.Timeout <= 0 {
		o.Timeout = 60 * time.Second
	}
	if o.APIKeyHeader == "" {
		o.APIKeyHeader = DefaultAPIKeyHeader
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
	return &Client{
		http:      &http.Client{Transport: tr, Timeout: o.Timeout},
		key:       o.APIKey,
		keyHeader: o.APIKeyHeader,
	}, nil
}

// Error is a failed submission. Permanent errors (HTTP 400, or a request
// that cannot be built) must not be retried; others may.
type Error struct {
	Node      string
	Status    int // HTTP status; 0 for transport errors
	Message   string
	Permanent bool
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
		return &Error{Node: node, Message: err.Error(), Permanent: true}
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return &Error{Node: node, Message: cleanErr(err)}
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusOK {
		return &Error{Node: node, Status: resp.StatusCode, Message: snippet(body)}
	}
	var r struct {
		Result string `json:"result"`
	}
	if err := json.Unmarshal(body, &r); err != nil || r.Result != "pong" {
		return &Error{Node: node, Status: resp.StatusCode, Message: "ping: unexpected answer " + snippet(body)}
	}
	return nil
}

// Encode builds the multipart body of s; it returns the body and its
// content type.
func Encode(s *Submission) ([]byte, string, error) {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	js, err := json.Marshal(s.Analysis)
	if err != nil {
		return nil, "", err
	}
	if err := mw.WriteField("analysis", string(js)); err != nil {
		return nil, "", err
	}
	for _, f := range s.Files {
		h := make(textproto.MIMEHeader)
		h.Set("Content-Disposition", fmt.Sprintf(`form-data; name="file"; filename=%q`, f.Name))
		h.Set("Content-Type", "application/octet-stream")
		w, err := mw.CreatePart(h)
		if err != nil {
			return nil, "", err
		}
		if _, err := w.Write(f.Data); err != nil {
			return nil, "", err
		}
	}
	if err := mw.Close(); err != nil {
		return nil, "", err
	}
	return buf.Bytes(), mw.FormDataContentType(), nil
}

// Submit posts s to node's /api/analysis/submit and returns the uuid ACE
// gave the analysis. Failures are *Error; HTTP 400 is permanent.
func (c *Client) Submit(ctx context.Context, node string, s *Submission) (string, error) {
	body, ctype, err := Encode(s)
	if err != nil {
		return "", &Error{Node: node, Message: "encode: " + err.Error(), Permanent: true}
	}
	return c.SubmitEncoded(ctx, node, body, ctype)
}

// SubmitEncoded posts an already encoded body (see Encode).
func (c *Client) SubmitEncoded(ctx context.Context, node string, body []byte, ctype string) (string, error) {
	req, err := c.newRequest(ctx, http.MethodPost, strings.TrimRight(node, "/")+"/api/analysis/submit", bytes.NewReader(body))
	if err != nil {
		return "", &Error{Node: node, Message: err.Error(), Permanent: true}
	}
	req.Header.Set("Content-Type", ctype)
	resp, err := c.http.Do(req)
	if err != nil {
		return "", &Error{Node: node, Message: cleanErr(err)}
	}
	defer resp.Body.Close()
	rb, rerr := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	switch {
	case resp.StatusCode == http.StatusOK:
		if rerr != nil {
			return "", &Error{Node: node, Status: resp.StatusCode, Message: "reading answer: " + cleanErr(rerr)}
		}
		var r struct {
			Result struct {
				UUID string `json:"uuid"`
			} `json:"result"`
		}
		if err := json.Unmarshal(rb, &r); err != nil || r.Result.UUID == "" {
			return "", &Error{Node: node, Status: resp.StatusCode, Message: "answer without result.uuid: " + snippet(rb)}
		}
		return r.Result.UUID, nil
	case resp.StatusCode == http.StatusBadRequest:
		return "", &Error{Node: node, Status: resp.StatusCode, Message: snippet(rb), Permanent: true}
	default:
		return "", &Error{Node: node, Status: resp.StatusCode, Message: snippet(rb)}
	}
}

// cleanErr keeps transport errors short; the URL holds no secret but the
// error strings of net/http are long.
func cleanErr(err error) string {
	if errors.Is(err, context.DeadlineExceeded) {
		return "timeout: " + err.Error()
	}
	return err.Error()
}

func snippet(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 500 {
		s = s[:500] + "..."
	}
	return strings.ToValidUTF8(s, "?")
}
