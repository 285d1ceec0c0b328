// Package echosession shows, and its tests prove, that sessionkit's
// net/http middleware works in Echo (v4) as it is, through
// echo.WrapMiddleware; it holds no code. Handlers reach the session with
// the Middleware's methods and c.Request():
//
//	sessions, err := httpsession.New(m) // m is a *session.Manager[Cart]
//	e := echo.New()
//	e.Use(echo.WrapMiddleware(sessions.Handler))
//	e.GET("/cart", func(c echo.Context) error {
//		s, err := sessions.Session(c.Request())
//		if err != nil {
//			return echo.NewHTTPError(http.StatusServiceUnavailable, "session store unavailable")
//		}
//		return c.JSON(http.StatusOK, s.Data)
//	})
//	e.POST("/login", func(c echo.Context) error {
//		if err := sessions.Login(c.Request(), user); err != nil {
//			...
//		}
//		return c.Redirect(http.StatusSeeOther, "/cart")
//	})
//
// WrapMiddleware runs the handler inside the middleware and gives it the
// request and ResponseWriter the middleware passes on, so the session is
// stored and its cookie set before the first byte. A handler that returns
// an error is answered by Echo's HTTPErrorHandler after the middleware
// returned; the session was stored by then, and the cookie goes out with
// the error response.
package echosession
