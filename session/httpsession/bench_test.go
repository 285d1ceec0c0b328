package httpsession_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	memorybackend "github.com/sessionkit/sessionkit/backend_memory"
	"github.com/sessionkit/sessionkit/session"
	"github.com/sessionkit/sessionkit/session/httpsession"
)

// discard is a ResponseWriter that keeps nothing, so the benchmark counts
// the middleware's allocations and not a recorder's.
type discard struct{ h http.Header }

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) Write(p []byte) (int, error) { return len(p), nil }
func (d *discard) WriteHeader(int)             {}

// BenchmarkMiddleware measures what the middleware adds to a request, over
// the memory backend, calling the handler directly (no network):
//
//   - Bare: the handler without the middleware, the baseline.
//   - BareGet, BareGetSave: Manager.Get (and Save) called by the handler
//     without the middleware, the baselines of ReadOnly and Write.
//   - Untouched: a handler that never asks for the session.
//   - ReadOnly: an existing session is loaded and read.
//   - ReadOnlyNewVisitor: no cookie; the empty session is read.
//   - Write: an existing session is loaded, changed with Modify and saved.
//   - WriteDirect: the same change made directly to the session that
//     Session returned, found by comparing encodings, and saved.
//   - Update: an existing session is changed with Update.
func BenchmarkMiddleware(b *testing.B) {
	store := memorybackend.New()
	b.Cleanup(func() { store.Close() })
	m, err := session.NewManager[Cart](store)
	if err != nil {
		b.Fatal(err)
	}
	mw, err := httpsession.New(m)
	if err != nil {
		b.Fatal(err)
	}
	s, err := m.Create(context.Background(), "ada", Cart{N: 1, Items: []string{"apple", "pear"}})
	if err != nil {
		b.Fatal(err)
	}
	ok := []byte("ok")
	untouched := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(ok) })
	read := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, err := mw.Session(r)
		if err != nil || s.Data.N < 0 {
			b.Error(err)
		}
		w.Write(ok)
	})
	write := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := mw.Modify(r, func(c *Cart) { c.N++ }); err != nil {
			b.Error(err)
		}
		w.Write(ok)
	})
	writeDirect := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, err := mw.Session(r)
		if err != nil {
			b.Error(err)
			return
		}
		s.Data.N++
		w.Write(ok)
	})
	update := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := mw.Update(r, func(c *Cart) error { c.N++; return nil }); err != nil {
			b.Error(err)
		}
		w.Write(ok)
	})
	// The Manager's own work, without the middleware, for comparison.
	bareGet := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := m.Get(r.Context(), s.ID); err != nil {
			b.Error(err)
		}
		w.Write(ok)
	})
	bareGetSave := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, err := m.Get(r.Context(), s.ID)
		if err != nil {
			b.Error(err)
		}
		s.Data.N++
		if err := m.Save(r.Context(), s); err != nil {
			b.Error(err)
		}
		w.Write(ok)
	})
	withCookie := httptest.NewRequest("GET", "/", nil)
	withCookie.AddCookie(&http.Cookie{Name: httpsession.DefaultCookieName, Value: s.ID})
	noCookie := httptest.NewRequest("GET", "/", nil)

	for _, bc := range []struct {
		name string
		h    http.Handler
		req  *http.Request
	}{
		{"Bare", untouched, withCookie},
		{"BareGet", bareGet, withCookie},
		{"BareGetSave", bareGetSave, withCookie},
		{"Untouched", mw.Handler(untouched), withCookie},
		{"ReadOnly", mw.Handler(read), withCookie},
		{"ReadOnlyNewVisitor", mw.Handler(read), noCookie},
		{"Write", mw.Handler(write), withCookie},
		{"WriteDirect", mw.Handler(writeDirect), withCookie},
		{"Update", mw.Handler(update), withCookie},
	} {
		b.Run(bc.name, func(b *testing.B) {
			w := &discard{h: http.Header{}}
			b.ReportAllocs()
			for b.Loop() {
				clear(w.h)
				bc.h.ServeHTTP(w, bc.req)
			}
			if len(w.h.Values("Set-Cookie")) > 0 {
				b.Fatal("unexpected Set-Cookie")
			}
		})
	}
}
