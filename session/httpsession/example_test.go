package httpsession_test

import (
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"strings"
	"time"

	memorybackend "github.com/sessionkit/sessionkit/backend_memory"
	"github.com/sessionkit/sessionkit/session"
	"github.com/sessionkit/sessionkit/session/httpsession"
)

// Basket is the typed session data of the examples.
type Basket struct {
	Items map[string]int
}

// newShop builds the example application: a cart, log in, log out.
func newShop(sessions *httpsession.Middleware[Basket]) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /cart", func(w http.ResponseWriter, r *http.Request) {
		s, err := sessions.Session(r)
		if err != nil {
			http.Error(w, "session store unavailable", http.StatusServiceUnavailable)
			return
		}
		who := s.Owner
		if who == "" {
			who = "guest"
		}
		fmt.Fprintf(w, "%s: %d apples", who, s.Data.Items["apple"])
	})
	mux.HandleFunc("POST /cart/{item}", func(w http.ResponseWriter, r *http.Request) {
		err := sessions.Update(r, func(b *Basket) error {
			if b.Items == nil {
				b.Items = map[string]int{}
			}
			b.Items[r.PathValue("item")]++
			return nil
		})
		if err != nil {
			http.Error(w, "session store unavailable", http.StatusServiceUnavailable)
			return
		}
		http.Redirect(w, r, "/cart", http.StatusSeeOther)
	})
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		// Check the password first; then:
		if err := sessions.Login(r, r.FormValue("user")); err != nil {
			if errors.Is(err, httpsession.ErrNoOwner) { // the client's mistake
				http.Error(w, "no user given", http.StatusBadRequest)
				return
			}
			http.Error(w, "session store unavailable", http.StatusServiceUnavailable)
			return
		}
		http.Redirect(w, r, "/cart", http.StatusSeeOther)
	})
	mux.HandleFunc("POST /logout", func(w http.ResponseWriter, r *http.Request) {
		if err := sessions.Logout(r); err != nil {
			http.Error(w, "session store unavailable", http.StatusServiceUnavailable)
			return
		}
		http.Redirect(w, r, "/cart", http.StatusSeeOther)
	})
	mux.HandleFunc("POST /logout-everywhere", func(w http.ResponseWriter, r *http.Request) {
		n, err := sessions.LogoutEverywhere(r)
		if err != nil {
			http.Error(w, "session store unavailable", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintf(w, "ended %d sessions", n)
	})
	// Forms are POST: protect them from cross-site requests.
	return http.NewCrossOriginProtection().Handler(sessions.Handler(mux))
}

// visit sends a request as browser, follows redirects, and prints the
// final body and whether a cookie came back on the way.
func visit(browser *http.Client, method, base, path string) {
	resp, err := browser.Do(must(http.NewRequest(method, base+path, nil)))
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	cookie := ""
	for r := resp; r != nil; r = r.Request.Response {
		if len(r.Header.Values("Set-Cookie")) > 0 {
			cookie = " (cookie set)"
		}
	}
	fmt.Printf("%-4s %-20s → %s%s\n", method, path, body, cookie)
}

func must[T any](v T, err error) T {
	if err != nil {
		log.Fatal(err)
	}
	return v
}

func newBrowser() *http.Client {
	return &http.Client{Jar: must(cookiejar.New(nil))}
}

func Example() {
	store := memorybackend.New()
	defer store.Close()
	m := must(session.NewManager[Basket](store))
	sessions := must(httpsession.New(m))
	srv := httptest.NewServer(newShop(sessions))
	defer srv.Close()

	browser := newBrowser()
	visit(browser, "GET", srv.URL, "/cart")        // reads only: no session, no cookie
	visit(browser, "POST", srv.URL, "/cart/apple") // creates the session
	visit(browser, "POST", srv.URL, "/cart/apple")
	visit(browser, "POST", srv.URL, "/login?user=ada") // new ID, same cart
	visit(browser, "POST", srv.URL, "/logout")
	// Output:
	// GET  /cart                → guest: 0 apples
	// POST /cart/apple          → guest: 1 apples (cookie set)
	// POST /cart/apple          → guest: 2 apples
	// POST /login?user=ada      → ada: 2 apples (cookie set)
	// POST /logout              → guest: 0 apples (cookie set)
}

func ExampleMiddleware_LogoutEverywhere() {
	store := memorybackend.New()
	defer store.Close()
	m := must(session.NewManager[Basket](store))
	sessions := must(httpsession.New(m))
	srv := httptest.NewServer(newShop(sessions))
	defer srv.Close()

	laptop, phone := newBrowser(), newBrowser()
	visit(laptop, "POST", srv.URL, "/login?user=ada")
	visit(phone, "POST", srv.URL, "/login?user=ada")
	visit(phone, "POST", srv.URL, "/cart/apple")
	visit(laptop, "POST", srv.URL, "/logout-everywhere")
	visit(phone, "GET", srv.URL, "/cart")
	// Output:
	// POST /login?user=ada      → ada: 0 apples (cookie set)
	// POST /login?user=ada      → ada: 0 apples (cookie set)
	// POST /cart/apple          → ada: 1 apples
	// POST /logout-everywhere   → ended 2 sessions (cookie set)
	// GET  /cart                → guest: 0 apples
}

func ExampleWithErrorHandler() {
	store := memorybackend.New()
	defer store.Close()
	m := must(session.NewManager[Basket](store, session.WithMaxPayload(64)))
	sessions := must(httpsession.New(m,
		httpsession.WithErrorHandler(func(w http.ResponseWriter, r *http.Request, err error) {
			fmt.Println("not stored:", strings.Contains(err.Error(), "payload too large"))
			http.Error(w, "please try again", http.StatusInternalServerError)
		})))
	h := sessions.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sessions.Modify(r, func(b *Basket) {
			b.Items = map[string]int{strings.Repeat("x", 100): 1}
		})
		io.WriteString(w, "added") // the error handler answers instead
	}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("POST", "/", nil))
	fmt.Print(rec.Code, " ", rec.Body.String())
	// Output:
	// not stored: true
	// 500 please try again
}

