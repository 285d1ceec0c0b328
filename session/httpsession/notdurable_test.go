package httpsession_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/sessionkit/sessionkit/backend"
	memorybackend "github.com/sessionkit/sessionkit/backend_memory"
	"github.com/sessionkit/sessionkit/session"
	"github.com/sessionkit/sessionkit/session/httpsession"
)

// notDurable applies every write and then reports backend.ErrNotDurable,
// as Redis with WithWaitReplicas does on a server without replicas.
type notDurable struct{ *memorybackend.Backend }

var errNotDurable = fmt.Errorf("test: no replica acknowledged: %w", backend.ErrNotDurable)

func (b notDurable) Create(ctx context.Context, rec backend.Record) (backend.Record, error) {
	r, err := b.Backend.Create(ctx, rec)
	if err != nil {
		return r, err
	}
	return r, errNotDurable
}

func (b notDurable) Rekey(ctx context.Context, rec backend.Record, newKey string) (backend.Record, error) {
	r, err := b.Backend.Rekey(ctx, rec, newKey)
	if err != nil {
		return r, err
	}
	return r, errNotDurable
}

// TestLoginNotDurable: a Login whose renewal was applied but not confirmed
// durable still logs in: the new cookie goes out, the old ID is dead, and
// Login's error matches session.ErrNotDurable.
func TestLoginNotDurable(t *testing.T) {
	mem := memorybackend.New()
	t.Cleanup(func() { _ = mem.Close() })
	store := notDurable{mem}
	m, err := session.NewManager[Basket](store)
	if err != nil {
		t.Fatal(err)
	}
	mw, err := httpsession.New(m)
	if err != nil {
		t.Fatal(err)
	}
	var loginErr error
	h := mw.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		loginErr = mw.Login(r, "ada")
		w.WriteHeader(http.StatusNoContent)
	}))
	// A visitor with a stored anonymous session: Login renews it.
	old, err := m.Create(context.Background(), "", Basket{Items: map[string]int{"apple": 1}})
	if !errors.Is(err, session.ErrNotDurable) {
		t.Fatalf("Create = %v, want ErrNotDurable", err)
	}
	req := httptest.NewRequest(http.MethodPost, "https://example.com/login", nil)
	req.AddCookie(&http.Cookie{Name: httpsession.DefaultCookieName, Value: old.ID})
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if !errors.Is(loginErr, session.ErrNotDurable) {
		t.Fatalf("Login = %v, want an error matching ErrNotDurable", loginErr)
	}
	var id string
	for _, c := range rec.Result().Cookies() {
		if c.Name == httpsession.DefaultCookieName {
			id = c.Value
		}
	}
	if id == "" || id == old.ID {
		t.Fatalf("response cookie %q after a not-durable Login; want the new ID", id)
	}
	s, err := m.Get(context.Background(), id)
	if err != nil || s.Owner != "ada" || s.Data.Items["apple"] != 1 {
		t.Fatalf("Get of the new ID = %+v, %v; want ada's session with the apple", s, err)
	}
	if _, err := m.Get(context.Background(), old.ID); !errors.Is(err, session.ErrNotFound) {
		t.Fatalf("Get of the old ID = %v, want ErrNotFound", err)
	}
}

// TestSaveNotDurable: the middleware's own saves treat a write that was
// applied but not confirmed durable as stored: a new visitor's first
// change gets its cookie, and the response is the handler's, not the
// error handler's.
func TestSaveNotDurable(t *testing.T) {
	mem := memorybackend.New()
	t.Cleanup(func() { _ = mem.Close() })
	m, err := session.NewManager[Basket](notDurable{mem})
	if err != nil {
		t.Fatal(err)
	}
	replaced := false
	mw, err := httpsession.New(m, httpsession.WithErrorHandler(func(w http.ResponseWriter, r *http.Request, err error) {
		replaced = true
		http.Error(w, err.Error(), http.StatusInternalServerError)
	}))
	if err != nil {
		t.Fatal(err)
	}
	h := mw.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := mw.Modify(r, func(b *Basket) { b.Items = map[string]int{"pear": 1} }); err != nil {
			t.Errorf("Modify: %v", err)
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "https://example.com/cart", nil))
	if replaced || rec.Code != http.StatusNoContent {
		t.Fatalf("status %d, error handler called: %v; want the handler's 204", rec.Code, replaced)
	}
	var id string
	for _, c := range rec.Result().Cookies() {
		if c.Name == httpsession.DefaultCookieName {
			id = c.Value
		}
	}
	s, err := m.Get(context.Background(), id)
	if err != nil || s.Data.Items["pear"] != 1 {
		t.Fatalf("Get of the cookie's session = %+v, %v; want the stored pear", s, err)
	}
}
