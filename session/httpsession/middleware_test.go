package httpsession_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sessionkit/sessionkit/backend"
	memorybackend "github.com/sessionkit/sessionkit/backend_memory"
	"github.com/sessionkit/sessionkit/session"
	"github.com/sessionkit/sessionkit/session/httpsession"
)

// Cart is the typed session data of these tests.
type Cart struct {
	N     int
	Items []string
}

// countingBackend is the memory backend with call counters and switchable
// failures.
type countingBackend struct {
	*memorybackend.Backend
	creates, updates, loads atomic.Int64
	failWrites              atomic.Bool // Create and Update fail
	failLoads               atomic.Bool
}

var errDown = fmt.Errorf("test: store down: %w", backend.ErrUnavailable)

func (b *countingBackend) Create(ctx context.Context, rec backend.Record) (backend.Record, error) {
	b.creates.Add(1)
	if b.failWrites.Load() {
		return backend.Record{}, errDown
	}
	return b.Backend.Create(ctx, rec)
}

func (b *countingBackend) Update(ctx context.Context, rec backend.Record) (backend.Record, error) {
	b.updates.Add(1)
	if b.failWrites.Load() {
		return backend.Record{}, errDown
	}
	return b.Backend.Update(ctx, rec)
}

func (b *countingBackend) Load(ctx context.Context, key string) (backend.Record, error) {
	b.loads.Add(1)
	if b.failLoads.Load() {
		return backend.Record{}, errDown
	}
	return b.Backend.Load(ctx, key)
}

func (b *countingBackend) writes() int64 { return b.creates.Load() + b.updates.Load() }

type env struct {
	t     *testing.T
	store *countingBackend
	m     *session.Manager[Cart]
	mw    *httpsession.Middleware[Cart]
	mux   *http.ServeMux
	srv   *httptest.Server

	mu   sync.Mutex
	errs []error // seen by the error handler
}

// newEnv starts a server whose mux has the routes of routes() behind the
// middleware. opts go to httpsession.New after the test's error handler,
// which records the error and then answers like the default one.
func newEnv(t *testing.T, opts ...httpsession.Option) *env {
	t.Helper()
	mem := memorybackend.New()
	t.Cleanup(func() { mem.Close() })
	e := &env{t: t, store: &countingBackend{Backend: mem}, mux: http.NewServeMux()}
	var err error
	e.m, err = session.NewManager[Cart](e.store)
	require.NoError(t, err)
	opts = append([]httpsession.Option{httpsession.WithErrorHandler(func(w http.ResponseWriter, r *http.Request, err error) {
		e.mu.Lock()
		e.errs = append(e.errs, err)
		e.mu.Unlock()
		if !errors.Is(err, httpsession.ErrHeadersWritten) {
			http.Error(w, "session trouble", http.StatusInternalServerError)
		}
	})}, opts...)
	e.mw, err = httpsession.New(e.m, opts...)
	require.NoError(t, err)
	e.routes()
	e.srv = httptest.NewServer(e.mw.Handler(e.mux))
	t.Cleanup(e.srv.Close)
	return e
}

func (e *env) errors() []error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]error(nil), e.errs...)
}

func (e *env) routes() {
	fail := func(w http.ResponseWriter, err error) {
		http.Error(w, "handler: "+err.Error(), http.StatusServiceUnavailable)
	}
	e.mux.HandleFunc("GET /untouched", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello")
	})
	e.mux.HandleFunc("GET /read", func(w http.ResponseWriter, r *http.Request) {
		s, err := e.mw.Session(r)
		if err != nil {
			fail(w, err)
			return
		}
		fmt.Fprintf(w, "owner=%s n=%d id=%s", s.Owner, s.Data.N, s.ID)
	})
	e.mux.HandleFunc("POST /inc", func(w http.ResponseWriter, r *http.Request) {
		if err := e.mw.Modify(r, func(c *Cart) { c.N++ }); err != nil {
			fail(w, err)
			return
		}
		io.WriteString(w, "ok")
	})
	e.mux.HandleFunc("POST /update", func(w http.ResponseWriter, r *http.Request) {
		if err := e.mw.Update(r, func(c *Cart) error { c.N++; return nil }); err != nil {
			fail(w, err)
			return
		}
		io.WriteString(w, "ok")
	})
	e.mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		if err := e.mw.Login(r, r.FormValue("user")); err != nil {
			if errors.Is(err, httpsession.ErrNoOwner) {
				http.Error(w, "handler: "+err.Error(), http.StatusBadRequest)
				return
			}
			fail(w, err)
			return
		}
		io.WriteString(w, "ok")
	})
	e.mux.HandleFunc("POST /logout", func(w http.ResponseWriter, r *http.Request) {
		if err := e.mw.Logout(r); err != nil {
			fail(w, err)
			return
		}
		io.WriteString(w, "ok")
	})
	e.mux.HandleFunc("POST /logout-all", func(w http.ResponseWriter, r *http.Request) {
		n, err := e.mw.LogoutEverywhere(r)
		if err != nil {
			fail(w, err)
			return
		}
		fmt.Fprint(w, n)
	})
}

// client is one browser: an http.Client with its own cookie jar.
func (e *env) client() *http.Client {
	jar, err := cookiejar.New(nil)
	require.NoError(e.t, err)
	return &http.Client{Jar: jar, Timeout: 10 * time.Second}
}

// do sends a request and returns the response with its body read.
func (e *env) do(c *http.Client, method, path string) (*http.Response, string) {
	e.t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, nil)
	require.NoError(e.t, err)
	resp, err := c.Do(req)
	require.NoError(e.t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(e.t, err)
	return resp, string(body)
}

// read returns the /read body for c.
func (e *env) read(c *http.Client) string {
	e.t.Helper()
	resp, body := e.do(c, "GET", "/read")
	require.Equal(e.t, http.StatusOK, resp.StatusCode, body)
	return body
}

