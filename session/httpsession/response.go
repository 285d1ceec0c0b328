package httpsession

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"slices"
	"sync"

	"github.com/sessionkit/sessionkit/session"
)

// response is the per-request state of a Middleware and the ResponseWriter
// its handler writes to: one allocation for both.
type response[T any] struct {
	w  http.ResponseWriter
	r  *http.Request // carries rs in its context
	mw *Middleware[T]

	mu      sync.Mutex
	sess    *session.Session[T] // nil until loaded
	stored  bool                // sess exists in the store under sess.ID
	dirty   bool                // sess has changes the store lacks
	owner   string              // sess.Owner as stored ("" for a new session)
	handed  bool                // Session gave sess to the handler, who may change it directly
	base    []byte              // with handed, stored and not dirty: sess.Data encoded as stored, or nil
	next    []byte              // the encoding that direct found, which the next save stores
	cookie  *http.Cookie        // to send with the response headers (see Middleware.send)
	started bool                // begin ran: the headers are out
	sent    bool                // begin sent a cookie (or header) with the response
	failed  error               // the error handler replaced the response
	out     bool                // this request logged out (Logout, LogoutEverywhere)
}

var (
	_ http.ResponseWriter = (*response[int])(nil)
	_ http.Flusher        = (*response[int])(nil)
	_ io.ReaderFrom       = (*response[int])(nil)
	_ io.StringWriter     = (*response[int])(nil)
)

// load finds the session the client's cookie names, once. rs.mu is held.
func (rs *response[T]) load(ctx context.Context) error {
	if rs.sess != nil {
		return nil
	}
	var buf [maxCookies]string
	for _, id := range rs.mw.requestIDs(rs.r, &buf) {
		s, err := rs.mw.m.Get(ctx, id)
		if err == nil {
			rs.sess, rs.stored, rs.owner = s, true, s.Owner
			return nil
		}
		if !errors.Is(err, session.ErrNotFound) {
			return fmt.Errorf("httpsession: load: %w", err)
		}
	}
	rs.sess = new(session.Session[T])
	return nil
}

// set makes s, just written to the store under a new ID, the request's
// session. rs.mu is held.
func (rs *response[T]) set(s *session.Session[T]) {
	if rs.sess == nil {
		rs.sess = s
	} else {
		*rs.sess = *s // the handler may hold rs.sess
	}
	rs.stored, rs.dirty, rs.owner = true, false, s.Owner
	rs.cookie = rs.mw.newCookie(s.ID, s.AbsoluteDeadline, rs.mw.cf.persistent)
	rs.rebase()
}

// reset makes the request's session a new, empty one. rs.mu is held.
func (rs *response[T]) reset() {
	if rs.sess == nil {
		rs.sess = new(session.Session[T])
	} else {
		*rs.sess = session.Session[T]{}
	}
	rs.stored, rs.dirty, rs.owner = false, false, ""
	rs.rebase()
}

// hand notes that the handler got rs.sess from Session and may change it
// directly, and records what it holds. rs.mu is held.
func (rs *response[T]) hand() {
	if !rs.handed {
		rs.handed = true
		rs.rebase()
	}
}

// rebase records the session's data as the store has it, when the handler
// holds the session, so that direct can find the handler's own changes.
// It runs whenever the session and the store agree: after loading, storing
// or resetting it. rs.mu is held.
func (rs *response[T]) rebase() {
	rs.base = nil
	if !rs.handed || rs.dirty || !rs.stored {
		return // nobody can change it directly, everything is stored anyway, or it holds the zero T
	}
	var err error
	if rs.base, err = rs.mw.m.EncodeData(&rs.sess.Data); err != nil {
		rs.base = nil // a T the codec cannot encode cannot be stored either
	}
}

// direct takes in the changes the handler made directly to the session
// that Session returned: changed Data (its encoding differs from the one
// rebase recorded) marks the session dirty, so that it is stored like a
// change made with Modify; a changed Owner is refused, since storing it
// would skip the new ID that Login gives. rs.mu is held.
func (rs *response[T]) direct() error {
	if !rs.handed {
		return nil
	}
	if rs.sess.Owner != rs.owner {
		return ErrOwnerChanged
	}
	switch {
	case rs.dirty:
		return nil
	case !rs.stored:
		// A clean new session holds the zero T: any other value is a
		// change, and no encoding is needed to see it.
		rs.dirty = !reflect.ValueOf(&rs.sess.Data).Elem().IsZero()
		return nil
	case rs.base == nil:
		return nil
	}
	cur, err := rs.mw.m.EncodeData(&rs.sess.Data)
	if err != nil || !rs.mw.m.EqualData(rs.base, cur) {
		rs.dirty, rs.next = true, cur // on error the save reports it
	}
	return nil
}

