package httpsession

import "context"

// RequestObserver learns, for each request that went through the
// Middleware, how it used its session. Package otelsession turns this into
// OpenTelemetry metrics. ObserveRequest is called once per request, after
// the handler returned and the session was stored, on the request's
// goroutine with its context; it must be safe for concurrent use and
// fast.
type RequestObserver interface {
	ObserveRequest(ctx context.Context, e RequestEvent)
}

// RequestEvent is how one request used its session. It holds no ID.
type RequestEvent struct {
	// Touched: the handler asked for the session (Session, Modify, Update,
	// Login, Logout, ...), so the cookie was read and, if it named a
	// session, the backend asked.
	Touched bool
	// SetCookie: the response set or cleared the session cookie (or the
	// header of WithHeader): a new session, a renewed ID, a logout.
	SetCookie bool
}

// WithRequestObserver sets the RequestObserver that learns how each request
// used its session. Default: none.
func WithRequestObserver(o RequestObserver) Option { return func(c *config) { c.requests = o } }

// observe reports rs to the request observer, if there is one.
func (rs *response[T]) observe(ctx context.Context) {
	o := rs.mw.cf.requests
	if o == nil {
		return
	}
	rs.mu.Lock()
	e := RequestEvent{Touched: rs.sess != nil, SetCookie: rs.sent}
	rs.mu.Unlock()
	o.ObserveRequest(ctx, e)
}
