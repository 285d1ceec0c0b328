package session

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ErrLifetime means a lifetime passed to CreateWithLifetime or
// RenewWithLifetime is not positive, exceeds the Manager's maximum
// (WithMaxAbsoluteTimeout), or would end the session before now; nothing
// was written.
var ErrLifetime = errors.New("session: lifetime out of range")

// WithMaxAbsoluteTimeout sets the longest absolute lifetime that
// CreateWithLifetime and RenewWithLifetime may give a session, such as 30
// days for "remember me". It must not be shorter than the absolute
// timeout. Sessions created with Create keep the absolute timeout.
// Default: the absolute timeout (no session lives longer than
// WithAbsoluteTimeout says).
func WithMaxAbsoluteTimeout(d time.Duration) Option {
	return func(cf *config) { cf.maxAbsolute = d }
}

// MaxAbsoluteTimeout returns the longest lifetime a session may be given
// (WithMaxAbsoluteTimeout).
func (m *Manager[T]) MaxAbsoluteTimeout() time.Duration {
	if m.cf.maxAbsolute == 0 {
		return m.cf.absolute
	}
	return m.cf.maxAbsolute
}

// checkLifetime returns an error matching ErrLifetime unless lifetime is
// one that a session may have.
func (m *Manager[T]) checkLifetime(lifetime time.Duration) error {
	if lifetime <= 0 || lifetime > m.MaxAbsoluteTimeout() {
		return fmt.Errorf("%w: %v is not in (0, %v]", ErrLifetime, lifetime, m.MaxAbsoluteTimeout())
	}
	return nil
}

// CreateWithLifetime is Create for a session whose absolute deadline is
// lifetime after its creation instead of the absolute timeout: longer for
// "remember me", shorter for a sensitive session. lifetime must be
// positive and at most MaxAbsoluteTimeout, or the error matches
// ErrLifetime. The deadline is stored with the session, so every later
// write keeps it, on any instance.
func (m *Manager[T]) CreateWithLifetime(ctx context.Context, owner string, data T, lifetime time.Duration) (*Session[T], error) {
	if err := m.checkLifetime(lifetime); err != nil {
		return nil, fmt.Errorf("session: create: %w", err)
	}
	return m.create(ctx, owner, data, lifetime)
}

// RenewWithLifetime is Renew that also gives the session a new absolute
// deadline: lifetime after its creation (CreatedAt), as if it had been
// created with CreateWithLifetime. Call it at login to let the user choose
// "remember me". lifetime must be positive, at most MaxAbsoluteTimeout, and
// must leave the session alive now, or the error matches ErrLifetime and
// nothing is written. On success s.AbsoluteDeadline is the new deadline,
// as stored; on any other failure s keeps its old one.
func (m *Manager[T]) RenewWithLifetime(ctx context.Context, s *Session[T], lifetime time.Duration) error {
	if s == nil || s.key == "" {
		return m.Renew(ctx, s) // which says why not
	}
	if err := m.checkLifetime(lifetime); err != nil {
		return fmt.Errorf("session: renew: %w", err)
	}
	abs := s.created.Add(lifetime)
	if !abs.After(m.cf.clock()) {
		return fmt.Errorf("session: renew: %w: a lifetime of %v ended at %v", ErrLifetime, lifetime, abs)
	}
	prev := s.absolute
	s.absolute = abs
	err := m.Renew(ctx, s)
	if err != nil && !applied(err) {
		s.absolute = prev
		return err
	}
	s.AbsoluteDeadline = abs
	return err
}
