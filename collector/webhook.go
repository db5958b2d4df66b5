package collector

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/textproto"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/smtpscope/smtpscope/collector/ace"
	"github.com/smtpscope/smtpscope/core"
)

// Webhook request (README "Webhook delivery"): format version 1.
const (
	WebhookFormat       = "smtpscope.email/1"
	HdrWebhookSignature = "X-Smtpscope-Signature" // "sha256=" + hex HMAC-SHA256(secret, timestamp + "." + body)
	HdrWebhookTimestamp = "X-Smtpscope-Timestamp" // Unix seconds when the request was signed
	HdrWebhookID        = "X-Smtpscope-Id"        // the email's global id: the same on every resend
)

// WebhookBody is the JSON body of a webhook request.
type WebhookBody struct {
	Format   string          `json:"format"` // WebhookFormat
	Sensor   string          `json:"sensor"`
	ID       string          `json:"id"`        // the email id on its sensor
	GlobalID string          `json:"global_id"` // sensor/id: the same on every resend
	SHA256   string          `json:"sha256"`    // of the raw message
	Size     int64           `json:"size"`      // raw message bytes
	Record   json.RawMessage `json:"record"`    // the email record (core.Email)
	// RawBase64 is the raw message, base64, when it is at most the
	// group's raw_max bytes; absent otherwise.
	RawBase64 string `json:"raw_base64,omitempty"`
}

// WebhookSignature is the X-Smtpscope-Signature value of a body signed
// at ts: "sha256=" followed by the lower-case hex HMAC-SHA256, keyed
// with the secret, of the decimal Unix seconds ts, a ".", and the body
// bytes exactly as sent.
func WebhookSignature(secret []byte, ts int64, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(strconv.FormatInt(ts, 10)))
	mac.Write([]byte("."))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// reservedWebhookHeaders may not be set by a group's headers.
var reservedWebhookHeaders = []string{"Content-Type", "Content-Length", "Host", HdrWebhookSignature, HdrWebhookTimestamp, HdrWebhookID}

// validateWebhook checks a webhook group's settings.
func (g GroupConfig) validateWebhook(where string) []error {
	var errs []error
	if g.SecretFile == "" && g.SecretEnv == "" {
		errs = append(errs, fmt.Errorf("%s: a webhook needs a signing secret: secret_file or secret_env", where))
	}
	if g.SecretFile != "" && g.SecretEnv != "" {
		errs = append(errs, fmt.Errorf("%s: secret_file and secret_env: set one", where))
	}
	if g.APIKeyFile != "" {
		errs = append(errs, fmt.Errorf("%s: api_key_file is not for webhooks (put a key in headers)", where))
	}
	if g.RawMax < 0 {
		errs = append(errs, fmt.Errorf("%s: raw_max: must be 0 (never) or positive", where))
	}
	for name := range g.Headers {
		canon := textproto.CanonicalMIMEHeaderKey(name)
		for _, r := range reservedWebhookHeaders {
			if canon == textproto.CanonicalMIMEHeaderKey(r) {
				errs = append(errs, fmt.Errorf("%s: header %q is set by smtpscope", where, name))
			}
		}
		if name == "" || strings.ContainsAny(name, " :\r\n\x00") {
			errs = append(errs, fmt.Errorf("%s: header name %q is not valid", where, name))
		}
	}
	return errs
}

// webhookDelivery posts each email to a URL, signed.
type webhookDelivery struct {
	*httpDelivery
	secret  []byte
	headers http.Header
	now     func() time.Time
}

