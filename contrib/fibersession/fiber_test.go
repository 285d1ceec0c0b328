package fibersession_test

import (
	"net"
	"net/http"
	"testing"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"

	"github.com/sessionkit/sessionkit/contrib/internal/shoptest"
	"github.com/sessionkit/sessionkit/session/httpsession"
)

// app is the shop of shoptest as net/http handlers mounted in Fiber, next
// to a native Fiber route that uses no session.
func app(sessions *httpsession.Middleware[shoptest.Basket]) *fiber.App {
	a := fiber.New(fiber.Config{DisableStartupMessage: true})
	a.Get("/health", func(c *fiber.Ctx) error { return c.SendString("ok") })
	a.Use("/", adaptor.HTTPHandler(shoptest.NetHTTP(sessions)))
	return a
}

// serve runs a on a loopback port until the test ends and returns its
// base URL.
func serve(tb testing.TB, a *fiber.App) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- a.Listener(ln) }()
	tb.Cleanup(func() {
		if err := a.Shutdown(); err != nil {
			tb.Error(err)
		}
		if err := <-done; err != nil {
			tb.Error(err)
		}
	})
	return "http://" + ln.Addr().String()
}

func TestShop(t *testing.T) {
	base := serve(t, app(shoptest.New(t)))
	shoptest.Check(t, base)

	// The native route is untouched by sessions.
	resp, body := shoptest.NewBrowser(t, base).Do("GET", "/health")
	if resp.StatusCode != http.StatusOK || body != "ok" || resp.Header.Get("Vary") != "" || len(resp.Cookies()) != 0 {
		t.Errorf("GET /health: %d %q, Vary %q, cookies %v", resp.StatusCode, body, resp.Header.Get("Vary"), resp.Cookies())
	}
}
