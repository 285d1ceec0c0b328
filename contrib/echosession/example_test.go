package echosession_test

import (
	"net/http"

	"github.com/sessionkit/sessionkit/contrib/internal/shoptest"
	"github.com/sessionkit/sessionkit/session/httpsession"
)

// The shop of shop() in echo_test.go, walked through by a browser: a cart, a
// direct change of the session, log in, log out.
func Example() {
	shoptest.Tour(func(sessions *httpsession.Middleware[shoptest.Basket]) http.Handler { return shop(sessions) })
	// Output:
	// GET  /cart           → 200 guest: 0 apples, 0 pears
	// POST /cart/apple     → 200 ok (cookie set)
	// POST /pear           → 200 ok
	// POST /login?user=ada → 200 ok (cookie set)
	// GET  /cart           → 200 ada: 1 apples, 1 pears
	// POST /logout         → 200 ok (cookie set)
}
