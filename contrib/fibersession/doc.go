// Package fibersession shows, and its tests prove and measure, how
// sessionkit's net/http middleware serves a Fiber (v2, fasthttp)
// application: the routes that use sessions are net/http handlers behind
// the middleware, mounted with Fiber's own adaptor; it holds no code.
//
//	sessions, err := httpsession.New(m) // m is a *session.Manager[Cart]
//	mux := http.NewServeMux()
//	mux.HandleFunc("GET /cart", func(w http.ResponseWriter, r *http.Request) {
//		s, err := sessions.Session(r)
//		...
//	})
//	app := fiber.New()
//	app.Get("/health", func(c *fiber.Ctx) error { return c.SendString("ok") }) // no session: native Fiber
//	app.Use("/", adaptor.HTTPHandler(sessions.Handler(mux)))                    // the session routes
//
// The adaptor is github.com/gofiber/fiber/v2/middleware/adaptor.
//
// # Why the adaptor, and which one
//
// Fiber runs on fasthttp, not net/http, so the middleware cannot wrap a
// Fiber handler. adaptor.HTTPHandler turns a net/http handler into a Fiber
// handler: the session middleware then runs around the handler that
// answers, as it must, and everything httpsession promises holds, from
// the same code that net/http, chi, Echo and Gin use — storing before the
// response, the ID renewed at login, direct changes of Data, the caching
// headers, the error handler. A native Fiber adapter would have to
// repeat those rules over fasthttp's request and response types, and a
// second copy of security rules is one that drifts.
//
// adaptor.HTTPMiddleware, the adaptor for net/http middleware in front of
// Fiber handlers, does not work for sessions: it runs the middleware to
// its end before calling the next Fiber handler, so the session is
// stored, and its cookie decided, before the handler has changed it, and
// the handler has no *http.Request to reach it through.
//
// The price is fasthttp's conversion of each request and response to
// net/http (see BenchmarkFiber for the figures): it is paid only by the
// routes mounted through the adaptor. fasthttp buffers the response until
// the handler returns, so a net/http handler behind the adaptor cannot
// stream.
package fibersession
