package session_test

import (
	"testing"

	"github.com/sessionkit/sessionkit/backend"
	"github.com/sessionkit/sessionkit/internal/sessionbench"
	"github.com/sessionkit/sessionkit/session"
)

// BenchmarkGet is Manager.Get over the memory backend with msgpack and a
// ten-field session.
func BenchmarkGet(b *testing.B) {
	sessionbench.Get(b, func(tb testing.TB) backend.Backend { return newMemory(tb, nil) })
}

// BenchmarkCopyFuncProfile is the reflective copy of the ten-field
// session that the decode cache makes on a hit for a type without Clone.
func BenchmarkCopyFuncProfile(b *testing.B) {
	v := sessionbench.NewProfile()
	cp := session.CopyFuncFor[sessionbench.Profile]()
	b.ReportAllocs()
	for b.Loop() {
		_ = cp(&v)
	}
}
