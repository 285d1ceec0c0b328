package main

import (
	"context"
	"encoding/json"
	"html/template"
	"image/png"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	postgresbackend "github.com/sessionkit/sessionkit/backend_postgres"
	"github.com/sessionkit/sessionkit/backend_postgres/pgtest"
	"github.com/sessionkit/sessionkit/internal/redistest"
)

// TestMain creates the test binary's PostgreSQL database (pgtest), which
// the -postgres tests share, and drops it at the end.
func TestMain(m *testing.M) { pgtest.Main(m) }

// startDemo runs the demo's two instances on free loopback ports until
// the test ends and returns their URLs.
func startDemo(t *testing.T, redisURL string) []string {
	t.Helper()
	return startDemoConfig(t, config{Addrs: []string{"127.0.0.1:0", "127.0.0.1:0"}, RedisURL: redisURL})
}

// startDemoPostgres runs the demo's two instances on the test binary's
// PostgreSQL database, as -postgres does, and returns their URLs. It drops
// the demo's table first, so that the test starts from no sessions and
// the demo creates the table.
func startDemoPostgres(t *testing.T) []string {
	t.Helper()
	dbURL := pgtest.Database(t)
	_, err := pgtest.Pool(t, dbURL, 1).Exec(t.Context(), "DROP TABLE IF EXISTS "+postgresbackend.DefaultTable)
	require.NoError(t, err)
	return startDemoConfig(t, config{Addrs: []string{"127.0.0.1:0", "127.0.0.1:0"}, PostgresURL: dbURL})
}

// startDemoConfig runs the demo with cfg until the test ends and returns
// the URLs it announced.
func startDemoConfig(t *testing.T, cfg config) []string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	urlc := make(chan []string, 1)
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, cfg, func(urls []string) { urlc <- urls })
	}()
	var urls []string
	select {
	case urls = <-urlc:
	case err := <-done:
		cancel()
		t.Fatalf("run: %v", err)
	case <-time.After(20 * time.Second):
		cancel()
		t.Fatal("the demo did not start within 20s")
	}
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			assert.NoError(t, err, "run after Ctrl-C")
		case <-time.After(10 * time.Second):
			t.Error("the demo did not shut down within 10s")
		}
	})
	require.Len(t, urls, len(cfg.Addrs))
	return urls
}

func TestTwoInstancesMemory(t *testing.T) {
	testTwoInstances(t, startDemo(t, ""))
}

// The -redis flag takes a bare host:port as well as a URL.
func TestTwoInstancesRedis(t *testing.T) {
	srv := redistest.Standalone(t)
	testTwoInstances(t, startDemo(t, srv.Addr))
}

// The -redis flag takes a Cluster as seed addresses in one URL.
func TestTwoInstancesRedisCluster(t *testing.T) {
	c := redistest.NewCluster(t)
	u := "redis://" + c.Addrs[0] + "?addr=" + c.Addrs[1] + "&addr=" + c.Addrs[2]
	testTwoInstances(t, startDemo(t, u))
}

// The -redis flag takes a Sentinel group as the sentinels' address and
// the master set's name.
func TestTwoInstancesRedisSentinel(t *testing.T) {
	g := redistest.NewSentinel(t)
	u := "redis://" + g.SentinelAddrs[0] + "?master_set=" + g.MasterName
	testTwoInstances(t, startDemo(t, u))
}

// The -postgres flag: each instance has its own pool and Backend on one
// table, and the live logout travels between them by pg_notify.
func TestTwoInstancesPostgres(t *testing.T) {
	testTwoInstances(t, startDemoPostgres(t))
}

// client is one device: a client with its own cookie jar.
type client struct {
	t *testing.T
	c *http.Client
}

func newBrowser(t *testing.T) *client {
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	return &client{t: t, c: &http.Client{Jar: jar, Timeout: 10 * time.Second}}
}

