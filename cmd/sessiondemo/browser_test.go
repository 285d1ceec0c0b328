package main

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sessionkit/sessionkit/backend"
	memorybackend "github.com/sessionkit/sessionkit/backend_memory"
	redisbackend "github.com/sessionkit/sessionkit/backend_redis"
	"github.com/sessionkit/sessionkit/internal/redistest"
	"github.com/sessionkit/sessionkit/session/httpsession"
)

// requireBrowser is the environment variable that makes the real-browser
// test fail, instead of skipping, when Chromium or playwright-core is
// missing. .ci/run sets it.
const requireBrowser = "SESSIONKIT_REQUIRE_BROWSER"

// browserScript returns the command that drives Chromium through the
// demo with the script browsertest/name, or skips the test, saying what
// is missing, unless requireBrowser is set.
func browserScript(t *testing.T, name string) []string {
	t.Helper()
	chromium := os.Getenv("CHROMIUM")
	if chromium == "" {
		chromium = "/usr/bin/chromium"
	}
	var missing string
	node, err := exec.LookPath("node")
	switch {
	case err != nil:
		missing = "node (apt-get install nodejs)"
	case func() bool { _, err := os.Stat(chromium); return err != nil }():
		missing = chromium + " (apt-get install chromium, or set CHROMIUM)"
	case func() bool { _, err := os.Stat("browsertest/node_modules/playwright-core"); return err != nil }():
		missing = "playwright-core (npm ci --prefix cmd/sessiondemo/browsertest)"
	}
	if missing != "" {
		if os.Getenv(requireBrowser) != "" {
			t.Fatalf("real-browser check: %s is missing and %s is set", missing, requireBrowser)
		}
		t.Skipf("real-browser check skipped: %s is missing (set %s=1 to make this a failure)", missing, requireBrowser)
	}
	script, err := filepath.Abs(filepath.Join("browsertest", name))
	require.NoError(t, err)
	return []string{node, script}
}

// browserPages are the headings that the browser saw at each step, and
// whether Back restored the page from the back/forward cache.
type browserPages struct {
	Home, AfterLogin, AfterLogout, AfterBack string
	BackURL                                  string
	Restored                                 bool
}

// walk logs in on the demo at base in Chromium, logs out and presses Back.
func walk(t *testing.T, script []string, base string) browserPages {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, script[0], append(script[1:], base)...)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	require.NoError(t, err, "the browser script failed")
	var p browserPages
	require.NoError(t, json.Unmarshal(out, &p), "%s", out)
	require.Equal(t, "Not logged in", p.Home, "before login")
	require.Equal(t, "Hello, Ada", p.AfterLogin, "after login")
	require.Equal(t, "Not logged in", p.AfterLogout, "after logout")
	return p
}

// TestBrowserBackAfterLogout checks in a real browser that Back after
// logout shows a logged-out page and never the previous user's: the
// logged-in browserPages carry Cache-Control: no-store, so the browser fetches
// them again, with the session gone, and Logout sets the cookie (empty)
// rather than deleting it, which makes Chromium evict no-store pages from
// its back/forward cache. The control shows that the check can fail:
// without the Middleware's Cache-Control, Chromium restores the logged-in
// page from its back/forward cache — the same page, with its event stream
// (live.go), which its logout form closes first.
func TestBrowserBackAfterLogout(t *testing.T) {
	script := browserScript(t, "back-after-logout.mjs")
	t.Run("Memory", func(t *testing.T) {
		p := walk(t, script, startDemo(t, "")[0])
		assert.Equal(t, "Not logged in", p.AfterBack, "Back after logout (at %s)", p.BackURL)
		assert.False(t, p.Restored, "fetched again, not restored from the back/forward cache")
	})
	t.Run("Redis", func(t *testing.T) {
		srv := redistest.Standalone(t)
		p := walk(t, script, startDemo(t, srv.Addr)[0])
		assert.Equal(t, "Not logged in", p.AfterBack, "Back after logout (at %s)", p.BackURL)
		assert.False(t, p.Restored, "fetched again, not restored from the back/forward cache")
	})
	t.Run("ControlWithoutCacheControl", func(t *testing.T) {
		store := memorybackend.New()
		t.Cleanup(func() { store.Close() })
		a, err := newApp(store, "A", "memory", httpsession.WithSecure(false), httpsession.WithCacheControl(false))
		require.NoError(t, err)
		ctx, cancel := context.WithCancel(context.Background())
		t.Cleanup(cancel)
		require.NoError(t, a.subscribe(ctx))
		srv := httptest.NewServer(a.handler())
		t.Cleanup(srv.Close)
		p := walk(t, script, srv.URL+"/")
		assert.Equal(t, "Hello, Ada", p.AfterBack, "without Cache-Control the browser shows the cached logged-in page (at %s); if not, this test cannot fail", p.BackURL)
		assert.True(t, p.Restored, "from the back/forward cache")
	})
}

// liveEnd is what the phone's page showed after the laptop ended its
// session (browsertest/live-logout.mjs).
type liveEnd struct {
	Ms *int // from the laptop's click to the banner; nil: none within the wait
	// AfterShownMs is, for a page that was hidden, from being shown
	// again to the banner.
	AfterShownMs *int
	Banner       string
	Disabled     bool // the page's form buttons
	OtherNotes   int  // notes other than the banner still shown ("You are logged in")
	Reloaded     bool
	H1           string
}

