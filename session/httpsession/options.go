package httpsession

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/textproto"
	"strings"
)

// Option configures a Middleware. Options are applied in order; the last
// one of a kind wins. New validates the result as a whole.
type Option func(*config)

// ErrorHandler answers a request whose session could not be stored. err
// says why; it matches ErrHeadersWritten when the response had already
// started, so that only logging is left to do. See WithErrorHandler.
type ErrorHandler func(w http.ResponseWriter, r *http.Request, err error)

type config struct {
	name       string
	nameSet    bool // WithCookieName: name is the caller's, else the default for the other options
	domain     string
	path       string
	secure     bool
	sameSite   http.SameSite
	persistent bool
	cache      bool
	header     string // canonical; "" for the cookie
	onError    ErrorHandler
	logger     *slog.Logger
	requests   RequestObserver
}

// DefaultCookieName is the name of the session cookie unless WithCookieName
// says otherwise, when the cookie is Secure, has the path "/" and no
// domain, as by default. Its prefix __Host- makes browsers refuse such a
// cookie from anywhere but a secure response of this very host, so a
// sibling subdomain (or a plain-HTTP man in the middle) cannot plant one
// (OWASP's session management guidance).
const DefaultCookieName = "__Host-session"

// PlainCookieName is the name of the session cookie unless WithCookieName
// says otherwise, when the __Host- prefix cannot be had: with
// WithSecure(false), WithDomain or a WithPath other than "/".
const PlainCookieName = "session"

// WithCookieName sets the name of the session cookie. It must be a valid
// cookie name; a name with the prefix __Host- requires the Secure attribute,
// the path "/" and no domain, and __Secure- requires Secure. An
// application upgrading from a release whose default was "session" keeps
// its users' sessions with WithCookieName("session"). Default:
// DefaultCookieName ("__Host-session") when Secure, path "/" and no domain
// hold, else PlainCookieName ("session").
func WithCookieName(name string) Option { return func(c *config) { c.name, c.nameSet = name, true } }

// WithDomain sets the cookie's Domain attribute, which makes the browser
// send the cookie to that domain and its subdomains. Default: "" (no
// attribute: the cookie goes back only to the host that set it).
func WithDomain(domain string) Option { return func(c *config) { c.domain = domain } }

// WithPath sets the cookie's Path attribute. Default: "/".
func WithPath(path string) Option { return func(c *config) { c.path = path } }

// WithSecure sets the cookie's Secure attribute, which keeps browsers from
// sending the cookie over plain HTTP (Chrome and Firefox, not Safari,
// make an exception for http://localhost and loopback addresses). Turn it
// off only for plain-HTTP development; never in production. Default: true.
func WithSecure(secure bool) Option { return func(c *config) { c.secure = secure } }

// WithSameSite sets the cookie's SameSite attribute. http.SameSiteNoneMode
// requires Secure; http.SameSiteDefaultMode leaves the attribute out.
// Default: http.SameSiteLaxMode.
func WithSameSite(mode http.SameSite) Option { return func(c *config) { c.sameSite = mode } }

// WithPersistent chooses between a persistent cookie, which expires when
// the session's absolute deadline passes and so survives a browser restart,
// and a browser-session cookie without Expires and Max-Age, which the
// browser drops when it closes. Either way the server ends the session at
// its idle and absolute deadlines; the cookie never outlives the absolute
// one, and since that deadline never moves the cookie is sent only when the
// session ID changes. Default: true.
func WithPersistent(persistent bool) Option { return func(c *config) { c.persistent = persistent } }

// WithHeader makes the Middleware carry the session ID in the request
// header name (for example "X-Session-Token") instead of a cookie: it reads
// the ID from that header and sends a new or renewed ID in the same header
// of the response; Logout answers with the header present and empty. No
// cookie is read or set then, and the cookie options have no effect. An
// unknown, expired or malformed ID is a new anonymous session, as with
// cookies. Use it for clients that are not browsers (mobile apps, API
// clients, other services), which keep the ID themselves. A browser
// application should keep the cookie: it is HttpOnly, so a script
// injected into the page cannot read the ID, while a token in a header
// has to live where scripts can read it. (A browser script that reads the
// header cross-origin needs it in Access-Control-Expose-Headers.) name
// must be a valid header name, and not Cookie or Set-Cookie. Default: ""
// (the cookie).
func WithHeader(name string) Option { return func(c *config) { c.header = name } }