// A handler may change the session it got from Session directly; the
// change is stored before the response starts, as with Modify.
func ExampleMiddleware_Session() {
	store := memorybackend.New()
	defer store.Close()
	m := must(session.NewManager[Basket](store))
	sessions := must(httpsession.New(m))
	mux := http.NewServeMux()
	mux.HandleFunc("POST /pear", func(w http.ResponseWriter, r *http.Request) {
		s, err := sessions.Session(r)
		if err != nil {
			http.Error(w, "session store unavailable", http.StatusServiceUnavailable)
			return
		}
		if s.Data.Items == nil {
			s.Data.Items = map[string]int{}
		}
		s.Data.Items["pear"]++ // stored: no Modify needed
		fmt.Fprintf(w, "%d pears", s.Data.Items["pear"])
	})
	srv := httptest.NewServer(sessions.Handler(mux))
	defer srv.Close()

	browser := newBrowser()
	visit(browser, "POST", srv.URL, "/pear")
	visit(browser, "POST", srv.URL, "/pear")
	// Output:
	// POST /pear                → 1 pears (cookie set)
	// POST /pear                → 2 pears
}

// A client that is not a browser keeps the session ID itself and sends it
// in a header; the server answers a new ID in the same header.
func ExampleWithHeader() {
	store := memorybackend.New()
	defer store.Close()
	m := must(session.NewManager[Basket](store))
	sessions := must(httpsession.New(m, httpsession.WithHeader("X-Session-Token")))
	srv := httptest.NewServer(newShop(sessions))
	defer srv.Close()

	token := "" // what a mobile app keeps in its secure storage
	call := func(method, path string) {
		req := must(http.NewRequest(method, srv.URL+path, nil))
		if token != "" {
			req.Header.Set("X-Session-Token", token)
		}
		resp := must(http.DefaultTransport.RoundTrip(req)) // no redirects, no cookies
		defer resp.Body.Close()
		note := ""
		if vs, ok := resp.Header["X-Session-Token"]; ok {
			if token = vs[0]; token == "" {
				note = " (token cleared)"
			} else {
				note = " (new token)"
			}
		}
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode == http.StatusOK {
			note = " " + string(body)
		}
		fmt.Printf("%-4s %-16s → %d%s, cookies: %d\n", method, path, resp.StatusCode, note, len(resp.Cookies()))
	}
	call("POST", "/cart/apple")
	call("POST", "/login?user=ada")
	call("GET", "/cart")
	call("POST", "/logout")
	// Output:
	// POST /cart/apple      → 303 (new token), cookies: 0
	// POST /login?user=ada  → 303 (new token), cookies: 0
	// GET  /cart            → 200 ada: 1 apples, cookies: 0
	// POST /logout          → 303 (token cleared), cookies: 0
}

// "Remember me": the session of a user who ticks the box lives 30 days
// and its cookie survives browser restarts; the others get the default
// lifetime and a cookie that ends with the browser.
func ExampleLifetime() {
	const month = 30 * 24 * time.Hour
	store := memorybackend.New()
	defer store.Close()
	m := must(session.NewManager[Basket](store, session.WithMaxAbsoluteTimeout(month)))
	sessions := must(httpsession.New(m))
	h := sessions.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		opts := []httpsession.LoginOption{httpsession.Persistent(false)}
		if r.FormValue("remember") == "on" {
			opts = []httpsession.LoginOption{httpsession.Lifetime(month), httpsession.Persistent(true)}
		}
		if err := sessions.Login(r, "ada", opts...); err != nil {
			http.Error(w, "session store unavailable", http.StatusServiceUnavailable)
		}
	}))
	for _, remember := range []string{"on", "off"} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("POST", "/login?remember="+remember, nil))
		c := rec.Result().Cookies()[0]
		if c.MaxAge == 0 {
			fmt.Printf("remember %-3s: a browser-session cookie\n", remember)
			continue
		}
		fmt.Printf("remember %-3s: a cookie for %.0f days\n", remember, (time.Duration(c.MaxAge)*time.Second).Hours()/24)
	}
	// Output:
	// remember on : a cookie for 30 days
	// remember off: a browser-session cookie
}
