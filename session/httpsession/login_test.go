package httpsession_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	memorybackend "github.com/sessionkit/sessionkit/backend_memory"
	"github.com/sessionkit/sessionkit/session"
	"github.com/sessionkit/sessionkit/session/httpsession"
)

// clock is a clock for the Manager that moves only when told.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func TestLoginRememberMe(t *testing.T) {
	const (
		day = 24 * time.Hour
		max = 30 * day
	)
	store := memorybackend.New()
	defer store.Close()
	clk := &clock{now: time.Now()}
	m, err := session.NewManager[Cart](store, session.WithClock(clk.Now),
		session.WithIdleTimeout(60*day), // only the absolute deadline counts here
		session.WithAbsoluteTimeout(day), session.WithMaxAbsoluteTimeout(max))
	require.NoError(t, err)
	mw, err := httpsession.New(m)
	require.NoError(t, err)
	var loginErr error
	mux := http.NewServeMux()
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		var opts []httpsession.LoginOption
		switch r.FormValue("remember") {
		case "month":
			opts = append(opts, httpsession.Lifetime(max), httpsession.Persistent(true))
		case "too-long":
			opts = append(opts, httpsession.Lifetime(max+time.Second))
		case "no":
			opts = append(opts, httpsession.Persistent(false))
		}
		loginErr = mw.Login(r, r.FormValue("user"), opts...)
		if loginErr != nil {
			http.Error(w, loginErr.Error(), http.StatusBadRequest)
		}
	})
	mux.HandleFunc("GET /who", func(w http.ResponseWriter, r *http.Request) {
		s, err := mw.Session(r)
		if err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, s.Owner)
	})
	mux.HandleFunc("POST /inc", func(w http.ResponseWriter, r *http.Request) {
		if err := mw.Modify(r, func(c *Cart) { c.N++ }); err != nil {
			t.Error(err)
		}
	})
	srv := httptest.NewServer(mw.Handler(mux))
	defer srv.Close()
	e := &env{t: t, srv: srv}
	who := func(c *http.Client) string {
		t.Helper()
		_, body := e.do(c, "GET", "/who")
		return body
	}

	// Remember me: a month, in the store and in the cookie.
	remembered := e.client()
	e.do(remembered, "POST", "/inc") // an anonymous session first: Login renews it
	resp, _ := e.do(remembered, "POST", "/login?user=ada&remember=month")
	require.NoError(t, loginErr)
	ck := setCookie(t, resp)
	s, err := m.Get(context.Background(), ck.Value)
	require.NoError(t, err)
	assert.Equal(t, s.CreatedAt.Add(max), s.AbsoluteDeadline, "a month from the session's creation")
	rec, err := store.Load(context.Background(), s.Handle())
	require.NoError(t, err)
	assert.True(t, rec.AbsoluteDeadline.Equal(s.AbsoluteDeadline), "stored with the session")
	assert.InDelta(t, max.Seconds(), float64(ck.MaxAge), 5, "the cookie lives as long")

	// Not remembered: a browser-session cookie, the default lifetime.
	once := e.client()
	resp, _ = e.do(once, "POST", "/login?user=bob&remember=no")
	require.NoError(t, loginErr)
	raw := resp.Header.Get("Set-Cookie")
	assert.NotContains(t, raw, "Max-Age")
	assert.NotContains(t, raw, "Expires")
	plain := e.client()
	resp, _ = e.do(plain, "POST", "/login?user=cy")
	require.NoError(t, loginErr)
	assert.InDelta(t, day.Seconds(), float64(setCookie(t, resp).MaxAge), 5, "WithPersistent's default")

	// Longer than the maximum: refused, nothing changed.
	tooLong := e.client()
	e.do(tooLong, "POST", "/inc")
	before := e.sessionCookieOf(tooLong)
	resp, _ = e.do(tooLong, "POST", "/login?user=dan&remember=too-long")
	assert.True(t, errors.Is(loginErr, session.ErrLifetime), "%v", loginErr)
	assert.Empty(t, resp.Header.Values("Set-Cookie"))
	assert.Equal(t, before, e.sessionCookieOf(tooLong))
	assert.Equal(t, "", who(tooLong), "still anonymous")

	clk.Advance(2 * day)
	assert.Equal(t, "ada", who(remembered), "remember me outlives the absolute timeout")
	assert.Equal(t, "", who(once), "the default lifetime ended")
	assert.Equal(t, "", who(plain))

	clk.Advance(max - 2*day - time.Minute)
	assert.Equal(t, "ada", who(remembered), "a minute before the maximum")
	clk.Advance(2 * time.Minute)
	assert.Equal(t, "", who(remembered), "never past the maximum")
}

// sessionCookieOf is the session ID c holds for e's server, or "".
func (e *env) sessionCookieOf(c *http.Client) string {
	if ck := e.sessionCookie(c); ck != nil {
		return ck.Value
	}
	return ""
}

