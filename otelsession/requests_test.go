package otelsession_test

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	memorybackend "github.com/sessionkit/sessionkit/backend_memory"
	"github.com/sessionkit/sessionkit/otelsession"
	"github.com/sessionkit/sessionkit/session"
	"github.com/sessionkit/sessionkit/session/httpsession"
)

// TestRequestMetrics counts requests through the middleware by whether
// they touched the session and set the cookie.
func TestRequestMetrics(t *testing.T) {
	tel := newTelemetry(t)
	mem := memorybackend.New()
	t.Cleanup(func() { mem.Close() })
	m, err := session.NewManager[cart](mem)
	require.NoError(t, err)
	mw, err := httpsession.New(m, httpsession.WithSecure(false),
		httpsession.WithRequestObserver(otelsession.NewRequestObserver(tel.opts...)))
	require.NoError(t, err)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /static", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	mux.HandleFunc("POST /add", func(w http.ResponseWriter, r *http.Request) {
		if err := mw.Modify(r, func(c *cart) { c.N++ }); err != nil {
			t.Error(err)
		}
	})
	srv := httptest.NewServer(mw.Handler(mux))
	t.Cleanup(srv.Close)
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	c := &http.Client{Jar: jar}
	for _, req := range [][2]string{{"GET", "/static"}, {"POST", "/add"}, {"POST", "/add"}, {"POST", "/add"}, {"GET", "/static"}} {
		r, err := http.NewRequest(req[0], srv.URL+req[1], nil)
		require.NoError(t, err)
		resp, err := c.Do(r)
		require.NoError(t, err)
		resp.Body.Close()
	}
	ps := tel.collect(t)
	var got = map[[2]bool]int64{}
	for _, p := range ps {
		if p.name != otelsession.RequestsMetric {
			continue
		}
		assert.Equal(t, "{request}", p.unit)
		tv, _ := p.attrs.Value(otelsession.AttrTouched)
		cv, _ := p.attrs.Value(otelsession.AttrSetCookie)
		got[[2]bool{tv.AsBool(), cv.AsBool()}] = p.value
	}
	assert.Equal(t, map[[2]bool]int64{
		{false, false}: 2, // GET /static
		{true, true}:   1, // the first POST creates the session
		{true, false}:  2, // the others store it under the same ID
	}, got)
}