// post submits a form and follows the redirect; it returns the final
// status and body.
func (b *client) post(base, path string, form url.Values) (int, string) {
	b.t.Helper()
	resp, err := b.c.PostForm(base+strings.TrimPrefix(path, "/"), form)
	require.NoError(b.t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(b.t, err)
	return resp.StatusCode, string(body)
}

func (b *client) get(base, path string) (int, string) {
	b.t.Helper()
	resp, err := b.c.Get(base + strings.TrimPrefix(path, "/"))
	require.NoError(b.t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(b.t, err)
	return resp.StatusCode, string(body)
}

// do sends a request without a body and returns the response, whose
// body it has read.
func (b *client) do(method, base, path string) (*http.Response, string) {
	b.t.Helper()
	req, err := http.NewRequest(method, base+strings.TrimPrefix(path, "/"), nil)
	require.NoError(b.t, err)
	resp, err := b.c.Do(req)
	require.NoError(b.t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(b.t, err)
	return resp, string(body)
}

func (b *client) whoami(base string) whoamiReply {
	b.t.Helper()
	code, body := b.get(base, "/whoami")
	require.Equal(b.t, http.StatusOK, code, body)
	var w whoamiReply
	require.NoError(b.t, json.Unmarshal([]byte(body), &w), body)
	return w
}

// cookies is how many cookies with a value the browser holds for base.
// A logout leaves the session cookie empty for a second (httpsession
// clears it that way so that browsers drop no-store pages from their
// back/forward cache); that counts as none.
func (b *client) cookies(base string) int {
	u, err := url.Parse(base)
	require.NoError(b.t, err)
	n := 0
	for _, c := range b.c.Jar.Cookies(u) {
		if c.Value != "" {
			n++
		}
	}
	return n
}

// eventually checks cond until it holds, for up to 2s: with Redis each
// instance has its own client-side cache, which learns of another
// instance's write from Redis's invalidation push, about one round trip
// later.
func eventually(t *testing.T, cond func() bool, msg string) {
	t.Helper()
	assert.Eventually(t, cond, 2*time.Second, 5*time.Millisecond, msg)
}

func testTwoInstances(t *testing.T, urls []string) {
	a, b := urls[0], urls[1]
	laptop, phone, other := newBrowser(t), newBrowser(t), newBrowser(t)

	// A first visit creates nothing.
	code, page := laptop.get(a, "/")
	require.Equal(t, http.StatusOK, code)
	assert.Contains(t, page, "Not logged in")
	assert.Contains(t, page, "instance A")
	assert.Zero(t, laptop.cookies(a), "no cookie for a visit that only reads")

	// Log in on A; the session is on B too.
	code, page = laptop.post(a, "/login", url.Values{"name": {"Ada"}})
	require.Equal(t, http.StatusOK, code, page)
	assert.Contains(t, page, "Hello, Ada")
	assert.Contains(t, page, "You are logged in")
	wa := laptop.whoami(a)
	assert.Equal(t, "A", wa.Instance)
	assert.Equal(t, "ada", wa.Owner)
	eventually(t, func() bool {
		wb := laptop.whoami(b)
		return wb.Instance == "B" && wb.Owner == "ada" && wb.Handle == wa.Handle
	}, "the session of A is seen on B")
	_, page = laptop.get(b, "/")
	assert.Contains(t, page, "Hello, Ada")
	assert.Contains(t, page, "instance B")

	// The counter counts on both.
	laptop.post(a, "/inc", nil)
	laptop.post(b, "/inc", nil)
	laptop.post(a, "/inc", nil)
	for _, base := range urls {
		eventually(t, func() bool { return laptop.whoami(base).Counter == 3 }, "counter 3 on "+base)
	}

	// A second device of the same user, and another user.
	phone.post(b, "/login", url.Values{"name": {"ada"}})
	phone.post(b, "/inc", nil)
	other.post(a, "/login", url.Values{"name": {"Bob"}})
	for _, base := range urls {
		eventually(t, func() bool { return len(laptop.whoami(base).Devices) == 2 }, "two devices of ada on "+base)
	}
	assert.Equal(t, 1, phone.whoami(a).Counter, "the phone has its own session")

	// Cross-origin form posts are refused (CSRF).
	req, err := http.NewRequest("POST", a+"logout-everywhere", nil)
	require.NoError(t, err)
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	resp, err := laptop.c.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusForbidden, resp.StatusCode)
	assert.Equal(t, "ada", laptop.whoami(a).Owner)

	// Log out everywhere on B ends ada's sessions on both instances, and
	// the phone's page on A hears of it (live.go).
	_, page = phone.get(a, "/")
	require.Contains(t, page, "EventSource", "each instance subscribed to the store's events")
	phoneStream := openStream(t, phone, a, phone.whoami(a).Handle)
	phoneStream.none()
	code, page = laptop.post(b, "/logout-everywhere", nil)
	require.Equal(t, http.StatusOK, code, page)
	assert.Contains(t, page, "2 sessions ended")
	assert.Equal(t, sseMsg{"ended", endedText}, phoneStream.next(), "the phone's page on A")
	assert.Zero(t, laptop.cookies(a), "the cookie is expired")
	for _, base := range urls {
		eventually(t, func() bool { return phone.whoami(base).Owner == "" }, "the phone is logged out on "+base)
		eventually(t, func() bool { return laptop.whoami(base).Owner == "" }, "the laptop is logged out on "+base)
		assert.Equal(t, "bob", other.whoami(base).Owner, "another user stays logged in")
	}

	// Log out one device from another.
	laptop.post(a, "/login", url.Values{"name": {"Ada"}})
	phone.post(b, "/login", url.Values{"name": {"Ada"}})
	var phoneHandle string
	eventually(t, func() bool {
		w := laptop.whoami(a)
		for _, h := range w.Devices {
			if h != w.Handle {
				phoneHandle = h
			}
		}
		return len(w.Devices) == 2
	}, "two devices again")
	assert.Equal(t, phone.whoami(b).Handle, phoneHandle)
	_, page = laptop.post(a, "/revoke", url.Values{"handle": {phoneHandle}})
	assert.Contains(t, page, "That device is logged out")
	for _, base := range urls {
		eventually(t, func() bool { return phone.whoami(base).Owner == "" }, "the phone is revoked on "+base)
	}
	assert.Equal(t, "ada", laptop.whoami(b).Owner, "the laptop stays")

	// Another user's handle cannot be revoked.
	bobHandle := other.whoami(a).Handle
	laptop.post(a, "/revoke", url.Values{"handle": {bobHandle}})
	assert.Equal(t, "bob", other.whoami(b).Owner)

	// Log out.
	_, page = laptop.post(b, "/logout", nil)
	assert.Contains(t, page, "You are logged out")
	assert.Zero(t, laptop.cookies(a))
	eventually(t, func() bool { return laptop.whoami(a).Owner == "" }, "logged out on A")
}

// A rejected name gets the form again with what was typed in it and the
// rule; every character the rule names is accepted.
func TestLoginName(t *testing.T) {
	urls := startDemo(t, "")
	br := newBrowser(t)
	for _, name := range []string{"", "   ", strings.Repeat("x", 41), "<script>", "ada@example.com"} {
		code, page := br.post(urls[0], "/login", url.Values{"name": {name}})
		assert.Equal(t, http.StatusUnprocessableEntity, code, "name %q", name)
		assert.Contains(t, page, "That name was not accepted. A name is "+nameRule+".", "name %q", name)
		assert.Contains(t, page, `value="`+template.HTMLEscapeString(name)+`"`, "the form keeps %q", name)
		assert.Zero(t, br.cookies(urls[0]))
	}
	_, page := br.get(urls[0], "/")
	assert.Contains(t, page, "A name is "+nameRule, "the form says what is accepted before anything is rejected")

	for _, name := range []string{"Ada", "ada.lovelace", "Ada-Lovelace_2", "Zoë Ångström", strings.Repeat("x", 40), "  padded  "} {
		br := newBrowser(t)
		code, page := br.post(urls[0], "/login", url.Values{"name": {name}})
		require.Equal(t, http.StatusOK, code, "name %q: %s", name, page)
		assert.Contains(t, page, "Hello, "+template.HTMLEscapeString(strings.TrimSpace(name)), "name %q", name)
	}
}

// "Log out everywhere" without a login says that nobody was logged in;
// with one, it counts in words that agree with the number.
func TestLogoutEverywhereMessages(t *testing.T) {
	urls := startDemo(t, "")
	anon := newBrowser(t)
	code, page := anon.post(urls[0], "/logout-everywhere", nil)
	require.Equal(t, http.StatusOK, code)
	assert.Contains(t, page, "Nobody was logged in on this browser, so no session was ended.")
	assert.NotContains(t, page, "sessions ended")

	ada := newBrowser(t)
	ada.post(urls[0], "/login", url.Values{"name": {"ada"}})
	_, page = ada.post(urls[1], "/logout-everywhere", nil)
	assert.Contains(t, page, "Logged out everywhere: 1 session ended, on every device and instance.")
}

// Browsers ask every site for /favicon.ico; the demo has one, and its
// pages name it.
func TestFavicon(t *testing.T) {
	urls := startDemo(t, "")
	resp, err := http.Get(urls[0] + "favicon.ico")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "image/png", resp.Header.Get("Content-Type"))
	img, err := png.Decode(resp.Body)
	require.NoError(t, err)
	assert.Equal(t, 16, img.Bounds().Dx())
	assert.Empty(t, resp.Header.Values("Set-Cookie"))

	_, page := newBrowser(t).get(urls[0], "/")
	assert.Contains(t, page, `<link rel="icon" href="/favicon.ico" type="image/png">`)
}

// With Redis down, pages that need the store answer 503 in the demo's
// layout, with a message that says so.
func TestRedisDown(t *testing.T) {
	srv := redistest.Standalone(t)
	urls := startDemo(t, srv.Addr)
	br := newBrowser(t)
	code, page := br.post(urls[0], "/login", url.Values{"name": {"ada"}})
	require.Equal(t, http.StatusOK, code, page)
	srv.Kill()

	for _, req := range []struct{ method, path string }{{"GET", "/"}, {"POST", "/inc"}} {
		resp, body := br.do(req.method, urls[0], req.path)
		assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode, "%s %s: %s", req.method, req.path, body)
		assert.Equal(t, "text/html; charset=utf-8", resp.Header.Get("Content-Type"), "%s %s", req.method, req.path)
		assert.Contains(t, body, "<h1>The session store is unavailable</h1>", "%s %s", req.method, req.path)
		assert.Contains(t, body, "Instance A cannot reach Redis at redis://"+srv.Addr+" right now", "%s %s", req.method, req.path)
		assert.Contains(t, body, `<span class="instance">instance A</span>`, "the layout of every page")
		assert.Contains(t, body, `<a href="`+urls[1]+`">instance B</a>`, "the link to the other instance")
	}
}

