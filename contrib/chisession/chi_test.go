package chisession_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/go-chi/chi/v5"

	"github.com/sessionkit/sessionkit/contrib/internal/shoptest"
	"github.com/sessionkit/sessionkit/session/httpsession"
)

// shop is the shop of shoptest on chi.
func shop(sessions *httpsession.Middleware[shoptest.Basket]) http.Handler {
	r := chi.NewRouter()
	r.Use(sessions.Handler)
	fail := func(w http.ResponseWriter, err error) { http.Error(w, err.Error(), shoptest.Status(err)) }
	r.Get("/cart", func(w http.ResponseWriter, r *http.Request) {
		s, err := sessions.Session(r)
		if err != nil {
			fail(w, err)
			return
		}
		w.Write([]byte(shoptest.Cart(s)))
	})
	r.Post("/cart/{item}", func(w http.ResponseWriter, r *http.Request) {
		if err := sessions.Update(r, shoptest.Add(chi.URLParam(r, "item"))); err != nil {
			fail(w, err)
			return
		}
		w.Write([]byte("ok"))
	})
	r.Post("/pear", func(w http.ResponseWriter, r *http.Request) {
		s, err := sessions.Session(r)
		if err != nil {
			fail(w, err)
			return
		}
		shoptest.Pear(s)
		w.Write([]byte("ok"))
	})
	r.Post("/login", func(w http.ResponseWriter, r *http.Request) {
		if err := sessions.Login(r, r.URL.Query().Get("user")); err != nil {
			fail(w, err)
			return
		}
		w.Write([]byte("ok"))
	})
	r.Post("/logout", func(w http.ResponseWriter, r *http.Request) {
		if err := sessions.Logout(r); err != nil {
			fail(w, err)
			return
		}
		w.Write([]byte("ok"))
	})
	return r
}

func TestShop(t *testing.T) {
	srv := httptest.NewServer(shop(shoptest.New(t)))
	defer srv.Close()
	shoptest.Check(t, srv.URL)
}
