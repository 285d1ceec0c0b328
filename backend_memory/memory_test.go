package memorybackend_test

import (
	"testing"

	"github.com/sessionkit/sessionkit/backend"
	memorybackend "github.com/sessionkit/sessionkit/backend_memory"
	"github.com/sessionkit/sessionkit/conformance"
)

// newBackend is the conformance factory: a fresh backend closed at the end
// of the test.
func newBackend(tb testing.TB) backend.Backend {
	b := memorybackend.New()
	tb.Cleanup(func() { b.Close() })
	return b
}

func TestConformance(t *testing.T) {
	conformance.Run(t, newBackend)
}

func BenchmarkConformance(b *testing.B) {
	conformance.Benchmark(b, newBackend)
}
