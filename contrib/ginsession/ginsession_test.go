package ginsession_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/sessionkit/sessionkit/contrib/ginsession"
	"github.com/sessionkit/sessionkit/contrib/internal/shoptest"
	"github.com/sessionkit/sessionkit/session/httpsession"
)

func init() { gin.SetMode(gin.ReleaseMode) }

// shop is the shop of shoptest on a gin engine.
func shop(sessions *httpsession.Middleware[shoptest.Basket]) *gin.Engine {
	r := gin.New()
	r.Use(ginsession.Middleware(sessions))
	r.GET("/cart", func(c *gin.Context) {
		s, err := ginsession.Session[shoptest.Basket](c)
		if err != nil {
			c.String(shoptest.Status(err), err.Error())
			return
		}
		c.String(http.StatusOK, shoptest.Cart(s))
	})
	r.POST("/cart/:item", func(c *gin.Context) {
		if err := sessions.Update(c.Request, shoptest.Add(c.Param("item"))); err != nil {
			c.String(shoptest.Status(err), err.Error())
			return
		}
		c.String(http.StatusOK, "ok")
	})
	r.POST("/pear", func(c *gin.Context) {
		s, err := ginsession.Session[shoptest.Basket](c)
		if err != nil {
			c.String(shoptest.Status(err), err.Error())
			return
		}
		shoptest.Pear(s) // a direct change: stored before c.String writes
		c.String(http.StatusOK, "ok")
	})
	r.POST("/login", func(c *gin.Context) {
		if err := sessions.Login(c.Request, c.Query("user")); err != nil {
			c.String(shoptest.Status(err), err.Error())
			return
		}
		c.String(http.StatusOK, "ok")
	})
	r.POST("/logout", func(c *gin.Context) {
		if err := sessions.Logout(c.Request); err != nil {
			c.String(shoptest.Status(err), err.Error())
			return
		}
		c.String(http.StatusOK, "ok")
	})
	return r
}

func TestShop(t *testing.T) {
	srv := httptest.NewServer(shop(shoptest.New(t)))
	defer srv.Close()
	shoptest.Check(t, srv.URL)
}

// TestStatusBeforeChange checks that c.Status, which Gin only records, does
// not count as the start of the response: a new session changed after it
// still gets its cookie.
func TestStatusBeforeChange(t *testing.T) {
	sessions := shoptest.New(t)
	r := gin.New()
	r.Use(ginsession.Middleware(sessions))
	r.POST("/created", func(c *gin.Context) {
		c.Status(http.StatusCreated)
		if err := sessions.Modify(c.Request, func(b *shoptest.Basket) { b.Items = map[string]int{"fig": 1} }); err != nil {
			t.Error(err)
		}
		c.JSON(http.StatusCreated, gin.H{"ok": true})
	})
	r.POST("/no-body", func(c *gin.Context) {
		if err := sessions.Modify(c.Request, func(b *shoptest.Basket) { b.Items = map[string]int{"fig": 2} }); err != nil {
			t.Error(err)
		}
		c.Status(http.StatusNoContent) // Gin writes the header after the chain
	})
	srv := httptest.NewServer(r)
	defer srv.Close()
	for path, code := range map[string]int{"/created": http.StatusCreated, "/no-body": http.StatusNoContent} {
		resp, _ := shoptest.NewBrowser(t, srv.URL).Do("POST", path)
		if resp.StatusCode != code || len(resp.Cookies()) != 1 || resp.Header.Get("Cache-Control") != "no-store" {
			t.Errorf("%s: %d, cookies %v, Cache-Control %q: want %d, one cookie, no-store", path, resp.StatusCode, resp.Cookies(), resp.Header.Get("Cache-Control"), code)
		}
	}
}

// TestStoreFailure checks that the error handler answers instead of the
// Gin handler when the session cannot be stored.
func TestStoreFailure(t *testing.T) {
	sessions := shoptest.New(t, httpsession.WithErrorHandler(func(w http.ResponseWriter, r *http.Request, err error) {
		http.Error(w, "not stored", http.StatusInternalServerError)
	}))
	r := gin.New()
	r.Use(ginsession.Middleware(sessions))
	r.POST("/owner", func(c *gin.Context) {
		s, err := ginsession.Session[shoptest.Basket](c)
		if err != nil {
			t.Error(err)
			return
		}
		s.Owner = "mallory" // refused: ErrOwnerChanged
		c.String(http.StatusOK, "secret")
	})
	srv := httptest.NewServer(r)
	defer srv.Close()
	resp, body := shoptest.NewBrowser(t, srv.URL).Do("POST", "/owner")
	if resp.StatusCode != http.StatusInternalServerError || body != "not stored\n" {
		t.Errorf("got %d %q, want the error handler's 500", resp.StatusCode, body)
	}
}

func TestSessionWithoutMiddleware(t *testing.T) {
	r := gin.New()
	var err error
	r.GET("/", func(c *gin.Context) { _, err = ginsession.Session[shoptest.Basket](c) })
	r.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
	if err != httpsession.ErrNoMiddleware {
		t.Errorf("err = %v, want ErrNoMiddleware", err)
	}
}