// sessionCookie returns the session cookie c holds for the server, or nil.
func (e *env) sessionCookie(c *http.Client) *http.Cookie {
	req, _ := http.NewRequest("GET", e.srv.URL, nil)
	for _, ck := range c.Jar.Cookies(req.URL) {
		if ck.Name == httpsession.DefaultCookieName {
			return ck
		}
	}
	return nil
}

// withCookie is a client without a jar that always sends the cookie id.
func withCookie(id string) *http.Client {
	return &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		r = r.Clone(r.Context())
		r.AddCookie(&http.Cookie{Name: httpsession.DefaultCookieName, Value: id})
		return http.DefaultTransport.RoundTrip(r)
	}), Timeout: 10 * time.Second}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func setCookie(t *testing.T, resp *http.Response) *http.Cookie {
	t.Helper()
	cs := resp.Cookies()
	require.Len(t, cs, 1, "Set-Cookie: %q", resp.Header.Values("Set-Cookie"))
	return cs[0]
}

func TestCookieAttributes(t *testing.T) {
	e := newEnv(t)
	c := e.client()
	resp, body := e.do(c, "POST", "/inc")
	require.Equal(t, "ok", body)
	ck := setCookie(t, resp)
	assert.Equal(t, "__Host-session", ck.Name, "Secure, Path=/ and no Domain: the __Host- prefix")
	assert.True(t, ck.HttpOnly, "HttpOnly")
	assert.True(t, ck.Secure, "Secure")
	assert.Equal(t, http.SameSiteLaxMode, ck.SameSite)
	assert.Equal(t, "/", ck.Path)
	assert.Empty(t, ck.Domain)

	// The value is the session ID and nothing else.
	s, err := e.m.Get(context.Background(), ck.Value)
	require.NoError(t, err)
	assert.Equal(t, 1, s.Data.N)
	assert.Len(t, ck.Value, 36)
	raw := resp.Header.Get("Set-Cookie")
	var attrs []string
	for _, part := range strings.Split(raw, "; ")[1:] {
		name, _, _ := strings.Cut(part, "=")
		attrs = append(attrs, name)
	}
	assert.ElementsMatch(t, []string{"Path", "Expires", "Max-Age", "HttpOnly", "Secure", "SameSite"}, attrs, raw)

	// Persistent: it expires with the absolute deadline.
	assert.WithinDuration(t, s.AbsoluteDeadline, ck.Expires, time.Second)
	assert.InDelta(t, time.Until(s.AbsoluteDeadline).Seconds(), ck.MaxAge, 2)

	// The jar (like a browser) sends a Secure cookie to 127.0.0.1 over
	// plain HTTP: loopback counts as a secure origin.
	assert.Contains(t, e.read(c), "n=1 id="+ck.Value)

	// The cookie is sent once: later writes keep the ID and the deadline.
	resp, _ = e.do(c, "POST", "/inc")
	assert.Empty(t, resp.Header.Values("Set-Cookie"))
	assert.Contains(t, e.read(c), "n=2")
}

func TestCookieOptions(t *testing.T) {
	e := newEnv(t,
		httpsession.WithCookieName("__Host-sid"),
		httpsession.WithSameSite(http.SameSiteStrictMode),
		httpsession.WithPersistent(false))
	c := e.client()
	resp, _ := e.do(c, "POST", "/inc")
	raw := resp.Header.Get("Set-Cookie")
	ck := setCookie(t, resp)
	assert.Equal(t, "__Host-sid", ck.Name)
	assert.Equal(t, http.SameSiteStrictMode, ck.SameSite)
	assert.NotContains(t, raw, "Expires")
	assert.NotContains(t, raw, "Max-Age")

	e = newEnv(t, httpsession.WithSecure(false), httpsession.WithDomain("example.com"), httpsession.WithPath("/app"))
	req := httptest.NewRequest("POST", "/inc", nil)
	rec := httptest.NewRecorder()
	e.mw.Handler(e.mux).ServeHTTP(rec, req)
	ck = setCookie(t, rec.Result())
	assert.False(t, ck.Secure)
	assert.Equal(t, "example.com", ck.Domain)
	assert.Equal(t, "/app", ck.Path)
	assert.Equal(t, httpsession.PlainCookieName, ck.Name)
}

// The default name carries the __Host- prefix exactly when the cookie
// meets its conditions (Secure, Path=/, no Domain); WithCookieName wins
// either way.
func TestDefaultCookieName(t *testing.T) {
	for name, tc := range map[string]struct {
		opts []httpsession.Option
		want string
	}{
		"Defaults":      {nil, "__Host-session"},
		"NotSecure":     {[]httpsession.Option{httpsession.WithSecure(false)}, "session"},
		"Domain":        {[]httpsession.Option{httpsession.WithDomain("example.com")}, "session"},
		"Path":          {[]httpsession.Option{httpsession.WithPath("/app")}, "session"},
		"Named":         {[]httpsession.Option{httpsession.WithCookieName("sid")}, "sid"},
		"NamedPlain":    {[]httpsession.Option{httpsession.WithCookieName("session")}, "session"},
		"NamedInsecure": {[]httpsession.Option{httpsession.WithCookieName("sid"), httpsession.WithSecure(false)}, "sid"},
	} {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, tc.opts...)
			rec := httptest.NewRecorder()
			e.mw.Handler(e.mux).ServeHTTP(rec, httptest.NewRequest("POST", "/inc", nil))
			assert.Equal(t, tc.want, setCookie(t, rec.Result()).Name)
		})
	}
	assert.Equal(t, "__Host-session", httpsession.DefaultCookieName)
	assert.Equal(t, "session", httpsession.PlainCookieName)
}

