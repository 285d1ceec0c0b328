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
	// ErrHeadersWritten means the response headers were already sent, so
	// no cookie can be set or expired any more. Login returns it without
	// doing anything, Logout and LogoutEverywhere after destroying the
	// sessions; the error handler sees it when changes made after the
	// response started could not be stored.
	ErrHeadersWritten = errors.New("httpsession: response headers already written")
)
