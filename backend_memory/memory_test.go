package memorybackend_test

import (
	"testing"
	"time"

	"github.com/sessionkit/sessionkit/backend"
	memorybackend "github.com/sessionkit/sessionkit/backend_memory"
	"github.com/sessionkit/sessionkit/conformance"
)

// newBackend is the conformance factory: a fresh backend closed at the end
// of the test, with a janitor that sweeps often enough for the expiry
// events to arrive soon after their deadlines.
func newBackend(tb testing.TB) backend.Backend {
	b := memorybackend.New(memorybackend.WithJanitorInterval(50 * time.Millisecond))
	tb.Cleanup(func() { b.Close() })
	return b
}

func TestConformance(t *testing.T) {
	conformance.Run(t, newBackend)
}

func BenchmarkConformance(b *testing.B) {
	conformance.Benchmark(b, newBackend)
}
