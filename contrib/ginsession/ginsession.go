// Package ginsession connects sessionkit's net/http middleware to Gin: a
// gin.HandlerFunc that gives every request behind it its session, and a
// typed accessor for handlers.
//
//	sessions, err := httpsession.New(m) // m is a *session.Manager[Cart]
//	r := gin.New()
//	r.Use(ginsession.Middleware(sessions))
//	r.GET("/cart", func(c *gin.Context) {
//		s, err := ginsession.Session[Cart](c)
//		if err != nil {
//			c.String(http.StatusServiceUnavailable, "session store unavailable")
//			return
//		}
//		c.JSON(http.StatusOK, s.Data)
//	})
//	r.POST("/login", func(c *gin.Context) {
//		err := sessions.Login(c.Request, user) // every Middleware method takes c.Request
//		...
//	})
//
// Everything httpsession promises holds: the session is loaded on first
// use, stored (and its cookie set) before the first byte of the response,
// direct changes to Data included, with its caching headers, and the
// error handler answers when it cannot be stored. The middleware replaces
// c.Request (its context carries the session) and c.Writer (a wrapper that
// stores the session when Gin first writes) for the handlers after it, so
// put it before handlers that use the session, and let them use c.Request
// and c.Writer as they find them.
package ginsession

import (
	"io"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/sessionkit/sessionkit/session"
	"github.com/sessionkit/sessionkit/session/httpsession"
)

// key is where Middleware leaves the Middleware of the request in the
// gin.Context, for Session.
type key struct{}

// Middleware returns Gin middleware that runs the rest of the handler chain
// inside mw.Handler, so that those handlers have a session: read it with
// Session, change it with the methods of mw called with c.Request.
func Middleware[T any](mw *httpsession.Middleware[T]) gin.HandlerFunc {
	return func(c *gin.Context) {
		orig := c.Writer
		mw.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c.Request = r
			c.Writer = &writer{ResponseWriter: orig, mw: w}
			c.Set(key{}, mw)
			c.Next()
		})).ServeHTTP(orig, c.Request)
		c.Writer = orig
	}
}

// Session returns the session of the request, loading it on the first call:
// it is httpsession.Middleware.Session(c.Request) with the Middleware that
// Middleware put in c. It returns an error matching
// httpsession.ErrNoMiddleware if c did not pass through Middleware of that
// T; the other errors are those of httpsession.Middleware.Session.
func Session[T any](c *gin.Context) (*session.Session[T], error) {
	v, _ := c.Get(key{})
	mw, ok := v.(*httpsession.Middleware[T])
	if !ok {
		return nil, httpsession.ErrNoMiddleware
	}
	return mw.Session(c.Request)
}

// writer is Gin's ResponseWriter with the body writes going through the
// Middleware's ResponseWriter mw, which stores the session and adds its
// headers first. WriteHeader stays Gin's: it only records the status
// (c.Status, c.JSON call it before they write), and the session is stored
// when the header really goes out, in WriteHeaderNow, Write or Flush.
type writer struct {
	gin.ResponseWriter
	mw http.ResponseWriter
}

func (w *writer) Write(p []byte) (int, error)       { return w.mw.Write(p) }
func (w *writer) WriteString(s string) (int, error) { return io.WriteString(w.mw, s) }
func (w *writer) Flush()                            { w.mw.(http.Flusher).Flush() }

// WriteHeaderNow stores the session before Gin sends the header.
func (w *writer) WriteHeaderNow() {
	if !w.Written() {
		w.mw.WriteHeader(w.Status())
	}
	w.ResponseWriter.WriteHeaderNow()
}

// Unwrap returns Gin's ResponseWriter, for http.ResponseController.
func (w *writer) Unwrap() http.ResponseWriter { return w.ResponseWriter }