func TestNewValidatesOptions(t *testing.T) {
	m, err := session.NewManager[Cart](memorybackend.New())
	require.NoError(t, err)
	for name, opts := range map[string][]httpsession.Option{
		"EmptyName":         {httpsession.WithCookieName("")},
		"BadName":           {httpsession.WithCookieName("a b")},
		"BadPath":           {httpsession.WithPath("app")},
		"BadDomain":         {httpsession.WithDomain("a b.com")},
		"NoneWithoutSecure": {httpsession.WithSameSite(http.SameSiteNoneMode), httpsession.WithSecure(false)},
		"HostPrefixDomain":  {httpsession.WithCookieName("__Host-s"), httpsession.WithDomain("example.com")},
		"SecurePrefix":      {httpsession.WithCookieName("__Secure-s"), httpsession.WithSecure(false)},
		"NilErrorHandler":   {httpsession.WithErrorHandler(nil)},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := httpsession.New(m, opts...)
			assert.Error(t, err)
		})
	}
	_, err = httpsession.New[Cart](nil)
	assert.Error(t, err)
	_, err = httpsession.New(m, httpsession.WithSameSite(http.SameSiteNoneMode))
	assert.NoError(t, err, "SameSite=None with Secure")
}

func TestNoSessionForUntouchedOrReadOnlyRequests(t *testing.T) {
	e := newEnv(t)
	c := e.client()

	resp, body := e.do(c, "GET", "/untouched")
	assert.Equal(t, "hello", body)
	assert.Empty(t, resp.Header.Values("Set-Cookie"))

	resp, body = e.do(c, "GET", "/read")
	assert.Equal(t, "owner= n=0 id=", body, "a new visitor reads an empty session")
	assert.Empty(t, resp.Header.Values("Set-Cookie"))
	assert.Zero(t, e.store.writes(), "nothing was written")
	assert.Zero(t, e.store.loads.Load(), "no cookie, no backend call")

	// An existing session that is only read is not written either.
	e.do(c, "POST", "/inc")
	w := e.store.writes()
	for range 3 {
		resp, _ = e.do(c, "GET", "/read")
		assert.Empty(t, resp.Header.Values("Set-Cookie"))
	}
	assert.Equal(t, w, e.store.writes())
	loads := e.store.loads.Load()
	e.do(c, "GET", "/untouched")
	assert.Equal(t, loads, e.store.loads.Load(), "an untouched request does not load")
}

func TestBadCookieStartsFresh(t *testing.T) {
	e := newEnv(t)
	dead, err := e.m.Create(context.Background(), "", Cart{N: 9})
	require.NoError(t, err)
	require.NoError(t, e.m.Destroy(context.Background(), dead.ID))
	for name, id := range map[string]string{
		"Malformed": "not-a-session-id",
		"Unknown":   "6f1c2b8e-3a4d-4e5f-8a9b-0c1d2e3f4a5b",
		"Destroyed": dead.ID,
		"Huge":      strings.Repeat("a", 4000),
	} {
		t.Run(name, func(t *testing.T) {
			c := withCookie(id)
			resp, body := e.do(c, "GET", "/read")
			assert.Equal(t, http.StatusOK, resp.StatusCode)
			assert.Equal(t, "owner= n=0 id=", body)
			assert.Empty(t, resp.Header.Values("Set-Cookie"))

			resp, body = e.do(c, "POST", "/inc")
			assert.Equal(t, "ok", body)
			ck := setCookie(t, resp)
			assert.NotEqual(t, id, ck.Value, "a fresh ID, never the client's")
		})
	}
	assert.Empty(t, e.errors())
}

func TestExpiredSessionStartsFresh(t *testing.T) {
	mem := memorybackend.New()
	defer mem.Close()
	m, err := session.NewManager[Cart](mem, session.WithIdleTimeout(50*time.Millisecond))
	require.NoError(t, err)
	mw, err := httpsession.New(m)
	require.NoError(t, err)
	s, err := m.Create(context.Background(), "", Cart{N: 5})
	require.NoError(t, err)
	time.Sleep(80 * time.Millisecond)
	var got *session.Session[Cart]
	h := mw.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, err = mw.Session(r)
	}))
	req := httptest.NewRequest("GET", "/", nil)
	req.AddCookie(&http.Cookie{Name: httpsession.DefaultCookieName, Value: s.ID})
	h.ServeHTTP(httptest.NewRecorder(), req)
	require.NoError(t, err)
	assert.Equal(t, "", got.ID)
	assert.Equal(t, 0, got.Data.N)
}

func TestStreamingHandlerGetsCookie(t *testing.T) {
	e := newEnv(t)
	release := make(chan struct{})
	defer close(release)
	e.mux.HandleFunc("GET /stream", func(w http.ResponseWriter, r *http.Request) {
		if err := e.mw.Modify(r, func(c *Cart) { c.Items = append(c.Items, "stream") }); err != nil {
			t.Error(err)
		}
		w.Header().Set("Content-Type", "text/plain")
		w.(http.Flusher).Flush() // headers only: the cookie must be in them
		io.WriteString(w, "first\n")
		w.(http.Flusher).Flush()
		<-release // the client must see the headers before the handler ends
		io.WriteString(w, "second\n")
	})
	c := e.client()
	resp, err := c.Get(e.srv.URL + "/stream")
	require.NoError(t, err)
	defer resp.Body.Close()
	ck := setCookie(t, resp) // the headers arrived while the handler waits
	line, err := bufio.NewReader(resp.Body).ReadString('\n')
	require.NoError(t, err)
	assert.Equal(t, "first\n", line)
	s, err := e.m.Get(context.Background(), ck.Value)
	require.NoError(t, err, "stored before the first byte")
	assert.Equal(t, []string{"stream"}, s.Data.Items)
}

