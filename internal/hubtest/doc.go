// Package hubtest is test-only code shared by the hub's benchmarks in
// package collector and in collector/service: Backlog starts one
// in-process JetStream server (through natstest), makes the hub's stream
// on it and fills it with emails published the way a sensor publishes
// them (record and raw inline), so that a benchmark times only the hub
// taking them. It lives apart from natstest because it imports the
// collector, whose own tests import natstest.
package hubtest
