// Package retry holds the backoff that session.Manager.Update and
// httpsession's Login share between attempts of a write that conflicted.
package retry

import (
	"context"
	"math/rand/v2"
	"time"
)

// Backoff sleeps before attempt+1: a random time up to a bound that doubles
// with each attempt, from 100µs to 20ms, or until ctx is done, whose error
// it then returns.
func Backoff(ctx context.Context, attempt int) error {
	limit := 100 * time.Microsecond << min(attempt, 8)
	t := time.NewTimer(rand.N(min(limit, 20*time.Millisecond)) + time.Microsecond)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
