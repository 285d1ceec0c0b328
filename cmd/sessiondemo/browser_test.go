package main

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	memorybackend "github.com/sessionkit/sessionkit/backend_memory"
	"github.com/sessionkit/sessionkit/internal/redistest"
	"github.com/sessionkit/sessionkit/session"
	"github.com/sessionkit/sessionkit/session/httpsession"
)

// requireBrowser is the environment variable that makes the real-browser
// test fail, instead of skipping, when Chromium or playwright-core is
// missing. .ci/run sets it.
const requireBrowser = "SESSIONKIT_REQUIRE_BROWSER"

// browserScript returns the command that drives Chromium through the
// demo (browsertest/back-after-logout.mjs), or skips the test, saying
// what is missing, unless requireBrowser is set.
func browserScript(t *testing.T) []string {
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
	script, err := filepath.Abs("browsertest/back-after-logout.mjs")
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
// page from its back/forward cache.
func TestBrowserBackAfterLogout(t *testing.T) {
	script := browserScript(t)
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
		m, err := session.NewManager[Account](store)
		require.NoError(t, err)
		mw, err := httpsession.New(m, httpsession.WithSecure(false), httpsession.WithCacheControl(false))
		require.NoError(t, err)
		srv := httptest.NewServer((&app{name: "A", store: "memory", mw: mw}).handler())
		t.Cleanup(srv.Close)
		p := walk(t, script, srv.URL+"/")
		assert.Equal(t, "Hello, Ada", p.AfterBack, "without Cache-Control the browser shows the cached logged-in page (at %s); if not, this test cannot fail", p.BackURL)
		assert.True(t, p.Restored, "from the back/forward cache")
	})
}
