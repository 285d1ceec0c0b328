package httpsession

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/sessionkit/sessionkit/internal/retry"
	"github.com/sessionkit/sessionkit/session"
)

// Middleware connects a session.Manager to net/http: Handler finds the
// request's session through a cookie (or a header, WithHeader), the
// handler reads and changes it with the methods below, and the changes
// are stored before the response starts. A Middleware is safe for concurrent use; build it with New.
type Middleware[T any] struct {
	m       *session.Manager[T]
	cf      config
	renewed renewals // Login's recent new IDs, for a Logout that raced it
}

// New returns a Middleware that keeps the sessions of m in a cookie
// (options: WithCookieName, WithDomain, WithPath, WithSecure, WithSameSite,
// WithPersistent), or in a request header (WithHeader), with
// WithCacheControl, WithErrorHandler and WithLogger for both. It returns an error if m
// is nil or the options cannot work together, such as an invalid cookie
// or header name or SameSite=None without Secure.
func New[T any](m *session.Manager[T], opts ...Option) (*Middleware[T], error) {
	if m == nil {
		return nil, errors.New("httpsession: manager is nil")
	}
	cf, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	mw := &Middleware[T]{m: m, cf: cf}
	mw.cf.onError = mw.logged(cf.onError)
	return mw, nil
}

// Manager returns the Manager the Middleware stores sessions with, for
// what the Middleware does not wrap (ListByOwner, Revoke, GetFresh).
func (mw *Middleware[T]) Manager() *session.Manager[T] { return mw.m }

// Handler returns next wrapped so that its requests have a session. It
// costs nothing but a few small allocations until the handler asks for the
// session: the cookie is read and the backend asked only then.
//
// The session is stored, and its cookie set, when the handler first calls
// WriteHeader, Write, Flush or ReadFrom on the ResponseWriter (so before the
// first byte of the response), or when it returns without writing. Changes
// made after the response started are stored when the handler returns if
// the session already existed; a new session changed that late cannot be
// stored, since its cookie could no longer reach the client, and the error
// handler sees an error matching ErrHeadersWritten.
//
// A handler that panics loses what was still to be stored when it
// returned: changes made with Modify or directly to Data. What Update,
// Login, Logout and LogoutEverywhere did is not undone, since they write
// at once, with one exception: a session that Login or Update created, or
// that Login renewed, is destroyed again if its new cookie had not gone
// out with the headers, since the client could never reach it (after a
// renewal the old ID is dead as well, so the client is a new visitor).
//
// A client that goes away mid-request does not cancel the
// save: it runs with the request's context without its cancellation, and
// the backend's own timeouts bound it.
//
// Right before the headers go out it also adds Vary and Cache-Control to
// the response of a request that used its session (see WithCacheControl).
//
// The ResponseWriter passed to next implements http.Flusher and
// io.ReaderFrom and has an Unwrap method, so http.ResponseController
// reaches the underlying writer (Hijack, deadlines, full duplex). A
// hijacked connection sends no cookie.
func (mw *Middleware[T]) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rs := &response[T]{w: w, mw: mw}
		rs.r = r.WithContext(context.WithValue(r.Context(), mw, rs))
		returned := false
		defer func() {
			if !returned { // a panic (or runtime.Goexit) is on its way up
				rs.abandon()
			}
		}()
		next.ServeHTTP(rs, rs.r)
		returned = true
		rs.finish()
		rs.observe(r.Context())
	})
}

func (mw *Middleware[T]) response(r *http.Request) (*response[T], error) {
	rs, ok := r.Context().Value(mw).(*response[T])
	if !ok {
		return nil, ErrNoMiddleware
	}
	return rs, nil
}

