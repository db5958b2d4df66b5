package ace

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// elsewhere is a server that must never be reached: it counts requests
// and those that carried the API key.
type elsewhere struct {
	srv      *httptest.Server
	requests atomic.Int64
	keys     atomic.Int64
}

func newElsewhere(t *testing.T) *elsewhere {
	e := &elsewhere{}
	e.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.requests.Add(1)
		if r.Header.Get(DefaultAPIKeyHeader) != "" {
			e.keys.Add(1)
		}
		_, _ = w.Write([]byte(`{"result":"pong"}`))
	}))
	t.Cleanup(e.srv.Close)
	return e
}

// redirector answers every request with code and Location to+path.
func redirector(code int, to string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Location", to+r.URL.Path)
		w.WriteHeader(code)
	})
}

// TestClientRefusesRedirects: a node answering 301/302/303/307/308, to
// another host or from HTTPS to plain HTTP, gets an error naming the
// Location; the other server receives nothing, so neither the API key
// nor the email leave for another origin.
func TestClientRefusesRedirects(t *testing.T) {
	ctx := context.Background()
	for _, code := range []int{301, 302, 303, 307, 308} {
		for _, tlsNode := range []bool{false, true} {
			evil := newElsewhere(t)
			var node *httptest.Server
			if tlsNode {
				node = httptest.NewTLSServer(redirector(code, evil.srv.URL))
			} else {
				node = httptest.NewServer(redirector(code, evil.srv.URL))
			}
			c, err := NewClient(ClientOptions{APIKey: "k3y-must-stay-home", Insecure: tlsNode})
			if err != nil {
				t.Fatal(err)
			}
			_, serr := c.Submit(ctx, node.URL, &Submission{Analysis: BuildAnalysis(testRecord(), "", 0, Template{})})
			perr := c.Ping(ctx, node.URL)
			for what, err := range map[string]error{"submit": serr, "ping": perr} {
				if err == nil || !strings.Contains(err.Error(), "redirect") || !strings.Contains(err.Error(), evil.srv.URL) || IsPermanent(err) {
					t.Errorf("%d tls=%v %s: err = %v, want a retryable error naming the redirect and its Location", code, tlsNode, what, err)
				}
			}
			if n := evil.requests.Load(); n != 0 {
				t.Errorf("%d tls=%v: the redirect target received %d requests (%d with the API key)", code, tlsNode, n, evil.keys.Load())
			}
			node.Close()
		}
	}
}

// TestClientErrorsRedactCredentials: credentials in a node URL (user and
// password, or a token as user name) never appear in an error, whatever
// failed: connection, HTTP status, redirect.
func TestClientErrorsRedactCredentials(t *testing.T) {
	ctx := context.Background()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	_ = ln.Close()
	fail := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "overloaded", http.StatusServiceUnavailable)
	}))
	defer fail.Close()
	redir := httptest.NewServer(redirector(http.StatusFound, "http://other:pw-in-location@127.0.0.1:1"))
	defer redir.Close()
	c, err := NewClient(ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, host := range []string{closed, strings.TrimPrefix(fail.URL, "http://"), strings.TrimPrefix(redir.URL, "http://")} {
		for _, cred := range []string{"aceuser:s3cret-pass", "t0ken-as-user"} {
			node := "http://" + cred + "@" + host
			_, serr := c.Submit(ctx, node, &Submission{Analysis: BuildAnalysis(testRecord(), "", 0, Template{})})
			perr := c.Ping(ctx, node)
			for what, err := range map[string]error{"submit": serr, "ping": perr} {
				if err == nil {
					t.Fatalf("%s %s: no error", what, host)
				}
				for _, secret := range []string{"s3cret-pass", "t0ken-as-user", "aceuser", "pw-in-location"} {
					if strings.Contains(err.Error(), secret) {
						t.Errorf("%s to %s: error shows %q: %v", what, host, secret, err)
					}
				}
				if !strings.Contains(err.Error(), host) {
					t.Errorf("%s: error does not name the node %s: %v", what, host, err)
				}
			}
		}
	}
	// a URL net/url cannot parse: its error quotes the URL, escaped
	node := "http://acé:pw\"SECRET%zz@127.0.0.1:1"
	_, serr := c.Submit(ctx, node, &Submission{})
	perr := c.Ping(ctx, node)
	for what, err := range map[string]error{"submit": serr, "ping": perr} {
		if err == nil || !IsPermanent(err) || strings.Contains(err.Error(), "SECRET") {
			t.Errorf("%s to an unparsable URL: %v", what, err)
		}
	}
}

