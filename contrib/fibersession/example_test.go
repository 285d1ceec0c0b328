package fibersession_test

import (
	"net"

	memorybackend "github.com/sessionkit/sessionkit/backend_memory"
	"github.com/sessionkit/sessionkit/contrib/internal/shoptest"
)

// The shop of app() in fiber_test.go, walked through by a browser: a
// cart, a direct change of the session, log in, log out.
func Example() {
	store := memorybackend.New()
	defer store.Close()
	sessions, err := shoptest.NewMiddleware(store)
	if err != nil {
		panic(err)
	}
	a := app(sessions)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	go a.Listener(ln)
	defer a.Shutdown()
	shoptest.TourAt("http://" + ln.Addr().String())
	// Output:
	// GET  /cart           → 200 guest: 0 apples, 0 pears
	// POST /cart/apple     → 200 ok (cookie set)
	// POST /pear           → 200 ok
	// POST /login?user=ada → 200 ok (cookie set)
	// GET  /cart           → 200 ada: 1 apples, 1 pears
	// POST /logout         → 200 ok (cookie set)
}