// save stores the session's changes, if any. A new session is created,
// unless the headers are out (late) and its cookie could not be sent.
// rs.mu is held.
func (rs *response[T]) save(ctx context.Context, late bool) error {
	if !rs.dirty {
		return nil
	}
	next := rs.next // callers save right after direct: it is what Save stores
	rs.next = nil
	if rs.stored {
		if err := rs.mw.applied(ctx, rs.sess, rs.mw.m.Save(ctx, rs.sess)); err != nil {
			return fmt.Errorf("httpsession: %w", err)
		}
		rs.dirty = false
		if next != nil && rs.handed {
			rs.base = next
		} else {
			rs.rebase()
		}
		return nil
	}
	if late {
		return fmt.Errorf("httpsession: a new session was changed after the response started: %w", ErrHeadersWritten)
	}
	s, err := rs.mw.m.Create(ctx, rs.sess.Owner, rs.sess.Data)
	if err = rs.mw.applied(ctx, s, err); err != nil {
		return fmt.Errorf("httpsession: %w", err)
	}
	rs.set(s)
	return nil
}

// destroy ends the request's session and every session the client's
// cookies name, and expires the cookie. rs.mu is held.
func (rs *response[T]) destroy(ctx context.Context, op string) error {
	var buf [maxCookies]string
	ids := rs.mw.requestIDs(rs.r, &buf)
	if rs.sess != nil && rs.stored {
		ids = append(ids, rs.sess.ID)
	}
	for i, id := range ids {
		if slices.Contains(ids[:i], id) {
			continue
		}
		if err := rs.mw.applied(ctx, nil, rs.mw.m.Destroy(ctx, id)); err != nil {
			return fmt.Errorf("httpsession: %s: %w", op, err)
		}
		// A Login that raced this request with the same cookie may have
		// handed out a new ID that the browser drops when this response
		// arrives last: end it too (see renewals for the order).
		rs.mw.renewed.end(id)
		for next := rs.mw.renewed.take(id); next != ""; next = rs.mw.renewed.take(next) {
			rs.mw.renewed.end(next)
			if err := rs.mw.applied(ctx, nil, rs.mw.m.Destroy(ctx, next)); err != nil {
				return fmt.Errorf("httpsession: %s: %w", op, err)
			}
		}
	}
	rs.out = true
	hadCookie := len(ids) > 0 || rs.cookie != nil
	rs.reset()
	rs.cookie = nil
	if rs.started {
		return fmt.Errorf("httpsession: %s: the session is destroyed but its cookie cannot be expired: %w", op, ErrHeadersWritten)
	}
	if hadCookie || rs.mw.cf.header != "" { // a header client always hears it
		rs.cookie = rs.mw.expiredCookie()
	}
	return nil
}

// loggedOut returns an error matching session.ErrConflict if a Logout of
// this Middleware ended, within renewalWindow, a session the request's
// cookies name: the request raced that Logout, whose response may reach
// the browser last and make it drop any new cookie. rs.mu is held.
func (rs *response[T]) loggedOut() error {
	if rs.out {
		return nil // its own Logout: a Login after it is the handler's choice
	}
	var buf [maxCookies]string
	for _, id := range rs.mw.requestIDs(rs.r, &buf) {
		if rs.mw.renewed.wasEnded(id) {
			return fmt.Errorf("%w: a concurrent request logged the session out", session.ErrConflict)
		}
	}
	return nil
}

// raced undoes the Login that just handed out rs.sess if a Logout racing
// it ended the ID the request came with (see renewals): it destroys the
// new session and expires the cookie, and returns loggedOut's error.
// rs.mu is held.
func (rs *response[T]) raced(ctx context.Context) error {
	err := rs.loggedOut()
	if err == nil {
		return nil
	}
	if derr := rs.mw.applied(ctx, nil, rs.mw.m.Destroy(ctx, rs.sess.ID)); derr != nil {
		err = errors.Join(err, derr)
	}
	rs.reset()
	rs.cookie = rs.mw.expiredCookie()
	return err
}

