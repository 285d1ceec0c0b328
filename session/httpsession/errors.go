package httpsession

import "errors"

var (
	// ErrNoMiddleware means the request did not pass through the
	// Middleware's Handler (or its context was replaced), so it has no
	// session.
	ErrNoMiddleware = errors.New("httpsession: the request did not pass through this Middleware's Handler")
	// ErrNoOwner means Login was given an empty owner; nothing changed.
	// It is the caller's mistake (an anonymous session is what Logout
	// leaves), so a handler that takes the owner from the request answers
	// 400 Bad Request, not 503.
	ErrNoOwner = errors.New("httpsession: login: the owner is empty (Logout makes a session anonymous)")
	// ErrOwnerChanged means the handler set the Owner of the session that
	// Middleware.Session returned directly. That is never stored: it
	// would keep the session's ID across a login, the opening for session
	// fixation. Use Login, which gives the session a new ID, or Logout.
	// The error handler sees it when the response starts; Update returns
	// it.
	ErrOwnerChanged = errors.New("httpsession: the session's Owner was changed directly; use Login (it renews the ID) or Logout")
	// ErrHeadersWritten means the response headers were already sent, so
	// no cookie can be set or expired any more. Login returns it without
	// doing anything, Logout and LogoutEverywhere after destroying the
	// sessions; the error handler sees it when changes made after the
	// response started could not be stored.
	ErrHeadersWritten = errors.New("httpsession: response headers already written")
)
