// Package shoptest is the one scenario that every router glue of contrib
// is tested with: a small shop whose routes each router serves in its own
// idiom, and a browser that walks through it over real HTTP and checks
// what the session middleware promises (cookie only when needed, the ID
// renewed at login, direct changes stored, caching headers, logout).
package shoptest

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sessionkit/sessionkit/backend"
	memorybackend "github.com/sessionkit/sessionkit/backend_memory"
	"github.com/sessionkit/sessionkit/session"
	"github.com/sessionkit/sessionkit/session/httpsession"
)

// Basket is the session data of the shop.
type Basket struct {
	Items map[string]int
}

// New returns the Middleware of a shop over a fresh memory backend, with
// opts. The backend is closed when the test ends.
func New(tb testing.TB, opts ...httpsession.Option) *httpsession.Middleware[Basket] {
	tb.Helper()
	store := memorybackend.New()
	tb.Cleanup(func() { store.Close() })
	mw, err := NewMiddleware(store, opts...)
	if err != nil {
		tb.Fatal(err)
	}
	return mw
}

// NewMiddleware returns the Middleware of a shop over b, with opts.
func NewMiddleware(b backend.Backend, opts ...httpsession.Option) (*httpsession.Middleware[Basket], error) {
	m, err := session.NewManager[Basket](b)
	if err != nil {
		return nil, err
	}
	return httpsession.New(m, opts...)
}

// The routes every router serves, each answering 200 with a plain text
// body (a handler's error: 400 for the client's, 503 for the store's):
//
//	GET  /cart         Cart of the session
//	POST /cart/{item}  Middleware.Update: one more item, then "ok"
//	POST /pear         the router's accessor, then s.Data.Items["pear"]++ on the session directly, then "ok"
//	POST /login?user=  Middleware.Login, then "ok"
//	POST /logout       Middleware.Logout, then "ok"
//
// Cart, Add, Login and the error answers are shared here so that the
// routers differ only in their glue.

// Cart is the body of GET /cart for s.
func Cart(s *session.Session[Basket]) string {
	who := s.Owner
	if who == "" {
		who = "guest"
	}
	return fmt.Sprintf("%s: %d apples, %d pears", who, s.Data.Items["apple"], s.Data.Items["pear"])
}

// Add is the function that POST /cart/{item} passes to Update.
func Add(item string) func(*Basket) error {
	return func(b *Basket) error {
		if b.Items == nil {
			b.Items = map[string]int{}
		}
		b.Items[item]++
		return nil
	}
}

// Pear is the direct change of POST /pear.
func Pear(s *session.Session[Basket]) {
	if s.Data.Items == nil {
		s.Data.Items = map[string]int{}
	}
	s.Data.Items["pear"]++
}

// Status is the status of a handler's answer to err: 400 for the
// client's mistakes (ErrNoOwner), 503 for the store's.
func Status(err error) int {
	if errors.Is(err, httpsession.ErrNoOwner) {
		return http.StatusBadRequest
	}
	return http.StatusServiceUnavailable
}

// NetHTTP is the shop as plain net/http handlers behind sessions.Handler,
// for the routers that mount an http.Handler (Fiber's adaptor).
func NetHTTP(sessions *httpsession.Middleware[Basket]) http.Handler {
	mux := http.NewServeMux()
	fail := func(w http.ResponseWriter, err error) { http.Error(w, err.Error(), Status(err)) }
	mux.HandleFunc("GET /cart", func(w http.ResponseWriter, r *http.Request) {
		s, err := sessions.Session(r)
		if err != nil {
			fail(w, err)
			return
		}
		io.WriteString(w, Cart(s))
	})
	mux.HandleFunc("POST /cart/{item}", func(w http.ResponseWriter, r *http.Request) {
		if err := sessions.Update(r, Add(r.PathValue("item"))); err != nil {
			fail(w, err)
			return
		}
		io.WriteString(w, "ok")
	})
	mux.HandleFunc("POST /pear", func(w http.ResponseWriter, r *http.Request) {
		s, err := sessions.Session(r)
		if err != nil {
			fail(w, err)
			return
		}
		Pear(s)
		io.WriteString(w, "ok")
	})
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		if err := sessions.Login(r, r.URL.Query().Get("user")); err != nil {
			fail(w, err)
			return
		}
		io.WriteString(w, "ok")
	})
	mux.HandleFunc("POST /logout", func(w http.ResponseWriter, r *http.Request) {
		if err := sessions.Logout(r); err != nil {
			fail(w, err)
			return
		}
		io.WriteString(w, "ok")
	})
	return sessions.Handler(mux)
}