func TestResponseControllerThroughWrapper(t *testing.T) {
	e := newEnv(t)
	e.mux.HandleFunc("GET /rc", func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		if err := rc.SetWriteDeadline(time.Now().Add(5 * time.Second)); err != nil {
			t.Errorf("SetWriteDeadline through Unwrap: %v", err)
		}
		if err := e.mw.Modify(r, func(c *Cart) { c.N = 7 }); err != nil {
			t.Error(err)
		}
		if err := rc.Flush(); err != nil {
			t.Errorf("Flush: %v", err)
		}
		io.WriteString(w, "done")
	})
	c := e.client()
	resp, body := e.do(c, "GET", "/rc")
	assert.Equal(t, "done", body)
	setCookie(t, resp)
	assert.Contains(t, e.read(c), "n=7")
}

func TestWriteHeaderFirst(t *testing.T) {
	e := newEnv(t)
	e.mux.HandleFunc("POST /created", func(w http.ResponseWriter, r *http.Request) {
		if err := e.mw.Modify(r, func(c *Cart) { c.N = 3 }); err != nil {
			t.Error(err)
		}
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, "made")
	})
	e.mux.HandleFunc("POST /early-hints", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", "</style.css>; rel=preload")
		w.WriteHeader(http.StatusEarlyHints) // informational: no session work yet
		if err := e.mw.Modify(r, func(c *Cart) { c.N = 4 }); err != nil {
			t.Error(err)
		}
		w.WriteHeader(http.StatusAccepted)
	})
	c := e.client()
	resp, body := e.do(c, "POST", "/created")
	assert.Equal(t, http.StatusCreated, resp.StatusCode)
	assert.Equal(t, "made", body)
	setCookie(t, resp)
	assert.Contains(t, e.read(c), "n=3")

	c = e.client()
	resp, _ = e.do(c, "POST", "/early-hints")
	assert.Equal(t, http.StatusAccepted, resp.StatusCode)
	setCookie(t, resp)
	assert.Contains(t, e.read(c), "n=4")
}

// plainReader hides strings.Reader's WriterTo, so io.Copy uses ReadFrom.
type plainReader struct{ r io.Reader }

func (p plainReader) Read(b []byte) (int, error) { return p.r.Read(b) }

func TestReadFrom(t *testing.T) {
	e := newEnv(t)
	e.mux.HandleFunc("GET /copy", func(w http.ResponseWriter, r *http.Request) {
		if err := e.mw.Modify(r, func(c *Cart) { c.N = 11 }); err != nil {
			t.Error(err)
		}
		if _, ok := w.(io.ReaderFrom); !ok {
			t.Error("the wrapper lost io.ReaderFrom")
		}
		io.Copy(w, plainReader{strings.NewReader("copied")})
	})
	c := e.client()
	resp, body := e.do(c, "GET", "/copy")
	assert.Equal(t, "copied", body)
	setCookie(t, resp)
	assert.Contains(t, e.read(c), "n=11")
}

func TestChangesAfterResponseStarted(t *testing.T) {
	e := newEnv(t)
	e.mux.HandleFunc("POST /late", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "body first;")
		err := e.mw.Modify(r, func(c *Cart) { c.N = 42 })
		if errors.Is(err, httpsession.ErrHeadersWritten) {
			io.WriteString(w, "too late")
			return
		}
		if err != nil {
			t.Error(err)
		}
		io.WriteString(w, "modified")
	})
	e.mux.HandleFunc("POST /late-login", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		fmt.Fprint(w, errors.Is(e.mw.Login(r, "ada"), httpsession.ErrHeadersWritten))
	})

	// A new visitor: the cookie cannot be set any more.
	c := e.client()
	resp, body := e.do(c, "POST", "/late")
	assert.Equal(t, "body first;too late", body)
	assert.Empty(t, resp.Header.Values("Set-Cookie"))
	assert.Zero(t, e.store.writes())
	_, body = e.do(c, "POST", "/late-login")
	assert.Equal(t, "true", body)
	assert.Zero(t, e.store.writes())

	// An existing session: stored when the handler returns.
	e.do(c, "POST", "/inc")
	_, body = e.do(c, "POST", "/late")
	assert.Equal(t, "body first;modified", body)
	assert.Contains(t, e.read(c), "n=42")
	assert.Empty(t, e.errors())

	// ... and a failure of that late save reaches the error handler,
	// marked ErrHeadersWritten; the response stays as it was.
	e.store.failWrites.Store(true)
	resp, body = e.do(c, "POST", "/late")
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "body first;modified", body)
	errs := e.errors()
	require.Len(t, errs, 1)
	assert.ErrorIs(t, errs[0], httpsession.ErrHeadersWritten)
	assert.ErrorIs(t, errs[0], backend.ErrUnavailable)
}

func TestLoginRenewsID(t *testing.T) {
	e := newEnv(t)
	c := e.client()
	e.do(c, "POST", "/inc")
	before := e.sessionCookie(c)
	require.NotNil(t, before)

	resp, body := e.do(c, "POST", "/login?user=ada")
	require.Equal(t, "ok", body)
	after := setCookie(t, resp)
	assert.NotEqual(t, before.Value, after.Value)
	assert.True(t, after.HttpOnly && after.Secure)
	assert.Equal(t, "owner=ada n=1 id="+after.Value, e.read(c), "the data stays")

	// The old cookie stops working: it names no session any more.
	_, err := e.m.Get(context.Background(), before.Value)
	assert.ErrorIs(t, err, session.ErrNotFound)
	assert.Equal(t, "owner= n=0 id=", e.read(withCookie(before.Value)))

	// Logging in again as ada (privilege change) renews again, keeps data.
	resp, _ = e.do(c, "POST", "/login?user=ada")
	again := setCookie(t, resp)
	assert.NotEqual(t, after.Value, again.Value)
	assert.Contains(t, e.read(c), "owner=ada n=1")

	// Another user on the same browser does not inherit ada's data.
	resp, _ = e.do(c, "POST", "/login?user=bob")
	bob := setCookie(t, resp)
	assert.Equal(t, "owner=bob n=0 id="+bob.Value, e.read(c))
	_, err = e.m.Get(context.Background(), again.Value)
	assert.ErrorIs(t, err, session.ErrNotFound)

	// A new visitor logs in: one write, a cookie.
	c2 := e.client()
	w := e.store.writes()
	resp, _ = e.do(c2, "POST", "/login?user=cy")
	setCookie(t, resp)
	assert.Equal(t, w+1, e.store.writes())
	assert.Contains(t, e.read(c2), "owner=cy n=0")

	// An empty owner is refused.
	resp, _ = e.do(c2, "POST", "/login?user=")
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode)
}

