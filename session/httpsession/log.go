package httpsession

import (
	"context"
	"errors"
	"log/slog"
	"net/http"

	"github.com/sessionkit/sessionkit/session"
)

// WithLogger sets the logger the Middleware reports to, through LogAttrs
// with the request's context, before the error handler runs:
//
//   - at Info, "httpsession: conflict": the session was not stored
//     because a concurrent request of the same session saved first
//     (session.ErrConflict);
//   - at Warn, "httpsession: direct change of Owner refused": the handler
//     set the session's Owner instead of calling Login or Logout
//     (ErrOwnerChanged).
//
// Each record has the request's method and path and the session's Handle
// (attribute "session"), never its ID. Store failures are the Manager's to
// log (session.WithLogger). A nil logger is an error. Default: a logger
// that discards everything (slog.DiscardHandler).
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.logger = l } }

var discard = slog.New(slog.DiscardHandler)

// logged returns h preceded by the log record WithLogger describes.
func (mw *Middleware[T]) logged(h ErrorHandler) ErrorHandler {
	return func(w http.ResponseWriter, r *http.Request, err error) {
		level, msg := slog.LevelInfo, "httpsession: conflict"
		switch {
		case errors.Is(err, ErrOwnerChanged):
			level, msg = slog.LevelWarn, "httpsession: direct change of Owner refused"
		case errors.Is(err, session.ErrConflict):
		default:
			h(w, r, err)
			return
		}
		if l := mw.cf.logger; l.Enabled(r.Context(), level) {
			l.LogAttrs(r.Context(), level, msg, slog.String("method", r.Method), slog.String("path", r.URL.Path),
				slog.String("session", mw.handle(r)), slog.Any("error", err))
		}
		h(w, r, err)
	}
}

// handle returns the Handle of the request's session, or "".
func (mw *Middleware[T]) handle(r *http.Request) string {
	rs, err := mw.response(r)
	if err != nil {
		return ""
	}
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if rs.sess == nil {
		return ""
	}
	return rs.sess.Handle()
}

// applied turns a write that the store applied but could not confirm as
// durable (session.ErrNotDurable, with s the stored session when there is
// one) into a success, logged at Warn: the session is stored, its cookie
// must go out, and the response stands. Any other error is returned.
func (mw *Middleware[T]) applied(ctx context.Context, s *session.Session[T], err error) error {
	if err == nil || !errors.Is(err, session.ErrNotDurable) {
		return err
	}
	if l := mw.cf.logger; l.Enabled(ctx, slog.LevelWarn) {
		h := ""
		if s != nil {
			h = s.Handle()
		}
		l.LogAttrs(ctx, slog.LevelWarn, "httpsession: stored, but not confirmed durable",
			slog.String("session", h), slog.Any("error", err))
	}
	return nil
}
