package collector

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/smtpscope/smtpscope/collector/ace"
)

// httpDelivery delivers a group's emails to one HTTP endpoint (kinds
// thehive and webhook): the kind's send makes the request(s) of one
// email. The endpoint has the circuit breaker of an ACE node (node,
// submit_ace.go): a connection failure, timeout, redirect, HTTP 429 or
// 5xx puts it down for its backoff (or Retry-After); once that has
// passed the next delivery is the probe (these APIs have no ping).
type httpDelivery struct {
	c     *Collector
	cfg   GroupConfig
	sub   SubmissionConfig
	http  *http.Client
	ep    *node
	probe chan struct{} // to monitor: the endpoint went down
	wake  func()
	// send delivers one email; asked is false when the endpoint was not
	// reached (the email could not be read), so it says nothing of it.
	send func(ctx context.Context, id string) (receipt string, asked bool, err error)
}

func newHTTPDelivery(c *Collector, g GroupConfig, sub SubmissionConfig, wake func()) (*httpDelivery, error) {
	hc, err := ace.NewHTTPClient(ace.ClientOptions{CAFile: firstOf(g.CAFile, sub.CAFile), Insecure: sub.InsecureSkipVerify,
		Timeout: sub.Timeout.D()})
	if err != nil {
		return nil, fmt.Errorf("group %q: %w", g.Name, err)
	}
	return &httpDelivery{c: c, cfg: g, sub: sub, http: hc, ep: &node{url: g.URL, name: ace.RedactURL(g.URL)},
		probe: make(chan struct{}, 1), wake: wake}, nil
}

// monitor lets the endpoint be tried again once its backoff has passed.
func (d *httpDelivery) monitor(ctx context.Context) {
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for {
		if d.ep.probeDue(time.Now()) {
			if d.ep.succeeded(true) { // half open: the next delivery is the probe
				d.c.log.Info("endpoint tried again", "group", d.cfg.Name, "url", d.ep.name)
				d.wake()
			}
		}
		wait := time.Hour
		d.ep.mu.Lock()
		if d.ep.down {
			wait = max(time.Until(d.ep.until), time.Millisecond)
		}
		d.ep.mu.Unlock()
		t.Reset(wait)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-d.probe:
		}
	}
}

func (d *httpDelivery) ready() bool { return d.ep.isUp() }

func (d *httpDelivery) deliver(id string) (delivery, error) {
	if !d.ep.isUp() {
		return delivery{skipped: true}, nil
	}
	// not canceled by shutdown: a request in flight finishes (bounded
	// by the client timeout) so its outcome is recorded
	receipt, asked, err := d.send(context.Background(), id)
	if !asked {
		return delivery{}, err
	}
	if ace.NodeFailure(err) {
		if d.ep.failed(err, d.sub) {
			st := d.ep.status()
			d.c.fail(fmt.Sprintf("endpoint %s of group %s down until %s after %d failures", d.ep.name, d.cfg.Name,
				st.DownUntil.Format(time.RFC3339), st.Failures), errors.New(st.LastError))
		}
		signal(d.probe)
	} else if d.ep.succeeded(false) {
		d.c.log.Info("endpoint up", "group", d.cfg.Name, "url", d.ep.name)
	}
	return delivery{receipt: receipt, endpoint: d.ep.name}, err
}

func (d *httpDelivery) permanent(err error) bool           { return ace.IsPermanent(err) }
func (d *httpDelivery) retryAfter(err error) time.Duration { return ace.RetryAfter(err) }
func (d *httpDelivery) refused(err error) bool             { return !ace.NodeFailure(err) }
func (d *httpDelivery) close()                             {}
func (d *httpDelivery) status() []NodeStatus               { return []NodeStatus{d.ep.status()} }

// answerError is the error of an answer with status that is not a
// success: 408 and 429 are retried, other 4xx are permanent unless
// retry4xx says otherwise (TheHive's 401/403: a key that can be fixed),
// 5xx are retried (ace.Do made the errors of 3xx, 429 and 503).
func answerError(node string, status int, body []byte, retry4xx func(int) bool) error {
	e := ace.NodeError(node, status, ace.Snippet(body))
	if status >= 400 && status < 500 && status != http.StatusRequestTimeout && status != http.StatusTooManyRequests &&
		(retry4xx == nil || !retry4xx(status)) {
		e.Permanent = true
	}
	return e
}

// localError is a failure on this side (the email could not be read):
// the endpoint was not asked; permanent when the file is gone.
func localError(what string, err error) error {
	return &ace.Error{Message: what + ": " + err.Error(), Permanent: errors.Is(err, os.ErrNotExist) || errors.Is(err, ErrNotFound), Local: true}
}

// secretFrom reads a secret from a file or from an environment
// variable (one of the two; "" when neither is set). The value is never
// logged or shown.
func secretFrom(what, file, env string) (string, error) {
	switch {
	case file != "" && env != "":
		return "", fmt.Errorf("%s: set a file or an environment variable, not both", what)
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("%s: %w", what, err)
		}
		v := strings.TrimSpace(string(b))
		if v == "" {
			return "", fmt.Errorf("%s: %s is empty", what, file)
		}
		return v, nil
	case env != "":
		v := strings.TrimSpace(os.Getenv(env))
		if v == "" {
			return "", fmt.Errorf("%s: environment variable %s is not set or empty", what, env)
		}
		return v, nil
	}
	return "", nil
}