// begin runs before the first byte of the response: it stores pending
// changes and adds the Set-Cookie header; if storing fails, the error
// handler answers instead and begin returns the error that the handler's
// writes get from then on. Only the first call does anything.
func (rs *response[T]) begin() error {
	rs.mu.Lock()
	if rs.started {
		err := rs.failed
		rs.mu.Unlock()
		return err
	}
	err := rs.direct()
	if err == nil && rs.dirty {
		err = rs.save(rs.saveContext(), false)
	}
	rs.started = true
	rs.cacheHeaders()
	if rs.cookie != nil {
		// Also on failure: a Login or Logout before it did take place.
		rs.mw.send(rs.w.Header(), rs.cookie)
		rs.cookie, rs.sent = nil, true
	}
	if err != nil {
		rs.failed = fmt.Errorf("httpsession: response replaced by the error handler: %w", err)
	}
	rs.mu.Unlock()
	if err != nil {
		rs.mw.cf.onError(rs.w, rs.r, err)
		return rs.failed
	}
	return nil
}

// finish runs when the handler returned: it stores what begin has not.
func (rs *response[T]) finish() {
	rs.mu.Lock()
	if !rs.started {
		rs.mu.Unlock()
		_ = rs.begin() // begin calls the error handler
		return
	}
	var err error
	if rs.failed == nil {
		if err = rs.direct(); err == nil && rs.dirty {
			err = rs.save(rs.saveContext(), true)
		}
	}
	rs.mu.Unlock()
	if err != nil {
		if !errors.Is(err, ErrHeadersWritten) {
			err = fmt.Errorf("%w: %w", ErrHeadersWritten, err)
		}
		rs.mw.cf.onError(rs.w, rs.r, err)
	}
}

// abandon runs instead of finish when the handler panicked: a session
// this request created or renewed whose cookie never went out is
// destroyed, so that no live session is left that no client can name.
// Pending changes are dropped.
func (rs *response[T]) abandon() {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if rs.cookie == nil || rs.cookie.Value == "" || !rs.stored || rs.sess == nil {
		return // no new ID waiting to be handed out
	}
	// A failure is the Manager's to log; the session then lives until
	// its idle timeout, as any the client dropped.
	_ = rs.mw.m.Destroy(rs.saveContext(), rs.sess.ID)
	rs.reset()
	rs.cookie = nil
}

// saveContext is the context of the save at the start or end of the
// response: the request's, but not canceled when the client goes away, so
// that what the handler did is stored all the same. The backend's own
// timeouts bound it.
func (rs *response[T]) saveContext() context.Context {
	return context.WithoutCancel(rs.r.Context())
}

// Header returns the underlying writer's header map.
func (rs *response[T]) Header() http.Header { return rs.w.Header() }

// WriteHeader stores the session and sets its cookie, then writes the
// header. Informational (1xx) headers pass through untouched.
func (rs *response[T]) WriteHeader(code int) {
	if code >= 100 && code <= 199 && code != http.StatusSwitchingProtocols {
		rs.w.WriteHeader(code)
		return
	}
	if rs.begin() != nil {
		return
	}
	rs.w.WriteHeader(code)
}

// Write stores the session and sets its cookie before the first byte.
func (rs *response[T]) Write(p []byte) (int, error) {
	if err := rs.begin(); err != nil {
		return 0, err
	}
	return rs.w.Write(p)
}

// WriteString is Write without a conversion to []byte.
func (rs *response[T]) WriteString(s string) (int, error) {
	if err := rs.begin(); err != nil {
		return 0, err
	}
	return io.WriteString(rs.w, s)
}

// ReadFrom is Write for io.Copy, keeping the underlying writer's
// io.ReaderFrom (sendfile) in use.
func (rs *response[T]) ReadFrom(src io.Reader) (int64, error) {
	if err := rs.begin(); err != nil {
		return 0, err
	}
	return io.Copy(rs.w, src)
}

// Flush stores the session and sets its cookie, then flushes.
func (rs *response[T]) Flush() { _ = rs.FlushError() }

// FlushError is Flush with an error, for http.ResponseController.
func (rs *response[T]) FlushError() error {
	if err := rs.begin(); err != nil {
		return err
	}
	return http.NewResponseController(rs.w).Flush()
}

// Unwrap returns the underlying ResponseWriter, for http.ResponseController.
func (rs *response[T]) Unwrap() http.ResponseWriter { return rs.w }
