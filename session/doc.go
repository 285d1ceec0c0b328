// Package session is the typed API of sessionkit: a Manager[T] creates, loads,
// updates, renews and destroys sessions whose data is a Go value of type T,
// stored in any backend.Backend.
//
//	m, err := session.NewManager[Cart](memorybackend.New())
//	s, err := m.Create(ctx, "", Cart{})          // anonymous visitor
//	// hand s.ID to the client (httpsession does it with a cookie)
//	s, err = m.Get(ctx, id)                        // on every request
//	s.Owner = "alice"
//	err = m.Renew(ctx, s)                          // log in: new ID, old one dead
//	s, err = m.Update(ctx, s.ID, func(s *session.Session[Cart]) error {
//		s.Data.Items++                           // retried on conflict
//		return nil
//	})
//	n, err := m.DestroyByOwner(ctx, "alice")       // log out everywhere
//
// The Manager does what every backend would otherwise repeat: it generates
// session IDs (UUID v4 by default, 122 random bits), stores only their
// SHA-256 so a dump of the store reveals no live ID, encodes T with a
// codec.Codec (MessagePack by default) and records the codec's name in the
// payload, applies idle and absolute timeouts, throttles idle-deadline
// refreshes, retries read-modify-write on conflict, enforces a maximum
// payload size, and rejects malformed IDs before any backend call.
//
// # Timeouts
//
// A session ends at whichever comes first: its idle deadline, which every
// write and every refreshing Get moves to now+IdleTimeout, and its absolute
// deadline, CreatedAt+AbsoluteTimeout, which nothing moves. Defaults: 30
// minutes idle, 24 hours absolute.
//
// Get refreshes the idle deadline only when more than the touch interval
// has passed since the last refresh (default: a quarter of the idle
// timeout). Every refresh is a write; with the Redis backend's client-side
// caching a write invalidates every instance's cached copy, so the touch
// interval is what keeps hot reads in process memory. The price is that a
// session may end up to one touch interval earlier than IdleTimeout after
// its last request.
//
// # Hot sessions
//
// Decoding is most of the cost of a Get once the backend serves it from
// memory. The Manager keeps recently decoded sessions and answers a Get
// whose stored payload is byte for byte unchanged with a copy, without
// decoding it again (WithDecodeCache). The copy is T's Clone if T
// implements Cloner; otherwise, for plain data (see Cloner), a copy by
// reflection, which costs about twice a hand-written Clone and a third of
// decoding. A T that is neither (it holds interfaces, say) is decoded on
// every Get. Freshness stays the backend's: the cache is consulted only
// with the payload the backend just returned.
//
// # Observability
//
// WithLogger reports store failures, exhausted updates and corrupt
// payloads to a log/slog logger (the default discards them); WithObserver
// hands each event an operator counts (sessions created, lookups by
// outcome, decode-cache hits, conflicts, retries, ...) to an Observer, and
// module github.com/sessionkit/sessionkit/otelsession turns them into
// OpenTelemetry metrics. Neither ever gets a session ID: log records name
// a session by its Handle, and a Session logs (LogValue) and prints
// (String) as its Handle too.
//
// # Errors
//
// ErrNotFound and ErrConflict are the backend sentinels themselves, so one
// errors.Is works at both layers. ErrTooLarge, ErrCorrupt and ErrUnsupported
// belong to this package. Errors from an unreachable store match
// backend.ErrUnavailable.
package session
