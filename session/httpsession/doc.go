// Package httpsession is the net/http middleware of sessionkit: it keeps a
// session's ID in a cookie (or a header, WithHeader), gives handlers the
// typed session of a session.Manager, and stores their changes before the
// response starts.
// It wraps any http.Handler, so it works with http.ServeMux and with
// routers that take func(http.Handler) http.Handler middleware.
//
//	type Cart struct {
//		Items map[string]int
//	}
//
//	func main() {
//		m, err := session.NewManager[Cart](memorybackend.New())
//		if err != nil {
//			log.Fatal(err)
//		}
//		sessions, err := httpsession.New(m)
//		if err != nil {
//			log.Fatal(err)
//		}
//		mux := http.NewServeMux()
//		mux.HandleFunc("GET /cart", func(w http.ResponseWriter, r *http.Request) {
//			s, err := sessions.Session(r) // a new visitor gets an empty, unsaved session
//			if err != nil {
//				http.Error(w, "session store unavailable", http.StatusServiceUnavailable)
//				return
//			}
//			fmt.Fprintf(w, "%s has %d items\n", s.Owner, len(s.Data.Items))
//		})
//		mux.HandleFunc("POST /cart/{item}", func(w http.ResponseWriter, r *http.Request) {
//			err := sessions.Update(r, func(c *Cart) error { // stored now, retried on conflict
//				if c.Items == nil {
//					c.Items = map[string]int{}
//				}
//				c.Items[r.PathValue("item")]++
//				return nil
//			})
//			if err != nil {
//				http.Error(w, "session store unavailable", http.StatusServiceUnavailable)
//				return
//			}
//			http.Redirect(w, r, "/cart", http.StatusSeeOther)
//		})
//		mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
//			user := checkPassword(r) // yours
//			if err := sessions.Login(r, user); err != nil { // new ID, same cart
//				if errors.Is(err, httpsession.ErrNoOwner) { // no user: the client's fault
//					http.Error(w, "unknown user", http.StatusBadRequest)
//					return
//				}
//				http.Error(w, "session store unavailable", http.StatusServiceUnavailable)
//				return
//			}
//			http.Redirect(w, r, "/cart", http.StatusSeeOther)
//		})
//		mux.HandleFunc("POST /logout", func(w http.ResponseWriter, r *http.Request) {
//			if err := sessions.Logout(r); err != nil {
//				http.Error(w, "session store unavailable", http.StatusServiceUnavailable)
//				return
//			}
//			http.Redirect(w, r, "/cart", http.StatusSeeOther)
//		})
//		// POST forms need CSRF protection; the standard library has it.
//		h := http.NewCrossOriginProtection().Handler(sessions.Handler(mux))
//		log.Fatal(http.ListenAndServe("127.0.0.1:8080", h))
//	}
//
// The imports are
//
//	memorybackend "github.com/sessionkit/sessionkit/backend_memory"
//	"github.com/sessionkit/sessionkit/session"
//	"github.com/sessionkit/sessionkit/session/httpsession"
//
// # Reading and changing the session
//
// Session loads the session on its first call; a request that never calls
// a method of the Middleware costs no cookie parsing and no backend call.
// A visitor without a (live) session gets a new session that lives only in
// memory, so anonymous traffic that only reads creates nothing and gets no
// cookie. A handler changes Data directly on the session that Session
// returned (s.Data.Items["pear"]++), or with Modify, and the change is
// stored before the response starts: the Middleware encodes Data and
// compares it with what it loaded, so a request that changes nothing
// writes nothing. Both check that nobody saved the session since it was
// loaded; if a concurrent request of the same session did, the error
// handler answers with session.ErrConflict and nothing is overwritten.
// Update is the concurrency-safe path: it stores at once and retries on
// conflict, so use it where requests of one session race (two tabs, a
// counter). Owner changes go through Login, Logout and LogoutEverywhere
// only: a direct change of Owner is never stored, since it would keep the
// ID across a login (session fixation), and the error handler gets
// ErrOwnerChanged.
//
// The idle deadline needs no cookie: session.Manager.Get moves it in the
// store when it is due (see session.WithTouchInterval), and the cookie
// expires with the absolute deadline, which never moves. So the cookie is
// sent only when the ID changes: on the first store of a new session, on
// Login, and (emptied) on Logout.
//
// # Cookie
//
// The cookie carries only the session ID. Defaults, each with its option:
// name "__Host-session" (WithCookieName; "session" where the __Host-
// prefix cannot be had: without Secure, with a Domain or another Path),
// no Domain, so host-only (WithDomain),
// Path=/ (WithPath), HttpOnly (always), Secure (WithSecure),
// SameSite=Lax (WithSameSite), and persistent: Expires and Max-Age at the
// session's absolute deadline (WithPersistent). Login can decide both for
// one session: Persistent(false) for a browser-session cookie, and
// Lifetime for a longer absolute lifetime ("remember me", up to the
// Manager's session.WithMaxAbsoluteTimeout). Logout replaces the cookie
// with an empty one that lives a second, rather than deleting it: Chromium
// evicts a logged-in page from its back/forward cache when a cookie is set,
// not when one is deleted. An unknown, expired or malformed cookie is no
// error: the request gets a new session.
//
// # APIs and mobile clients
//
// Clients that are not browsers can carry the ID in a request header
// instead: with WithHeader("X-Session-Token") the Middleware reads the ID
// from that header, sends a new or renewed ID back in the same response
// header, answers Logout with the header present and empty, and never
// reads or sets a cookie. Everything else (lazy loading, Login, Update,
// the error handler) is the same. Browser applications should keep the
// default HttpOnly cookie, which page scripts cannot read.
//
// # Caching
//
// A response must not let a cache hand one user's session to another, nor
// let the browser's Back button show a logged-in page after logout. So a
// request that used its session gets "Vary: Cookie" (added to the
// handler's Vary; with WithHeader, that header's name), and by default "Cache-Control: no-store" when the
// response sets or clears the session cookie (unless the handler's own
// Cache-Control has no-store or private already) or when its session is
// logged in (unless the handler set a Cache-Control of its own before the
// first byte). A request that never uses its session gets neither header,
// so public pages stay cacheable. WithCacheControl(false) leaves
// Cache-Control to the application.
//
// # When the response has started
//
// The ResponseWriter that Handler passes on stores the changes and adds
// the Set-Cookie header when the handler first calls WriteHeader, Write,
// Flush or ReadFrom, so a streaming handler gets its cookie too. Changes
// made after that are stored when the handler returns if the session was
// stored already (its cookie is with the client). A new session can no
// longer get a cookie then: Modify and Update return an error matching
// ErrHeadersWritten, and so does Login, which then does nothing. Logout
// still destroys the session and reports ErrHeadersWritten because the
// cookie could not be expired. Call these before writing.
//
// # Errors
//
// The errors of the methods are of two kinds. The caller's, where a retry
// cannot help and the fix is in the code or the input: ErrNoMiddleware
// (the route is not behind Handler), ErrHeadersWritten (called after the
// response started), ErrNoOwner (Login with an empty owner: 400 Bad
// Request when the owner comes from the request), ErrOwnerChanged (Owner
// set directly instead of through Login), session.ErrTooLarge
// (the data outgrew the Manager's limit), session.ErrUnsupported
// (LogoutEverywhere on a backend without an owner index) and the error
// that Update's function returned. The store's, where 503 Service
// Unavailable is the answer: errors matching backend.ErrUnavailable (the
// store is unreachable or timed out), session.ErrCorrupt (a stored
// session that T cannot decode) and session.ErrConflict (Update gave up
// after concurrent writers kept winning). A client's unknown, expired or
// malformed cookie is never an error.
//
// A change that cannot be stored never passes silently. If storing before
// the response fails — the store is down, the data exceeds the Manager's
// limit, a concurrent request of the same session saved first
// (session.ErrConflict), or the handler set Owner directly
// (ErrOwnerChanged) — the error handler (WithErrorHandler; by default
// a log line and 500 Internal Server Error) answers instead of the
// handler, whose writes then fail. A failure after the response started
// goes to the error handler with an error matching ErrHeadersWritten.
package httpsession
