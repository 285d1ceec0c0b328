package redisbackend_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	redisbackend "github.com/sessionkit/sessionkit/backend_redis"
	"github.com/sessionkit/sessionkit/internal/lifetimetest"
	"github.com/sessionkit/sessionkit/internal/redistest"
)

// TestManagerLifetime proves on Redis that sessions given a lifetime of
// their own outlive the absolute timeout and never the maximum, with the
// deadline stored with the session (session.Manager.CreateWithLifetime,
// RenewWithLifetime).
func TestManagerLifetime(t *testing.T) {
	srv := redistest.Standalone(t)
	b, err := redisbackend.NewFromURL(context.Background(), "redis://"+srv.Addr)
	require.NoError(t, err)
	t.Cleanup(func() { b.Close() })
	lifetimetest.Check(t, b)
}
