package session

import (
	"context"
	"errors"
	"log/slog"

	"github.com/sessionkit/sessionkit/backend"
)

// WithLogger sets the logger the Manager reports trouble to, always through
// LogAttrs with the context of the call, so that a handler sees
// request-scoped values. It logs:
//
//   - at Warn, "session: store failed": a backend call failed, other than
//     by an outcome of the contract (not found, conflict, key exists) or a
//     canceled context; with the Manager method (op), the backend call
//     (call) and the error;
//   - at Warn, "session: write not confirmed durable": the backend applied
//     a write but reported backend.ErrNotDurable;
//   - at Warn, "session: update gave up": Update ran out of attempts, with
//     the number of attempts;
//   - at Error, "session: corrupt payload": a stored session could not be
//     decoded, with the codec name its payload names (codec) and the
//     payload's size in bytes (bytes).
//
// A session appears in a record by its Handle (attribute "session"), an
// owner operation by its owner ("owner"): never by its ID, which no log
// record, error or Event of a Manager holds. A nil logger is an error.
// Default: a logger that discards everything (slog.DiscardHandler).
func WithLogger(l *slog.Logger) Option { return func(cf *config) { cf.logger = l } }

var discard = slog.New(slog.DiscardHandler)

// LogValue makes a Session safe to log: it logs the session's Handle,
// Owner and deadlines, never its ID or its Data.
func (s *Session[T]) LogValue() slog.Value {
	if s == nil {
		return slog.StringValue("<nil>")
	}
	return slog.GroupValue(
		slog.String("handle", s.key),
		slog.String("owner", s.Owner),
		slog.Time("created", s.created),
		slog.Time("idle_deadline", s.IdleDeadline),
		slog.Time("absolute_deadline", s.absolute),
	)
}

// String returns "session " and the session's Handle, so that a session
// printed with %v or %s does not show its ID. (%#v prints every field.)
func (s *Session[T]) String() string {
	if s == nil {
		return "session <nil>"
	}
	return "session " + s.key
}

// logErr logs err, returned by the backend call named call for the
// session under key, if it says the store failed. A nil err costs one
// comparison.
func (m *Manager[T]) logErr(ctx context.Context, op Op, call, key string, err error) {
	if err != nil {
		m.logStore(ctx, op, call, handleAttr(key), err)
	}
}

// logOwnerErr is logErr for a call about the sessions of owner.
func (m *Manager[T]) logOwnerErr(ctx context.Context, op Op, call, owner string, err error) {
	if err != nil {
		m.logStore(ctx, op, call, slog.String("owner", owner), err)
	}
}

func (m *Manager[T]) logStore(ctx context.Context, op Op, call string, who slog.Attr, err error) {
	level, msg := slog.LevelWarn, "session: store failed"
	switch {
	case errors.Is(err, ErrNotFound), errors.Is(err, ErrConflict), errors.Is(err, backend.ErrExists),
		errors.Is(err, context.Canceled):
		return
	case errors.Is(err, ErrCorrupt): // the backend could not read the record
		level, msg = slog.LevelError, "session: corrupt payload"
	case applied(err):
		msg = "session: write not confirmed durable"
	}
	m.cf.logger.LogAttrs(ctx, level, msg,
		slog.String("op", op.String()), slog.String("call", call), who, slog.Any("error", err))
}

// logCorrupt logs a stored payload, under key, that could not be decoded.
func (m *Manager[T]) logCorrupt(ctx context.Context, op Op, key string, payload []byte, err error) {
	m.cf.logger.LogAttrs(ctx, slog.LevelError, "session: corrupt payload",
		slog.String("op", op.String()), handleAttr(key),
		slog.String("codec", payloadCodec(payload)), slog.Int("bytes", len(payload)), slog.Any("error", err))
}

// logExhausted logs that Update gave up.
func (m *Manager[T]) logExhausted(ctx context.Context, key string, attempts int, err error) {
	m.cf.logger.LogAttrs(ctx, slog.LevelWarn, "session: update gave up",
		slog.String("op", OpUpdate.String()), handleAttr(key), slog.Int("attempts", attempts), slog.Any("error", err))
}

func handleAttr(key string) slog.Attr { return slog.String("session", key) }