// A listener on every interface is announced and linked with a URL a
// browser can open, the same host for both instances so that they share
// the cookie.
func TestUnspecifiedAddress(t *testing.T) {
	addrs := []string{"0.0.0.0:0", "[::]:0"}
	if ln, err := net.Listen("tcp", "[::]:0"); err != nil {
		t.Logf("no IPv6 here (%v): both instances on 0.0.0.0", err)
		addrs[1] = "0.0.0.0:0"
	} else {
		ln.Close()
	}
	log := &syncWriter{}
	urls := startDemoConfig(t, config{Addrs: addrs, Log: log})
	for _, u := range urls {
		assert.Regexp(t, `^http://127\.0\.0\.1:[0-9]+/$`, u)
	}
	br := newBrowser(t)
	code, page := br.get(urls[0], "/")
	require.Equal(t, http.StatusOK, code)
	assert.Contains(t, page, `<a href="`+urls[1]+`">instance B</a>`)
	code, page = br.get(urls[1], "/")
	require.Equal(t, http.StatusOK, code)
	assert.Contains(t, page, `<a href="`+urls[0]+`">instance A</a>`)
	assert.Contains(t, log.String(), "listens on every interface; browse "+urls[0])
}

// A bare host:port becomes a redis:// URL; URLs stay as they are.
func TestNormalizeRedisURL(t *testing.T) {
	for in, want := range map[string]string{
		"":                        "",
		"127.0.0.1:6379":          "redis://127.0.0.1:6379",
		"localhost:6379":          "redis://localhost:6379",
		"[::1]:6379":              "redis://[::1]:6379",
		"redis://h:1?addr=h:2":    "redis://h:1?addr=h:2",
		"rediss://user:pw@h:6380": "rediss://user:pw@h:6380",
		"unix:///run/redis.sock":  "unix:///run/redis.sock",
	} {
		assert.Equal(t, want, normalizeRedisURL(in), "%q", in)
	}
}