// liveRun is what live-logout.mjs reports.
type liveRun struct {
	ThisDevice, Everywhere liveEnd
	LaptopH1               string
	// ListLive says whether the laptop's list of sessions showed the
	// phone's new login before Everywhere, ListReloaded whether the
	// laptop's page was reloaded for it.
	ListLive, ListReloaded bool
	// Hidden is Everywhere with the phone's page hidden until a second
	// after the click; HiddenBanner says whether the banner showed then.
	Hidden       liveEnd
	HiddenBanner bool
}

// liveLogout runs live-logout.mjs on the laptop's instance a and the
// phone's instance b, waiting up to wait for each banner.
func liveLogout(t *testing.T, script []string, a, b string, wait time.Duration) liveRun {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, script[0], append(script[1:], a, b, strconv.Itoa(int(wait.Milliseconds())))...)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	require.NoError(t, err, "the browser script failed")
	var r liveRun
	require.NoError(t, json.Unmarshal(out, &r), "%s", out)
	return r
}

// liveBound fails the real-browser live logout when the banner takes
// longer: a failure bound, generous for a loaded machine, not the
// target (within a second; the test logs the measured time).
const liveBound = 5 * time.Second

// TestBrowserLiveLogout checks in a real browser, with two devices of
// one user on two instances, that the phone's page on instance B shows
// the banner and disables its forms, without a reload, when the laptop on
// instance A logs the phone out and when it logs out everywhere. The
// control shows that the check can fail: with the event stream open but
// no events reaching it, no banner appears.
func TestBrowserLiveLogout(t *testing.T) {
	script := browserScript(t, "live-logout.mjs")
	check := func(t *testing.T, urls []string) {
		r := liveLogout(t, script, urls[0], urls[1], 2*liveBound)
		for _, c := range []struct {
			name string
			end  liveEnd
		}{{"this device", r.ThisDevice}, {"everywhere", r.Everywhere}} {
			require.NotNil(t, c.end.Ms, "log out %s: no banner on the phone within %v", c.name, 2*liveBound)
			t.Logf("log out %s: the banner on the other instance %d ms after the click", c.name, *c.end.Ms)
			assert.Less(t, *c.end.Ms, int(liveBound.Milliseconds()), "log out %s", c.name)
			assert.Equal(t, endedText+" Log in again", c.end.Banner, "log out %s", c.name)
			assert.True(t, c.end.Disabled, "log out %s: the forms are disabled", c.name)
			assert.Zero(t, c.end.OtherNotes, "log out %s: the banner is the only note", c.name)
			assert.False(t, c.end.Reloaded, "log out %s: without a reload", c.name)
			assert.Equal(t, "Hello, Ada", c.end.H1, "log out %s: the page stays as it was", c.name)
		}
		assert.Equal(t, "Not logged in", r.LaptopH1, "the laptop's own page after logging out everywhere")
		assert.True(t, r.ListLive, "the laptop's list shows the phone's new login")
		assert.False(t, r.ListReloaded, "without a reload")
		// A hidden page has closed its stream; shown, it opens it again
		// and hears at once that its session ended.
		assert.False(t, r.HiddenBanner, "no banner while hidden: the stream was closed")
		require.NotNil(t, r.Hidden.AfterShownMs, "the banner once the page is shown")
		assert.GreaterOrEqual(t, *r.Hidden.AfterShownMs, 0, "not before")
		assert.Less(t, *r.Hidden.AfterShownMs, int(liveBound.Milliseconds()))
		t.Logf("log out everywhere while the phone's page was hidden: its banner %d ms after being shown", *r.Hidden.AfterShownMs)
		assert.True(t, r.Hidden.Disabled)
		assert.False(t, r.Hidden.Reloaded)
	}
	t.Run("Memory", func(t *testing.T) { check(t, startDemo(t, "")) })
	t.Run("Redis", func(t *testing.T) {
		if _, ok := any((*redisbackend.Backend)(nil)).(backend.Notifier); !ok {
			t.Skip("backend_redis does not implement backend.Notifier yet: the demo on Redis has no live logout")
		}
		srv := redistest.Standalone(t)
		check(t, startDemo(t, srv.Addr))
	})
	t.Run("PostgreSQL", func(t *testing.T) { check(t, startDemoPostgres(t)) })
	t.Run("ControlWithoutEvents", func(t *testing.T) {
		// Both instances open the page's stream, but their hubs are not
		// subscribed to the store.
		store := memorybackend.New()
		t.Cleanup(func() { store.Close() })
		var urls []string
		for i := range 2 {
			a, err := newApp(store, instanceName(i), "memory", httpsession.WithSecure(false))
			require.NoError(t, err)
			a.live = newHub()
			srv := httptest.NewServer(a.handler())
			t.Cleanup(srv.Close)
			urls = append(urls, srv.URL+"/")
		}
		wait := 2 * time.Second
		r := liveLogout(t, script, urls[0], urls[1], wait)
		assert.False(t, r.ListLive, "without events the list stays as it was")
		// A page shown again learns from its new stream's first read, not
		// from an event.
		assert.False(t, r.HiddenBanner)
		assert.NotNil(t, r.Hidden.AfterShownMs, "a page shown again opens its stream, which says at once that the session ended")
		for _, end := range []liveEnd{r.ThisDevice, r.Everywhere} {
			assert.Nil(t, end.Ms, "without events no banner within %v; if one shows, the test cannot fail", wait)
			assert.False(t, end.Disabled)
			assert.Equal(t, "Hello, Ada", end.H1)
		}
	})
}