// Session returns the request's session, loading it on the first call.
// If the request carries no cookie, or one that names no live session
// (unknown, expired, destroyed, malformed), it is a new session that
// exists only in memory: its ID is "", its Owner "" and its Data the zero
// T, and it is stored, and the cookie set, only if the handler changes it.
// Apart from ErrNoMiddleware (the caller's), an error means the store
// failed (it may match backend.ErrUnavailable or session.ErrCorrupt),
// never that the client sent something wrong. A
// stored session that cannot be decoded (session.ErrCorrupt, say after an
// incompatible change of T) stays an error until the handler calls Logout,
// which needs no decoding and leaves the request a new session.
//
// Changes the handler makes directly to the returned session's Data are
// stored like those of Modify: before the response starts (or, for a
// session stored already, when the handler returns), if Data then encodes
// differently from the session as loaded or last stored. The cost is an
// encoding of Data when Session first returns it and at each of those
// two points. Owner must not be changed directly: such a change is never
// stored, and the error handler gets ErrOwnerChanged; use Login and
// Logout. The other fields are for reading.
func (mw *Middleware[T]) Session(r *http.Request) (*session.Session[T], error) {
	rs, err := mw.response(r)
	if err != nil {
		return nil, err
	}
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if err := rs.load(r.Context()); err != nil {
		return nil, err
	}
	rs.hand()
	return rs.sess, nil
}

// Modify calls fn on the session's data and marks the session changed, so
// that it is stored (created, for a new visitor) before the response
// starts, without comparing encodings. For a new visitor, after the response started, it returns an
// error matching ErrHeadersWritten without calling fn. The store checks that nobody saved the session since it was
// loaded: if a concurrent request of the same session did, the error
// handler answers with an error matching session.ErrConflict. Use Update
// where concurrent requests are expected. fn must not call methods of the
// Middleware.
//
// The caller's errors: ErrHeadersWritten, ErrNoMiddleware. Any other error
// is the store's, from loading the session.
func (mw *Middleware[T]) Modify(r *http.Request, fn func(data *T)) error {
	rs, err := mw.response(r)
	if err != nil {
		return err
	}
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if err := rs.load(r.Context()); err != nil {
		return err
	}
	if rs.started && !rs.stored {
		return fmt.Errorf("httpsession: modify: a new session cannot get its cookie: %w", ErrHeadersWritten)
	}
	fn(&rs.sess.Data)
	rs.dirty = true
	return nil
}