func newWebhookDelivery(c *Collector, g GroupConfig, sub SubmissionConfig, wake func()) (deliverer, error) {
	secret, err := secretFrom("secret", g.SecretFile, g.SecretEnv)
	if err != nil {
		return nil, fmt.Errorf("group %q: %w", g.Name, err)
	}
	if secret == "" {
		return nil, fmt.Errorf("group %q: a webhook needs a signing secret: secret_file or secret_env", g.Name)
	}
	h := http.Header{}
	for name, v := range g.Headers {
		val, err := headerValue(v)
		if err != nil {
			return nil, fmt.Errorf("group %q: header %s: %w", g.Name, name, err)
		}
		if strings.ContainsAny(val, "\r\n\x00") {
			return nil, fmt.Errorf("group %q: header %s: value holds a line break or NUL", g.Name, name)
		}
		h.Set(name, val)
	}
	hd, err := newHTTPDelivery(c, g, sub, wake)
	if err != nil {
		return nil, err
	}
	w := &webhookDelivery{httpDelivery: hd, secret: []byte(secret), headers: h, now: time.Now}
	hd.send = w.send
	return w, nil
}

// headerValue resolves a configured header value: "env:NAME" from the
// environment, "file:/path" from a file (trimmed), else as written.
func headerValue(v string) (string, error) {
	switch {
	case strings.HasPrefix(v, "env:"):
		return secretFrom("value", "", strings.TrimPrefix(v, "env:"))
	case strings.HasPrefix(v, "file:"):
		return secretFrom("value", strings.TrimPrefix(v, "file:"), "")
	}
	return v, nil
}

// BuildWebhookBody is the body of email rec (stored as m) for a group
// whose raw_max is rawMax; raw reads the message when it is included.
func BuildWebhookBody(rec *core.Email, m *EmailMeta, sensor string, rawMax int64, raw func() ([]byte, error)) ([]byte, error) {
	sensor = firstOf(rec.Sensor, sensor)
	// at a hub the stored id is already <sensor>/<id>: id is the sensor's
	id := rec.ID
	if sensor != "" {
		id = strings.TrimPrefix(id, sensor+"/")
	}
	b := WebhookBody{Format: WebhookFormat, Sensor: sensor, ID: id, GlobalID: core.GlobalID(sensor, rec.ID),
		SHA256: rec.SHA256, Size: m.Size}
	var err error
	if b.Record, err = json.Marshal(rec); err != nil {
		return nil, err
	}
	if rawMax > 0 && m.Size <= rawMax {
		r, err := raw()
		if err != nil {
			return nil, err
		}
		b.RawBase64 = base64Std(r)
	}
	return json.Marshal(b)
}

// send posts one email: 2xx is delivered; 408, 429, 5xx, redirects and
// transport failures are retried; other 4xx fail for good.
func (w *webhookDelivery) send(ctx context.Context, id string) (string, bool, error) {
	s := w.c.store
	rec, m, err := s.deliverable(id)
	if err != nil {
		return "", false, err
	}
	body, err := BuildWebhookBody(rec, m, w.c.cfg().Sensor, int64(w.cfg.RawMax), func() ([]byte, error) { return os.ReadFile(s.Path(m.EML)) })
	if err != nil {
		return "", false, localError("building body", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.cfg.URL, bytes.NewReader(body))
	if err != nil {
		e := ace.NodeError(w.cfg.URL, 0, err.Error())
		e.Permanent = true
		return "", true, e
	}
	for k, v := range w.headers {
		req.Header[k] = v
	}
	ts := w.now().Unix()
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "smtpscope")
	req.Header.Set(HdrWebhookTimestamp, strconv.FormatInt(ts, 10))
	req.Header.Set(HdrWebhookSignature, WebhookSignature(w.secret, ts, body))
	req.Header.Set(HdrWebhookID, core.GlobalID(firstOf(rec.Sensor, w.c.cfg().Sensor), rec.ID))
	status, rb, err := ace.Do(w.http, req, w.cfg.URL, 64<<10)
	switch {
	case err != nil:
		return "", true, err
	case status >= 200 && status < 300:
		return "HTTP " + strconv.Itoa(status), true, nil
	}
	return "", true, answerError(w.cfg.URL, status, rb, nil)
}

func base64Std(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
