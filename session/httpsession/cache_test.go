package httpsession_test

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sessionkit/sessionkit/session/httpsession"
)

// cacheRoutes adds routes whose handlers set the Cache-Control and Vary of
// the query (cc, vary) before they use the session.
func (e *env) cacheRoutes() {
	own := func(w http.ResponseWriter, r *http.Request) {
		if cc := r.FormValue("cc"); cc != "" {
			w.Header().Set("Cache-Control", cc)
		}
		if v := r.FormValue("vary"); v != "" {
			w.Header().Set("Vary", v)
		}
	}
	e.mux.HandleFunc("GET /own/untouched", func(w http.ResponseWriter, r *http.Request) {
		own(w, r)
		io.WriteString(w, "public")
	})
	e.mux.HandleFunc("GET /own/read", func(w http.ResponseWriter, r *http.Request) {
		own(w, r)
		s, err := e.mw.Session(r)
		if err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintf(w, "owner=%s", s.Owner)
	})
	e.mux.HandleFunc("POST /own/login", func(w http.ResponseWriter, r *http.Request) {
		own(w, r)
		if err := e.mw.Login(r, "ada"); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
		}
	})
	e.mux.HandleFunc("POST /own/inc", func(w http.ResponseWriter, r *http.Request) {
		own(w, r)
		if err := e.mw.Modify(r, func(c *Cart) { c.N++ }); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
		}
	})
}

// caching is what a response says to caches.
type caching struct {
	CacheControl []string
	Vary         []string
}

func cachingOf(resp *http.Response) caching {
	return caching{resp.Header.Values("Cache-Control"), resp.Header.Values("Vary")}
}

var (
	noHeaders   = caching{}
	varyOnly    = caching{Vary: []string{"Cookie"}}
	noStoreVary = caching{CacheControl: []string{"no-store"}, Vary: []string{"Cookie"}}
)

// TestCacheHeaders walks one browser through the states of a session and
// checks, over real HTTP, what each response tells caches.
func TestCacheHeaders(t *testing.T) {
	e := newEnv(t)
	e.cacheRoutes()
	c := e.client()
	step := func(method, path string, want caching, rule string) {
		t.Helper()
		resp, body := e.do(c, method, path)
		require.Less(t, resp.StatusCode, 400, body)
		assert.Equal(t, want, cachingOf(resp), "%s %s: %s", method, path, rule)
	}

	step("GET", "/untouched", noHeaders, "a request that never uses its session gets no header")
	step("GET", "/own/untouched?cc=public,+max-age=600", caching{CacheControl: []string{"public, max-age=600"}}, "a public page stays cacheable")
	step("GET", "/read", varyOnly, "an anonymous visitor's page depends on the cookie, and may be cached privately")
	step("POST", "/inc", noStoreVary, "a response that sets the cookie is stored by no shared cache")
	step("GET", "/read", varyOnly, "a stored anonymous session: no cookie sent, owner empty")
	step("GET", "/own/read?cc=public,+max-age=60", caching{CacheControl: []string{"public, max-age=60"}, Vary: []string{"Cookie"}}, "anonymous: the handler's caching stays")
	step("POST", "/login?user=ada", noStoreVary, "Login sets the cookie")
	step("GET", "/read", noStoreVary, "a logged-in page is stored by no cache")
	step("POST", "/inc", noStoreVary, "a logged-in page is stored by no cache, also without a cookie")
	step("GET", "/own/read?cc=private,+max-age=60", caching{CacheControl: []string{"private, max-age=60"}, Vary: []string{"Cookie"}}, "logged in: the handler's own Cache-Control wins")
	step("GET", "/own/read?vary=Accept-Encoding", caching{CacheControl: []string{"no-store"}, Vary: []string{"Accept-Encoding", "Cookie"}}, "Cookie is added to the handler's Vary")
	step("GET", "/own/read?vary=accept-encoding,+cookie", caching{CacheControl: []string{"no-store"}, Vary: []string{"accept-encoding, cookie"}}, "a Vary that names the cookie already stays as it is")
	step("GET", "/own/read?vary=*", caching{CacheControl: []string{"no-store"}, Vary: []string{"*"}}, "Vary: * covers the cookie")
	step("POST", "/own/login?cc=public,+max-age=3600", noStoreVary, "a response that sets the cookie is never public, whatever the handler said")
	step("POST", "/own/login?cc=private,+max-age=5", caching{CacheControl: []string{"private, max-age=5"}, Vary: []string{"Cookie"}}, "... but it may be private")
	step("POST", "/own/login?cc=no-cache,+no-store", caching{CacheControl: []string{"no-cache, no-store"}, Vary: []string{"Cookie"}}, "... or no-store in the handler's words")
	step("GET", "/untouched", noHeaders, "logged in, a request that never uses its session still gets no header")
	step("POST", "/logout", noStoreVary, "a response that clears the cookie is stored by no shared cache")
	step("GET", "/read", varyOnly, "logged out")
}

// TestCacheHeadersOnTheErrorPath checks that a response replaced by the
// error handler after a Login still keeps caches away from its cookie.
func TestCacheHeadersOnTheErrorPath(t *testing.T) {
	e := newEnv(t)
	e.mux.HandleFunc("POST /login-then-inc", func(w http.ResponseWriter, r *http.Request) {
		if err := e.mw.Login(r, "ada"); err != nil {
			t.Error(err)
		}
		e.store.failWrites.Store(true) // the save before the first byte fails
		if err := e.mw.Modify(r, func(c *Cart) { c.N++ }); err != nil {
			t.Error(err)
		}
		w.Header().Set("Cache-Control", "public, max-age=600")
		io.WriteString(w, "never sent")
	})
	resp, body := e.do(e.client(), "POST", "/login-then-inc")
	assert.Equal(t, http.StatusInternalServerError, resp.StatusCode)
	assert.NotContains(t, body, "never sent")
	setCookie(t, resp)
	assert.Equal(t, noStoreVary, cachingOf(resp))
}

func TestWithCacheControlOff(t *testing.T) {
	e := newEnv(t, httpsession.WithCacheControl(false))
	c := e.client()
	for _, step := range []struct{ method, path string }{
		{"POST", "/login?user=ada"}, {"GET", "/read"}, {"POST", "/inc"}, {"POST", "/logout"},
	} {
		resp, _ := e.do(c, step.method, step.path)
		assert.Equal(t, varyOnly, cachingOf(resp), "%s %s: Vary only", step.method, step.path)
	}
	resp, _ := e.do(c, "GET", "/untouched")
	assert.Equal(t, noHeaders, cachingOf(resp))
}

// TestCacheHeadersStreaming checks that a streaming handler's headers,
// flushed before any body, carry the cache headers too.
func TestCacheHeadersStreaming(t *testing.T) {
	e := newEnv(t)
	e.mux.HandleFunc("GET /stream-logged-in", func(w http.ResponseWriter, r *http.Request) {
		if _, err := e.mw.Session(r); err != nil {
			t.Error(err)
		}
		w.(http.Flusher).Flush()
		io.WriteString(w, strings.Repeat("x", 10))
	})
	c := e.client()
	e.do(c, "POST", "/login?user=ada")
	resp, _ := e.do(c, "GET", "/stream-logged-in")
	assert.Equal(t, noStoreVary, cachingOf(resp))
}
