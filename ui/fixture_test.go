package ui

import (
	"testing"
	"time"

	"github.com/smtpscope/smtpscope/internal/backendtest"
	"github.com/smtpscope/smtpscope/internal/fakebackend"
)

// fixedNow is the clock of every UI test.
var fixedNow = time.Date(2025, 11, 22, 12, 0, 0, 0, time.UTC)

// fixtureBackend is the real service (collector, store, index) over the
// demo's sample sessions, every email queued for the node group
// "default": the golden tests draw what a user of `smtpscope ui` sees.
func fixtureBackend(t testing.TB) *backendtest.Fixture {
	t.Helper()
	return backendtest.NewFixture(t)
}

// memoryFixture is the fake backend with the same samples, for tests that
// add records no session file makes.
func memoryFixture(t testing.TB) *fakebackend.Memory {
	t.Helper()
	m := fakebackend.NewMemory(t, backendtest.Group)
	m.Now = func() time.Time { return fixedNow }
	m.AddSessionFiles(backendtest.Samples(t)...)
	return m
}