// Tour serves the shop that build makes, over a fresh memory backend, and
// prints what a browser sees on a short walk through it: the body of the
// Examples.
func Tour(build func(*httpsession.Middleware[Basket]) http.Handler) {
	store := memorybackend.New()
	defer store.Close()
	sessions, err := NewMiddleware(store)
	if err != nil {
		panic(err)
	}
	srv := httptest.NewServer(build(sessions))
	defer srv.Close()
	TourAt(srv.URL)
}

// TourAt is Tour for a shop served at base.
func TourAt(base string) {
	b := NewBrowser(nil, base)
	for _, r := range [][2]string{
		{"GET", "/cart"}, {"POST", "/cart/apple"}, {"POST", "/pear"},
		{"POST", "/login?user=ada"}, {"GET", "/cart"}, {"POST", "/logout"},
	} {
		fmt.Println(b.Visit(r[0], r[1]))
	}
}

// Browser is an HTTP client with its own cookie jar, that does not follow
// redirects.
type Browser struct {
	tb   testing.TB // nil in examples: failures panic
	base string
	c    *http.Client
}

// NewBrowser returns a browser for the shop at base (an http:// URL) that
// reports failures to tb, or panics with them if tb is nil.
func NewBrowser(tb testing.TB, base string) *Browser {
	jar, _ := cookiejar.New(nil) // never fails without options
	return &Browser{tb: tb, base: strings.TrimSuffix(base, "/"), c: &http.Client{
		Jar:           jar,
		Timeout:       10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// Do sends a request and returns the response with its body read.
func (b *Browser) Do(method, path string) (*http.Response, string) {
	req, err := http.NewRequest(method, b.base+path, nil)
	if err != nil {
		b.fatal(err)
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		b.fatal(err)
	}
	return resp, string(body)
}

func (b *Browser) fatal(err error) {
	if b.tb == nil {
		panic(err)
	}
	b.tb.Helper()
	b.tb.Fatal(err)
}

// Visit sends a request and returns a line for an Example's output: the
// request, the body, and whether the response set or cleared a cookie.
func (b *Browser) Visit(method, path string) string {
	resp, body := b.Do(method, path)
	cookie := ""
	if len(resp.Header.Values("Set-Cookie")) > 0 {
		cookie = " (cookie set)"
	}
	return fmt.Sprintf("%-4s %-15s → %d %s%s", method, path, resp.StatusCode, strings.TrimSpace(body), cookie)
}

// step is one request of Check and what its answer must be.
type step struct {
	method, path string
	status       int
	body         string // a prefix of the body
	cookie       bool   // Set-Cookie present
	cacheControl string // "" for none
	vary         string // "" for none
}

// Check walks a new browser through the shop at base and fails tb where
// an answer is not what httpsession promises.
func Check(tb testing.TB, base string) {
	tb.Helper()
	b := NewBrowser(tb, base)
	for _, s := range []step{
		{"GET", "/cart", 200, "guest: 0 apples, 0 pears", false, "", "Cookie"},
		{"POST", "/cart/apple", 200, "ok", true, "no-store", "Cookie"},
		{"POST", "/cart/apple", 200, "ok", false, "", "Cookie"},
		{"POST", "/pear", 200, "ok", false, "", "Cookie"},
		{"GET", "/cart", 200, "guest: 2 apples, 1 pears", false, "", "Cookie"},
		{"POST", "/login?user=", 400, "", false, "", ""}, // ErrNoOwner comes before the session is loaded
		{"POST", "/login?user=ada", 200, "ok", true, "no-store", "Cookie"},
		{"POST", "/pear", 200, "ok", false, "no-store", "Cookie"},
		{"GET", "/cart", 200, "ada: 2 apples, 2 pears", false, "no-store", "Cookie"},
		{"POST", "/logout", 200, "ok", true, "no-store", "Cookie"},
		{"GET", "/cart", 200, "guest: 0 apples, 0 pears", false, "", "Cookie"},
	} {
		resp, body := b.Do(s.method, s.path)
		what := s.method + " " + s.path
		if resp.StatusCode != s.status || !strings.HasPrefix(body, s.body) {
			tb.Errorf("%s: %d %q, want %d %q", what, resp.StatusCode, body, s.status, s.body)
		}
		if got := len(resp.Header.Values("Set-Cookie")) > 0; got != s.cookie {
			tb.Errorf("%s: Set-Cookie %q, want one: %v", what, resp.Header.Values("Set-Cookie"), s.cookie)
		}
		if got := strings.Join(resp.Header.Values("Cache-Control"), ", "); got != s.cacheControl {
			tb.Errorf("%s: Cache-Control %q, want %q", what, got, s.cacheControl)
		}
		if got := strings.Join(resp.Header.Values("Vary"), ", "); got != s.vary {
			tb.Errorf("%s: Vary %q, want %q", what, got, s.vary)
		}
	}
}
