// Package ace owns smtpscope's side of ACE's HTTP API: building the
// submission ACE's SMTP collector makes for one email (BuildAnalysis), its
// multipart body (Encode: files given by path are streamed from disk
// when sent, with an exact Content-Length, never held in memory), the
// client that posts it to a node (Client: ping, submit, TLS, API key), and
// Sink, a small ACE-API-compatible receiver used by `smtpscope ace-sink`,
// the demo and the tests. It validates submissions the way ACE's
// api/analysis submit handler does and stores each accepted one on disk.
//
// The client never follows a redirect (a 3xx is an error naming its
// Location), so the API key and the email go to the configured node
// only. Credentials in a node URL are used for the request and nowhere
// else: errors name the node through RedactURL and carry no URL from
// net/http. Errors tell a node that is unavailable (NodeFailure:
// connection, timeout, redirect, 429, 5xx) from one refusing a single
// submission, and carry Retry-After (ParseRetryAfter) for the caller's
// per-node backoff.
package ace
