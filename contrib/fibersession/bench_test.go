package fibersession_test

import (
	"context"
	"io"
	"net/http"
	"testing"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"
	"github.com/valyala/fasthttp"

	"github.com/sessionkit/sessionkit/contrib/internal/shoptest"
	"github.com/sessionkit/sessionkit/session/httpsession"
)

// discard is a ResponseWriter that keeps nothing.
type discard struct{ h http.Header }

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) Write(p []byte) (int, error) { return len(p), nil }
func (d *discard) WriteHeader(int)             {}

// BenchmarkFiber measures what the route through Fiber's net/http adaptor
// costs, in process (no network), over the memory backend:
//
//   - Native: a Fiber handler, no session: the baseline.
//   - AdaptorBare: a net/http handler without sessions behind the adaptor:
//     the adaptor's own cost.
//   - AdaptorReadOnly: GET /cart of the shop, an existing session read,
//     behind the adaptor.
//   - NetHTTPReadOnly: the same handler on net/http without Fiber.
func BenchmarkFiber(b *testing.B) {
	sessions := shoptest.New(b)
	s, err := sessions.Manager().Create(context.Background(), "ada", shoptest.Basket{Items: map[string]int{"apple": 1}})
	if err != nil {
		b.Fatal(err)
	}
	h := app(sessions).Handler()
	bare := fiber.New()
	bare.Get("/bare", adaptor.HTTPHandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))

	fiberCase := func(h fasthttp.RequestHandler, path string) func(b *testing.B) {
		return func(b *testing.B) {
			var req fasthttp.Request
			req.SetRequestURI(path)
			req.Header.SetCookie(httpsession.DefaultCookieName, s.ID)
			var ctx fasthttp.RequestCtx
			ctx.Init(&req, nil, nil) // as a server would
			b.ReportAllocs()
			for b.Loop() {
				ctx.Response.Reset()
				h(&ctx)
			}
			if ctx.Response.StatusCode() != http.StatusOK {
				b.Fatalf("%s: %d %s", path, ctx.Response.StatusCode(), ctx.Response.Body())
			}
		}
	}
	b.Run("Native", fiberCase(h, "/health"))
	b.Run("AdaptorBare", fiberCase(bare.Handler(), "/bare"))
	b.Run("AdaptorReadOnly", fiberCase(h, "/cart"))
	b.Run("NetHTTPReadOnly", func(b *testing.B) {
		nh := shoptest.NetHTTP(sessions)
		req, err := http.NewRequest("GET", "/cart", nil)
		if err != nil {
			b.Fatal(err)
		}
		req.AddCookie(&http.Cookie{Name: httpsession.DefaultCookieName, Value: s.ID})
		w := &discard{h: http.Header{}}
		b.ReportAllocs()
		for b.Loop() {
			clear(w.h)
			nh.ServeHTTP(w, req)
		}
	})
}