// A -redis value that is no Redis URL says which forms work.
func TestBadRedisURL(t *testing.T) {
	err := run(context.Background(), config{Addrs: []string{"127.0.0.1:0"}, RedisURL: "http://127.0.0.1:6379"}, nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "use host:port or a URL such as redis://host:port")
}

// A -postgres value that pgx cannot parse says which forms work.
func TestBadPostgresURL(t *testing.T) {
	err := run(context.Background(), config{Addrs: []string{"127.0.0.1:0"}, PostgresURL: "postgres://h:notaport/db"}, nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "-postgres: ")
	assert.Contains(t, err.Error(), "use a URL such as postgres://user:password@host:5432/database, or key=value settings")
}

// -redis and -postgres together are refused: the demo has one store.
func TestRedisAndPostgres(t *testing.T) {
	err := run(context.Background(), config{Addrs: []string{"127.0.0.1:0"}, RedisURL: "127.0.0.1:6379", PostgresURL: "postgres://127.0.0.1/db"}, nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "-redis and -postgres both given")
}

// The store is named for people without its credentials.
func TestStoreName(t *testing.T) {
	for _, c := range []struct {
		cfg  config
		want string
	}{
		{config{}, "memory (one backend shared by both instances)"},
		{config{RedisURL: "redis://u:pw@h:6379/0"}, "Redis at redis://h:6379/0"},
		{config{PostgresURL: "postgres://u:pw@db.example:5433/app?sslmode=disable"}, "PostgreSQL database app at db.example:5433"},
		{config{PostgresURL: "host=/var/run/postgresql dbname=app password=pw"}, "PostgreSQL database app at /var/run/postgresql"},
		{config{PostgresURL: "postgres://h:notaport/db"}, "PostgreSQL"},
	} {
		assert.Equal(t, c.want, storeName(c.cfg), "%+v", c.cfg)
	}
}

func TestBusyDefaultPortFallsBack(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer busy.Close()
	addr := busy.Addr().String()

	ln, err := listen(addr, true, io.Discard)
	require.NoError(t, err)
	assert.NotEqual(t, addr, ln.Addr().String())
	ln.Close()

	_, err = listen(addr, false, io.Discard)
	assert.Error(t, err, "an address given on the command line is not replaced")
}

func TestCookieSecureOffOnlyOnLoopback(t *testing.T) {
	urls := startDemo(t, "")
	resp, err := http.PostForm(urls[0]+"login", url.Values{"name": {"ada"}})
	require.NoError(t, err)
	resp.Body.Close()
	// The redirect's response carried the cookie.
	var setCookie string
	for r := resp; r != nil; r = r.Request.Response {
		if v := r.Header.Get("Set-Cookie"); v != "" {
			setCookie = v
		}
	}
	require.NotEmpty(t, setCookie)
	assert.NotContains(t, setCookie, "Secure", "plain HTTP on loopback")
	assert.Contains(t, setCookie, "HttpOnly")
	assert.Contains(t, setCookie, "SameSite=Lax")
}

// syncWriter collects what the demo's goroutines write.
type syncWriter struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncWriter) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