// WithCacheControl(false) stops the Middleware from setting Cache-Control,
// for applications that manage caching themselves. When on, a response
// that sets or clears the session ID gets "Cache-Control: no-store" unless
// the handler's own Cache-Control already has no-store or private (so no
// shared cache keeps it), and a response for a logged-in session (Owner
// not empty) gets "no-store" unless the handler set a Cache-Control of its
// own before the first byte. Vary is added in either case: every response
// of a request that used its session names the session cookie's header
// (Cookie, or the header of WithHeader) in Vary, next to the handler's
// values. A request that never uses its session gets neither header.
// Default: true.
func WithCacheControl(on bool) Option { return func(c *config) { c.cache = on } }

// WithErrorHandler sets the function that answers a request whose session
// changes could not be stored: a backend error, a payload over the
// Manager's limit, session.ErrConflict when a concurrent request of the
// same session saved first (handlers that expect such races use
// Middleware.Update, which retries), or ErrOwnerChanged when the handler
// set the session's Owner directly instead of calling Middleware.Login. It runs before the first byte of the
// response and replaces the handler's response; the handler's later writes
// fail. If the save happens after the response started (see
// Middleware.Handler), err matches ErrHeadersWritten and the status can no
// longer change. Default: DefaultErrorHandler.
func WithErrorHandler(h ErrorHandler) Option { return func(c *config) { c.onError = h } }

// DefaultErrorHandler logs err with slog.Default at level Error and, unless
// err matches ErrHeadersWritten, answers 500 Internal Server Error. It never
// shows err to the client.
func DefaultErrorHandler(w http.ResponseWriter, r *http.Request, err error) {
	slog.Default().ErrorContext(r.Context(), "httpsession: session not stored",
		"method", r.Method, "path", r.URL.Path, "err", err)
	if !errors.Is(err, ErrHeadersWritten) {
		http.Error(w, http.StatusText(http.StatusInternalServerError), http.StatusInternalServerError)
	}
}

// varyOn is the request header that carries the session ID.
func (c *config) varyOn() string {
	if c.header != "" {
		return c.header
	}
	return "Cookie"
}

func newConfig(opts []Option) (config, error) {
	c := config{
		path:       "/",
		secure:     true,
		sameSite:   http.SameSiteLaxMode,
		persistent: true,
		cache:      true,
		onError:    DefaultErrorHandler,
		logger:     discard,
	}
	for _, o := range opts {
		o(&c)
	}
	if !c.nameSet {
		c.name = PlainCookieName
		if c.secure && c.path == "/" && c.domain == "" {
			c.name = DefaultCookieName
		}
	}
	var errs []error
	probe := http.Cookie{Name: c.name, Value: "x", Domain: c.domain, Path: c.path}
	if err := probe.Valid(); err != nil {
		errs = append(errs, err)
	}
	if c.path == "" || !strings.HasPrefix(c.path, "/") {
		errs = append(errs, fmt.Errorf("path %q must start with /", c.path))
	}
	switch c.sameSite {
	case http.SameSiteDefaultMode, http.SameSiteLaxMode, http.SameSiteStrictMode:
	case http.SameSiteNoneMode:
		if !c.secure {
			errs = append(errs, errors.New("SameSite=None requires Secure (browsers reject the cookie otherwise)"))
		}
	default:
		errs = append(errs, fmt.Errorf("unknown SameSite mode %d", c.sameSite))
	}
	if strings.HasPrefix(c.name, "__Secure-") && !c.secure {
		errs = append(errs, fmt.Errorf("cookie name %q requires Secure", c.name))
	}
	if strings.HasPrefix(c.name, "__Host-") && (!c.secure || c.path != "/" || c.domain != "") {
		errs = append(errs, fmt.Errorf("cookie name %q requires Secure, path / and no domain", c.name))
	}
	if c.onError == nil {
		errs = append(errs, errors.New("error handler is nil"))
	}
	if c.logger == nil {
		errs = append(errs, errors.New("logger is nil"))
	}
	if c.header != "" {
		if !validHeaderName(c.header) {
			errs = append(errs, fmt.Errorf("header name %q is not a valid HTTP header name", c.header))
		}
		c.header = textproto.CanonicalMIMEHeaderKey(c.header)
		if c.header == "Cookie" || c.header == "Set-Cookie" {
			errs = append(errs, fmt.Errorf("header %q is the cookie's own: leave WithHeader out to use the cookie", c.header))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return c, fmt.Errorf("httpsession: invalid options: %w", err)
	}
	return c, nil
}

// validHeaderName reports whether name is an HTTP token (RFC 9110, 5.1).
func validHeaderName(name string) bool {
	if name == "" {
		return false
	}
	for i := range len(name) {
		c := name[i]
		if c >= 0x80 || !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}
