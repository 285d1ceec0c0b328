// Package otelsession makes sessionkit observable with OpenTelemetry: a
// backend wrapper that traces and measures every store call, a
// session.Observer that turns the Manager's events into metrics, and an
// httpsession.RequestObserver that counts the middleware's requests. It is a
// module of its own, so that OpenTelemetry never enters the library's
// go.mod.
//
//	b := otelsession.WrapBackend(rb) // rb: any backend.Backend
//	m, err := session.NewManager[Cart](b,
//		session.WithObserver(otelsession.NewObserver()),
//		session.WithLogger(slog.Default()))
//
// Both use the global tracer and meter providers unless
// WithTracerProvider and WithMeterProvider say otherwise. No span or
// measurement has an attribute that holds a session ID, a handle or an
// owner: attributes are operation and outcome, with few, fixed values.
//
// # Metrics
//
// From WrapBackend: sessionkit.backend.operation.duration (s). From
// NewObserver: sessionkit.session.created, .renewed, .destroyed, .loads,
// .decode_cache.lookups, .saved, .conflicts, .update.retries,
// .update.exhausted and .payload.size (By); see the Metric constants.
// From NewRequestObserver, for httpsession.WithRequestObserver:
// sessionkit.http.requests.
//
// # Redis client metrics
//
// For Redis command metrics and the client-side cache hit ratio, give
// redisbackend.New a client from rueidisotel.NewClient (README.md). Do not
// pass rueidisotel.WithDBStatement: it copies command arguments, session
// payloads among them, into every span.
package otelsession
