// Package ace owns smtpscope's side of ACE's HTTP API: building the
// submission ACE's SMTP collector makes for one email (BuildAnalysis), the
// client that posts it to a node (Client: ping, submit, TLS, API key), and
// Sink, a small ACE-API-compatible receiver used by `smtpscope ace-sink`,
// the demo and the tests. It validates submissions the way ACE's
// api/analysis submit handler does and stores each accepted one on disk.
package ace