func TestLoginWithoutOwner(t *testing.T) {
	e := newEnv(t)
	var loginErr error
	e.mux.HandleFunc("POST /login-empty", func(w http.ResponseWriter, r *http.Request) {
		loginErr = e.mw.Login(r, "")
		s, err := e.mw.Session(r)
		if err != nil {
			t.Error(err)
			return
		}
		fmt.Fprintf(w, "owner=%s n=%d", s.Owner, s.Data.N)
	})
	c := e.client()
	e.do(c, "POST", "/login?user=ada")
	e.do(c, "POST", "/inc")
	id := e.sessionCookie(c).Value
	w := e.store.writes()

	resp, body := e.do(c, "POST", "/login-empty")
	assert.ErrorIs(t, loginErr, httpsession.ErrNoOwner)
	assert.NotErrorIs(t, loginErr, backend.ErrUnavailable, "the caller's mistake, not the store's")
	assert.Equal(t, "owner=ada n=1", body, "the session is as it was")
	assert.Empty(t, resp.Header.Values("Set-Cookie"))
	assert.Equal(t, w, e.store.writes(), "nothing was written")
	assert.Equal(t, id, e.sessionCookie(c).Value)

	// Without the middleware, an empty owner is still ErrNoOwner: the
	// argument is checked first.
	assert.ErrorIs(t, e.mw.Login(httptest.NewRequest("POST", "/", nil), ""), httpsession.ErrNoOwner)
}

func TestLoginCarriesModifyChanges(t *testing.T) {
	e := newEnv(t)
	e.mux.HandleFunc("POST /inc-and-login", func(w http.ResponseWriter, r *http.Request) {
		if err := e.mw.Modify(r, func(c *Cart) { c.N += 10 }); err != nil {
			t.Error(err)
		}
		if err := e.mw.Login(r, "ada"); err != nil {
			t.Error(err)
		}
	})
	c := e.client()
	e.do(c, "POST", "/inc")
	resp, _ := e.do(c, "POST", "/inc-and-login")
	setCookie(t, resp)
	assert.Contains(t, e.read(c), "owner=ada n=11")
}

func TestLogout(t *testing.T) {
	e := newEnv(t)
	c := e.client()
	e.do(c, "POST", "/login?user=ada")
	id := e.sessionCookie(c).Value

	resp, body := e.do(c, "POST", "/logout")
	require.Equal(t, "ok", body)
	ck := setCookie(t, resp)
	assert.Equal(t, httpsession.DefaultCookieName, ck.Name)
	assert.Empty(t, ck.Value)
	assert.Equal(t, 1, ck.MaxAge, "an empty value for a second: set, not deleted, so that Chromium evicts no-store pages from its back/forward cache")
	assert.True(t, ck.HttpOnly && ck.Secure)
	if held := e.sessionCookie(c); held != nil {
		assert.Empty(t, held.Value, "the jar holds no session ID")
	}
	_, err := e.m.Get(context.Background(), id)
	assert.ErrorIs(t, err, session.ErrNotFound)
	assert.Equal(t, "owner= n=0 id=", e.read(withCookie(id)))

	// Logging out without a session sets no cookie.
	resp, _ = e.do(e.client(), "POST", "/logout")
	assert.Empty(t, resp.Header.Values("Set-Cookie"))
}

func TestLogoutThenNewSessionInOneRequest(t *testing.T) {
	e := newEnv(t)
	e.mux.HandleFunc("POST /logout-flash", func(w http.ResponseWriter, r *http.Request) {
		if err := e.mw.Logout(r); err != nil {
			t.Error(err)
		}
		if err := e.mw.Modify(r, func(c *Cart) { c.Items = []string{"bye"} }); err != nil {
			t.Error(err)
		}
	})
	c := e.client()
	e.do(c, "POST", "/login?user=ada")
	old := e.sessionCookie(c).Value
	resp, _ := e.do(c, "POST", "/logout-flash")
	ck := setCookie(t, resp)
	assert.NotEqual(t, old, ck.Value)
	s, err := e.m.Get(context.Background(), ck.Value)
	require.NoError(t, err)
	assert.Equal(t, "", s.Owner)
	assert.Equal(t, []string{"bye"}, s.Data.Items)
}

func TestLogoutEverywhere(t *testing.T) {
	e := newEnv(t)
	laptop, phone, other := e.client(), e.client(), e.client()
	e.do(laptop, "POST", "/login?user=ada")
	e.do(phone, "POST", "/login?user=ada")
	e.do(phone, "POST", "/inc")
	e.do(other, "POST", "/login?user=bob")
	phoneID := e.sessionCookie(phone).Value

	resp, body := e.do(laptop, "POST", "/logout-all")
	assert.Equal(t, "2", body)
	assert.Empty(t, setCookie(t, resp).Value)
	assert.Equal(t, "owner= n=0 id=", e.read(laptop))
	assert.Equal(t, "owner= n=0 id=", e.read(phone), "the other device is logged out")
	_, err := e.m.Get(context.Background(), phoneID)
	assert.ErrorIs(t, err, session.ErrNotFound)
	assert.Contains(t, e.read(other), "owner=bob", "other users stay")

	// Anonymous: it is Logout.
	anon := e.client()
	e.do(anon, "POST", "/inc")
	resp, body = e.do(anon, "POST", "/logout-all")
	assert.Equal(t, "0", body)
	assert.Empty(t, setCookie(t, resp).Value)
}

