package httpsession

import (
	"time"
)

// LoginOption chooses, for the session of one Login, what the defaults
// would otherwise decide. The last option of a kind wins.
type LoginOption func(*loginOptions)

type loginOptions struct {
	persistent bool
	lifetime   time.Duration // 0: the Manager's absolute timeout
}

// Persistent chooses the cookie of this login: persistent (true), kept
// until the session's absolute deadline and so across browser restarts,
// or a browser-session cookie (false) that the browser drops when it
// closes — "remember me" unticked. Later cookies of the session (after
// Logout and a new visit) follow WithPersistent again. It has no effect
// with WithHeader. Default: the Middleware's WithPersistent.
func Persistent(persistent bool) LoginOption {
	return func(o *loginOptions) { o.persistent = persistent }
}

// Lifetime gives the session an absolute lifetime of its own, counted from
// its creation, instead of the Manager's absolute timeout: "remember me
// for 30 days" is Lifetime(30*24*time.Hour). Login uses
// session.Manager.RenewWithLifetime (CreateWithLifetime for a new
// session), so the deadline is stored with the session and the cookie
// expires with it. d must be positive and at most the Manager's
// session.WithMaxAbsoluteTimeout, or Login returns an error matching
// session.ErrLifetime and changes nothing. The idle timeout still applies.
// Default: the Manager's absolute timeout.
func Lifetime(d time.Duration) LoginOption {
	return func(o *loginOptions) { o.lifetime = d }
}
