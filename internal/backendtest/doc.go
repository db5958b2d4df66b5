// Package backendtest is test-only code shared by the tests of every
// api.Backend: NewFixture runs the real service (collector, store, index)
// over the demo's sample sessions with a node that holds submissions until
// released, and Run is the conformance suite every backend passes — the
// service in-process, the socket client of a served service, and the fake
// of package fakebackend — so no backend can diverge from the others. The
// UI's golden tests draw the fixture.
package backendtest
