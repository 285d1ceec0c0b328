package httpsession_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	memorybackend "github.com/sessionkit/sessionkit/backend_memory"
	"github.com/sessionkit/sessionkit/session"
	"github.com/sessionkit/sessionkit/session/httpsession"
)

// directRoutes adds handlers that change the session from Session(r)
// directly, as gorilla/sessions users do.
func (e *env) directRoutes() {
	sess := func(w http.ResponseWriter, r *http.Request) *session.Session[Cart] {
		s, err := e.mw.Session(r)
		if err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return nil
		}
		return s
	}
	e.mux.HandleFunc("POST /direct/inc", func(w http.ResponseWriter, r *http.Request) {
		if s := sess(w, r); s != nil {
			s.Data.N++
			s.Data.Items = append(s.Data.Items, "pear")
			io.WriteString(w, "ok")
		}
	})
	e.mux.HandleFunc("POST /direct/owner", func(w http.ResponseWriter, r *http.Request) {
		if s := sess(w, r); s != nil {
			s.Owner = r.FormValue("user")
			s.Data.N = 100
			io.WriteString(w, "ok")
		}
	})
}

// mustSession is Session for the handlers of tests: an error fails the
// test, and the handler gets nil.
func (e *env) mustSession(r *http.Request) *session.Session[Cart] {
	s, err := e.mw.Session(r)
	if err != nil {
		e.t.Error(err)
		return nil
	}
	return s
}

func TestDirectChangeStored(t *testing.T) {
	e := newEnv(t)
	e.directRoutes()
	c := e.client()

	// A new visitor: the direct change creates the session, like Modify.
	resp, body := e.do(c, "POST", "/direct/inc")
	require.Equal(t, "ok", body)
	ck := setCookie(t, resp)
	assert.Equal(t, "owner= n=1 id="+ck.Value, e.read(c))

	// An existing session: stored, no new cookie.
	resp, _ = e.do(c, "POST", "/direct/inc")
	assert.Empty(t, resp.Header.Values("Set-Cookie"))
	s, err := e.m.Get(context.Background(), ck.Value)
	require.NoError(t, err)
	assert.Equal(t, 2, s.Data.N)
	assert.Equal(t, []string{"pear", "pear"}, s.Data.Items)

	// Reading writes nothing.
	w := e.store.writes()
	for range 3 {
		e.read(c)
	}
	assert.Equal(t, w, e.store.writes())
	assert.Empty(t, e.errors())
}

// TestDirectChangeStoredBeforeFirstByte checks that the direct change is
// in the store while the handler still streams.
func TestDirectChangeStoredBeforeFirstByte(t *testing.T) {
	e := newEnv(t)
	release := make(chan struct{})
	defer close(release)
	e.mux.HandleFunc("GET /direct/stream", func(w http.ResponseWriter, r *http.Request) {
		s := e.mustSession(r)
		if s == nil {
			return
		}
		s.Data.N = 7
		io.WriteString(w, "first\n")
		w.(http.Flusher).Flush()
		<-release
	})
	c := e.client()
	e.do(c, "POST", "/inc")
	id := e.sessionCookie(c).Value
	resp, err := c.Get(e.srv.URL + "/direct/stream")
	require.NoError(t, err)
	defer resp.Body.Close()
	buf := make([]byte, len("first\n"))
	_, err = io.ReadFull(resp.Body, buf)
	require.NoError(t, err)
	s, err := e.m.Get(context.Background(), id) // the handler is still blocked
	require.NoError(t, err)
	assert.Equal(t, 7, s.Data.N)
}

func TestDirectChangeAfterResponseStarted(t *testing.T) {
	e := newEnv(t)
	e.mux.HandleFunc("POST /direct/late", func(w http.ResponseWriter, r *http.Request) {
		s := e.mustSession(r)
		if s == nil {
			return
		}
		io.WriteString(w, "body first")
		s.Data.N = 42
	})
	c := e.client()
	e.do(c, "POST", "/inc")
	e.do(c, "POST", "/direct/late")
	assert.Contains(t, e.read(c), "n=42", "stored when the handler returned")
	assert.Empty(t, e.errors())

	// A new visitor cannot get its cookie any more: the error handler
	// hears of it, nothing is stored.
	w := e.store.writes()
	e.do(e.client(), "POST", "/direct/late")
	assert.Equal(t, w, e.store.writes())
	errs := e.errors()
	require.Len(t, errs, 1)
	assert.ErrorIs(t, errs[0], httpsession.ErrHeadersWritten)
}

// TestDirectChangeConflict checks that a direct change to a session that
// another request saved meanwhile is a conflict for the error handler,
// never an overwrite.
func TestDirectChangeConflict(t *testing.T) {
	e := newEnv(t)
	e.mux.HandleFunc("POST /direct/race", func(w http.ResponseWriter, r *http.Request) {
		s := e.mustSession(r)
		if s == nil {
			return
		}
		s.Data.N = 1000
		// Another request of the same session saves in between.
		if _, err := e.m.Update(r.Context(), s.ID, func(s *session.Session[Cart]) error { s.Data.N = 5; return nil }); err != nil {
			t.Error(err)
		}
		io.WriteString(w, "never sent")
	})
	c := e.client()
	e.do(c, "POST", "/inc")
	resp, body := e.do(c, "POST", "/direct/race")
	assert.Equal(t, http.StatusInternalServerError, resp.StatusCode)
	assert.NotContains(t, body, "never sent")
	errs := e.errors()
	require.Len(t, errs, 1)
	assert.ErrorIs(t, errs[0], session.ErrConflict)
	assert.Contains(t, e.read(c), "n=5", "the concurrent change stays")
}