func TestRedactURL(t *testing.T) {
	for in, want := range map[string]string{
		"https://ace.example/":                "https://ace.example/",
		"https://user:pass@ace.example/x?y=1": "https://xxxxx@ace.example/x?y=1",
		"http://t0ken@127.0.0.1:8443":         "http://xxxxx@127.0.0.1:8443",
		"https://a@b:c@ace.example":           "https://xxxxx@ace.example",
		"https://ace.example/path@x":          "https://ace.example/path@x",
		"user:pass@ace.example":               "xxxxx@ace.example",
		"ftp://u:p%zz@ace.example":            "ftp://xxxxx@ace.example",
	} {
		if got := RedactURL(in); got != want {
			t.Errorf("RedactURL(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzRedactURL: whatever the input, no user information survives and
// redacting is idempotent.
func FuzzRedactURL(f *testing.F) {
	for _, s := range []string{"https://u:p@h/x", "http://h", "u@h", "//@", "a//b@c/d@e", "@@@", "http://u%40:p@h?q=@"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r := RedactURL(s)
		if RedactURL(r) != r {
			t.Fatalf("not idempotent: %q -> %q -> %q", s, r, RedactURL(r))
		}
		if _, info, _, ok := userinfo(r); ok && info != redacted {
			t.Fatalf("%q -> %q keeps user information %q", s, r, info)
		}
		if u, err := url.Parse(r); err == nil && u.User != nil && u.User.String() != redacted {
			t.Fatalf("%q -> %q parses with user %q", s, r, u.User)
		}
	})
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	for in, want := range map[string]time.Duration{
		"":                                 0,
		"120":                              2 * time.Minute,
		" 3 ":                              3 * time.Second,
		"0":                                0,
		"-5":                               0,
		"1.5":                              0,
		"soon":                             0,
		"99999999999999999999999":          maxRetryAfter,
		"9999999999":                       maxRetryAfter,
		"Thu, 02 Jan 2025 03:04:35 GMT":    30 * time.Second,
		"Thursday, 02-Jan-25 03:05:05 GMT": time.Minute,
		"Thu, 02 Jan 2025 03:00:00 GMT":    0, // past
		"Fri, 02 Jan 2099 03:00:00 GMT":    maxRetryAfter,
	} {
		if got := ParseRetryAfter(in, now); got != want {
			t.Errorf("ParseRetryAfter(%q) = %s, want %s", in, got, want)
		}
	}
}

func FuzzParseRetryAfter(f *testing.F) {
	for _, s := range []string{"120", "Thu, 02 Jan 2025 03:04:35 GMT", "", "-1", "18446744073709551616", "Mon Jan  2 15:04:05 2006"} {
		f.Add(s)
	}
	now := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	f.Fuzz(func(t *testing.T, s string) {
		if d := ParseRetryAfter(s, now); d < 0 || d > maxRetryAfter {
			t.Fatalf("ParseRetryAfter(%q) = %s", s, d)
		}
	})
}

// TestClientRetryAfterAndNodeFailure: 429 and 503 carry their
// Retry-After (seconds or HTTP date); which answers say the node is
// unavailable and which concern one submission.
func TestClientRetryAfterAndNodeFailure(t *testing.T) {
	ctx := context.Background()
	date := time.Now().Add(90 * time.Second).UTC().Format(http.TimeFormat)
	cases := []struct {
		status     int
		retryAfter string
		wantMin    time.Duration
		wantMax    time.Duration
		node       bool
	}{
		{503, "7", 7 * time.Second, 7 * time.Second, true},
		{429, date, 85 * time.Second, 90 * time.Second, true},
		{500, "7", 0, 0, true}, // Retry-After only counts on 429 and 503
		{502, "", 0, 0, true},
		{401, "", 0, 0, false},
		{400, "", 0, 0, false},
	}
	c, _ := NewClient(ClientOptions{})
	for _, tc := range cases {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if tc.retryAfter != "" {
				w.Header().Set("Retry-After", tc.retryAfter)
			}
			http.Error(w, "no", tc.status)
		}))
		_, err := c.Submit(ctx, srv.URL, &Submission{Analysis: BuildAnalysis(testRecord(), "", 0, Template{})})
		srv.Close()
		if ra := RetryAfter(err); ra < tc.wantMin || ra > tc.wantMax {
			t.Errorf("%d Retry-After %q: %s, want %s..%s", tc.status, tc.retryAfter, ra, tc.wantMin, tc.wantMax)
		}
		if NodeFailure(err) != tc.node || IsPermanent(err) != (tc.status == 400) {
			t.Errorf("%d: NodeFailure %v, permanent %v: %v", tc.status, NodeFailure(err), IsPermanent(err), err)
		}
	}
	if _, err := c.Submit(ctx, "http://127.0.0.1:1", &Submission{}); !NodeFailure(err) {
		t.Errorf("connection refused is not a node failure: %v", err)
	}
}