// Update changes the session's data now, with session.Manager.Update: it
// reads the stored session, calls fn on its data and writes the result,
// again while concurrent requests of the same session write in between, so
// no change is lost. Changes made before with Modify are stored first. For
// a new visitor Update creates the session. If fn returns an error nothing
// is stored and Update returns it. fn may run more than once and must not
// call methods of the Middleware.
//
// The caller's errors: fn's own, session.ErrTooLarge, ErrOwnerChanged,
// ErrHeadersWritten, ErrNoMiddleware. The store's: backend.ErrUnavailable,
// session.ErrCorrupt, and session.ErrConflict when concurrent writers won
// every attempt.
func (mw *Middleware[T]) Update(r *http.Request, fn func(data *T) error) error {
	rs, err := mw.response(r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if err := rs.load(ctx); err != nil {
		return err
	}
	if err := rs.direct(); err != nil {
		return fmt.Errorf("httpsession: update: %w", err)
	}
	if !rs.stored {
		if rs.started {
			return fmt.Errorf("httpsession: update: a new session cannot get its cookie: %w", ErrHeadersWritten)
		}
		data := rs.sess.Data
		if err := fn(&data); err != nil {
			return err
		}
		s, err := mw.m.Create(ctx, rs.owner, data)
		if err = mw.applied(ctx, s, err); err != nil {
			return fmt.Errorf("httpsession: update: %w", err)
		}
		rs.set(s)
		return nil
	}
	if err := rs.save(ctx, false); err != nil {
		return fmt.Errorf("httpsession: update: %w", err)
	}
	s, err := mw.m.Update(ctx, rs.sess.ID, func(s *session.Session[T]) error { return fn(&s.Data) })
	if err = mw.applied(ctx, s, err); err != nil {
		return fmt.Errorf("httpsession: update: %w", err)
	}
	*rs.sess = *s
	rs.owner = s.Owner
	rs.rebase()
	return nil
}

// Login makes owner the owner of the session and gives it a new ID, which
// ends the old one (session fixation): it calls session.Manager.Renew, or
// Create for a new visitor, at once, and the new cookie goes out with the
// response. An anonymous session, or one of the same owner (a privilege
// change), keeps its data, changes made with Modify included. A session
// of another owner is destroyed instead, so that owner's data never passes
// to the next user of the browser, and owner starts with the zero T; set
// the new user's data with Modify after Login. Call Login before writing
// the response; afterwards it returns ErrHeadersWritten and does nothing.
//
// A concurrent request of the same session (another tab) that saves it
// while this one checks a password makes the renewal conflict; Login then
// reads the session again and retries, with backoff, up to the Manager's
// session.Manager.UpdateAttempts times in all, like Update. It does not
// retry when this request has changes of its own not yet stored (Modify,
// or Data changed directly), which would overwrite the other request's:
// the error then matches session.ErrConflict.
//
// A Login and a Logout sent with the same cookie at once (two tabs, a
// double click) must not leave a logged-in session that the browser
// cannot name, since the response that arrives last sets the cookie. So
// for ten seconds a Middleware remembers the IDs its Logins replaced and
// its Logouts ended: a Logout with the old cookie also ends the session a
// Login handed out in its place, and a Login with a cookie that a Logout
// just ended leaves no session and returns an error matching
// session.ErrConflict (the Logout came first). Requests sent after the
// Logout's response carry no such cookie. This covers the requests one
// instance serves; where the two go to different instances the race can
// still leave such a session, which then ends at its idle timeout.
//
// opts choose for this session what the defaults would otherwise decide:
// a lifetime of its own (Lifetime, for "remember me") and a persistent or
// browser-session cookie (Persistent):
//
//	err := sessions.Login(r, user, httpsession.Lifetime(30*24*time.Hour), httpsession.Persistent(true))
//
// The caller's errors: ErrNoOwner for an empty owner (nothing changes),
// session.ErrLifetime for a Lifetime the Manager does not allow (nothing
// changes), ErrHeadersWritten, ErrNoMiddleware. Any other error is the
// store's (session.ErrConflict when concurrent writers won every attempt); one
// matching session.ErrNotDurable means the login took place and the new
// cookie goes out, but the store could not confirm it as durable as
// configured (log it and carry on).
func (mw *Middleware[T]) Login(r *http.Request, owner string, opts ...LoginOption) error {
	if owner == "" {
		return ErrNoOwner
	}
	lo := loginOptions{persistent: mw.cf.persistent}
	for _, o := range opts {
		o(&lo)
	}
	if lo.lifetime != 0 && (lo.lifetime < 0 || lo.lifetime > mw.m.MaxAbsoluteTimeout()) {
		return fmt.Errorf("httpsession: login: %w: %v is not in (0, %v] (session.WithMaxAbsoluteTimeout)", session.ErrLifetime, lo.lifetime, mw.m.MaxAbsoluteTimeout())
	}
	rs, err := mw.response(r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if rs.started {
		return fmt.Errorf("httpsession: login: %w", ErrHeadersWritten)
	}
	if err := rs.load(ctx); err != nil {
		return err
	}
	if err := rs.loggedOut(); err != nil {
		return fmt.Errorf("httpsession: login: %w", err)
	}
	s := rs.sess
	from := "" // the ID the client holds, which a racing Logout may still send
	if rs.stored {
		from = s.ID
	}
	for attempt := 0; rs.stored; attempt++ {
		if rs.owner != "" && rs.owner != owner {
			if err := mw.m.Destroy(ctx, s.ID); err != nil {
				return fmt.Errorf("httpsession: login: %w", err)
			}
			rs.reset()
			break
		}
		prev := s.Owner
		s.Owner = owner
		var err error
		if lo.lifetime != 0 {
			err = mw.m.RenewWithLifetime(ctx, s, lo.lifetime)
		} else {
			err = mw.m.Renew(ctx, s)
		}
		switch {
		case err == nil || errors.Is(err, session.ErrNotDurable):
			// Renewed (maybe not yet durably): the old ID is dead, the
			// client must get the new one.
			rs.dirty, rs.owner = false, owner
			rs.cookie = mw.newCookie(s.ID, s.AbsoluteDeadline, lo.persistent)
			rs.rebase()
			mw.renewed.add(from, s.ID)
			if lerr := rs.raced(ctx); lerr != nil {
				return fmt.Errorf("httpsession: login: %w", lerr)
			}
			if err != nil {
				return fmt.Errorf("httpsession: login: %w", err)
			}
			return nil
		case errors.Is(err, session.ErrNotFound):
			// Gone meanwhile (expired, logged out elsewhere): start afresh
			// with the data at hand, unless a Logout racing this request
			// ended it.
			if err := rs.loggedOut(); err != nil {
				return fmt.Errorf("httpsession: login: %w", err)
			}
			rs.stored = false
			continue
		}
		s.Owner = prev
		if !errors.Is(err, session.ErrConflict) {
			return fmt.Errorf("httpsession: login: %w", err)
		}
		if attempt+1 >= mw.m.UpdateAttempts() {
			return fmt.Errorf("httpsession: login after %d attempts: %w", attempt+1, err)
		}
		// A concurrent request of the session (another tab) saved since
		// it was read. Unless this request has changes of its own, which
		// would overwrite that request's, read it again and retry, as
		// Update does.
		if derr := rs.direct(); derr != nil || rs.dirty {
			return fmt.Errorf("httpsession: login: %w", err)
		}
		if err := retry.Backoff(ctx, attempt); err != nil {
			return fmt.Errorf("httpsession: login: %w", err)
		}
		fresh, err := mw.m.GetFresh(ctx, s.ID)
		switch {
		case errors.Is(err, session.ErrNotFound):
			rs.stored = false
		case err != nil:
			return fmt.Errorf("httpsession: login: %w", err)
		default:
			*s = *fresh // the handler may hold s
			rs.owner = fresh.Owner
			rs.rebase()
		}
	}
	var ns *session.Session[T]
	if lo.lifetime != 0 {
		ns, err = mw.m.CreateWithLifetime(ctx, owner, s.Data, lo.lifetime)
	} else {
		ns, err = mw.m.Create(ctx, owner, s.Data)
	}
	if ns == nil {
		return fmt.Errorf("httpsession: login: %w", err)
	}
	rs.set(ns)
	rs.cookie = mw.newCookie(ns.ID, ns.AbsoluteDeadline, lo.persistent)
	if from != "" {
		mw.renewed.add(from, ns.ID)
		if lerr := rs.raced(ctx); lerr != nil {
			return fmt.Errorf("httpsession: login: %w", lerr)
		}
	}
	if err != nil { // session.ErrNotDurable: created all the same
		return fmt.Errorf("httpsession: login: %w", err)
	}
	return nil
}

// Logout destroys the session and expires its cookie. Afterwards the
// request has a new, empty session, stored only if changed. If the
// response had already started, the session is destroyed all the same
// but the cookie stays with the client (harmlessly: it names no session),
// and Logout returns an error matching ErrHeadersWritten. It also ends a
// session that a Login racing it with the same cookie handed out (see
// Login).
//
// The caller's errors: ErrHeadersWritten, ErrNoMiddleware. Any other error
// is the store's, and then the session may still exist.
func (mw *Middleware[T]) Logout(r *http.Request) error {
	rs, err := mw.response(r)
	if err != nil {
		return err
	}
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return rs.destroy(r.Context(), "logout")
}

// LogoutEverywhere destroys every session of the session's owner — on all
// devices and all instances — then does what Logout does. It returns how
// many sessions of the owner it destroyed. For an anonymous session it is
// Logout and returns 0. The backend must implement backend.OwnerIndex,
// otherwise the error matches session.ErrUnsupported and nothing is
// destroyed.
//
// The caller's errors: session.ErrUnsupported, ErrHeadersWritten,
// ErrNoMiddleware. Any other error is the store's.
func (mw *Middleware[T]) LogoutEverywhere(r *http.Request) (int, error) {
	rs, err := mw.response(r)
	if err != nil {
		return 0, err
	}
	ctx := r.Context()
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if err := rs.load(ctx); err != nil {
		return 0, err
	}
	n := 0
	if owner := rs.owner; owner != "" { // as stored: never an Owner the handler set
		if n, err = mw.m.DestroyByOwner(ctx, owner); err != nil {
			return n, fmt.Errorf("httpsession: logout everywhere: %w", err)
		}
	}
	return n, rs.destroy(ctx, "logout everywhere")
}