func TestDirectChangeBeforeOtherCalls(t *testing.T) {
	e := newEnv(t)
	e.mux.HandleFunc("POST /direct/then-update", func(w http.ResponseWriter, r *http.Request) {
		s := e.mustSession(r)
		if s == nil {
			return
		}
		s.Data.Items = append(s.Data.Items, "direct")
		if err := e.mw.Update(r, func(c *Cart) error { c.N += 10; return nil }); err != nil {
			t.Error(err)
		}
		s.Data.Items = append(s.Data.Items, "after") // s is still the request's session
	})
	e.mux.HandleFunc("POST /direct/then-login", func(w http.ResponseWriter, r *http.Request) {
		s := e.mustSession(r)
		if s == nil {
			return
		}
		s.Data.N = 77
		if err := e.mw.Login(r, "ada"); err != nil {
			t.Error(err)
		}
	})
	c := e.client()
	e.do(c, "POST", "/inc")
	e.do(c, "POST", "/direct/then-update")
	s, err := e.m.Get(context.Background(), e.sessionCookie(c).Value)
	require.NoError(t, err)
	assert.Equal(t, 11, s.Data.N)
	assert.Equal(t, []string{"direct", "after"}, s.Data.Items, "stored before Update read the store, and after it")

	e.do(c, "POST", "/direct/then-login")
	assert.Contains(t, e.read(c), "owner=ada n=77")
	assert.Empty(t, e.errors())
}

func TestDirectOwnerChangeRefused(t *testing.T) {
	e := newEnv(t)
	e.directRoutes()
	var updateErr error
	e.mux.HandleFunc("POST /direct/owner-then-update", func(w http.ResponseWriter, r *http.Request) {
		s := e.mustSession(r)
		if s == nil {
			return
		}
		s.Owner = "mallory"
		updateErr = e.mw.Update(r, func(c *Cart) error { c.N++; return nil })
	})
	e.mux.HandleFunc("POST /direct/owner-then-logout-all", func(w http.ResponseWriter, r *http.Request) {
		s := e.mustSession(r)
		if s == nil {
			return
		}
		s.Owner = "bob"
		n, err := e.mw.LogoutEverywhere(r)
		if err != nil {
			t.Error(err)
		}
		fmt.Fprint(w, n)
	})
	bob := e.client()
	e.do(bob, "POST", "/login?user=bob")

	for _, owner := range []string{"ada", ""} {
		t.Run("To"+strconv.Quote(owner), func(t *testing.T) {
			c := e.client()
			e.do(c, "POST", "/login?user=eve")
			id := e.sessionCookie(c).Value
			w := e.store.writes()
			n := len(e.errors())
			resp, body := e.do(c, "POST", "/direct/owner?user="+owner)
			assert.Equal(t, http.StatusInternalServerError, resp.StatusCode)
			assert.NotContains(t, body, "ok")
			errs := e.errors()
			require.Len(t, errs, n+1)
			assert.ErrorIs(t, errs[n], httpsession.ErrOwnerChanged)
			assert.Contains(t, errs[n].Error(), "Login", "the error points to Login")
			assert.Equal(t, w, e.store.writes(), "nothing is stored, not even the data")
			assert.Equal(t, "owner=eve n=0 id="+id, e.read(c), "same owner, same ID, same data")
		})
	}

	c := e.client()
	e.do(c, "POST", "/login?user=zed")
	resp, _ := e.do(c, "POST", "/direct/owner-then-update")
	assert.ErrorIs(t, updateErr, httpsession.ErrOwnerChanged, "Update returns it")
	assert.Equal(t, http.StatusInternalServerError, resp.StatusCode, "and the error handler answers")
	assert.Contains(t, e.read(c), "owner=zed n=0")

	// LogoutEverywhere ends the sessions of the stored owner, never of
	// one the handler wrote into the session.
	_, body := e.do(c, "POST", "/direct/owner-then-logout-all")
	assert.Equal(t, "1", body)
	assert.Contains(t, e.read(bob), "owner=bob", "bob's session lives")
	assert.Equal(t, "owner= n=0 id=", e.read(c))
}

// TestReadOnlyMapSessionWritesNothing checks that data whose encoding
// varies from run to run (msgpack writes maps in random order) is not
// taken for a change.
func TestReadOnlyMapSessionWritesNothing(t *testing.T) {
	mem := &countingBackend{Backend: memorybackend.New()}
	defer mem.Close()
	m, err := session.NewManager[Basket](mem)
	require.NoError(t, err)
	mw, err := httpsession.New(m)
	require.NoError(t, err)
	items := map[string]int{}
	for i := range 32 {
		items["item"+strconv.Itoa(i)] = i
	}
	s, err := m.Create(context.Background(), "ada", Basket{Items: items})
	require.NoError(t, err)
	h := mw.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, err := mw.Session(r)
		if err != nil || len(s.Data.Items) != 32 {
			t.Error("session not loaded", err)
		}
		io.WriteString(w, "ok")
	}))
	w := mem.writes()
	for range 20 {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, withSessionCookie(s.ID))
		require.Equal(t, http.StatusOK, rec.Code)
	}
	assert.Equal(t, w, mem.writes())
}