func TestUpdate(t *testing.T) {
	e := newEnv(t)
	c := e.client()

	// A new visitor: Update creates the session and sets the cookie.
	resp, body := e.do(c, "POST", "/update")
	require.Equal(t, "ok", body)
	ck := setCookie(t, resp)
	assert.Equal(t, "owner= n=1 id="+ck.Value, e.read(c))

	// Concurrent requests of one session lose nothing.
	const workers, each = 8, 10
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range each {
				resp, body := e.do(c, "POST", "/update")
				assert.Equal(t, http.StatusOK, resp.StatusCode, body)
			}
		})
	}
	wg.Wait()
	assert.Equal(t, "owner= n="+strconv.Itoa(1+workers*each)+" id="+ck.Value, e.read(c))
	assert.Empty(t, e.errors())
}

func TestUpdateStoresModifyFirstAndStopsOnError(t *testing.T) {
	e := newEnv(t)
	stop := errors.New("stop")
	e.mux.HandleFunc("POST /mixed", func(w http.ResponseWriter, r *http.Request) {
		e.mw.Modify(r, func(c *Cart) { c.Items = append(c.Items, "modify") })
		e.mw.Update(r, func(c *Cart) error { c.N += 100; return nil })
		err := e.mw.Update(r, func(c *Cart) error { c.N = -1; return stop })
		fmt.Fprint(w, errors.Is(err, stop))
	})
	c := e.client()
	e.do(c, "POST", "/inc")
	_, body := e.do(c, "POST", "/mixed")
	assert.Equal(t, "true", body)
	s, err := e.m.Get(context.Background(), e.sessionCookie(c).Value)
	require.NoError(t, err)
	assert.Equal(t, 101, s.Data.N)
	assert.Equal(t, []string{"modify"}, s.Data.Items)
}

func TestConflictSurfaced(t *testing.T) {
	e := newEnv(t)
	// Between this request's load and its save, another request of the
	// same session stores a change.
	e.mux.HandleFunc("POST /racy", func(w http.ResponseWriter, r *http.Request) {
		s, err := e.mw.Session(r)
		if err != nil {
			t.Error(err)
			return
		}
		if _, err := e.m.Update(r.Context(), s.ID, func(s *session.Session[Cart]) error {
			s.Data.Items = append(s.Data.Items, "concurrent")
			return nil
		}); err != nil {
			t.Error(err)
		}
		e.mw.Modify(r, func(c *Cart) { c.N = 99 })
		io.WriteString(w, "handler output")
	})
	c := e.client()
	e.do(c, "POST", "/inc")
	resp, body := e.do(c, "POST", "/racy")
	assert.Equal(t, http.StatusInternalServerError, resp.StatusCode)
	assert.Equal(t, "session trouble\n", body, "the error handler replaced the response")
	errs := e.errors()
	require.Len(t, errs, 1)
	assert.ErrorIs(t, errs[0], session.ErrConflict)
	assert.NotErrorIs(t, errs[0], httpsession.ErrHeadersWritten)
	// The concurrent change is kept, the conflicting one is not.
	assert.Contains(t, e.read(c), "n=1")
}

func TestErrorHandlerOnBackendFailure(t *testing.T) {
	t.Run("Custom", func(t *testing.T) {
		e := newEnv(t)
		c := e.client()
		e.store.failWrites.Store(true)
		resp, body := e.do(c, "POST", "/inc")
		assert.Equal(t, http.StatusInternalServerError, resp.StatusCode)
		assert.Equal(t, "session trouble\n", body)
		assert.Empty(t, resp.Header.Values("Set-Cookie"))
		errs := e.errors()
		require.Len(t, errs, 1)
		assert.ErrorIs(t, errs[0], backend.ErrUnavailable)
	})
	t.Run("Default", func(t *testing.T) {
		mem := &countingBackend{Backend: memorybackend.New()}
		defer mem.Close()
		m, err := session.NewManager[Cart](mem)
		require.NoError(t, err)
		mw, err := httpsession.New(m)
		require.NoError(t, err)
		var writeErr error
		h := mw.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mw.Modify(r, func(c *Cart) { c.N++ })
			w.Header().Set("Content-Type", "text/html")
			_, writeErr = io.WriteString(w, "<p>secret page</p>")
		}))
		mem.failWrites.Store(true)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("POST", "/", nil))
		assert.Equal(t, http.StatusInternalServerError, rec.Code)
		assert.Equal(t, "text/plain; charset=utf-8", rec.Header().Get("Content-Type"))
		assert.NotContains(t, rec.Body.String(), "secret")
		assert.NotContains(t, rec.Body.String(), "store down", "the error is not shown to the client")
		assert.ErrorIs(t, writeErr, backend.ErrUnavailable, "the handler's writes fail")
	})
	t.Run("HandlerWritesNothing", func(t *testing.T) {
		e := newEnv(t)
		e.mux.HandleFunc("POST /silent", func(w http.ResponseWriter, r *http.Request) {
			e.mw.Modify(r, func(c *Cart) { c.N++ })
		})
		e.store.failWrites.Store(true)
		resp, _ := e.do(e.client(), "POST", "/silent")
		assert.Equal(t, http.StatusInternalServerError, resp.StatusCode)
	})
	t.Run("LoadFailure", func(t *testing.T) {
		e := newEnv(t)
		c := e.client()
		e.do(c, "POST", "/inc")
		e.store.failLoads.Store(true)
		resp, body := e.do(c, "GET", "/read")
		assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode, "the handler decides")
		assert.Contains(t, body, "store unavailable")
		resp, _ = e.do(c, "GET", "/untouched")
		assert.Equal(t, http.StatusOK, resp.StatusCode, "requests without the session still work")
	})
}

