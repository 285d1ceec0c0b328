package httpsession_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	memorybackend "github.com/sessionkit/sessionkit/backend_memory"
	"github.com/sessionkit/sessionkit/session"
	"github.com/sessionkit/sessionkit/session/httpsession"
)

const tokenHeader = "X-Session-Token"

// apiClient is a client that is no browser: no cookie jar, the token in a
// header that it keeps itself.
type apiClient struct {
	e     *env
	c     *http.Client
	token string
}

// do sends the request with the client's token, if any, and keeps the
// token the response hands out. It fails the test if a cookie is involved.
func (a *apiClient) do(method, path string) (*http.Response, string) {
	a.e.t.Helper()
	a.c.Transport = roundTripFunc(func(r *http.Request) (*http.Response, error) {
		r = r.Clone(r.Context())
		if a.token != "" {
			r.Header.Set(tokenHeader, a.token)
		}
		return http.DefaultTransport.RoundTrip(r)
	})
	resp, body := a.e.do(a.c, method, path)
	assert.Empty(a.e.t, resp.Header.Values("Set-Cookie"), "%s %s: no cookie", method, path)
	if vs, ok := resp.Header[tokenHeader]; ok {
		require.Len(a.e.t, vs, 1)
		a.token = vs[0]
	}
	return resp, body
}

func TestWithHeader(t *testing.T) {
	e := newEnv(t, httpsession.WithHeader("x-session-token")) // any case
	a := &apiClient{e: e, c: &http.Client{Timeout: 10 * time.Second}}

	// A new client reads: nothing stored, no token.
	resp, body := a.do("GET", "/read")
	assert.Equal(t, "owner= n=0 id=", body)
	assert.NotContains(t, resp.Header, tokenHeader)
	assert.Equal(t, []string{tokenHeader}, resp.Header.Values("Vary"))

	// A change creates the session and hands out its ID in the header.
	resp, _ = a.do("POST", "/inc")
	require.NotEmpty(t, a.token)
	first := a.token
	assert.Equal(t, noStoreVaryOn(tokenHeader), cachingOf(resp))
	assert.Equal(t, "owner= n=1 id="+first, e.read(a.c), "recognised by the header alone")

	// Later requests keep the ID: no header in the response.
	resp, _ = a.do("POST", "/inc")
	assert.NotContains(t, resp.Header, tokenHeader)
	assert.Equal(t, first, a.token)

	// Login renews the ID; the old one is dead.
	resp, _ = a.do("POST", "/login?user=ada")
	assert.NotEqual(t, first, a.token)
	assert.Equal(t, noStoreVaryOn(tokenHeader), cachingOf(resp))
	_, body = a.do("GET", "/read")
	assert.Equal(t, "owner=ada n=2 id="+a.token, body)
	_, err := e.m.Get(context.Background(), first)
	assert.ErrorIs(t, err, session.ErrNotFound)
	assert.Equal(t, noStoreVaryOn(tokenHeader), cachingOf(resp))

	// The cookie is not read in this mode.
	assert.Equal(t, "owner= n=0 id=", e.read(withCookie(a.token)))

	// Logout: the header is present and empty, the session is gone.
	loggedIn := a.token
	resp, _ = a.do("POST", "/logout")
	assert.Equal(t, []string{""}, resp.Header.Values(tokenHeader))
	assert.Empty(t, a.token)
	_, err = e.m.Get(context.Background(), loggedIn)
	assert.ErrorIs(t, err, session.ErrNotFound)
	a.token = loggedIn
	_, body = a.do("GET", "/read")
	assert.Equal(t, "owner= n=0 id=", body, "the old token names no session")

	// Logout without a token answers with the empty header too.
	a.token = ""
	resp, _ = a.do("POST", "/logout")
	assert.Equal(t, []string{""}, resp.Header.Values(tokenHeader))
	assert.Empty(t, e.errors())
}

func TestWithHeaderBadToken(t *testing.T) {
	e := newEnv(t, httpsession.WithHeader(tokenHeader))
	for name, token := range map[string]string{
		"Malformed": "not a session id",
		"Unknown":   "6f1c2b8e-3a4d-4e5f-8a9b-0c1d2e3f4a5b",
		"Huge":      strings.Repeat("a", 4000),
	} {
		t.Run(name, func(t *testing.T) {
			a := &apiClient{e: e, c: &http.Client{Timeout: 10 * time.Second}}
			a.token = token
			_, body := a.do("GET", "/read")
			assert.Equal(t, "owner= n=0 id=", body, "a fresh anonymous session")
			a.do("POST", "/inc")
			assert.NotEqual(t, token, a.token, "a fresh ID, never the client's")
			_, body = a.do("GET", "/read")
			assert.Contains(t, body, "n=1")
		})
	}
	assert.Empty(t, e.errors())
}

func noStoreVaryOn(h string) caching {
	return caching{CacheControl: []string{"no-store"}, Vary: []string{h}}
}

func TestWithHeaderValidated(t *testing.T) {
	m, err := session.NewManager[Cart](memorybackend.New())
	require.NoError(t, err)
	for _, name := range []string{"X Token", "X-Tök", "Cookie", "set-cookie", "a:b"} {
		_, err := httpsession.New(m, httpsession.WithHeader(name))
		assert.Error(t, err, name)
	}
	_, err = httpsession.New(m, httpsession.WithHeader(""))
	assert.NoError(t, err, "empty: the cookie")
}
