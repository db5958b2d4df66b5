// Package natstest starts in-process NATS JetStream servers for the
// tests of the collector, the hub and the binary: one server (Start, or
// StartNKey admitting one NKey user only) or a routed cluster (Cluster),
// on 127.0.0.1 only, logging off, shut down when the test ends. It is
// the one place these tests make a server; servers run as separate
// processes (the soak, which kills them) are built and started by
// cmd/smtpscope's soak test instead.
package natstest