func TestPanickingHandlerStoresNothing(t *testing.T) {
	e := newEnv(t)
	h := e.mw.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.mw.Modify(r, func(c *Cart) { c.N++ })
		panic("boom")
	}))
	assert.Panics(t, func() { h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil)) })
	assert.Zero(t, e.store.writes())
}

// A panic after Login, Update or a renewal leaves no live session that
// the client cannot name; what Update stored before the panic stays, what
// Modify changed after it is lost.
func TestPanicLeavesNoOrphan(t *testing.T) {
	ctx := context.Background()
	panicking := func(e *env, fn func(r *http.Request)) http.Handler {
		return e.mw.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fn(r)
			panic("boom")
		}))
	}
	for name, fn := range map[string]func(mw *httpsession.Middleware[Cart], r *http.Request) error{
		"Login": func(mw *httpsession.Middleware[Cart], r *http.Request) error { return mw.Login(r, "ada") },
		"Update": func(mw *httpsession.Middleware[Cart], r *http.Request) error {
			return mw.Update(r, func(c *Cart) error { c.N++; return nil })
		},
	} {
		t.Run(name+"NewVisitor", func(t *testing.T) {
			e := newEnv(t)
			var id string
			h := panicking(e, func(r *http.Request) {
				require.NoError(t, fn(e.mw, r))
				s, err := e.mw.Session(r)
				require.NoError(t, err)
				id = s.ID
			})
			assert.Panics(t, func() { h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("POST", "/", nil)) })
			require.NotEmpty(t, id)
			_, err := e.m.GetFresh(ctx, id)
			assert.ErrorIs(t, err, session.ErrNotFound, "no session is left")
		})
	}
	t.Run("LoginRenewed", func(t *testing.T) {
		e := newEnv(t)
		old, err := e.m.Create(ctx, "", Cart{N: 1})
		require.NoError(t, err)
		h := panicking(e, func(r *http.Request) { require.NoError(t, e.mw.Login(r, "ada")) })
		assert.Panics(t, func() { h.ServeHTTP(httptest.NewRecorder(), withSessionCookie(old.ID)) })
		live, err := e.m.ListByOwner(ctx, "ada")
		require.NoError(t, err)
		assert.Empty(t, live, "the renewed session is not left behind")
		_, err = e.m.GetFresh(ctx, old.ID)
		assert.ErrorIs(t, err, session.ErrNotFound)
	})
	t.Run("UpdateKeptModifyLost", func(t *testing.T) {
		e := newEnv(t)
		s, err := e.m.Create(ctx, "ada", Cart{N: 1})
		require.NoError(t, err)
		h := panicking(e, func(r *http.Request) {
			require.NoError(t, e.mw.Update(r, func(c *Cart) error { c.N = 2; return nil }))
			require.NoError(t, e.mw.Modify(r, func(c *Cart) { c.N = 3 }))
		})
		assert.Panics(t, func() { h.ServeHTTP(httptest.NewRecorder(), withSessionCookie(s.ID)) })
		got, err := e.m.GetFresh(ctx, s.ID)
		require.NoError(t, err, "an existing session is not destroyed")
		assert.Equal(t, 2, got.Data.N)
	})
}

func TestWithoutMiddleware(t *testing.T) {
	e := newEnv(t)
	r := httptest.NewRequest("GET", "/", nil)
	_, err := e.mw.Session(r)
	assert.ErrorIs(t, err, httpsession.ErrNoMiddleware)
	assert.ErrorIs(t, e.mw.Modify(r, func(*Cart) {}), httpsession.ErrNoMiddleware)
	assert.ErrorIs(t, e.mw.Update(r, func(*Cart) error { return nil }), httpsession.ErrNoMiddleware)
	assert.ErrorIs(t, e.mw.Login(r, "ada"), httpsession.ErrNoMiddleware)
	assert.ErrorIs(t, e.mw.Logout(r), httpsession.ErrNoMiddleware)
	_, err = e.mw.LogoutEverywhere(r)
	assert.ErrorIs(t, err, httpsession.ErrNoMiddleware)

	// Another Middleware's request is not this one's.
	other, err := httpsession.New(e.m)
	require.NoError(t, err)
	other.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, err = e.mw.Session(r)
	})).ServeHTTP(httptest.NewRecorder(), r)
	assert.ErrorIs(t, err, httpsession.ErrNoMiddleware)
}

func TestUnsupportedOwnerIndex(t *testing.T) {
	// A backend without OwnerIndex: LogoutEverywhere fails and destroys
	// nothing.
	mem := memorybackend.New()
	defer mem.Close()
	m, err := session.NewManager[Cart](onlyBackend{mem})
	require.NoError(t, err)
	mw, err := httpsession.New(m)
	require.NoError(t, err)
	s, err := m.Create(context.Background(), "ada", Cart{})
	require.NoError(t, err)
	var n int
	mw.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, err = mw.LogoutEverywhere(r)
	})).ServeHTTP(httptest.NewRecorder(), withSessionCookie(s.ID))
	assert.ErrorIs(t, err, session.ErrUnsupported)
	assert.Zero(t, n)
	_, err = m.Get(context.Background(), s.ID)
	assert.NoError(t, err)
}

// onlyBackend hides the memory backend's optional capabilities.
type onlyBackend struct{ backend.Backend }

func withSessionCookie(id string) *http.Request {
	r := httptest.NewRequest("GET", "/", nil)
	r.AddCookie(&http.Cookie{Name: httpsession.DefaultCookieName, Value: id})
	return r
}

