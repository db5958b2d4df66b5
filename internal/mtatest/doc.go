// Package mtatest is a test harness for tests that need real mail
// components on loopback: a Postfix instance on 127.0.0.1:<free port> with
// its own configuration, queue and log directory (or the system one),
// delivering by discard or into a Maildir; tcpdump capturing the loopback
// interface; swaks and the Python helpers of ../shared/tools as clients.
//
// Everything binds to 127.0.0.1, except a Postfix instance started in a
// network namespace the test made (PostfixConfig.Netns): it listens on
// the IPv4 and IPv6 addresses the test names, on port 25 by default, and
// relays for the networks it names; whether it listens is read from the
// namespace's socket table (`ss -N`), so starting it sends no packet.
//
// Every process is started with its PID recorded and stopped by that PID
// (never by name). Stopping Postfix also waits until no daemon of the
// instance is alive (its master's process group is empty, zombies aside);
// daemons still alive after 15 s are killed and the test fails. Tests
// call Require first: it skips the test with a clear message when a tool
// is missing (`make test` installs postfix, swaks and tcpdump).
//
// The Postfix configuration follows ../shared/tools/GENERATE.md: loopback
// only, IPv4, no TLS, relay for 127.0.0.0/8 (in a namespace: the
// addresses and networks named, IPv4 and IPv6), PIPELINING and CHUNKING
// advertised (Postfix's defaults), and header rewriting for local clients
// turned off (local_header_rewrite_clients empty) so that Postfix does not
// add Message-ID/Date/From headers to what the client sent. In a
// namespace, the client's host name is not looked up
// (smtpd_peername_lookup = no: the namespace has no resolver).
package mtatest
