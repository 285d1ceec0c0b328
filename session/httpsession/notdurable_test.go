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
