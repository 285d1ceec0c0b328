package echosession_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/labstack/echo/v4"

	memorybackend "github.com/sessionkit/sessionkit/backend_memory"
	"github.com/sessionkit/sessionkit/contrib/internal/shoptest"
	"github.com/sessionkit/sessionkit/session/httpsession"
)

// shop is the shop of shoptest on Echo.
func shop(sessions *httpsession.Middleware[shoptest.Basket]) *echo.Echo {
	e := echo.New()
	e.Use(echo.WrapMiddleware(sessions.Handler))
	fail := func(c echo.Context, err error) error { return c.String(shoptest.Status(err), err.Error()) }
	e.GET("/cart", func(c echo.Context) error {
		s, err := sessions.Session(c.Request())
		if err != nil {
			return fail(c, err)
		}
		return c.String(http.StatusOK, shoptest.Cart(s))
	})
	e.POST("/cart/:item", func(c echo.Context) error {
		if err := sessions.Update(c.Request(), shoptest.Add(c.Param("item"))); err != nil {
			return fail(c, err)
		}
		return c.String(http.StatusOK, "ok")
	})
	e.POST("/pear", func(c echo.Context) error {
		s, err := sessions.Session(c.Request())
		if err != nil {
			return fail(c, err)
		}
		shoptest.Pear(s)
		return c.String(http.StatusOK, "ok")
	})
	e.POST("/login", func(c echo.Context) error {
		if err := sessions.Login(c.Request(), c.QueryParam("user")); err != nil {
			return fail(c, err)
		}
		return c.String(http.StatusOK, "ok")
	})
	e.POST("/logout", func(c echo.Context) error {
		if err := sessions.Logout(c.Request()); err != nil {
			return fail(c, err)
		}
		return c.String(http.StatusOK, "ok")
	})
	return e
}

func TestShop(t *testing.T) {
	srv := httptest.NewServer(shop(shoptest.New(t)))
	defer srv.Close()
	shoptest.Check(t, srv.URL)
}

// TestHandlerError checks a handler that changes the session and returns
// an error: Echo's error handler answers after the middleware returned,
// and the session is stored with its cookie in that answer.
func TestHandlerError(t *testing.T) {
	store := memorybackend.New()
	defer store.Close()
	sessions, err := shoptest.NewMiddleware(store)
	if err != nil {
		t.Fatal(err)
	}
	e := shop(sessions)
	e.POST("/teapot", func(c echo.Context) error {
		if err := sessions.Modify(c.Request(), func(b *shoptest.Basket) { b.Items = map[string]int{"apple": 5} }); err != nil {
			t.Error(err)
		}
		return echo.NewHTTPError(http.StatusTeapot, "short and stout")
	})
	srv := httptest.NewServer(e)
	defer srv.Close()
	b := shoptest.NewBrowser(t, srv.URL)
	resp, _ := b.Do("POST", "/teapot")
	if resp.StatusCode != http.StatusTeapot || len(resp.Cookies()) != 1 {
		t.Fatalf("got %d with cookies %v, want 418 with the session cookie", resp.StatusCode, resp.Cookies())
	}
	if _, body := b.Do("GET", "/cart"); body != "guest: 5 apples, 0 pears" {
		t.Errorf("GET /cart = %q: the change was not stored", body)
	}
}