// A Login that reads the session, checks a password, and renews while
// another tab of the same browser updates the session: the renewal
// conflicts, and Login retries as Update does instead of failing.
func TestLoginRetriesWhenAnotherTabSaves(t *testing.T) {
	e := newEnv(t)
	read, checked := make(chan struct{}), make(chan struct{})
	e.mux.HandleFunc("POST /slow-login", func(w http.ResponseWriter, r *http.Request) {
		if _, err := e.mw.Session(r); err != nil {
			t.Error(err)
		}
		close(read)
		<-checked // the password check, while the other tab saves
		if err := e.mw.Login(r, "ada"); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "ok")
	})
	c := e.client()
	e.do(c, "POST", "/inc")
	old := e.sessionCookie(c).Value
	type result struct {
		resp *http.Response
		body string
	}
	done := make(chan result)
	go func() {
		req, _ := http.NewRequest("POST", e.srv.URL+"/slow-login", nil)
		resp, err := withCookie(old).Do(req)
		if err != nil {
			t.Error(err)
			close(done)
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		done <- result{resp, string(b)}
	}()
	<-read
	resp, body := e.do(c, "POST", "/update") // the other tab
	require.Equal(t, "ok", body)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	close(checked)
	res, ok := <-done
	require.True(t, ok)
	require.Equal(t, "ok", res.body)
	id := setCookie(t, res.resp).Value
	s, err := e.m.GetFresh(context.Background(), id)
	require.NoError(t, err)
	assert.Equal(t, "ada", s.Owner)
	assert.Equal(t, 2, s.Data.N, "the other tab's update is kept")
	_, err = e.m.GetFresh(context.Background(), old)
	assert.ErrorIs(t, err, session.ErrNotFound, "the old ID is dead")
}

// Changes of the Login's own request are not thrown away to retry: the
// conflict is returned, as before.
func TestLoginWithOwnChangesDoesNotRetry(t *testing.T) {
	e := newEnv(t)
	read, checked := make(chan struct{}), make(chan struct{})
	loginErr := make(chan error, 1)
	e.mux.HandleFunc("POST /slow-login", func(w http.ResponseWriter, r *http.Request) {
		if err := e.mw.Modify(r, func(c *Cart) { c.Items = append(c.Items, "mine") }); err != nil {
			t.Error(err)
		}
		close(read)
		<-checked
		loginErr <- e.mw.Login(r, "ada")
	})
	c := e.client()
	e.do(c, "POST", "/inc")
	old := e.sessionCookie(c).Value
	done := make(chan struct{})
	go func() {
		defer close(done)
		req, _ := http.NewRequest("POST", e.srv.URL+"/slow-login", nil)
		if resp, err := withCookie(old).Do(req); err == nil {
			resp.Body.Close()
		}
	}()
	<-read
	e.do(c, "POST", "/update")
	close(checked)
	<-done
	assert.ErrorIs(t, <-loginErr, session.ErrConflict)
	s, err := e.m.GetFresh(context.Background(), old)
	require.NoError(t, err, "the session was not renewed")
	assert.Equal(t, 2, s.Data.N)
}

// Login and Logout race on one cookie: the Login renews the session and
// answers first, then the Logout, sent with the old cookie before the
// browser had the new one, answers last and makes the browser drop the
// new cookie. The renewed session must not stay live, logged in and
// reachable by nobody.
func TestLogoutRacingLoginLeavesNoOrphan(t *testing.T) {
	ctx := context.Background()
	for name, prior := range map[string]string{"Anonymous": "", "SameOwner": "ada", "OtherOwner": "bob"} {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			old, err := e.m.Create(ctx, prior, Cart{N: 1})
			require.NoError(t, err)
			resp, body := e.do(withCookie(old.ID), "POST", "/login?user=ada")
			require.Equal(t, "ok", body)
			renewed := setCookie(t, resp).Value
			resp, body = e.do(withCookie(old.ID), "POST", "/logout") // answers last
			require.Equal(t, "ok", body)
			require.Empty(t, setCookie(t, resp).Value, "the browser forgets its cookie")
			_, err = e.m.GetFresh(ctx, renewed)
			assert.ErrorIs(t, err, session.ErrNotFound, "the session the browser dropped is not live")
			live, err := e.m.ListByOwner(ctx, "ada")
			require.NoError(t, err)
			assert.Empty(t, live)
		})
	}
}

// The other order: the Logout runs first, then a Login sent with the same
// cookie before the browser heard of the Logout. Whichever response comes
// last, no logged-in session may be left that the browser does not name:
// the Login refuses with session.ErrConflict. A Login without that cookie,
// or after the request's own Logout, is not affected.
func TestLoginRacingLogoutRefuses(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	old, err := e.m.Create(ctx, "", Cart{N: 1})
	require.NoError(t, err)
	_, body := e.do(withCookie(old.ID), "POST", "/logout")
	require.Equal(t, "ok", body)
	resp, body := e.do(withCookie(old.ID), "POST", "/login?user=ada")
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode, body)
	assert.Contains(t, body, "logged the session out")
	live, err := e.m.ListByOwner(ctx, "ada")
	require.NoError(t, err)
	assert.Empty(t, live)

	_, body = e.do(e.client(), "POST", "/login?user=ada")
	assert.Equal(t, "ok", body, "a new visitor logs in")

	var loginErr error
	h := e.mw.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		require.NoError(t, e.mw.Logout(r))
		loginErr = e.mw.Login(r, "bob")
	}))
	other, err := e.m.Create(ctx, "", Cart{})
	require.NoError(t, err)
	h.ServeHTTP(httptest.NewRecorder(), withSessionCookie(other.ID))
	assert.NoError(t, loginErr, "Login after the request's own Logout")
}
