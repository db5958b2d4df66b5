package fakebackend

import (
	"testing"

	"github.com/smtpscope/smtpscope/internal/backendtest"
)

// The conformance suite on the fake, loaded with the samples as the
// collector would store them: it must behave as the real backends do.
func TestConformance(t *testing.T) {
	m := NewMemory(t, backendtest.Group)
	m.AddSessionFiles(backendtest.Samples(t)...)
	backendtest.Run(t, m)
}
