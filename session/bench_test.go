package session_test

import (
	"testing"

	"github.com/sessionkit/sessionkit/backend"
	"github.com/sessionkit/sessionkit/internal/sessionbench"
)

// BenchmarkGet is Manager.Get over the memory backend with msgpack and a
// ten-field session.
func BenchmarkGet(b *testing.B) {
	sessionbench.Get(b, func(tb testing.TB) backend.Backend { return newMemory(tb, nil) })
}
