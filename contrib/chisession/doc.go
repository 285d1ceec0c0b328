// Package chisession shows, and its tests prove, that sessionkit's
// net/http middleware works in chi (v5) as it is; it holds no code. chi
// routes take func(http.Handler) http.Handler middleware and plain
// net/http handlers:
//
//	sessions, err := httpsession.New(m) // m is a *session.Manager[Cart]
//	r := chi.NewRouter()
//	r.Use(sessions.Handler)
//	r.Get("/cart", func(w http.ResponseWriter, r *http.Request) {
//		s, err := sessions.Session(r)
//		...
//	})
//	r.Post("/cart/{item}", func(w http.ResponseWriter, r *http.Request) {
//		err := sessions.Update(r, func(c *Cart) error { c.Add(chi.URLParam(r, "item")); return nil })
//		...
//	})
//
// r.Use(sessions.Handler) for every route, or r.With(sessions.Handler) and
// r.Group for those that need a session.
package chisession