func TestSavedWhenClientGoesAway(t *testing.T) {
	e := newEnv(t)
	loaded := make(chan struct{})
	stored := make(chan struct{})
	e.mux.HandleFunc("POST /slow", func(w http.ResponseWriter, r *http.Request) {
		defer close(stored)
		if _, err := e.mw.Session(r); err != nil {
			t.Error(err)
		}
		close(loaded)
		<-r.Context().Done() // the client hung up
		e.mw.Modify(r, func(c *Cart) { c.N = 5 })
	})
	c := e.client()
	e.do(c, "POST", "/inc")
	id := e.sessionCookie(c).Value
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, "POST", e.srv.URL+"/slow", nil)
	require.NoError(t, err)
	go func() { <-loaded; cancel() }()
	_, err = c.Do(req)
	require.ErrorIs(t, err, context.Canceled)
	select {
	case <-stored:
	case <-time.After(5 * time.Second):
		t.Fatal("the handler did not finish")
	}
	assert.EventuallyWithT(t, func(c *assert.CollectT) {
		s, err := e.m.Get(context.Background(), id)
		require.NoError(c, err)
		assert.Equal(c, 5, s.Data.N)
	}, 2*time.Second, 5*time.Millisecond, "the change is stored although the request's context was canceled")
	assert.Empty(t, e.errors())
}

func TestSeveralCookiesOfOurName(t *testing.T) {
	e := newEnv(t)
	live, err := e.m.Create(context.Background(), "ada", Cart{N: 4})
	require.NoError(t, err)
	for name, header := range map[string]string{
		"StaleFirst": "other=1; __Host-session=not-an-id; __Host-session=" + live.ID,
		"Quoted":     `__Host-session="` + live.ID + `"`,
		"TwoHeaders": "__Host-session=6f1c2b8e-3a4d-4e5f-8a9b-0c1d2e3f4a5b\x00__Host-session=" + live.ID,
	} {
		t.Run(name, func(t *testing.T) {
			req := httptest.NewRequest("GET", "/read", nil)
			for _, line := range strings.Split(header, "\x00") {
				req.Header.Add("Cookie", line)
			}
			rec := httptest.NewRecorder()
			e.mw.Handler(e.mux).ServeHTTP(rec, req)
			assert.Equal(t, "owner=ada n=4 id="+live.ID, rec.Body.String())
		})
	}
}

// Junk values of our name do not count towards the cap on lookups: three
// malformed cookies ahead of the live one (which a sibling subdomain can
// plant) must not hide it from Session, Logout or Login.
func TestJunkCookiesDoNotHideTheLiveSession(t *testing.T) {
	e := newEnv(t)
	junk := "__Host-session=x; __Host-session=y; __Host-session=z; __Host-session="
	for _, tc := range []struct{ name, path string }{
		{"Read", "/read"}, {"Logout", "/logout"}, {"Login", "/login?user=ada"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			live, err := e.m.Create(ctx, "ada", Cart{N: 4})
			require.NoError(t, err)
			method := "POST"
			if tc.path == "/read" {
				method = "GET"
			}
			req := httptest.NewRequest(method, tc.path, nil)
			req.Header.Add("Cookie", junk+live.ID)
			rec := httptest.NewRecorder()
			e.mw.Handler(e.mux).ServeHTTP(rec, req)
			switch tc.name {
			case "Read":
				assert.Equal(t, "owner=ada n=4 id="+live.ID, rec.Body.String())
			case "Logout":
				_, err := e.m.GetFresh(ctx, live.ID)
				assert.ErrorIs(t, err, session.ErrNotFound, "Logout destroyed the live session")
			case "Login":
				_, err := e.m.GetFresh(ctx, live.ID)
				assert.ErrorIs(t, err, session.ErrNotFound, "Login renewed the live session")
				s, err := e.m.Get(ctx, setCookie(t, rec.Result()).Value)
				require.NoError(t, err)
				assert.Equal(t, 4, s.Data.N, "the renewed session kept the data")
			}
		})
	}
	t.Run("Header", func(t *testing.T) {
		h := newEnv(t, httpsession.WithHeader("X-Session"))
		live, err := h.m.Create(context.Background(), "ada", Cart{N: 4})
		require.NoError(t, err)
		req := httptest.NewRequest("GET", "/read", nil)
		for _, v := range []string{"x", "y", "z", live.ID} {
			req.Header.Add("X-Session", v)
		}
		rec := httptest.NewRecorder()
		h.mw.Handler(h.mux).ServeHTTP(rec, req)
		assert.Equal(t, "owner=ada n=4 id="+live.ID, rec.Body.String())
	})
}

func TestCorruptSessionCanBeLoggedOut(t *testing.T) {
	mem := memorybackend.New()
	defer mem.Close()
	// A session written with another T that this one cannot decode.
	old, err := session.NewManager[string](mem)
	require.NoError(t, err)
	s, err := old.Create(context.Background(), "", "not a Cart")
	require.NoError(t, err)
	m, err := session.NewManager[Cart](mem)
	require.NoError(t, err)
	mw, err := httpsession.New(m)
	require.NoError(t, err)
	var first, after error
	var fresh *session.Session[Cart]
	mw.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, first = mw.Session(r); errors.Is(first, session.ErrCorrupt) {
			require.NoError(t, mw.Logout(r))
		}
		fresh, after = mw.Session(r)
	})).ServeHTTP(httptest.NewRecorder(), withSessionCookie(s.ID))
	assert.ErrorIs(t, first, session.ErrCorrupt)
	require.NoError(t, after)
	assert.Equal(t, "", fresh.ID)
	_, err = old.Get(context.Background(), s.ID)
	assert.ErrorIs(t, err, session.ErrNotFound, "Logout destroyed it")
}
